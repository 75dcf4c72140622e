"""Fitting a roofline profile's latency terms to published step times (``plan/published_step_times.py``).

A step row is predicted with the profile's own step time (``latency.step_time_s``: the model's real architecture,
its precision, batch, context and tensor parallelism); a ratio row as c = t_draft(1) / t_target(1), each at its
own TP. The fit picks the terms in ``FIT_KEYS`` that minimise Σ log²(predicted / published) over the profile's rows
(scipy's bounded least squares), so a 3 ms and a 50 ms step weigh alike. docs/theory.md §5 gives the result.
"""

import math
import statistics
from dataclasses import dataclass, replace

from specplan.plan import latency
from specplan.plan.hardware import RooflineProfile

# The latency terms fitted, with their bounds: bandwidth efficiency in (0, 1], overheads in µs.
FIT_BOUNDS = {
    "bandwidth_efficiency": (0.3, 1.0),
    "step_overhead_us": (0.0, 5000.0),
    "layer_overhead_us": (0.0, 200.0),
    "interconnect_latency_us": (0.0, 100.0),
}
FIT_KEYS = tuple(FIT_BOUNDS)


@dataclass(frozen=True)
class RowFit:
    """One row's published and predicted figure (ms per step, or c for a ratio row) and their log ratio."""

    id: str
    kind: str
    published: float
    predicted: float

    @property
    def log_ratio(self) -> float:
        return math.log(self.predicted / self.published)


def step_ms(profile: RooflineProfile, row, draft: bool = False) -> float:
    """Milliseconds of one decode step of the row's model (its draft with ``draft``) on ``profile``."""
    arch, tp = (row.draft_architecture, row.draft_tp) if draft else (row.architecture, row.tp)
    return 1e3 * latency.step_time_s(profile, arch, 1, row.batch, row.precision, row.context_tokens, tp)


def predict(profile: RooflineProfile, row) -> float:
    """The row's figure as the profile predicts it: ms per step, or c for a ratio row."""
    if row.kind == "ratio":
        return step_ms(profile, row, draft=True) / step_ms(profile, row)
    return step_ms(profile, row)


def row_fits(profile: RooflineProfile, rows) -> list:
    return [RowFit(row.id, row.kind, row.value, predict(profile, row)) for row in rows]


def median_abs_log(fits) -> float:
    """The median |log(predicted / published)| over step rows (the fit's headline figure)."""
    steps = [abs(f.log_ratio) for f in fits if f.kind == "step"]
    return statistics.median(steps) if steps else float("nan")


def with_terms(profile: RooflineProfile, values) -> RooflineProfile:
    """The profile with the fitted terms (in ``FIT_KEYS`` order) replaced, rounded as a profile file states them."""
    terms = dict(zip(FIT_KEYS, values))
    terms["bandwidth_efficiency"] = round(terms["bandwidth_efficiency"], 3)
    for key in FIT_KEYS[1:]:
        terms[key] = round(terms[key], 1)
    return replace(profile, **terms)


def fit_profile(profile: RooflineProfile, rows, ratio_weight: float = 1.0) -> RooflineProfile:
    """The profile with ``FIT_KEYS`` fitted to ``rows`` (those whose ``profile`` is this one's name and that are not
    held out). A ratio row's log residual is multiplied by ``ratio_weight``. The fit starts from the profile's own
    terms; the profile comes back unchanged when it has no rows."""
    import numpy as np
    from scipy.optimize import least_squares

    mine = [row for row in rows if row.profile == profile.name and row.fitted]
    if not mine:
        return profile
    lower, upper = zip(*FIT_BOUNDS.values())
    start = [min(max(getattr(profile, key) or 0.0, lo), hi) for key, lo, hi in zip(FIT_KEYS, lower, upper)]

    def residuals(values):
        candidate = replace(profile, **dict(zip(FIT_KEYS, values)))
        return np.array([math.log(predict(candidate, row) / row.value) * (ratio_weight if row.kind == "ratio" else 1.0)
                         for row in mine])

    result = least_squares(residuals, start, bounds=(lower, upper), x_scale=[0.1, 100.0, 5.0, 5.0])
    return with_terms(profile, result.x)
