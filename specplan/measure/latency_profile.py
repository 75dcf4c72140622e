"""``specplan profile``: time decode steps of random-weight models on the user's device and fit plan's latency model.

Data flow: sizes (a ladder, plus any --model architectures) ─► build random models, as many at once as fit in
half the device memory ─► prefill a KV cache of ``context_tokens`` each ─► time forward steps of k = 1..K new
tokens (k = 1: a decode step, k = γ+1: a verification pass), the cache rewound after each so every step sees the
same context ─► median and spread per (model, k) ─► non-negative least-squares fit of the latency model of
:class:`specplan.plan.hardware.MeasuredProfile` (a cost per parameter for each k) ─► a ``kind: measured`` profile
YAML that ``plan --profile FILE`` reads.

Timing follows docs/metrics.md: device synchronised before and after each step, warm-up repeats discarded, the
models and the k values interleaved within each repeat (slow drift of a shared machine then hits every point
alike). torch is imported inside the measuring functions only; the fit and the document are in
:mod:`specplan.measure.profile_fit`.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from specplan.checks import count_in
from specplan.errors import SpecplanError, first_line
from specplan.plan.hardware import BYTES_PER_PARAM
from specplan.plan.latency import DEFAULT_CONTEXT_TOKENS
from specplan.measure.random_models import ModelShape
from specplan.measure.timing import CacheFlush
from specplan.records import step_quantiles
from specplan.plan.shapes import DEFAULT_ASPECT_RATIO

# Ladder ×4 apart (the 20M, 80M, 300M, ...). A size is kept when its weights fit in this share of the
# device's memory (the KV cache, activations and the allocator need the rest).
LADDER_PARAMS = (20e6, 80e6, 300e6, 1.2e9, 5e9, 20e9, 80e9)
LADDER_MEMORY_SHARE = 0.5
# CPU steps of models above this take seconds each: the default CPU ladder stops here (--sizes goes further).
CPU_LADDER_MAX_PARAMS = 300e6
MIN_SIZE_PARAMS = 1e5
# KV-cache tokens at every step profile times: plan's own default context (where plan evaluates the fitted model)
# and bench's single-step latency context, one default for the one idea.
PROFILE_CONTEXT_TOKENS = DEFAULT_CONTEXT_TOKENS
DEFAULT_MAX_TOKENS = 8
DEFAULT_REPEATS = 20
DEFAULT_WARMUP = 3
NOISY_SPREAD = 0.5
PREFILL_SAMPLES = 5  # prefills of the context timed per model (the median is fitted)
# Untimed decode steps between the cold step and the timed ones. On a CPU the steps after a cache flush speed up
# over several steps (1M toy draft, 1 thread: 2.05, 1.11, 1.01, 0.91, 0.88, 0.86 ms); from the fourth on they are
# as fast as a draft's later steps in a speculative round.
REWARM_STEPS = 3
# Bounds that keep one profile finite (a typo's extra zeros would run for days or fill memory first).
MAX_CONTEXT_TOKENS = 1 << 22
MAX_STEP_TOKENS = 1024
MAX_REPEATS = 100_000  # p10–p90 wider than half the median: warn that the timings are unsteady


@dataclass(frozen=True)
class ProfileSettings:
    device: str  # resolved: cuda, cuda:N, mps or cpu
    dtype: str  # fp32, bf16 or fp16
    context_tokens: int = PROFILE_CONTEXT_TOKENS
    max_tokens: int = DEFAULT_MAX_TOKENS  # K: steps of k = 1..K new tokens
    repeats: int = DEFAULT_REPEATS
    warmup: int = DEFAULT_WARMUP
    seed: int = 0
    aspect_ratio: float = DEFAULT_ASPECT_RATIO

    def validate(self) -> None:
        for name, value, least, most in (("--context", self.context_tokens, 0, MAX_CONTEXT_TOKENS),
                                         ("--max-tokens", self.max_tokens, 1, MAX_STEP_TOKENS),
                                         ("--repeats", self.repeats, 1, MAX_REPEATS),
                                         ("--warmup", self.warmup, 0, MAX_REPEATS),
                                         ("--seed", self.seed, 0, (1 << 63) - 1)):
            count_in(value, name, least, most)
        if not (math.isfinite(self.aspect_ratio) and self.aspect_ratio > 0):
            raise SpecplanError(f"--aspect-ratio {self.aspect_ratio!r} must be a positive number")

    @property
    def steps_per_model(self) -> int:
        return (self.warmup + self.repeats) * self.max_tokens


@dataclass(frozen=True)
class StepTiming:
    """Latency of one forward step of ``new_tokens`` tokens with a warm cache of the profile's context length."""

    model: ModelShape
    new_tokens: int
    median_s: float
    p10_s: float
    p90_s: float
    samples: int


@dataclass(frozen=True)
class Measurement:
    settings: ProfileSettings
    device_name: str
    timings: tuple  # StepTiming, in measuring order
    skipped: tuple = ()  # one line per model that could not be measured (out of memory)
    partial: bool = False  # interrupted (Ctrl-C): the models measured so far
    environment: dict = field(default_factory=dict)
    prefill_timings: tuple = ()  # StepTiming per model: a prefill of the context (new_tokens = context tokens)
    cold_timings: tuple = ()  # StepTiming per model: a k = 1 step right after a cache flush


# ---------------------------------------------------------------------------------------------------- sizes


def parse_sizes(text: str) -> list:
    """``--sizes 20M,80M,300M`` → [2e7, 8e7, 3e8]; a bad or too small entry is named in the error."""
    from specplan.units import parse_count

    sizes = [parse_count(item, "--sizes entry") for item in text.split(",") if item.strip()]
    if not sizes:
        raise SpecplanError(f"--sizes {text!r} names no size (e.g. --sizes 20M,80M,300M)")
    for size in sizes:
        if size < MIN_SIZE_PARAMS:
            raise SpecplanError(f"--sizes entry {size:g} is below the smallest model profiled ({MIN_SIZE_PARAMS:g})")
    return sorted(set(sizes))


def default_ladder(device: str, dtype: str, memory_bytes: float) -> list:
    """The ladder sizes whose weights fit in ``LADDER_MEMORY_SHARE`` of the device memory (at most
    ``CPU_LADDER_MAX_PARAMS`` on cpu), at least the smallest."""
    cap = CPU_LADDER_MAX_PARAMS if device == "cpu" else math.inf
    fits = [p for p in LADDER_PARAMS if p <= cap and p * BYTES_PER_PARAM[dtype] <= LADDER_MEMORY_SHARE * memory_bytes]
    return fits or [LADDER_PARAMS[0]]


def size_label(params: float) -> str:
    from specplan.units import format_count

    return format_count(params)


# ------------------------------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Job:
    """One model to time: a ladder size (shape rule) or a ``--model`` architecture, as a transformers config."""

    label: str
    config: object
    params: int  # counted on the meta device, before anything is built


def jobs_for(sizes, model_ids, settings: ProfileSettings) -> list:
    """The models to time, configs read up front so that a bad ``--model`` fails before any timing."""
    from specplan.measure.loading import check_causal_lm
    from specplan.measure.random_models import config_for_model, ladder_config

    settings.validate()
    positions = settings.context_tokens + settings.max_tokens + 16
    configs = [(size_label(p), ladder_config(p, settings.aspect_ratio, max_positions=positions)) for p in sizes]
    configs += [(m, config_for_model(m)) for m in model_ids]
    for label, config in configs[len(sizes):]:
        check_causal_lm(config, "--model", label)  # a BERT or T5 would fail at its first timed step
    jobs = [Job(label, config, _count_params(config, label)) for label, config in configs]
    _check_context_fits(jobs, settings)
    return jobs


def kv_cache_bytes(config, context_tokens: int, dtype: str) -> float:
    """Bytes of the KV cache at ``context_tokens``: K and V, every layer, every key-value head (an estimate where
    the config's heads vary by layer)."""
    text = config.get_text_config()
    heads = _global_value(text, "num_attention_heads") or 1
    kv_heads = _global_value(text, "num_key_value_heads") or heads
    head_dim = _global_value(text, "head_dim") or text.hidden_size // heads
    return 2.0 * text.num_hidden_layers * kv_heads * head_dim * context_tokens * BYTES_PER_PARAM[dtype]


def _global_value(config, name: str):
    """``config.name``, or None where it is missing or varies by layer (Gemma 4's configs raise on such a read)."""
    try:
        return getattr(config, name, None)
    except Exception:  # transformers' AmbiguousGlobalPerLayerAttributeError is no AttributeError
        return None


def _check_context_fits(jobs, settings: ProfileSettings) -> None:
    """A --context whose KV cache alone fills the device for every model is refused up front (one line), not
    discovered by the kernel's out-of-memory killer; larger models that do not fit are skipped as usual."""
    from specplan.measure import devices

    if not jobs:
        return
    have = 0.9 * devices.memory_bytes(settings.device)
    need = min(kv_cache_bytes(job.config, settings.context_tokens, settings.dtype) for job in jobs)
    if need > have:
        raise SpecplanError(f"--context {settings.context_tokens}: the KV cache alone needs {need / 1e9:.3g} GB for "
                            f"the smallest model, more than the {have / 1e9:.3g} GB usable on {settings.device}")


def _count_params(config, label: str) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    from specplan.measure.random_models import count_params

    try:
        with torch.device("meta"):
            return count_params(AutoModelForCausalLM.from_config(config))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SpecplanError(f"--model {label!r}: not a causal language model specplan can build "
                            f"({first_line(exc, 200)})") from None


def eager_timer(job, model, context_ids, step_ids, device: str, vocab_tokens: int):
    """The step timer of an eager profile (``measure``'s default ``make_timer``)."""
    from specplan.measure.timing import StepTimer

    return StepTimer(model, context_ids, step_ids, device, vocab_tokens)


def measure(jobs, settings: ProfileSettings, on_advance=lambda label, steps: None,
            make_timer=eager_timer) -> Measurement:
    """Time every job's model (random weights), side by side: the models that fit together in
    ``LADDER_MEMORY_SHARE`` of the device memory are loaded at once and each repeat times every one of them in
    turn, so a slow phase of a shared machine hits all sizes alike instead of one whole model. A model that runs
    out of memory is skipped with a message; Ctrl-C ends the run and returns the steps timed so far, marked
    partial. ``on_advance(label, steps)`` reports progress: ``settings.steps_per_model`` steps per model.
    ``make_timer(job, model, context_ids, step_ids, device, vocab_tokens)`` builds each model's step timer
    (:func:`eager_timer`; ``profile --compile``'s is :class:`specplan.measure.compiled_profile.CompiledTimers`)."""
    from specplan.measure import devices

    settings.validate()
    timings, prefills, colds, skipped, partial = [], [], [], [], False
    flush = CacheFlush(settings.device)
    try:
        for group in side_by_side_groups(jobs, settings):
            timers = []
            try:
                for job in group:
                    try:
                        timers.append(_StepTimer(job, settings, on_advance, make_timer))
                    except (RuntimeError, MemoryError) as exc:
                        _skip_if_out_of_memory(exc, job, settings, skipped)
                for repeat in range(settings.warmup + settings.repeats):
                    for timer in list(timers):
                        try:
                            timer.run(keep=repeat >= settings.warmup, flush=flush)
                        except (RuntimeError, MemoryError) as exc:
                            _skip_if_out_of_memory(exc, timer.job, settings, skipped)
                            timers.remove(timer)
                            timer.close()
                            devices.free_memory(settings.device)
            finally:
                timings += [timing for timer in timers for timing in timer.summaries()]
                prefills += [timing for timer in timers for timing in timer.prefill_summary()]
                colds += [timing for timer in timers for timing in timer.cold_summary()]
                for timer in timers:
                    timer.close()
                devices.free_memory(settings.device)
    except KeyboardInterrupt:
        partial = True
    return Measurement(settings=settings, device_name=devices.device_name(settings.device), timings=tuple(timings),
                       skipped=tuple(skipped), partial=partial, environment=environment(),
                       prefill_timings=tuple(prefills), cold_timings=tuple(colds))


def side_by_side_groups(jobs, settings: ProfileSettings) -> list:
    """Consecutive jobs whose weights together fit in ``LADDER_MEMORY_SHARE`` of the device memory (a larger model
    is a group of its own)."""
    from specplan.measure import devices

    budget = LADDER_MEMORY_SHARE * devices.memory_bytes(settings.device)
    groups, used = [], math.inf
    for job in jobs:
        need = job.params * BYTES_PER_PARAM[settings.dtype]
        if used + need > budget:
            groups.append([])
            used = 0.0
        groups[-1].append(job)
        used += need
    return groups


def _skip_if_out_of_memory(exc: BaseException, job: Job, settings: ProfileSettings, skipped: list) -> None:
    """Note ``job`` as skipped when ``exc`` is the device running out of memory; re-raise any other error."""
    from specplan.measure import devices

    if not devices.is_out_of_memory(exc):
        raise exc
    skipped.append(f"{job.label}: out of memory on {settings.device} ({first_line(exc, 200)})")


class _StepTimer:
    """One job's model built on the device, timed by :class:`specplan.measure.timing.StepTimer` over steps of
    k = 1..K new tokens on a warm cache of the profile's context."""

    def __init__(self, job: Job, settings: ProfileSettings, on_advance, make_timer=eager_timer):
        import torch

        from specplan.measure import devices
        from specplan.measure.random_models import build_from_config, describe

        self.job, self.settings, self.progress = job, settings, _Progress(job.label, on_advance)
        self.timer = None
        try:
            _check_fits(job, settings)
            _, torch_dtype = devices.resolve_dtype(settings.dtype, settings.device)
            model = build_from_config(job.config, torch_dtype, settings.device, settings.seed)
            self.shape = describe(model, job.label)
            generator = torch.Generator().manual_seed(settings.seed)
            context_ids = torch.randint(self.shape.vocab_size, (1, settings.context_tokens), generator=generator)
            new_ids = torch.randint(self.shape.vocab_size, (1, settings.max_tokens), generator=generator)
            self.context_ids = context_ids.to(settings.device)
            self.timer = make_timer(job, model, self.context_ids, new_ids.to(settings.device), settings.device,
                                    self.shape.vocab_size)
        except BaseException:
            self.close()
            raise
        self.samples = {k: [] for k in range(1, settings.max_tokens + 1)}
        self.prefill_samples, self.cold_samples = [], []

    def run(self, keep: bool, flush) -> None:
        """One repeat: with the device's caches flushed, a prefill of the context on a fresh cache (in the first
        ``PREFILL_SAMPLES`` kept repeats only: a long prefill is steady and costly) and a cold decode step (a draft's
        first step of a round, after the target's pass); then ``REWARM_STEPS`` untimed decode steps (they re-warm
        this model's weights) and a timed step for each k. Times are kept unless this is a warm-up repeat."""
        if keep and self.context_ids.shape[1] and len(self.prefill_samples) < PREFILL_SAMPLES:
            flush()
            self.prefill_samples.append(self.timer.time_prefill(self.context_ids))
        flush()
        cold_s = self.timer.time(1)
        if keep:
            self.cold_samples.append(cold_s)
        for _ in range(REWARM_STEPS):
            self.timer.time(1)
        for k, kept in self.samples.items():
            elapsed_s = self.timer.time(k)
            if keep:
                kept.append(elapsed_s)
            self.progress()

    def summaries(self) -> list:
        return [_summarise(self.shape, k, values) for k, values in self.samples.items() if values]

    def prefill_summary(self) -> list:
        """The prefill of the profile's context (``new_tokens`` = context tokens), as a one-item list (or none)."""
        return [_summarise(self.shape, self.settings.context_tokens, self.prefill_samples)] \
            if self.prefill_samples else []

    def cold_summary(self) -> list:
        """The cold decode step (k = 1 right after a cache flush), as a one-item list (or none)."""
        return [_summarise(self.shape, 1, self.cold_samples)] if self.cold_samples else []

    def close(self) -> None:
        """Drop the model (its memory is returned by the caller's free_memory) and complete its progress share."""
        self.timer = None
        self.progress.finish(self.settings.steps_per_model)


class _Progress:
    """Counts the steps reported for one model, so that a skipped model still completes its share of the bar."""

    def __init__(self, label: str, on_advance):
        self.label, self.on_advance, self.steps = label, on_advance, 0

    def __call__(self, steps: int = 1) -> None:
        self.steps += steps
        self.on_advance(self.label, steps)

    def finish(self, total: int) -> None:
        if self.steps < total:
            self(total - self.steps)


def _check_fits(job: Job, settings: ProfileSettings) -> None:
    """Refuse, as out of memory, a model whose weights alone exceed 90% of the device memory: on cpu the kernel's
    OOM killer would end the whole run instead of raising an error we can catch."""
    from specplan.measure import devices

    need_bytes = job.params * BYTES_PER_PARAM[settings.dtype] + kv_cache_bytes(job.config, settings.context_tokens,
                                                                               settings.dtype)
    have_bytes = devices.memory_bytes(settings.device)
    if need_bytes > 0.9 * have_bytes:
        raise MemoryError(f"out of memory: {job.params / 1e9:.3g}B parameters need {need_bytes / 1e9:.3g} GB in "
                          f"{settings.dtype}, the device has {have_bytes / 1e9:.3g} GB")


def _summarise(shape: ModelShape, new_tokens: int, values: list) -> StepTiming:
    p10, median, p90 = step_quantiles(values)
    return StepTiming(model=shape, new_tokens=new_tokens, median_s=float(median), p10_s=float(p10),
                      p90_s=float(p90), samples=len(values))


def environment() -> dict:
    import torch

    from specplan.measure.devices import software_versions

    return {**software_versions(), "torch_threads": torch.get_num_threads()}


def noisy_points(rows: list, spread: float = NOISY_SPREAD) -> list:
    """Measured rows (dicts of the profile's table) whose p10–p90 range exceeds ``spread`` of the median: a busy
    machine (on a shared CPU, a parallel kernel waits for its descheduled threads)."""
    return [r for r in rows if (r["p90_s"] - r["p10_s"]) > spread * r["median_s"]]
