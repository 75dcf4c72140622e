"""Speculation by batch size (``bench --engines vllm --batch-size ...``): speedup and acceptance per batch size B,
the batch size where speculation stops paying, and ``plan``'s a-priori speedup beside it.

At larger B the target's verification of γ+1 tokens per sequence becomes compute-bound, so the gain shrinks; the
pair's acceptance should not move with B (when it does beyond noise, the engine changed the outputs, not the
pair). No torch here.
"""

import math
from collections import defaultdict
from dataclasses import dataclass

from specplan.report.aggregate import Row
from specplan.report.formats import Section, _f, _speedup_text
from specplan.report.predict import plan_for

NOISE_Z = 2.0  # a DAR difference beyond 2 binomial standard errors counts as a move


@dataclass(frozen=True)
class BatchPoint:
    row: Row
    plan_speedup: float | None  # the plan's a-priori speedup at this γ, from the plan made for this batch size

    @property
    def speedup(self) -> float | None:
        return self.row.speedup.value if self.row.speedup else None


@dataclass(frozen=True)
class BatchFamily:
    """One pair × engine × γ [× category] over batch sizes, smallest B first."""

    target: str
    draft: str
    engine: str
    gamma: int
    category: str | None
    points: tuple

    @property
    def crossover(self) -> int | None:
        """The smallest measured batch size whose measured speedup is below 1; None when it pays at every B."""
        return next((p.row.batch_size for p in self.points if p.speedup is not None and p.speedup < 1.0), None)

    @property
    def plan_crossover(self) -> int | None:
        """The same read off the plan's a-priori speedups; None when it pays at every B or no plan was given."""
        return next((p.row.batch_size for p in self.points if p.plan_speedup is not None and p.plan_speedup <= 1.0),
                    None)

    @property
    def has_plan(self) -> bool:
        return any(p.plan_speedup is not None for p in self.points)

    def acceptance_moves(self) -> tuple | None:
        """(B, DAR at B, DAR at the smallest B) for the batch size whose draft acceptance rate differs most from
        the smallest B's, when that difference exceeds ``NOISE_Z`` binomial standard errors (rounds are not
        independent, so this is a lower bound on the noise); None when acceptance holds within noise."""
        base = self.points[0].row
        worst, worst_z = None, NOISE_Z
        for point in self.points[1:]:
            row = point.row
            if row.draft_acceptance_rate is None or base.draft_acceptance_rate is None:
                continue
            se = math.sqrt(_variance(base) + _variance(row))
            z = abs(row.draft_acceptance_rate - base.draft_acceptance_rate) / se if se > 0 else (
                math.inf if row.draft_acceptance_rate != base.draft_acceptance_rate else 0.0)
            if z > worst_z:
                worst, worst_z = (row.batch_size, row.draft_acceptance_rate, base.draft_acceptance_rate), z
        return worst


def _variance(row: Row) -> float:
    p = row.draft_acceptance_rate
    return p * (1 - p) / row.drafted_tokens if row.drafted_tokens else 0.0


def by_batch(rows: list, plans: dict | None = None) -> list:
    """Families of rows measured at more than one batch size (or at any B > 1)."""
    families = defaultdict(list)
    for row in rows:
        if row.batch_size is not None and row.gamma:
            families[(row.target, row.draft, row.engine, row.gamma, row.category)].append(row)
    out = []
    for key, members in families.items():
        members.sort(key=lambda r: r.batch_size)
        points = tuple(BatchPoint(r, _plan_speedup(plans, r)) for r in members)
        out.append(BatchFamily(*key, points=points))
    return sorted(out, key=lambda f: (f.target, f.draft, f.engine, f.gamma, f.category or ""))


def _plan_speedup(plans: dict | None, row: Row) -> float | None:
    prior = plan_for(plans or {}, row.batch_size)
    if prior is None or (len(plans) > 1 and prior.batch_size != row.batch_size):
        return None
    return prior.speedup_at(row.gamma)


def summary_lines(families: list) -> list:
    """One line per family: where speculation stops paying (measured, and the plan's), and acceptance moves."""
    lines = []
    for f in families:
        name = f"{f.engine} γ={f.gamma}" + (f" {f.category}" if f.category else "")
        sizes = ",".join(str(p.row.batch_size) for p in f.points)
        measured = (f"stops paying at batch size {f.crossover}" if f.crossover
                    else f"pays at every measured batch size ({sizes})")
        plan = ""
        if f.has_plan:
            plan = "; plan: " + (f"stops paying at {f.plan_crossover}" if f.plan_crossover else "pays at every one")
        lines.append(f"{name}: {measured}{plan}")
        moved = f.acceptance_moves()
        if moved:
            lines.append(f"{name}: acceptance moves with batch size beyond noise (DAR {moved[1]:.3f} at B={moved[0]} "
                         f"vs {moved[2]:.3f} at B={f.points[0].row.batch_size}): that is the engine (batched "
                         "numerics changing outputs), not the pair")
    return lines


def batch_section(families: list, several: bool):
    """Throughput and speedup by batch size, with the plan's a-priori speedup when --plan was given."""
    if not families:
        return None
    plan = any(f.has_plan for f in families)
    split = any(f.category is not None for f in families)
    labels = (("pair",) if several else ()) + ("engine", "γ") + (("category",) if split else ()) + ("B",)
    headers = labels + ("baseline tok/s", "SD tok/s", "speedup (95% CI)", "DAR", "AL") + (
        ("plan a-priori",) if plan else ())
    cells = []
    for f in families:
        for p in f.points:
            r = p.row
            cells.append(((f"{f.target} ← {f.draft}",) if several else ()) + (f.engine, str(f.gamma))
                         + ((f.category or "—",) if split else ()) + (str(r.batch_size),)
                         + (_f(r.baseline_batch_tokens_per_s, 1), _f(r.batch_tokens_per_s, 1),
                            _speedup_text(r.speedup) or "—", _f(r.draft_acceptance_rate, 3),
                            _f(r.acceptance_length)) + ((_f(p.plan_speedup, 2, "×"),) if plan else ()))
    caption = ("B requests in flight together; tok/s = the whole batch's (B × per-sequence); baseline = the engine "
               "without speculation at the same B; speedup paired wave by wave; plan a-priori = `plan --json "
               "--batch-size B`'s speedup at this γ (one --plan file per B, or one for all).")
    return Section("By batch size", caption, headers, tuple(cells), labels=len(labels))


def batch_json(families: list) -> list:
    return [{"target": f.target, "draft": f.draft, "engine": f.engine, "gamma": f.gamma, "category": f.category,
             "crossover_batch_size": f.crossover, "plan_crossover_batch_size": f.plan_crossover,
             "points": [{"batch_size": p.row.batch_size, "batch_tokens_per_s": p.row.batch_tokens_per_s,
                         "baseline_batch_tokens_per_s": p.row.baseline_batch_tokens_per_s,
                         "speedup": p.speedup, "draft_acceptance_rate": p.row.draft_acceptance_rate,
                         "plan_speedup": p.plan_speedup} for p in f.points]} for f in families]
