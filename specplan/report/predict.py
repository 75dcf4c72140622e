"""Predicted vs measured: the speedup ``plan``'s formulas give from the *measured* α̂, c and verification cost,
beside the measured speedup, and the γ ``plan`` would choose beside the γ that measured best.

Formulas of ``docs/theory.md`` §1 via :mod:`specplan.plan.theory`; latencies are divided through by t_target(1),
so S(γ) = E(α, γ) / (γ·c + v(γ)) with v(γ) = t_target(γ+1)/t_target(1). No torch here.
"""

import json
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from specplan.checks import count_in, number_in, read_text_file
from specplan.plan import theory
from specplan.report.aggregate import Row
from specplan.errors import SpecplanError


@dataclass(frozen=True)
class PlanPrior:
    """The a-priori numbers of a ``plan --json`` file: acceptance, costs and its chosen γ."""

    alpha: float
    cost_ratio: float
    verify_cost_ratio: float  # at the plan's γ
    gamma: int
    speedup: float
    batch_size: int = 1  # the plan's --batch-size
    speedup_by_gamma: tuple = ()  # the plan's speedup at γ = 1..γmax, where its file has them
    path: str = ""
    target: str | None = None  # the plan's named target (plan --target); None: planned for a size
    profile: str | None = None  # the hardware profile it planned for
    drafts: tuple = ()  # the draft checkpoints it ranked (plan --target ID), where it ranked any

    def speedup_at(self, gamma: int) -> float:
        """The plan's a-priori speedup at ``gamma``: from its own table where the file has one, else from its α and c
        with the verification cost of its own γ."""
        if 1 <= gamma <= len(self.speedup_by_gamma):
            return self.speedup_by_gamma[gamma - 1]
        return theory.speedup_latency(self.alpha, gamma, 1.0, self.cost_ratio, self.verify_cost_ratio)


@dataclass(frozen=True)
class Prediction:
    """One row: speedup predicted from its measured α̂, c and v beside the measured one."""

    row: Row
    predicted_speedup: float
    verify_assumed: bool  # no target(γ+1) latency: verification charged as one target step (v = 1)
    prior_speedup: float | None  # from --plan
    loop_speedup: float | None = None  # E(α̂, γ) / (γ·c_loop + v_loop + o_round) (report.decompose)

    @property
    def measured_speedup(self) -> float | None:
        return self.row.speedup.value if self.row.speedup else None

    @property
    def gap(self) -> float | None:
        """measured / predicted − 1: negative when the run fell short of the formula."""
        measured = self.measured_speedup
        return measured / self.predicted_speedup - 1.0 if measured is not None else None

    @property
    def loop_gap(self) -> float | None:
        """measured / predicted with the loop's terms − 1."""
        measured = self.measured_speedup
        return measured / self.loop_speedup - 1.0 if measured is not None and self.loop_speedup else None


@dataclass(frozen=True)
class GammaComparison:
    """One pair × engine [× category]: the γ ``plan`` would choose from the measurements vs the best measured γ."""

    target: str
    draft: str
    engine: str
    category: str | None
    alpha: float  # α̂ pooled over all γ of the group (i.i.d. maximum likelihood)
    planned_gamma: int  # 0: the formulas say do not speculate
    planned_speedup: float
    best_gamma: int | None
    best_speedup: float | None
    gamma_range: tuple  # (1, largest measured γ): v(γ) is interpolated, never extrapolated


def predict(rows: list, prior: PlanPrior | None = None) -> list:
    """A :class:`Prediction` for every row with α̂, γ and c (c needs ``latency`` records) at batch size 1."""
    out = []
    for row in rows:
        if row.alpha_iid is None or not row.gamma or row.cost_ratio is None or (row.batch_size or 1) > 1:
            continue  # latency records time one sequence: c and v hold at batch size 1 only
        verify = row.verify_cost_ratio
        speedup = theory.speedup_latency(row.alpha_iid, row.gamma, 1.0, row.cost_ratio, verify or 1.0)
        loop = row.loop.predicted_speedup(row.alpha_iid, row.gamma) if row.loop else None
        out.append(Prediction(row, speedup, verify is None, prior.speedup_at(row.gamma) if prior else None, loop))
    return out


def compare_gammas(rows: list) -> list:
    """Per pair × engine [× category] with c measured: the γ maximising the predicted speedup over 1..max
    measured γ (α̂ pooled over the group's rounds) and the γ with the best measured speedup."""
    groups = defaultdict(list)
    for row in rows:
        if row.gamma and row.cost_ratio is not None and row.examined_drafts and (row.batch_size or 1) == 1:
            groups[(row.target, row.draft, row.engine, row.category)].append(row)
    return [_compare(key, members) for key, members in groups.items()]


def _compare(key: tuple, members: list) -> GammaComparison:
    alpha = sum(r.accepted_drafts for r in members) / sum(r.examined_drafts for r in members)
    c = members[0].cost_ratio  # one pair: one draft and one target step time
    verify = _verify_curve(members)
    gamma_max = max(r.gamma for r in members)
    choice = theory.best_gamma_by_search(
        alpha, lambda g: theory.speedup_latency(alpha, g, 1.0, c, verify(g)), gamma_max)
    measured = [r for r in members if r.speedup is not None]
    best = max(measured, key=lambda r: r.speedup.value, default=None)
    return GammaComparison(*key, alpha=alpha, planned_gamma=choice.gamma, planned_speedup=choice.speedup,
                           best_gamma=best.gamma if best else None,
                           best_speedup=best.speedup.value if best else None, gamma_range=(1, gamma_max))


def _verify_curve(members: list):
    """v(γ) by linear interpolation of the measured target(γ+1)/target(1), with v(0) = 1; v = 1 (one target
    step, the paper's assumption) where no verification latency was measured."""
    points = sorted({(0, 1.0)} | {(r.gamma, r.verify_cost_ratio) for r in members if r.verify_cost_ratio})
    if len(points) == 1:
        return lambda gamma: 1.0
    xs, ys = zip(*points)
    return lambda gamma: float(np.interp(gamma, xs, ys))


def load_plans(paths) -> dict:
    """{batch size: plan} from ``plan --json`` files; one file per batch size (``plan --batch-size B``)."""
    plans = {}
    for path in [paths] if isinstance(paths, str) else list(paths or ()):
        prior = load_plan(path)
        if prior.batch_size in plans:
            raise SpecplanError(f"--plan {path!r}: two plan files for batch size {prior.batch_size}; give one per "
                                "--batch-size")
        plans[prior.batch_size] = prior
    return plans


def plan_for(plans: dict, batch_size: int | None) -> PlanPrior | None:
    """The plan made for ``batch_size`` (None: one sequence); a single plan file serves every row."""
    if len(plans) == 1:
        return next(iter(plans.values()))
    return plans.get(batch_size or 1)


def load_plan(path: str) -> PlanPrior:
    """Read the recommendation of a ``specplan plan --json`` file; every value must be a finite number in its range
    (α in (0, 1), costs and speedup positive, γ a whole number ≥ 0)."""
    try:
        data = json.loads(read_text_file(path, "--plan"))
    except json.JSONDecodeError as exc:
        raise SpecplanError(f"--plan {path!r} is not a JSON file from `specplan plan --json` ({exc.msg})") from None
    rec = data.get("recommendation") if isinstance(data, dict) else None
    if not isinstance(rec, dict) or not {"alpha", "cost_ratio", "gamma", "speedup"} <= set(rec):
        raise SpecplanError(f"--plan {path!r} lacks the plan's recommendation (alpha, cost_ratio, gamma, speedup); "
                            "write it with `specplan plan --json`")
    where = f"--plan {path!r}:"
    inputs = data.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise SpecplanError(f"{where} inputs must be an object (write it with `specplan plan --json`)")
    checkpoints = data.get("checkpoints") or []
    return PlanPrior(
        alpha=number_in(rec["alpha"], f"{where} alpha", 0.0, 1.0, low_open=True, high_open=True),
        cost_ratio=number_in(rec["cost_ratio"], f"{where} cost_ratio", 0.0, 1e6, low_open=True),
        verify_cost_ratio=number_in(rec.get("verify_cost_ratio") or 1.0, f"{where} verify_cost_ratio", 0.0, 1e6,
                                    low_open=True),
        gamma=count_in(rec["gamma"], f"{where} gamma", 0, 1 << 20),
        speedup=number_in(rec["speedup"], f"{where} speedup", 0.0, 1e6, low_open=True),
        batch_size=count_in(inputs.get("batch_size") or 1, f"{where} inputs.batch_size", 1, 1 << 20),
        speedup_by_gamma=_speedups(rec.get("speedup_by_gamma") or (), f"{where} speedup_by_gamma"),
        path=str(path), target=_text(inputs.get("target_name")), profile=_text(inputs.get("profile")),
        drafts=tuple(str(c["name"]) for c in checkpoints if isinstance(checkpoints, list) and isinstance(c, dict)
                     and isinstance(c.get("name"), str)))


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _speedups(values, what: str) -> tuple:
    if not isinstance(values, (list, tuple)):
        raise SpecplanError(f"{what} must be a list of speedups")
    return tuple(number_in(v, what, 0.0, 1e6, low_open=True) for v in values)
