"""Calibrate the SDSL acceptance law α = A·x + B·y + C (x = draft perplexity, y = target perplexity, docs/theory.md §3 and §6)
on a user's own measured pairs.

The paper's pooled fit has R² = 0.60 while fits per target family reach 0.92–0.97: the family offset matters. So:
with several targets we fit A, B, C by ordinary least squares; with one target (y constant) B cannot be told apart
from C, so we fit α = A·x + C_family and write b = 0, c = C_family (valid for that family). Pure: numpy only.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from specplan.records import PerplexityRecord, RunRecord, typed
from specplan.report import metrics
from specplan.errors import SpecplanError

LAW = "alpha = a * ppl_draft + b * ppl_target + c"


@dataclass(frozen=True)
class Point:
    """One measured pair: perplexities and the acceptance α̂ over all its speculative rounds."""

    target: str
    draft: str
    draft_ppl: float
    target_ppl: float
    alpha: float
    rounds: int = 0
    temperature: float | None = None


@dataclass(frozen=True)
class Fit:
    a: float
    b: float
    c: float
    b_identifiable: bool  # False: one target family, b fixed at 0 and c is the family offset
    r2: float | None  # None when the measured α̂ do not vary
    rmse: float
    residuals: tuple  # measured − fitted, one per point, in point order
    fitted: tuple
    std_errors: dict  # coefficient → standard error (None without residual degrees of freedom)
    points: tuple

    def acceptance(self, draft_ppl: float, target_ppl: float) -> float:
        return self.a * draft_ppl + self.b * target_ppl + self.c

    def to_json(self) -> dict:
        return {
            "law": LAW,
            "coefficients": {"a": self.a, "b": self.b, "c": self.c},
            "b_identifiable": self.b_identifiable,
            "fit": {"points": len(self.points), "r2": self.r2, "rmse": self.rmse,
                    "std_errors": self.std_errors},
            "points": [{"target": p.target, "draft": p.draft, "draft_ppl": p.draft_ppl, "target_ppl": p.target_ppl,
                        "alpha_measured": p.alpha, "alpha_fitted": f, "residual": r, "rounds": p.rounds}
                       for p, f, r in zip(self.points, self.fitted, self.residuals)],
        }


def fit_acceptance_law(points: Sequence[Point]) -> Fit:
    """Least-squares fit of α = A·x + B·y + C (or α = A·x + C with a single target perplexity).

    Errors (one line each): fewer points than coefficients + 1 (no residual to judge the fit by), draft
    perplexities that do not vary, or a design whose columns are collinear (e.g. x and y moving together)."""
    points = tuple(points)
    x = np.array([p.draft_ppl for p in points], dtype=float)
    y = np.array([p.target_ppl for p in points], dtype=float)
    alpha = np.array([p.alpha for p in points], dtype=float)
    one_family = len(points) > 0 and _constant(y)
    columns = [x, np.ones_like(x)] if one_family else [x, y, np.ones_like(x)]
    needed = len(columns) + 1
    if len(points) < needed:
        shape = "α = A·x + C (one target)" if one_family else "α = A·x + B·y + C"
        raise SpecplanError(f"too few points to calibrate {shape}: {len(points)} measured pair(s), need at least "
                            f"{needed} (pairs with different draft perplexities)")
    if _constant(x):
        raise SpecplanError(f"degenerate data: every draft perplexity is {x[0]:.4g}, so A cannot be fitted; "
                            "measure drafts of different sizes")
    design = np.column_stack(columns)  # (n, k)
    if np.linalg.matrix_rank(design / np.abs(design).max(axis=0)) < design.shape[1]:
        raise SpecplanError("degenerate data: draft and target perplexities are collinear across the points, so "
                            "A and B cannot be told apart; add pairs that vary one without the other")
    coef, *_ = np.linalg.lstsq(design, alpha, rcond=None)
    if not np.all(np.isfinite(coef)):
        raise SpecplanError("the fit did not give finite coefficients (perplexities too large or too close); "
                            "check the perplexity records")
    fitted = design @ coef
    residuals = alpha - fitted
    a, b, c = (coef[0], 0.0, coef[1]) if one_family else tuple(coef)
    names = ["a", "c"] if one_family else ["a", "b", "c"]
    return Fit(a=float(a), b=float(b), c=float(c), b_identifiable=not one_family, r2=_r2(alpha, residuals),
               rmse=float(math.sqrt(np.mean(residuals**2))), residuals=tuple(map(float, residuals)),
               fitted=tuple(map(float, fitted)), std_errors=_std_errors(design, residuals, names), points=points)


def _constant(values: np.ndarray) -> bool:
    return bool(np.ptp(values) <= 1e-9 * max(1.0, float(np.abs(values).max())))


def _r2(observed: np.ndarray, residuals: np.ndarray) -> float | None:
    """R² = 1 − SS_res / SS_tot; undefined (None) when the observations do not vary."""
    total = float(np.sum((observed - observed.mean()) ** 2))
    return None if total == 0 else 1.0 - float(np.sum(residuals**2)) / total


def _std_errors(design: np.ndarray, residuals: np.ndarray, names: list) -> dict:
    """OLS standard errors sqrt(diag(σ̂²(XᵀX)⁻¹)), σ̂² = SS_res / (n − k)."""
    n, k = design.shape
    sigma2 = float(np.sum(residuals**2)) / (n - k)
    covariance = sigma2 * np.linalg.inv(design.T @ design)
    return {name: float(math.sqrt(max(covariance[i, i], 0.0))) for i, name in enumerate(names)}


# ---------------------------------------------------------------- from run records (docs/records.md)


def points_from_records(records: Iterable[dict], engine: str = "sd", temperature: float | None = None) -> list:
    """One :class:`Point` per (pair, temperature): α̂ (metrics.alpha_iid) over every round of the pair's ``engine``
    runs, and each model's perplexity from the pair's ``perplexity`` records. Pairs lacking a perplexity are
    skipped; acceptance at different temperatures is not one law, so mixing them needs ``temperature``."""
    records = typed(records)
    rounds = _rounds_by_pair(records, engine, temperature)
    if not rounds:
        where = f" at temperature {temperature}" if temperature is not None else ""
        raise SpecplanError(f"no '{engine}' run records with rounds{where} in the records given")
    temperatures = {t for _, t in rounds}
    if len(temperatures) > 1:
        raise SpecplanError(f"the records mix temperatures {sorted(temperatures, key=str)}; acceptance differs "
                            "with temperature, so pick one with --temperature")
    ppl = _perplexities(records)
    points = []
    for (pair, temp), (drafted, accepted) in sorted(rounds.items(), key=str):
        target_ppl, draft_ppl = ppl.get((pair, "target")), ppl.get((pair, "draft"))
        alpha = metrics.alpha_iid(drafted, accepted)
        if target_ppl is None or draft_ppl is None or alpha is None:
            continue
        points.append(Point(target=pair[0], draft=pair[1], draft_ppl=draft_ppl, target_ppl=target_ppl, alpha=alpha,
                            rounds=len(accepted), temperature=temp))
    return points


def pairs_without_perplexity(records: Iterable[dict], engine: str = "sd") -> list:
    """Pairs with speculative runs but no perplexity for one of their models (to tell the user)."""
    records = typed(records)
    ppl = _perplexities(records)
    pairs = {pair for pair, _ in _rounds_by_pair(records, engine, None)}
    return sorted(p for p in pairs if (p, "target") not in ppl or (p, "draft") not in ppl)


def _pair_key(record) -> tuple:
    return (record.pair.target, record.pair.draft) if record.pair is not None else ("None", "None")


def _rounds_by_pair(records: list, engine: str, temperature: float | None) -> dict:
    rounds = {}
    for r in records:
        if not isinstance(r, RunRecord) or r.engine != engine or r.rounds is None:
            continue
        temp = r.temperature
        if temperature is not None and (temp is None or not math.isclose(temp, temperature)):
            continue
        drafted, accepted = rounds.setdefault((_pair_key(r), temp), ([], []))
        drafted.extend(r.rounds.drafted)
        accepted.extend(r.rounds.accepted)
    return rounds


def _perplexities(records: list) -> dict:
    """(pair, model) → perplexity; one model measured on two different texts is an error (not comparable)."""
    found = {}
    for r in records:
        if not isinstance(r, PerplexityRecord):
            continue
        key = (_pair_key(r), r.model)
        value, text = float(r.perplexity), r.text
        if key in found and found[key][1] != text:
            raise SpecplanError(f"{key[1]} of pair {key[0][0]} / {key[0][1]} has perplexities on two texts "
                                f"({found[key][1]!r} and {text!r}); calibrate on one text")
        found.setdefault(key, (value, text))
    return {key: value for key, (value, _) in found.items()}
