"""The one table of report's per-row values: for each, its name (the CSV column and JSON key), how it is read off
a :class:`Row`, its formula (metrics carry one in JSON; labels and counts are plain keys), and its table column
(header, section, digits). The rich and Markdown tables, CSV and JSON are all drawn from :data:`METRICS`, so a
value added here appears in every format. Definitions: docs/metrics.md. No torch here.
"""

from collections.abc import Callable
from dataclasses import dataclass

from specplan.report.aggregate import Row
from specplan.report.metrics import FORMULAS

ACCEPTANCE, SPEED, EXACTNESS = "acceptance", "speed", "exactness"


def fixed(value, digits: int = 2, suffix: str = "") -> str | None:
    """A number as text with fixed digits, None for no data (a column of only None is dropped)."""
    return None if value is None else f"{value:.{digits}f}{suffix}"


def speedup_text(interval) -> str | None:
    if interval is None:
        return None
    if interval.low is None:
        return f"{interval.value:.2f}×"
    return f"{interval.value:.2f}× [{interval.low:.2f}, {interval.high:.2f}]"


@dataclass(frozen=True)
class Metric:
    name: str  # CSV column, JSON key
    value: Callable[[Row], object]
    metric: bool = False  # JSON: {"value", "formula"} under "metrics"; else a plain key of the row
    header: str | None = None  # its table column, if any, in ``section``
    section: str | None = None
    digits: int = 2
    text: Callable[[Row], str | None] | None = None  # the cell, where fixed digits do not say it

    @property
    def formula(self) -> str | None:
        return FORMULAS[self.name] if self.metric else None

    def cell(self, row: Row) -> str | None:
        return self.text(row) if self.text else fixed(self.value(row), self.digits)


def _attr(name: str) -> Callable[[Row], object]:
    return lambda row: getattr(row, name)


def _m(name: str, **kwargs) -> Metric:
    return Metric(name, _attr(name), **kwargs)


METRICS = (
    _m("target"), _m("draft"), _m("engine"), _m("gamma"), _m("category"),
    _m("runs", header="runs", section=ACCEPTANCE, text=lambda r: str(r.runs)),
    _m("rounds", header="rounds", section=ACCEPTANCE, text=lambda r: str(r.rounds) if r.rounds else None),
    _m("new_tokens"),
    _m("acceptance_length", metric=True, header="AL", section=ACCEPTANCE),
    _m("mean_accepted", metric=True, header="E[j]", section=ACCEPTANCE),
    _m("draft_acceptance_rate", metric=True, header="DAR", section=ACCEPTANCE, digits=3),
    _m("alpha_iid", metric=True, header="α̂", section=ACCEPTANCE, digits=3),
    _m("alpha_sdsl_fit", metric=True, header="α̂ fit", section=ACCEPTANCE, digits=3),
    _m("tokens_per_s", metric=True, header="tok/s", section=SPEED, digits=1),
    _m("ar_tokens_per_s", header="AR tok/s", section=SPEED, digits=1),
    Metric("speedup", lambda r: r.speedup.value if r.speedup else None, metric=True, header="speedup (95% CI)",
           section=SPEED, text=lambda r: speedup_text(r.speedup)),
    Metric("speedup_low", lambda r: r.speedup.low if r.speedup else None),
    Metric("speedup_high", lambda r: r.speedup.high if r.speedup else None),
    _m("paired_runs", header="n", section=SPEED, text=lambda r: str(r.paired_runs) if r.paired_runs else None),
    _m("exact_share", header="exact", section=EXACTNESS,
       text=lambda r: None if r.exact_share is None else f"{r.checked_runs - r.diverged_runs}/{r.checked_runs}"),
    _m("checked_runs"), _m("diverged_runs"),
    _m("max_divergence_margin", header="max margin", section=EXACTNESS,
       text=lambda r: None if r.max_divergence_margin is None else f"{r.max_divergence_margin:.3g}"),
    _m("cost_ratio", metric=True, header="c", section=SPEED, digits=3),
    _m("verify_cost_ratio", metric=True, header="verify", section=SPEED),
    _m("batch_size"),
)
# JSON's speedup object gathers these three
_INTERVAL = ("speedup_low", "speedup_high")


def columns(section: str) -> list:
    """(header, cell function) of one table section, in table order."""
    return [(m.header, m.cell) for m in METRICS if m.section == section]


def row_values(row: Row) -> dict:
    """Flat raw values of one row (CSV columns), per-position rates as pos_i / cond_i."""
    values = {m.name: m.value(row) for m in METRICS}
    for i, (u, c) in enumerate(zip(row.per_position_unconditional, row.per_position_conditional), start=1):
        values[f"pos_{i}"], values[f"cond_{i}"] = u, c
    return values


def row_json(row: Row) -> dict:
    """Labels and counts as plain keys; each metric as {"value", "formula"} (speedup with its interval)."""
    out = {m.name: m.value(row) for m in METRICS if not m.metric and m.name not in _INTERVAL}
    metrics = {m.name: {"value": m.value(row), "formula": m.formula} for m in METRICS if m.metric}
    metrics["speedup"] = {"value": metrics["speedup"]["value"], "low": row.speedup.low if row.speedup else None,
                          "high": row.speedup.high if row.speedup else None, "confidence": 0.95,
                          "formula": FORMULAS["speedup"]}
    for name in ("per_position_unconditional", "per_position_conditional"):
        metrics[name] = {"value": list(getattr(row, name)), "formula": FORMULAS[name]}
    out["metrics"] = metrics
    return out
