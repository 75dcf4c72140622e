"""What ``plan`` is asked: a target, training tokens, a cost model and its profile, a workload (batch, context,
request), candidate drafts and measured acceptances, with the range each input may take and the defaults of the CLI.
"""

import math
from dataclasses import dataclass, field

from specplan.checks import count_in, number_in
from specplan.errors import SpecplanError
from specplan.plan import parallel
from specplan.plan.architecture import Architecture, rule_architecture
from specplan.plan.given_acceptance import law_words
from specplan.plan.hardware import load_profile
from specplan.plan.latency import DEFAULT_CONTEXT_TOKENS
from specplan.plan.memory import GPU_MEMORY_UTILIZATION, kv_tokens
from specplan.plan.profile_kinds import Profile
from specplan.plan.scaling import AlphaLaw
from specplan.plan.shapes import DEFAULT_ASPECT_RATIO
from specplan.plan.temperature import DEFAULT_TEMPERATURE, RULES, check_temperature

COST_MODELS = ("hardware", "flops")
# Training tokens of the SDSL paper's LLaMA-3 example: the target saw 15T tokens, the draft 2.4T.
DEFAULT_TARGET_TOKENS = 15e12
DEFAULT_DRAFT_TOKENS = 2.4e12
DEFAULT_PROFILE = "h100-sxm"
DEFAULT_GAMMA_MAX = 32
FLAT_BAND_TOLERANCE = 0.03
# A plan "pays" only from this speedup on: below it the model's own error (a measured profile's fit, the α law)
# is as large as the gain. --min-speedup changes it.
DEFAULT_MIN_SPEEDUP = 1.05
# A measured profile is trusted within this factor of the sizes it measured; beyond it plan says how far it went.
EXTRAPOLATION_FACTOR = 2.0
SENSITIVITY_SIZES = (50e6, 100e6, 200e6, 500e6, 1e9, 2e9, 4e9, 8e9)
_SMALLEST_MODEL = 1e5  # a given model may be smaller (profile's smallest; the trained toy ladder's 0.25M draft)
# The range each input may take: the SDSL perplexity law is a fit over 1e6..1e12+ parameters and ~1e9..1e13
# tokens (below 1e6 tokens its exponent overflows); the search's work grows with γ max; the latency model with
# batch × context. Far beyond these the numbers printed would be noise, so they are refused, not extrapolated.
LIMITS = {
    "target-params": (_SMALLEST_MODEL, 1e15),
    "target-tokens": (1e6, 1e17),
    "draft-tokens": (1e6, 1e17),
    "aspect-ratio": (1.0, 1e5),
    "gamma-max": (1, 1024),
    "batch-size": (1, 1 << 20),
    "context-tokens": (0, 1 << 30),
    "prompt-tokens": (0, 1 << 30),
    "new-tokens": (0, 1 << 30),
    "max-model-len": (1, 1 << 30),
}


@dataclass(frozen=True)
class PlanInputs:
    """Everything ``plan`` needs; defaults are those of the CLI."""

    target_params: float
    target_tokens: float = DEFAULT_TARGET_TOKENS
    draft_tokens: float = DEFAULT_DRAFT_TOKENS
    cost_model: str = "hardware"
    # The hardware profile, read once where the command starts (a name or path given here is loaded here, once);
    # None under the flops cost model, which reads no profile.
    profile: Profile | str | None = DEFAULT_PROFILE
    dtype: str | None = None
    batch_size: int = 1
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    aspect_ratio: float = DEFAULT_ASPECT_RATIO
    draft_params: tuple = ()
    alpha: float | tuple | None = None  # measured α, one per --draft-params in their order (a number: the first)
    alpha_law: AlphaLaw = field(default_factory=AlphaLaw)
    gamma_max: int = DEFAULT_GAMMA_MAX
    # target_model replaces the shape rule for the target; tensor_parallel None = the smallest TP whose share of
    # the target fits one device.
    target_model: Architecture | None = None
    target_name: str | None = None
    tensor_parallel: int | None = None
    draft_tensor_parallel: int = 1
    min_speedup: float = DEFAULT_MIN_SPEEDUP
    # A whole request (both > 0): P prompt tokens prefilled by target and draft, then n new tokens; the speedup
    # counts the prefills (docs/theory.md §5). Both 0: steady-state decoding, no prefill.
    prompt_tokens: int = 0
    new_tokens: int = 0
    # Memory as vLLM counts it (plan/memory.py): one sequence of max_model_len tokens (None: the target's
    # max_position_embeddings, else the context) within gpu_memory_utilization of each GPU; memory_draft is the
    # draft counted beside the target (set once the checkpoints are ranked; None for a size plan).
    max_model_len: int | None = None
    gpu_memory_utilization: float = GPU_MEMORY_UTILIZATION
    memory_draft: Architecture | None = None
    # The γ the engine is configured with (None: plan chooses); the words for each --alpha's origin (same order;
    # default "measured, --alpha"); a given acceptance per --draft checkpoint: ((name, GivenAlpha), ...).
    gamma: int | None = None
    # Sampling temperature (0: greedy) and the engine's acceptance rule (plan/temperature.py): the law's α is
    # adjusted to T; a given α is taken as measured at it.
    temperature: float = DEFAULT_TEMPERATURE
    acceptance_rule: str = "lossless"
    alpha_sources: tuple = ()
    checkpoint_alphas: tuple = ()

    def __post_init__(self):
        if self.cost_model != "hardware":
            object.__setattr__(self, "profile", None)
        elif isinstance(self.profile, str):
            object.__setattr__(self, "profile", load_profile(self.profile))
        elif self.profile is None:
            raise SpecplanError("the hardware cost model needs a profile (--profile NAME|PATH)")

    @property
    def per_request(self) -> bool:
        return self.new_tokens > 0

    @property
    def alphas(self) -> tuple:
        """The given α values in --alpha order (paired with --draft-params by position)."""
        if self.alpha is None:
            return ()
        return tuple(self.alpha) if isinstance(self.alpha, (tuple, list)) else (self.alpha,)

    def alpha_source(self, draft_params: float) -> str | None:
        """Where a --draft-params size's given α came from; None when it has none."""
        if draft_params not in self.given_alpha():
            return None
        i = self.draft_params.index(draft_params)
        return self.alpha_sources[i] if i < len(self.alpha_sources) else "measured, --alpha"

    @property
    def law_source(self) -> str:
        """The acceptance law in words, with its temperature adjustment at T > 0."""
        return law_words(self.alpha_law, self.temperature, self.acceptance_rule)

    def checkpoint_alpha(self, name: str):
        """The GivenAlpha of a --draft checkpoint, or None."""
        return next((given for draft, given in self.checkpoint_alphas if draft == name), None)

    def given_alpha(self) -> dict:
        """{draft size: its given α}: the i-th --alpha belongs to the i-th --draft-params, and to no other draft."""
        return dict(zip(self.draft_params, self.alphas))

    def validate(self) -> None:
        """Every value finite and within the range the laws and the latency model hold for (LIMITS)."""
        if self.cost_model not in COST_MODELS:
            raise SpecplanError(f"--cost-model {self.cost_model!r} is not one of {', '.join(COST_MODELS)}")
        for name, value in (("target-params", self.target_params), ("target-tokens", self.target_tokens),
                            ("draft-tokens", self.draft_tokens), ("aspect-ratio", self.aspect_ratio)):
            number_in(value, f"--{name}", *LIMITS[name])
        for draft in self.draft_params:
            number_in(draft, "--draft-params", *LIMITS["target-params"])
            if draft >= self.target_params:
                raise SpecplanError(f"--draft-params {draft:g} must be positive and smaller than --target-params "
                                    f"{self.target_params:g}")
        for alpha in self.alphas:
            number_in(alpha, "--alpha", 0.0, 1.0, low_open=True, high_open=True)
        if self.alphas and not self.draft_params:
            raise SpecplanError("--alpha needs --draft-params (or --draft): a measured acceptance belongs to one "
                                "draft")
        if self.alphas and self.checkpoint_alphas:
            raise SpecplanError("a given acceptance pairs with --draft-params or with --draft, not both at once: "
                                "give one kind of draft")
        if self.gamma is not None:
            count_in(self.gamma, "--gamma", 1, self.gamma_max)
        check_temperature(self.temperature)
        if self.acceptance_rule not in RULES:
            raise SpecplanError(f"--acceptance-rule {self.acceptance_rule!r} is not one of {', '.join(RULES)}")
        if len(self.alphas) > len(self.draft_params):
            raise SpecplanError(f"--alpha is given {len(self.alphas)} times for {len(self.draft_params)} "
                                "--draft-params: give at most one per draft, in the same order")
        pairs = list(zip(self.draft_params, self.alphas))
        for draft, alpha in pairs:
            if any(d == draft and a != alpha for d, a in pairs):
                raise SpecplanError(f"--draft-params {draft:g} is given twice with different --alpha values")
        if not (math.isfinite(self.min_speedup) and self.min_speedup >= 1):
            raise SpecplanError(f"--min-speedup {self.min_speedup!r} must be a number ≥ 1")
        for name, value in (("gamma-max", self.gamma_max), ("batch-size", self.batch_size),
                            ("context-tokens", self.context_tokens), ("prompt-tokens", self.prompt_tokens),
                            ("new-tokens", self.new_tokens)):
            count_in(value, f"--{name}", *LIMITS[name])
        if (self.prompt_tokens > 0) != (self.new_tokens > 0):
            given, missing = ("prompt-tokens", "new-tokens") if self.prompt_tokens else ("new-tokens", "prompt-tokens")
            raise SpecplanError(f"--{given} {getattr(self, given.replace('-', '_'))} needs --{missing}: a request's "
                                "speedup counts its prompt's prefill and its length in new tokens")
        if self.per_request and self.cost_model == "flops":
            raise SpecplanError("--prompt-tokens/--new-tokens need --cost-model hardware: the flops model charges "
                                "every forward pass alike, so it has no prefill cost")
        if self.max_model_len is not None:
            count_in(self.max_model_len, "--max-model-len", *LIMITS["max-model-len"])
            if self.model_max_len and self.max_model_len > self.model_max_len:
                raise SpecplanError(f"--max-model-len {self.max_model_len} exceeds the target's "
                                    f"max_position_embeddings {self.model_max_len} (vLLM refuses a longer one)")
        number_in(self.gpu_memory_utilization, "--gpu-memory-utilization", 0.0, 1.0, low_open=True)
        if self.tensor_parallel is not None:
            parallel.check_tensor_parallel(self.tensor_parallel, self.target_model, "--tensor-parallel-size")
        parallel.check_tensor_parallel(self.draft_tensor_parallel, None, "--draft-tensor-parallel-size")

    @property
    def target(self) -> Architecture:
        """The target's architecture: the real one when given, else the shape rule's."""
        return self.target_model or rule_architecture(self.target_params, self.aspect_ratio)

    @property
    def model_max_len(self) -> int | None:
        """The target's own longest sequence (its config's max_position_embeddings), when known."""
        return self.target_model.max_position_embeddings if self.target_model else None

    @property
    def planned_max_len(self) -> int:
        """The max_model_len plan assumes: --max-model-len, else the target's own, else the context."""
        return self.max_model_len or self.model_max_len or self.context_tokens

    def memory_need(self, dtype: str) -> parallel.MemoryNeed:
        """What each GPU must hold: the target, the draft counted (if any), KV for planned_max_len (or the planned
        batch × context when longer)."""
        return parallel.MemoryNeed(self.target, dtype, kv_tokens(self.planned_max_len, self.batch_size,
                                                                  self.context_tokens),
                                   self.memory_draft, self.draft_tensor_parallel, self.gpu_memory_utilization)
