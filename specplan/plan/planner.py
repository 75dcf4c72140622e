"""The planner: from a target's size and a cost model to the best draft size N*, lookahead γ* and speedup.

Data flow: inputs ─► cost model (c(N), verification cost) ─► acceptance α(N) from the SDSL laws (or measured)
─► γ and speedup per draft size ─► N* by search over draft sizes, the flat band, a sensitivity table
(docs/theory.md §4).
"""

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from specplan.checks import count_in, number_in
from specplan.plan import parallel, theory
from specplan.errors import SpecplanError
from specplan.plan.architecture import Architecture, rule_architecture
from specplan.plan.hardware import DEFAULT_CONTEXT_TOKENS, Profile, RooflineProfile, load_profile
from specplan.plan.scaling import ALPHA_CEIL, ALPHA_FLOOR, AlphaLaw, perplexity, pooled_rule_draft_params
from specplan.plan.shapes import DEFAULT_ASPECT_RATIO
from specplan.units import format_count

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
_GRID_POINTS = 1200
_SMALLEST_DRAFT = 1e6  # the N* search starts here (the SDSL law's fitted range)
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
}


@dataclass(frozen=True)
class PlanInputs:
    """Everything ``plan`` needs; defaults are those of the CLI."""

    target_params: float
    target_tokens: float = DEFAULT_TARGET_TOKENS
    draft_tokens: float = DEFAULT_DRAFT_TOKENS
    cost_model: str = "hardware"
    profile: str = DEFAULT_PROFILE
    dtype: str | None = None
    batch_size: int = 1
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    aspect_ratio: float = DEFAULT_ASPECT_RATIO
    draft_params: tuple = ()
    alpha: float | tuple | None = None  # measured α, one per --draft-params in their order (a number: the first)
    alpha_law: AlphaLaw = field(default_factory=AlphaLaw)
    gamma_max: int = DEFAULT_GAMMA_MAX
    # Real deployments (issue: real checkpoints and tensor parallelism). target_model replaces the shape rule for
    # the target; tensor_parallel None = the smallest TP whose share of the target fits one device.
    target_model: Architecture | None = None
    target_name: str | None = None
    tensor_parallel: int | None = None
    draft_tensor_parallel: int = 1
    min_speedup: float = DEFAULT_MIN_SPEEDUP
    # A whole request (both > 0): P prompt tokens prefilled by target and draft, then n new tokens; the speedup
    # counts the prefills (docs/theory.md §5). Both 0: steady-state decoding, no prefill.
    prompt_tokens: int = 0
    new_tokens: int = 0

    @property
    def per_request(self) -> bool:
        return self.new_tokens > 0

    @property
    def alphas(self) -> tuple:
        """The given α values in --alpha order (paired with --draft-params by position)."""
        if self.alpha is None:
            return ()
        return tuple(self.alpha) if isinstance(self.alpha, (tuple, list)) else (self.alpha,)

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
            raise SpecplanError("--alpha needs --draft-params: a measured acceptance belongs to one draft")
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
        if self.tensor_parallel is not None:
            parallel.check_tensor_parallel(self.tensor_parallel, self.target_model, "--tensor-parallel")
        parallel.check_tensor_parallel(self.draft_tensor_parallel, None, "--draft-tensor-parallel")

    @property
    def target(self) -> Architecture:
        """The target's architecture: the real one when given, else the shape rule's."""
        return self.target_model or rule_architecture(self.target_params, self.aspect_ratio)


@dataclass(frozen=True)
class Candidate:
    """One draft size evaluated: acceptance, cost, the integer γ chosen and the speedup it gives."""

    draft_params: float
    alpha: float
    cost_ratio: float  # c = t_draft(1) / t_target(1)
    gamma: int  # 0: do not speculate
    gamma_real: float | None  # closed-form γ* with verification charged as one target step
    expected_tokens_per_round: float
    verify_cost_ratio: float  # t_target(γ+1) / t_target(1)
    speedup: float
    round_cost_ratio: float = 0.0  # o: a round's overhead beyond its forward steps / t_target(1) (measured loop)
    first_step_ratio: float = 0.0  # x: the draft's first step of a round beyond a warm one / t_target(1) (measured)
    draft_prefill_ratio: float = 0.0  # the draft's prefill of the prompt / t_target(1) (per-request plans)
    target_prefill_ratio: float = 0.0  # the target's prefill of the prompt / t_target(1) (per-request plans)
    speedup_by_gamma: tuple = ()  # index γ-1: the speedup at γ = 1..γmax (cost model and α as above)

    @property
    def gamma_band(self) -> tuple | None:
        """(smallest, largest) γ whose predicted speedup is within ``FLAT_BAND_TOLERANCE`` of the best γ's: where the
        speedup curve is this flat, measurement noise decides which of them measures best. None when γ = 0."""
        if not self.gamma or not self.speedup_by_gamma:
            return None
        close = [g for g, s in enumerate(self.speedup_by_gamma, 1) if s >= (1 - FLAT_BAND_TOLERANCE) * self.speedup]
        return min(close), max(close)


@dataclass(frozen=True)
class Plan:
    inputs: PlanInputs
    recommendation: Candidate
    flat_band: tuple  # (min_draft_params, max_draft_params)
    pooled_rule_draft_params: float
    candidates: list
    profile_name: str | None
    notes: list
    tensor_parallel: dict = field(default_factory=dict)

    @property
    def pays(self) -> bool:
        """Speculate: a γ ≥ 1 whose speedup reaches the margin ``min_speedup`` (default 1.05×)."""
        rec = self.recommendation
        return rec.gamma >= 1 and rec.speedup > 1.0 and rec.speedup >= self.inputs.min_speedup

    def to_json(self) -> dict:
        inputs = asdict(self.inputs)
        inputs.pop("target_model")
        inputs["alpha_law"] = {k: inputs["alpha_law"][k] for k in ("a", "b", "c", "source")}
        inputs["draft_params"] = list(self.inputs.draft_params)
        alphas = list(self.inputs.alphas)  # stable key: one α is a number (as before); several, a list
        inputs["alpha"] = alphas[0] if len(alphas) == 1 else (alphas or None)
        inputs["alphas"] = alphas  # one per --draft-params, in their order
        inputs["profile"] = self.profile_name
        rec = self.recommendation
        return {
            "inputs": inputs,
            "recommendation": {
                "draft_params": rec.draft_params,
                "gamma": rec.gamma,
                "gamma_real": rec.gamma_real,
                "alpha": rec.alpha,
                "expected_tokens_per_round": rec.expected_tokens_per_round,
                "speedup": rec.speedup,
                "target_draft_ratio": self.inputs.target_params / rec.draft_params,
                "cost_ratio": rec.cost_ratio,
                "verify_cost_ratio": rec.verify_cost_ratio,
                "round_cost_ratio": rec.round_cost_ratio,
                "first_step_ratio": rec.first_step_ratio,
                "draft_prefill_ratio": rec.draft_prefill_ratio,
                "target_prefill_ratio": rec.target_prefill_ratio,
                "speedup_by_gamma": list(rec.speedup_by_gamma),
                "gamma_band": list(rec.gamma_band) if rec.gamma_band else None,
            },
            "pays": self.pays,
            "flat_band": {
                "min_draft_params": self.flat_band[0],
                "max_draft_params": self.flat_band[1],
                "tolerance": FLAT_BAND_TOLERANCE,
            },
            "pooled_rule_draft_params": self.pooled_rule_draft_params,
            "candidates": [
                {"draft_params": c.draft_params, "alpha": c.alpha, "gamma": c.gamma, "speedup": c.speedup,
                 "gamma_real": c.gamma_real, "cost_ratio": c.cost_ratio,
                 "expected_tokens_per_round": c.expected_tokens_per_round}
                for c in self.candidates
            ],
            "notes": self.notes,
            "tensor_parallel": self.tensor_parallel,
        }


class _Costs:
    """The cost model in units of an AR token t_target(1): per draft c(N), the first-step extra x(N) and the draft's
    prefill; the verification cost v(k) = t_target(k) / t_target(1), the round overhead o and the target's
    prefill. A measured profile's loop terms (ℓ per step in a decode loop, o per round, x from its cold steps) are
    charged as a decode loop pays them: t_target(1) + ℓ per AR token, t_draft(1) + ℓ per draft step plus x once a
    round, t_target(γ+1) + ℓ + o per verification (measure.loop_profile, docs/theory.md §5)."""

    def __init__(self, inputs: PlanInputs, profile: Profile | None):
        self.inputs = inputs
        self.profile = profile
        self.loop_step_s = getattr(profile, "loop_step_overhead_s", 0.0)
        gammas = np.arange(1, inputs.gamma_max + 1)
        target, tp = inputs.target, inputs.tensor_parallel or 1
        self.target_prefill = 0.0
        if profile is None:  # flops: c = N/M, verification charged as one target pass (docs/theory.md §5)
            self.target_step_s = None
            self.verify_ratio = np.ones_like(gammas, dtype=float)
            self.round_ratio = 0.0
        else:
            self.target_step_s = self.step_s(target, 1, tp)
            self.verify_ratio = np.array([self.step_s(target, g + 1, tp) for g in gammas]) / self.target_step_s
            self.round_ratio = getattr(profile, "round_overhead_s", 0.0) / self.target_step_s
            self.target_prefill = self.prefill_s(target, tp) / self.target_step_s

    def step_s(self, arch: Architecture, tokens: int, tp: int) -> float:
        i = self.inputs
        isolated = parallel.step_time_s(self.profile, arch, tokens, i.batch_size, i.dtype, i.context_tokens, tp,
                                        i.aspect_ratio)
        return isolated + self.loop_step_s

    def prefill_s(self, arch: Architecture, tp: int) -> float:
        """Seconds of one request's prefill (0 for steady-state plans)."""
        i = self.inputs
        if not i.per_request:
            return 0.0
        return parallel.prefill_time_s(self.profile, arch, i.prompt_tokens, i.batch_size, i.dtype, tp, i.aspect_ratio)

    def drafts(self, draft_params: np.ndarray) -> "_DraftCosts":
        return self.draft_architectures([rule_architecture(n, self.inputs.aspect_ratio) for n in draft_params])

    def draft_architectures(self, drafts: list) -> "_DraftCosts":
        """c, x and the prefill for draft architectures (real checkpoints or the shape rule's), at the draft tensor
        parallelism."""
        if self.profile is None:
            c = np.array([d.params_active for d in drafts]) / self.inputs.target.params_active
            return _DraftCosts(c, np.zeros_like(c), np.zeros_like(c))
        tp = self.inputs.draft_tensor_parallel
        return _DraftCosts(np.array([self.step_s(d, 1, tp) for d in drafts]) / self.target_step_s,
                           np.array([self.profile.cold_step_extra_s(d.params_active) for d in drafts])
                           / self.target_step_s,
                           np.array([self.prefill_s(d, tp) for d in drafts]) / self.target_step_s)

    @property
    def round_cost(self) -> np.ndarray:
        """v(γ+1) + o per γ: what a round costs besides its draft steps, in target steps."""
        return self.verify_ratio + self.round_ratio

    def speedup_table(self, alpha: np.ndarray, drafts: "_DraftCosts") -> np.ndarray:
        """Speedup for every draft (rows) and γ = 1..γmax (columns), docs/theory.md §1 and §5: a round costs
        R = γc + x + v(γ+1) + o target steps and emits E(α, γ) tokens; steady state S = E / R; per request of P
        prompt and n new tokens, S = (p_M + n − 1) / (p_M + p_N + (n − 1)·R/E) with the prefills p in target steps."""
        gammas = np.arange(1, self.round_cost.size + 1)[None, :]
        a = alpha[:, None]
        tokens = (1.0 - a ** (gammas + 1)) / (1.0 - a)  # (drafts, γmax)
        round_cost = gammas * drafts.c[:, None] + drafts.first_step[:, None] + self.round_cost[None, :]
        if not self.inputs.per_request:
            return tokens / round_cost
        decoded = self.inputs.new_tokens - 1  # the first new token comes out of the target's prefill
        return (self.target_prefill + decoded) / (self.target_prefill + drafts.prefill[:, None]
                                                  + decoded * round_cost / tokens)


@dataclass(frozen=True)
class _DraftCosts:
    """Per draft, in target steps: c (a draft step in the loop), the first-step extra x, the prompt's prefill."""

    c: np.ndarray
    first_step: np.ndarray
    prefill: np.ndarray


def _acceptance(inputs: PlanInputs, draft_params: np.ndarray) -> np.ndarray:
    """α per draft: the one given for it with --alpha, else the SDSL law (docs/theory.md §3)."""
    target_ppl = perplexity(inputs.target_params, inputs.target_tokens)
    law = inputs.alpha_law
    alpha = law.a * np.array([perplexity(n, inputs.draft_tokens) for n in draft_params]) + law.b * target_ppl + law.c
    _check_law_alpha(law, draft_params, alpha)
    alpha = np.clip(alpha, ALPHA_FLOOR, ALPHA_CEIL)
    given = inputs.given_alpha()
    return np.array([given.get(float(n), a) for n, a in zip(draft_params, alpha)], dtype=float)


def _check_law_alpha(law: AlphaLaw, draft_params: np.ndarray, alpha: np.ndarray) -> None:
    """α is a probability below 1: a law that predicts α ≥ 1 (or NaN) for any draft size is wrong there, and
    clipping it would print a speedup of γ+1. Values ≤ 0 (tiny drafts) mean "does not pay" and are floored."""
    bad = ~(alpha < 1.0)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise SpecplanError(f"acceptance law {law.source} (a={law.a:g}, b={law.b:g}, c={law.c:g}) gives "
                            f"α = {alpha[i]:.4g} for a {draft_params[i]:.4g}-parameter draft: α must be in (0, 1)")


def _evaluate(inputs: PlanInputs, costs: _Costs, draft_params) -> list:
    """Candidates at their best integer γ (γ = 0 and speedup 1 where no γ pays)."""
    n = np.asarray(draft_params, dtype=float)
    return _candidates(n, _acceptance(inputs, n), costs.drafts(n), costs)


def evaluate_architectures(inputs: PlanInputs, drafts: list, draft_tokens: list) -> list:
    """Candidates for real draft architectures under resolved inputs (``Plan.inputs``: tensor_parallel set). Each
    draft's acceptance comes from the law with its own parameter count and training tokens."""
    profile = load_profile(inputs.profile) if inputs.cost_model == "hardware" else None
    costs = _Costs(inputs, profile)
    n = np.array([d.params_total for d in drafts], dtype=float)
    alpha = np.array([_acceptance(replace(inputs, alpha=None, draft_tokens=t), n[i:i + 1])[0]
                      for i, t in enumerate(draft_tokens)])
    return _candidates(n, alpha, costs.draft_architectures(drafts), costs)


def _candidates(n: np.ndarray, alpha: np.ndarray, drafts: _DraftCosts, costs: _Costs) -> list:
    table = costs.speedup_table(alpha, drafts)
    c = drafts.c
    result = []
    for i in range(n.size):
        best = int(np.argmax(table[i]))
        gamma, speedup = (best + 1, float(table[i, best])) if table[i, best] > 1.0 else (0, 1.0)
        gamma_real = float(theory.gamma_star_real(alpha[i], c[i])) if c[i] < 1 else None
        result.append(Candidate(
            draft_params=float(n[i]), alpha=float(alpha[i]), cost_ratio=float(c[i]), gamma=gamma,
            gamma_real=gamma_real, expected_tokens_per_round=float(theory.expected_tokens_per_round(alpha[i], gamma)),
            verify_cost_ratio=float(costs.verify_ratio[gamma - 1]) if gamma else 1.0, speedup=speedup,
            round_cost_ratio=float(costs.round_ratio), first_step_ratio=float(drafts.first_step[i]),
            draft_prefill_ratio=float(drafts.prefill[i]), target_prefill_ratio=float(costs.target_prefill),
            speedup_by_gamma=tuple(float(x) for x in table[i]),
        ))
    return result


def evaluate_draft(inputs: PlanInputs, draft_params: float, gamma: int | None = None) -> Candidate:
    """One draft under ``inputs``' cost model and acceptance, at ``gamma`` (1..gamma_max) or, when None, at its
    best γ: what plan predicts for a pair whose γ is already chosen (e.g. a published result)."""
    inputs.validate()
    profile = load_profile(inputs.profile) if inputs.cost_model == "hardware" else None
    if profile is not None:
        profile.check_dtype(inputs.dtype)
    costs = _Costs(inputs, profile)
    best = _evaluate(inputs, costs, [draft_params])[0]
    if gamma is None:
        return best
    if not 1 <= gamma <= inputs.gamma_max:
        raise SpecplanError(f"γ {gamma!r} must be in 1..{inputs.gamma_max}")
    n = np.array([float(draft_params)])
    alpha = _acceptance(inputs, n)
    speedup = float(costs.speedup_table(alpha, costs.drafts(n))[0, gamma - 1])
    return replace(best, gamma=gamma, speedup=speedup,
                   expected_tokens_per_round=float(theory.expected_tokens_per_round(alpha[0], gamma)),
                   verify_cost_ratio=float(costs.verify_ratio[gamma - 1]))


def _objective(inputs: PlanInputs, costs: _Costs, draft_params: np.ndarray) -> np.ndarray:
    """Speedup to maximise over draft size. Under ``flops`` it is the paper's: the ratio form at the real-valued
    γ* (equivalently T*, tokens per FLOP; docs/theory.md §4). Under ``hardware`` it is the best integer γ's speedup."""
    alpha, drafts = _acceptance(inputs, draft_params), costs.drafts(draft_params)
    if costs.profile is None:
        c = drafts.c
        log_alpha = np.log(alpha)
        w = theory.lambertw_m1_from_log((1.0 / c - 1.0) * log_alpha - 1.0)
        gamma = np.clip((1.0 + w) / log_alpha - 1.0 / c, 0.0, inputs.gamma_max)
        return (1.0 - alpha ** (gamma + 1.0)) / ((1.0 - alpha) * (gamma * c + 1.0))
    return np.maximum(costs.speedup_table(alpha, drafts).max(axis=1), 1.0)


def _search(inputs: PlanInputs, costs: _Costs):
    """N* on a log grid, refined on a finer grid between the best point's neighbours; the flat band read off the
    coarse grid (the paper searches 10,000 log-spaced sizes; this reaches a finer step with fewer evaluations)."""
    low, high = _SMALLEST_DRAFT, inputs.target_params / 2
    if high <= low:
        raise SpecplanError(f"--target-params {inputs.target_params:g} is too small to plan a draft for (min 2M)")
    grid = np.geomspace(low, high, _GRID_POINTS)
    if inputs.alpha is None and np.all(_acceptance(inputs, grid) <= ALPHA_FLOOR):
        law = inputs.alpha_law
        raise SpecplanError(f"acceptance law {law.source} (a={law.a:g}, b={law.b:g}, c={law.c:g}) gives α ≤ 0 "
                            "for every draft size: α must be in (0, 1)")
    speedups = _objective(inputs, costs, grid)
    i = int(np.argmax(speedups))
    fine = np.geomspace(grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)], _GRID_POINTS // 4)
    fine_speedups = _objective(inputs, costs, fine)
    j = int(np.argmax(fine_speedups))
    best_n, best_s = float(fine[j]), float(fine_speedups[j])
    in_band = grid[speedups >= (1.0 - FLAT_BAND_TOLERANCE) * best_s]
    band = (float(min(in_band.min(), best_n)), float(max(in_band.max(), best_n)))
    return best_n, band


def make_plan(inputs: PlanInputs) -> Plan:
    """Recommend a draft size, γ and the expected speedup (see the module docstring for the data flow)."""
    inputs.validate()
    profile = load_profile(inputs.profile) if inputs.cost_model == "hardware" else None
    if profile is not None:
        profile.check_dtype(inputs.dtype)
    inputs, tp_notes = resolve_tensor_parallel(inputs, profile)
    costs = _Costs(inputs, profile)
    user = tuple(sorted(set(inputs.draft_params)))
    if inputs.alphas:  # a measured α belongs to the given drafts: choose among them only
        candidates = _evaluate(inputs, costs, user)
        recommendation = max(candidates, key=lambda c: c.speedup)
        best = recommendation.speedup
        band_members = [c.draft_params for c in candidates if c.speedup >= (1 - FLAT_BAND_TOLERANCE) * best]
        band = (min(band_members), max(band_members))
    else:
        best_n, band = _search(inputs, costs)
        recommendation = _evaluate(inputs, costs, [best_n])[0]
        sizes = sorted({n for n in SENSITIVITY_SIZES if n < inputs.target_params} | set(user))
        candidates = _evaluate(inputs, costs, sizes)
    return Plan(
        inputs=inputs,
        recommendation=recommendation,
        flat_band=band,
        pooled_rule_draft_params=pooled_rule_draft_params(inputs.target_params),
        candidates=candidates,
        profile_name=profile.name if profile else None,
        notes=_notes(inputs, profile, recommendation) + tp_notes,
        tensor_parallel=tensor_parallel_summary(inputs, profile, costs),
    )


def resolve_tensor_parallel(inputs: PlanInputs, profile: Profile | None) -> tuple:
    """(inputs with tensor_parallel set, notes): see :func:`parallel.choose_tensor_parallel`."""
    if not isinstance(profile, RooflineProfile):
        return replace(inputs, tensor_parallel=inputs.tensor_parallel or 1), []
    tp, notes = parallel.choose_tensor_parallel(profile, inputs.target, inputs.tensor_parallel,
                                                profile.check_dtype(inputs.dtype), inputs.context_tokens,
                                                inputs.batch_size)
    return replace(inputs, tensor_parallel=tp), notes


def tensor_parallel_summary(inputs: PlanInputs, profile: Profile | None, costs: "_Costs") -> dict:
    """The ``tensor_parallel`` JSON object: TPs, and on a roofline profile the interconnect, the target step, its
    all-reduce part and the memory each GPU holds."""
    summary = {"target": inputs.tensor_parallel, "draft": inputs.draft_tensor_parallel}
    if isinstance(profile, RooflineProfile):
        dtype = profile.check_dtype(inputs.dtype)
        summary.update(parallel.summary(profile, inputs.target, inputs.tensor_parallel, dtype, inputs.context_tokens,
                                        inputs.batch_size), target_step_s=costs.target_step_s)
    return summary


def _notes(inputs: PlanInputs, profile: Profile | None, recommendation: Candidate) -> list:
    notes = []
    measured_tokens = getattr(profile, "measured_tokens", None)
    verified_tokens = (recommendation.gamma + 1) * inputs.batch_size
    if measured_tokens and recommendation.gamma and verified_tokens > measured_tokens:
        notes.append(
            f"verification at γ {recommendation.gamma} × batch {inputs.batch_size} is a step of {verified_tokens} "
            f"tokens, beyond the {measured_tokens} that profile {profile.name!r} measured: its cost is extrapolated "
            f"(the last measured k's cost per parameter held); re-profile with --max-tokens {verified_tokens}"
        )
    if inputs.per_request and measured_tokens and profile.prefill_per_param_token_s is None:
        notes.append(f"profile {profile.name!r} has no prefill measurement: a {inputs.prompt_tokens}-token prefill is "
                     f"its step model extrapolated from steps of ≤ {measured_tokens} tokens; re-run `specplan profile`")
    if inputs.alphas:
        given = inputs.given_alpha()
        lawful = [format_count(n) for n in inputs.draft_params if n not in given]
        notes.append("acceptance given by --alpha for " + ", ".join(f"{format_count(n)} (α {a:g})"
                                                                    for n, a in given.items())
                     + (f"; the SDSL law for {', '.join(lawful)}" if lawful else "")
                     + ": the plan chooses among the given --draft-params only")
    notes += extrapolation_notes(inputs, profile, recommendation)
    if recommendation.gamma and 1.0 < recommendation.speedup < inputs.min_speedup:
        notes.append(f"the best speedup, {recommendation.speedup:.3f}×, is below the {inputs.min_speedup:g}× margin "
                     "(--min-speedup): within the model's error, so the verdict is not to speculate")
    return notes


def extrapolation_notes(inputs: PlanInputs, profile: Profile | None, recommendation: Candidate) -> list:
    """A note for each planned size (target, recommended draft) more than ``EXTRAPOLATION_FACTOR`` outside the
    sizes a measured profile measured, with the distance and, where the profile knows it, the fit's leave-one-out
    error at its extreme sizes (how far off a fitted size was when it was left out)."""
    measured = getattr(profile, "measured_params", None)
    if not measured:
        return []
    low, high = measured
    notes = []
    for role, size in (("target", inputs.target_params), ("draft", recommendation.draft_params)):
        if size > EXTRAPOLATION_FACTOR * high:
            where, factor, edge = "above the largest", size / high, high
        elif size < low / EXTRAPOLATION_FACTOR:
            where, factor, edge = "below the smallest", low / size, low
        else:
            continue
        loo = profile.leave_one_out_error(edge)
        notes.append(f"{role} {format_count(size)} is {factor:.3g}× {where} size profile {profile.name!r} measured "
                     f"({format_count(edge)}): its step times are extrapolated"
                     + (f"; leaving {format_count(edge)} out of the fit missed it by up to {loo:.0%}"
                        if loo is not None else "")
                     + "; profile sizes nearer the plan (--sizes) to measure them")
    return notes
