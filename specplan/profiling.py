"""``specplan profile``: time decode steps of random-weight models on the user's device and fit plan's latency model.

Data flow: sizes (a ladder, plus any --model architectures) ─► build a random model ─► prefill a KV cache of
``context_tokens`` ─► time forward steps of k = 1..K new tokens (k = 1: a decode step, k = γ+1: a verification
pass), the cache rewound after each so every step sees the same context ─► median and spread per (model, k)
─► non-negative least-squares fit of the latency model of :class:`specplan.hardware.MeasuredProfile` ─► a
``kind: measured`` profile YAML that ``plan --profile FILE`` reads.

Timing follows docs/metrics.md: device synchronised before and after each step, warm-up steps discarded, the k
values interleaved within each repeat (slow drift of a shared machine then hits every k alike). torch is imported
inside the measuring functions only; the fit and the document are pure.
"""

import datetime
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from specplan.errors import SpecplanError
from specplan.hardware import BYTES_PER_PARAM, MeasuredCoefficients, profile_from_dict
from specplan.modeling import ModelShape
from specplan.shapes import DEFAULT_ASPECT_RATIO

# Ladder ×4 apart (the 20M, 80M, 300M, ...). A size is kept when its weights fit in this share of the
# device's memory (the KV cache, activations and the allocator need the rest).
LADDER_PARAMS = (20e6, 80e6, 300e6, 1.2e9, 5e9, 20e9, 80e9)
LADDER_MEMORY_SHARE = 0.5
# CPU steps of models above this take seconds each: the default CPU ladder stops here (--sizes goes further).
CPU_LADDER_MAX_PARAMS = 300e6
MIN_SIZE_PARAMS = 1e5
DEFAULT_CONTEXT_TOKENS = 512
DEFAULT_MAX_TOKENS = 8
DEFAULT_REPEATS = 20
DEFAULT_WARMUP = 3
NOISY_SPREAD = 0.5  # p10–p90 wider than half the median: warn that the timings are unsteady


@dataclass(frozen=True)
class ProfileSettings:
    device: str  # resolved: cuda, cuda:N, mps or cpu
    dtype: str  # fp32, bf16 or fp16
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    max_tokens: int = DEFAULT_MAX_TOKENS  # K: steps of k = 1..K new tokens
    repeats: int = DEFAULT_REPEATS
    warmup: int = DEFAULT_WARMUP
    seed: int = 0
    aspect_ratio: float = DEFAULT_ASPECT_RATIO

    def validate(self) -> None:
        for name, value, least in (("--context", self.context_tokens, 0), ("--max-tokens", self.max_tokens, 1),
                                   ("--repeats", self.repeats, 1), ("--warmup", self.warmup, 0)):
            if value < least:
                raise SpecplanError(f"{name} {value!r} must be at least {least}")
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


def jobs_for(sizes, model_ids, settings: ProfileSettings) -> list:
    """The models to time, configs read up front so that a bad ``--model`` fails before any timing."""
    from specplan.modeling import config_for_model, ladder_config

    settings.validate()
    positions = settings.context_tokens + settings.max_tokens + 16
    jobs = [Job(size_label(p), ladder_config(p, settings.aspect_ratio, max_positions=positions)) for p in sizes]
    return jobs + [Job(m, config_for_model(m)) for m in model_ids]


def measure(jobs, settings: ProfileSettings, on_advance=lambda label, steps: None) -> Measurement:
    """Time every job's model (random weights). A model that runs out of memory is skipped with a message; Ctrl-C
    ends the run and returns the models finished so far, marked partial. ``on_advance(label, steps)`` reports
    progress: ``settings.steps_per_model`` steps per model."""
    from specplan import devices

    settings.validate()
    timings, skipped, partial = [], [], False
    try:
        for job in jobs:
            done = _Progress(job.label, on_advance)
            try:
                timings += _measure_job(job, settings, done)
            except (RuntimeError, MemoryError) as exc:
                if not devices.is_out_of_memory(exc):
                    raise
                skipped.append(f"{job.label}: out of memory on {settings.device} ({_first_line(exc)})")
            finally:
                done.finish(settings.steps_per_model)
                devices.free_memory(settings.device)
    except KeyboardInterrupt:
        partial = True
    return Measurement(settings=settings, device_name=devices.device_name(settings.device), timings=tuple(timings),
                       skipped=tuple(skipped), partial=partial, environment=environment())


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _measure_job(job: Job, settings: ProfileSettings, progress) -> list:
    import torch

    from specplan import devices
    from specplan.modeling import build_from_config, describe

    _, torch_dtype = devices.resolve_dtype(settings.dtype, settings.device)
    _check_fits(job, settings)
    model = build_from_config(job.config, torch_dtype, settings.device, settings.seed)
    try:
        shape = describe(model, job.label)
        with torch.inference_mode():
            samples = _time_steps(model, shape.vocab_size, settings, progress)
    finally:
        del model
    return [_summarise(shape, k, values) for k, values in samples.items()]


def _check_fits(job: Job, settings: ProfileSettings) -> None:
    """Refuse, as out of memory, a model whose weights alone exceed 90% of the device memory: on cpu the kernel's
    OOM killer would end the whole run instead of raising an error we can catch. Counted on the meta device."""
    import torch
    from transformers import AutoModelForCausalLM

    from specplan import devices
    from specplan.modeling import count_params

    with torch.device("meta"):
        params = count_params(AutoModelForCausalLM.from_config(job.config))
    need_bytes = params * BYTES_PER_PARAM[settings.dtype]
    have_bytes = devices.memory_bytes(settings.device)
    if need_bytes > 0.9 * have_bytes:
        raise MemoryError(f"out of memory: {params / 1e9:.3g}B parameters need {need_bytes / 1e9:.3g} GB in "
                          f"{settings.dtype}, the device has {have_bytes / 1e9:.3g} GB")


def _time_steps(model, vocab_size: int, settings: ProfileSettings, progress) -> dict:
    """Seconds per forward step for k = 1..K new tokens after a prefill of ``context_tokens``: {k: [samples]}."""
    import torch

    from specplan.engines.step import drop_last, new_cache
    from specplan.timing import timed

    generator = torch.Generator().manual_seed(settings.seed)
    context_ids = torch.randint(vocab_size, (1, settings.context_tokens), generator=generator).to(settings.device)
    new_ids = torch.randint(vocab_size, (1, settings.max_tokens), generator=generator).to(settings.device)
    cache = new_cache(model)
    if settings.context_tokens:
        model(input_ids=context_ids, past_key_values=cache, use_cache=True)  # prefill: the warm KV cache
    samples = {k: [] for k in range(1, settings.max_tokens + 1)}
    for repeat in range(settings.warmup + settings.repeats):
        for k in samples:  # interleaved: every k sees the same drift of a shared machine
            step_ids = new_ids[:, :k]
            _, elapsed_s = timed(settings.device,
                                 lambda: model(input_ids=step_ids, past_key_values=cache, use_cache=True))
            drop_last(cache, cache.get_seq_length() - settings.context_tokens)  # back to the warm context
            if repeat >= settings.warmup:
                samples[k].append(elapsed_s)
            progress()
    return samples


def _summarise(shape: ModelShape, new_tokens: int, values: list) -> StepTiming:
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return StepTiming(model=shape, new_tokens=new_tokens, median_s=float(median), p10_s=float(p10),
                      p90_s=float(p90), samples=len(values))


def environment() -> dict:
    import torch

    from specplan.devices import software_versions

    return {**software_versions(), "torch_threads": torch.get_num_threads()}


def noisy_points(rows: list, spread: float = NOISY_SPREAD) -> list:
    """Measured rows (dicts of the profile's table) whose p10–p90 range exceeds ``spread`` of the median: a busy
    machine (on a shared CPU, a parallel kernel waits for its descheduled threads)."""
    return [r for r in rows if (r["p90_s"] - r["p10_s"]) > spread * r["median_s"]]


# ------------------------------------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class Fit:
    """Fitted latency model and how well it reproduces each measured median (``errors``: predicted/measured − 1)."""

    coefficients: MeasuredCoefficients
    predicted_s: tuple
    errors: tuple

    @property
    def max_abs_error(self) -> float:
        return max(abs(e) for e in self.errors)

    @property
    def rms_error(self) -> float:
        return math.sqrt(sum(e * e for e in self.errors) / len(self.errors))


def fit_latency(timings, aspect_ratio: float = DEFAULT_ASPECT_RATIO) -> Fit:
    """Non-negative least squares of the measured medians on the latency terms of
    :func:`specplan.hardware.measured_latency_terms`, each row divided by its median so that the fit minimises
    relative error (a 2 ms and a 200 ms step count alike). Columns are scaled to unit size first: the terms span
    ~12 orders of magnitude (1 against params·k)."""
    from scipy.optimize import nnls

    from specplan.hardware import measured_latency_terms

    if not timings:
        raise SpecplanError("nothing was measured, so there is nothing to fit")
    measured_s = np.array([t.median_s for t in timings])
    terms = np.array([measured_latency_terms(t.model.params, t.new_tokens, aspect_ratio) for t in timings])
    weighted = terms / measured_s[:, None]
    scale = np.abs(weighted).max(axis=0)
    scale[scale == 0] = 1.0  # a term no point exercises (e.g. multi-token with K = 1) stays at zero
    solution, _ = nnls(weighted / scale, np.ones(len(timings)))
    coefficients = MeasuredCoefficients(*(float(x) for x in solution / scale))
    predicted_s = terms @ (solution / scale)
    return Fit(coefficients=coefficients, predicted_s=tuple(float(p) for p in predicted_s),
               errors=tuple(float(e) for e in predicted_s / measured_s - 1.0))


# -------------------------------------------------------------------------------------------------- document


def default_name(settings: ProfileSettings) -> str:
    return f"measured-{settings.device.replace(':', '')}-{settings.dtype}"


def profile_document(measurement: Measurement, fit: Fit, name: str) -> dict:
    """The ``kind: measured`` profile: what ``plan`` reads (name, dtype, coefficients, aspect ratio) first, then
    for people the device, settings, the measured table with each point's fitted value and error, and the
    environment. Checked by plan's own loader before it is returned, so a written file always loads."""
    s = measurement.settings
    document = {
        "name": name,
        "kind": "measured",
        "description": f"Measured with specplan profile on {measurement.device_name}"
                       + (" (partial: interrupted)" if measurement.partial else ""),
        "dtype": s.dtype,
        "aspect_ratio": s.aspect_ratio,
        "coefficients": {k: v for k, v in vars(fit.coefficients).items()},
        "device": measurement.device_name,
        "context_tokens": s.context_tokens,
        "max_tokens": s.max_tokens,
        "partial": measurement.partial,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": {"device": s.device, "repeats": s.repeats, "warmup": s.warmup, "seed": s.seed},
        "fit": {"method": "non-negative least squares on relative error, latency model of hardware.MeasuredProfile",
                "points": len(fit.errors), "max_abs_error": fit.max_abs_error, "rms_error": fit.rms_error},
        "skipped": list(measurement.skipped),
        "measurements": [_row(t, p, e) for t, p, e in zip(measurement.timings, fit.predicted_s, fit.errors)],
        "environment": measurement.environment,
    }
    profile_from_dict(document, f"profile {name!r}")  # the reading side's schema check
    return document


def _row(timing: StepTiming, predicted_s: float, error: float) -> dict:
    m = timing.model
    return {"model": m.label, "params": m.params, "layers": m.layers, "width": m.width, "vocab_size": m.vocab_size,
            "new_tokens": timing.new_tokens, "median_s": timing.median_s, "p10_s": timing.p10_s,
            "p90_s": timing.p90_s, "samples": timing.samples, "predicted_s": predicted_s, "error": error}


def write_profile(document: dict, path: str | Path) -> Path:
    """Write the profile YAML (one flow-style line per measured point) and return its path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=200))
    except OSError as exc:
        raise SpecplanError(f"cannot write the profile to {str(path)!r}: {exc.strerror}") from None
    return path
