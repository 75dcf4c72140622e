"""The CI gate: thresholds on report rows and regressions against a baseline run, as one failure per line.

``report`` exits 1 when :func:`check` returns any failure, 0 otherwise. No torch here.
"""

from dataclasses import dataclass

from specplan.report.aggregate import Row
from specplan.errors import SpecplanError


@dataclass(frozen=True)
class Thresholds:
    min_speedup: float | None = None
    min_acceptance_length: float | None = None
    min_acceptance_rate: float | None = None  # on the draft acceptance rate, Σ j / Σ k
    require_exact: bool = False
    max_regression: float | None = None  # a fraction: 0.05 = 5% below the baseline fails
    min_runs: int | None = None  # paired runs a row's speedup interval needs

    @property
    def active(self) -> bool:
        """Whether any gate option was given (the report then shows a Gate section)."""
        return any(v is not None for v in (self.min_speedup, self.min_acceptance_length, self.min_acceptance_rate,
                                           self.max_regression, self.min_runs)) or self.require_exact


@dataclass(frozen=True)
class Failure:
    row: Row
    metric: str
    measured: float | None  # None: the metric has no data in this row
    threshold: str  # e.g. ">= 1.2", "= 1 (all exact)", ">= 1.7 (baseline 1.79 − 5%)"

    @property
    def line(self) -> str:
        r = self.row
        where = f"pair {r.pair}, engine {r.engine}, γ {r.gamma}" + (f", category {r.category}" if r.category else "") \
            + (f", batch {r.batch_size}" if r.batch_size is not None else "")
        measured = "no data" if self.measured is None else f"{self.measured:.4g}"
        return f"FAIL {where}: {self.metric} {measured}, required {self.threshold}"


@dataclass(frozen=True)
class GateFailure:
    """A failure of the gate as a whole (not of one row): e.g. a baseline that compared nothing."""

    line: str


def parse_fraction(text: str) -> float:
    """``5%`` or ``0.05`` → 0.05; a one-line error otherwise."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise SpecplanError(f"--max-regression {text!r} is not a fraction (try 5% or 0.05)") from None
    if not 0 <= value < 1:  # NaN fails here too
        raise SpecplanError(f"--max-regression {text!r} must be between 0% and 100%")
    return value


def _speedup(row: Row) -> float | None:
    return row.speedup.value if row.speedup else None


def _minimums(row: Row, t: Thresholds) -> list:
    checks = [("speedup", _speedup(row), t.min_speedup),
              ("acceptance length", row.acceptance_length, t.min_acceptance_length),
              ("draft acceptance rate", row.draft_acceptance_rate, t.min_acceptance_rate)]
    failures = [Failure(row, name, value, f">= {limit:g}") for name, value, limit in checks
                if limit is not None and (value is None or value < limit)]
    if t.min_runs is not None and row.paired_runs < t.min_runs:
        failures.append(Failure(row, "paired runs", row.paired_runs, f">= {t.min_runs} (too few for its interval)"))
    if t.require_exact and (row.exact_share is None or row.exact_share < 1):
        failures.append(Failure(row, "exact share", row.exact_share, "= 1 (every greedy output identical to AR)"))
    return failures


def _regressions(row: Row, old: Row | None, max_regression: float) -> list:
    """Speedup and acceptance length may fall at most ``max_regression`` below the baseline's."""
    if old is None:
        return []
    failures = []
    for name, new_value, old_value in (("speedup", _speedup(row), _speedup(old)),
                                       ("acceptance length", row.acceptance_length, old.acceptance_length)):
        if old_value is None:
            continue
        floor = old_value * (1 - max_regression)
        if new_value is None or new_value < floor:
            failures.append(Failure(row, name, new_value,
                                    f">= {floor:.4g} (baseline {old_value:.4g} − {max_regression * 100:g}%)"))
    return failures


def check(rows: list, thresholds: Thresholds, baseline: list | None = None) -> list:
    """Every failure of every row, in row order; rows absent from the baseline are only checked on thresholds.
    A baseline that matches no row fails the gate: a regression check that compared nothing must not pass."""
    old = {r.key: r for r in baseline or ()}
    failures = []
    if baseline is not None and not any(r.key in old for r in rows):
        failures.append(GateFailure(f"FAIL baseline: none of its {len(old)} row(s) matches a row of this report "
                                    "(pair, engine, γ): nothing was compared"))
    for row in rows:
        failures += _minimums(row, thresholds)
        if thresholds.max_regression is not None:
            failures += _regressions(row, old.get(row.key), thresholds.max_regression)
    return failures


FEW_RUNS = 5  # below this many paired runs a row's speedup interval is noted as resting on few runs


def few_runs_notes(rows: list, min_runs: int | None) -> list:
    """One note per gated row whose speedup rests on fewer than ``FEW_RUNS`` paired runs (its interval is wide or
    missing), unless ``--min-runs`` already fails it."""
    notes = []
    for r in rows:
        if r.paired_runs >= FEW_RUNS or (min_runs is not None and r.paired_runs < min_runs):
            continue
        interval = (f"interval [{r.speedup.low:.2f}, {r.speedup.high:.2f}]" if r.speedup and r.speedup.low is not None
                    else "no interval")
        notes.append(f"gate: {r.engine} γ {r.gamma}" + (f" B {r.batch_size}" if r.batch_size else "")
                     + f" has {r.paired_runs} paired run(s), {interval}: too few to trust; --min-runs N fails such "
                     "a row")
    return notes


def select_rows(rows: list, engines: tuple = (), gammas: tuple = (), best_gamma: bool = False) -> list:
    """The rows the gate checks: those of the given engines and γ; with ``best_gamma`` per pair × engine
    [× category] only the γ with the best measured speedup (so a γ sweep can be gated on its best point)."""
    chosen = [r for r in rows if (not engines or r.engine in engines) and (not gammas or r.gamma in gammas)]
    if not best_gamma:
        return chosen
    best = {}
    for row in chosen:
        family = (row.target, row.draft, row.engine, row.category, row.batch_size)
        if row.speedup is not None and (family not in best or row.speedup.value > best[family].speedup.value):
            best[family] = row
    return [r for r in chosen if best.get((r.target, r.draft, r.engine, r.category, r.batch_size)) is r]


def parse_gate_gammas(text: str | None) -> tuple:
    """``--gamma 2,4`` → ((2, 4), False); ``best`` → ((), True); None → ((), False)."""
    if text is None:
        return (), False
    if text.strip().lower() == "best":
        return (), True
    try:
        gammas = tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise SpecplanError(f"--gamma {text!r}: expected γ values such as 2,4 or 'best'") from None
    if not gammas or min(gammas) < 1:
        raise SpecplanError(f"--gamma {text!r}: expected γ values ≥ 1 such as 2,4 or 'best'")
    return gammas, False
