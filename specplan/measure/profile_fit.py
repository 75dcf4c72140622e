"""``specplan profile``'s fit and document: the non-negative least-squares fit of plan's measured latency model to
the timed steps of :mod:`specplan.measure.latency_profile`, its leave-one-out check, the prefill and cold-step
terms, and the profile YAML. Pure (numpy, scipy, yaml): no torch.
"""

from __future__ import annotations

import datetime
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from specplan.errors import SpecplanError
from specplan.measure.timing import CacheFlush
from specplan.plan.hardware import MeasuredCoefficients, MeasuredProfile, profile_from_dict
from specplan.plan.shapes import DEFAULT_ASPECT_RATIO
from specplan.records import write_whole

PER_PARAM_TOKEN_TERM = 3  # place of per_param_token_s in MeasuredCoefficients.vector()


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
    :func:`specplan.plan.hardware.measured_latency_terms`, each row divided by its median so that the fit minimises
    relative error (a 2 ms and a 200 ms step count alike). Columns are scaled to unit size first: the terms span
    ~12 orders of magnitude (1 against params·k).

    The growth with k is fitted as a table, one extra cost per parameter for each measured k = 2..K (shared by
    every model), because measured step time need not grow smoothly with k (on CPUs it does not). A table
    already holds any linear growth P·k within 1..K, so ``per_param_token_s`` is left at 0 (the two are not
    separately identifiable); beyond K the table's last entry is held."""
    from scipy.optimize import nnls

    from specplan.plan.hardware import measured_latency_terms

    if not timings:
        raise SpecplanError("nothing was measured, so there is nothing to fit")
    entries = max(t.new_tokens for t in timings) - 1  # k = 2..K
    measured_s = np.array([t.median_s for t in timings])
    terms = np.array([measured_latency_terms(t.model.params, t.new_tokens, aspect_ratio, entries) for t in timings])
    terms[:, PER_PARAM_TOKEN_TERM] = 0.0  # held at 0: see the docstring
    weighted = terms / measured_s[:, None]
    scale = np.abs(weighted).max(axis=0)
    scale[scale == 0] = 1.0  # a term no point exercises (e.g. multi-token with K = 1) stays at zero
    solution, _ = nnls(weighted / scale, np.ones(len(timings)))
    coefficients = MeasuredCoefficients.from_vector(solution / scale)
    predicted_s = terms @ (solution / scale)
    return Fit(coefficients=coefficients, predicted_s=tuple(float(p) for p in predicted_s),
               errors=tuple(float(e) for e in predicted_s / measured_s - 1.0))


def leave_one_out(timings, aspect_ratio: float = DEFAULT_ASPECT_RATIO) -> list:
    """For each measured size: the fit made without it, and its largest relative error on that size's points —
    how far the latency model is off at a size it did not see (what ``plan`` quotes when it extrapolates).
    Needs at least three sizes (two remain to fit)."""
    sizes = sorted({t.model.params for t in timings})
    if len(sizes) < 3:
        return []
    out = []
    for size in sizes:
        kept = [t for t in timings if t.model.params != size]
        profile = MeasuredProfile("leave-one-out", "fp32", fit_latency(kept, aspect_ratio).coefficients, aspect_ratio)
        errors = [abs(profile.step_time_s(size, t.new_tokens) / t.median_s - 1.0)
                  for t in timings if t.model.params == size]
        out.append({"params": size, "max_abs_error": float(max(errors))})
    return out


def fit_prefill(prefills, step_1_s) -> dict | None:
    """The ``prefill`` mapping of a profile: one cost per parameter per prompt token q, fitted (least squares on
    relative error) to the measured prefills of C context tokens as t_prefill(N, P) = t(N, 1) + q·N·(P − 1), with
    t(N, 1) = ``step_1_s(N)``, the fitted decode step. None when no prefill of more than one token was timed."""
    rows = [t for t in prefills if t.new_tokens > 1]
    if not rows:
        return None
    x = np.array([t.model.params * (t.new_tokens - 1) for t in rows])
    measured = np.array([t.median_s for t in rows])
    rest = measured - np.array([step_1_s(t.model.params) for t in rows])
    weight = 1.0 / measured ** 2
    q = max(0.0, float(np.sum(weight * x * rest) / np.sum(weight * x * x)))
    predicted = measured - rest + q * x
    return {"tokens": rows[0].new_tokens, "per_param_token_s": q,
            "method": "prefill of the context on a fresh cache after a cache flush; t(N, 1) + q·N·(P − 1) fitted",
            "measurements": [{"model": t.model.label, "params": t.model.params, "median_s": t.median_s,
                              "p10_s": t.p10_s, "p90_s": t.p90_s, "predicted_s": float(p),
                              "error": float(p / t.median_s - 1.0)} for t, p in zip(rows, predicted)]}


def cold_steps(colds, timings) -> dict | None:
    """The ``cold_step`` mapping of a profile: per model, a decode step right after a cache flush against the warm
    one (k = 1 medians) and the extra, max(0, cold − warm): what a draft's first step of each round costs beyond
    the others once the target's pass has pushed its weights out of the caches."""
    warm = {t.model.params: t.median_s for t in timings if t.new_tokens == 1}
    rows = [{"model": t.model.label, "params": t.model.params, "cold_s": t.median_s, "warm_s": warm[t.model.params],
             "extra_s": max(0.0, t.median_s - warm[t.model.params])} for t in colds if t.model.params in warm]
    if not rows:
        return None
    return {"method": f"k = 1 step right after writing a {CacheFlush.BYTES >> 20} MiB buffer, against the warm k = 1 "
                      "step", "measurements": rows}


# -------------------------------------------------------------------------------------------------- document


def default_name(settings: ProfileSettings) -> str:
    return f"measured-{settings.device.replace(':', '')}-{settings.dtype}"


def profile_document(measurement: Measurement, fit: Fit, name: str, loop: dict | None = None) -> dict:
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
        "engine": "eager",  # transformers' forward steps (plan tells them from a compiled engine's)
        "aspect_ratio": s.aspect_ratio,
        "coefficients": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(fit.coefficients).items()},
        "device": measurement.device_name,
        "context_tokens": s.context_tokens,
        "max_tokens": s.max_tokens,
        "partial": measurement.partial,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": {"device": s.device, "repeats": s.repeats, "warmup": s.warmup, "seed": s.seed},
        "fit": {"method": "non-negative least squares on relative error, latency model of hardware.MeasuredProfile "
                          "with a per-k multi-token table",
                "points": len(fit.errors), "max_abs_error": fit.max_abs_error, "rms_error": fit.rms_error,
                "leave_one_out": leave_one_out(measurement.timings, s.aspect_ratio)},
        "skipped": list(measurement.skipped),
        "measurements": [_row(t, p, e) for t, p, e in zip(measurement.timings, fit.predicted_s, fit.errors)],
        "environment": measurement.environment,
    }
    if loop is not None:  # the decode loop's own terms (measure.loop_profile); plan adds them to the fit
        document["loop"] = loop
    step_1 = MeasuredProfile("fit", s.dtype, fit.coefficients, s.aspect_ratio)
    prefill = fit_prefill(measurement.prefill_timings, lambda params: step_1.step_time_s(params, 1))
    if prefill is not None:
        document["prefill"] = prefill
    cold = cold_steps(measurement.cold_timings, measurement.timings)
    if cold is not None:
        document["cold_step"] = cold
    profile_from_dict(document, f"profile {name!r}")  # the reading side's schema check
    return document


def _row(timing: StepTiming, predicted_s: float, error: float) -> dict:
    m = timing.model
    return {"model": m.label, "params": m.params, "layers": m.layers, "width": m.width, "vocab_size": m.vocab_size,
            "new_tokens": timing.new_tokens, "median_s": timing.median_s, "p10_s": timing.p10_s,
            "p90_s": timing.p90_s, "samples": timing.samples, "predicted_s": predicted_s, "error": error}


def prepare_output(path: str | Path) -> Path:
    """Check ``--output`` before any timing: not a folder nor a device, its folder exists (or can be made) and
    takes a new file, and an existing file there is a profile (never a records file, a config.json or a
    prompts file, which writing would destroy)."""
    path = Path(path)
    if path.is_dir():
        raise SpecplanError(f"--output {str(path)!r} is a folder; give a FILE.yaml")
    if path.exists() and not path.is_file():
        raise SpecplanError(f"--output {str(path)!r} is not a regular file (a device or pipe); give a FILE.yaml")
    if path.is_file() and path.stat().st_size and not _is_profile(path):
        raise SpecplanError(f"--output {str(path)!r} exists and is not a profile: writing it would destroy it; "
                            "choose another file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"):
            pass  # the folder takes a new file: the profile is written there later (temporary file, rename)
    except OSError as exc:
        raise SpecplanError(f"cannot write the profile to {str(path)!r}: {exc.strerror}") from None
    return path


def _is_profile(path: Path) -> bool:
    """An existing file that reads as a profile YAML (a mapping with coefficients or peak_tflops)."""
    from specplan.checks import load_yaml, read_text_file

    try:
        data = load_yaml(read_text_file(path, "--output"), "--output")
    except SpecplanError:
        return False
    return isinstance(data, dict) and ("coefficients" in data or "peak_tflops" in data)


def write_profile(document: dict, path: str | Path) -> Path:
    """Write the profile YAML (one flow-style line per measured point), whole or not at all, and return its path."""
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=200)
    return write_whole(path, text, "the profile")
