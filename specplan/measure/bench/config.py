"""``bench``'s configuration: every user setting of one invocation, its bounds and validation (before any model
or torch loads), and what the run asks of the models (the pre-flight workload)."""

from dataclasses import MISSING, dataclass, field, fields, replace

from specplan.checks import count_in, number_in
from specplan.errors import SpecplanError
from specplan.measure.engines import registry
from specplan.measure.engines.base import Workload
from specplan.measure.engines.serving_options import VllmSettings
from specplan.measure.loading import ModelSource
from specplan.plan.latency import DEFAULT_CONTEXT_TOKENS

# Tokens in the KV cache when bench times single steps: plan's and profile's --context-tokens default, cut to what
# the target's positions hold (:func:`latency_context`) when the user gives none.
DEFAULT_LATENCY_CONTEXT_TOKENS = DEFAULT_CONTEXT_TOKENS


@dataclass(frozen=True)
class BenchConfig:
    """Every user setting of one ``bench`` invocation (defaults as in ``specplan bench --help``)."""

    target: ModelSource
    draft: ModelSource
    engines: tuple = registry.DEFAULT
    gammas: tuple = (1, 2, 4, 8)
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    device_map: str | None = None
    trust_remote_code: bool = False
    prompts_file: str | None = None
    num_prompts: int = 8
    repeats: int = 1
    latency_samples: int = 20
    latency_context_tokens: int | None = None  # None: DEFAULT_LATENCY_CONTEXT_TOKENS, cut to the target's positions
    perplexity: bool = False
    perplexity_text: str | None = None
    threads: int | None = None
    batch_sizes: tuple = (1,)  # batched engines: requests in flight together
    vllm: VllmSettings = field(default_factory=VllmSettings)  # the batched serving engine's pass-through settings
    compile: bool = False  # ar and sd on the compiled engine (static cache, torch.compile'd steps)

    def __post_init__(self):
        _validate(self)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def sequential(self) -> list:
        """The selected engines that decode one sequence at a time (bench loads the pair for them)."""
        return registry.sequential(self.engines)

    @property
    def batched(self) -> list:
        return registry.batched(self.engines)

    def engine(self, name: str):
        """The engine that runs ``name``'s tasks (its compiled variant under ``--compile``)."""
        return registry.for_run(name, self.compile)

    @property
    def speculates(self) -> bool:
        return any(registry.get(name).speculative for name in self.engines)


DEFAULTS = {f.name: f.default for f in fields(BenchConfig) if f.default is not MISSING}  # the CLI's defaults

# Bounds that keep one bench invocation finite: beyond them a typo (an extra zero) would run for days or fill
# memory before the first record. Each is far above any useful measurement.
MAX_GAMMA = 1024
MAX_DECODES = 1_000_000  # runs of one invocation: repeats × prompts × (baseline + engines × γ)
MAX_NEW_TOKENS = 1 << 20
MAX_LATENCY_SAMPLES = 100_000
MAX_CONTEXT_TOKENS = 1 << 24
MAX_SEED = (1 << 63) - 1
MAX_BATCH_SIZE = 4096  # requests in flight at once (vLLM's own default max_num_seqs is 256-1024)


def _validate(config: BenchConfig) -> None:
    if registry.unknown(config.engines) or not config.engines:
        raise SpecplanError(f"--engines {','.join(config.engines)!r}: choose from {','.join(registry.names())}")
    if not config.gammas or any(g < 1 for g in config.gammas):
        raise SpecplanError(f"--gamma {','.join(map(str, config.gammas))!r}: every γ must be an integer ≥ 1")
    for name, value, low, high in (("--gamma", max(config.gammas), 1, MAX_GAMMA),
                                   ("--max-new-tokens", config.max_new_tokens, 1, MAX_NEW_TOKENS),
                                   ("--repeats", config.repeats, 1, MAX_DECODES),
                                   ("--num-prompts", config.num_prompts, 1, MAX_DECODES),
                                   ("--latency-samples", config.latency_samples, 2, MAX_LATENCY_SAMPLES),
                                   ("--seed", config.seed, 0, MAX_SEED)):
        count_in(value, name, low, high)
    if config.latency_context_tokens is not None:
        count_in(config.latency_context_tokens, "--context-tokens", 1, MAX_CONTEXT_TOKENS)
    if not config.batch_sizes or any(b < 1 for b in config.batch_sizes):
        raise SpecplanError(f"--batch-size {','.join(map(str, config.batch_sizes))!r}: every batch size must be ≥ 1")
    count_in(max(config.batch_sizes), "--batch-size", 1, MAX_BATCH_SIZE)
    number_in(config.temperature, "--temperature", 0.0, 1e6)
    number_in(config.top_p, "--top-p", 0.0, 1.0, low_open=True)
    if config.device_map not in (None, "auto"):
        raise SpecplanError(f"--device-map {config.device_map!r}: the only choice is auto")
    if config.threads is not None:
        count_in(config.threads, "--threads", 1, 4096)
    decodes = config.repeats * config.num_prompts * sum(
        len(config.gammas) if registry.get(name).speculative else 1 for name in config.engines)
    if decodes > MAX_DECODES:
        raise SpecplanError(f"--repeats {config.repeats} × --num-prompts {config.num_prompts} × engines and γ asks "
                            f"for {decodes} decodes, more than {MAX_DECODES} in one run; split it (--resume)")


def workload(config: BenchConfig, prompt_tokens: list) -> Workload:
    """What the run asks of the models (pre-flight, before weights load): its engines, and the positions of its
    longest sequence: the longest prompt + new tokens + γ (drafts run up to γ past the output), or the latency
    context + the longest timed step, whichever is more."""
    gamma = max(config.gammas) if config.speculates else 0
    longest = max(prompt_tokens)
    decode = (longest + config.max_new_tokens + gamma,
              f"the longest prompt ({longest} tokens) + --max-new-tokens {config.max_new_tokens} + γ {gamma}")
    timed = (config.latency_context_tokens + gamma + 1,
             f"--context-tokens {config.latency_context_tokens} + the longest timed step ({gamma + 1} tokens)")
    positions, why = max(decode, timed)
    return Workload(tuple(config.engines), positions, why, config.compile)


def latency_context(config: BenchConfig, positions: int | None) -> tuple[BenchConfig, tuple]:
    """``config`` with its latency context settled, and a note when it was cut: the user's value as given, else
    DEFAULT_LATENCY_CONTEXT_TOKENS cut so that the context + the longest timed step (γ + 1 tokens) fit the target's
    ``positions`` (its max_position_embeddings; None: no limit)."""
    if config.latency_context_tokens is not None:
        return config, ()
    longest_step = (max(config.gammas) if config.speculates else 0) + 1
    tokens = DEFAULT_LATENCY_CONTEXT_TOKENS
    if positions and tokens + longest_step > positions:
        tokens = max(1, positions - longest_step)
        note = (f"--context-tokens {tokens} (the default {DEFAULT_LATENCY_CONTEXT_TOKENS} cut to the target's "
                f"{positions} positions, less the longest timed step of {longest_step} tokens)",)
        return replace(config, latency_context_tokens=tokens), note
    return replace(config, latency_context_tokens=tokens), ()


def batch_notes(config: BenchConfig) -> tuple:
    """Engines that decode one sequence at a time say so when a batch size above 1 is asked of them."""
    unbatched = [engine.name for engine in config.sequential]
    if max(config.batch_sizes) > 1 and unbatched:
        return (f"{', '.join(unbatched)} decode one sequence at a time: they ran at batch size 1; "
                f"--batch-size {','.join(map(str, config.batch_sizes))} applies to "
                f"{', '.join(registry.batched_names())} only",)
    return ()
