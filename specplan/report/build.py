"""The report step: records ─► rows of metrics ─► predicted vs measured ─► gate, then one rendering.

``specplan report`` calls :func:`build` and :func:`render`; everything here is pure Python (no torch).
"""

import io
import math
from dataclasses import dataclass

from specplan.report import formats
from specplan.report import batches
from specplan.report.aggregate import aggregate, cross_engine
from specplan.errors import SpecplanError
from specplan.report.gate import Thresholds, check, parse_fraction
from specplan.report.predict import compare_gammas, load_plans, plan_for, predict
from specplan.records import read_records

DEFAULT_MAX_REGRESSION = 0.05


@dataclass(frozen=True)
class Report:
    rows: list
    predictions: list
    comparisons: list
    failures: list
    gate_checked: bool
    notes: list
    batches: list = ()  # report.batches.BatchFamily per pair × engine × γ measured at batch sizes


def thresholds(min_speedup, min_acceptance_length, min_acceptance_rate, require_exact, max_regression,
               has_baseline: bool) -> Thresholds:
    """Gate thresholds from CLI values, each checked (one-line error naming the bad value)."""
    for name, value in (("--min-speedup", min_speedup), ("--min-acceptance-length", min_acceptance_length),
                        ("--min-acceptance-rate", min_acceptance_rate)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise SpecplanError(f"{name} {value!r} must be a non-negative number")
    if min_acceptance_rate is not None and min_acceptance_rate > 1:
        raise SpecplanError(f"--min-acceptance-rate {min_acceptance_rate!r} is a rate: give a value in 0..1")
    regression = parse_fraction(max_regression) if max_regression is not None else (
        DEFAULT_MAX_REGRESSION if has_baseline else None)
    return Thresholds(min_speedup, min_acceptance_length, min_acceptance_rate, require_exact, regression)


def build(paths, by_category: bool = False, plan_path=None, baseline_path: str | None = None,
          thresholds: Thresholds = Thresholds(), skip_bad_lines: bool = False) -> Report:
    """Read, aggregate, predict and gate. Raises :class:`SpecplanError` for unusable input."""
    records = read_records(paths, skip_bad_lines=skip_bad_lines)
    notes = [f"skipped {line}" for line in records.skipped]
    rows = aggregate(records.records, by_category)
    if not rows:
        raise SpecplanError(f"no sd or hf run records in {', '.join(map(str, paths))}: nothing to report")
    plans = load_plans(plan_path)  # one path, or several (one per --batch-size)
    predictions = predict(rows, plan_for(plans, 1))
    families = batches.by_batch(rows, plans)
    notes += batches.summary_lines(families) + cross_engine_lines(records.records)
    if not predictions:
        notes.append("no latency records with draft and target steps: predicted vs measured needs c")
    baseline = None
    if baseline_path:
        baseline = aggregate(read_records([baseline_path], skip_bad_lines=skip_bad_lines).records, by_category)
        known = {r.key for r in baseline}
        notes += [f"no baseline row for pair {r.pair}, engine {r.engine}, γ {r.gamma}: not compared"
                  for r in rows if r.key not in known]
    return Report(rows, predictions, compare_gammas(rows), check(rows, thresholds, baseline),
                  thresholds.active, notes, families)


def cross_engine_lines(records: list) -> list:
    """vLLM without speculation beside transformers' ar (greedy): a comparison of two engines, not a failure."""
    return [f"{engine} without speculation vs transformers ar (greedy, same prompt): {same}/{total} outputs "
            "token-identical (a cross-engine comparison, different kernels; not an exactness check)"
            for engine, (same, total) in sorted(cross_engine(records).items())]


def extra_sections(report: Report) -> tuple:
    several = formats.several_pairs(report.rows)
    return (formats.prediction_section(report.predictions, several),
            formats.decomposition_section(report.predictions, several),
            formats.gamma_section(report.comparisons, several),
            batches.batch_section(report.batches, several),
            formats.gate_section(report.failures, report.gate_checked))


def render(report: Report, fmt: str, width: int | None = None) -> str:
    """The report as text in ``fmt`` (table, md, csv or json)."""
    if fmt == "md":
        return formats.render_markdown(report.rows, extra_sections(report), tuple(report.notes))
    if fmt == "csv":
        return formats.render_csv(report.rows)
    if fmt == "json":
        return formats.render_json(
            report.rows, predictions=[formats.prediction_json(p) for p in report.predictions],
            gamma_choice=[formats.gamma_json(c) for c in report.comparisons],
            by_batch=batches.batch_json(report.batches),
            gate={"checked": report.gate_checked, "passed": not report.failures,
                  "failures": [f.line for f in report.failures]},
            notes=report.notes)
    return render_table(report, width)


def render_table(report: Report, width: int | None = None, console=None) -> str:
    """Rich tables; printed on ``console`` when given (colours, terminal width), else returned as plain text."""
    from rich.console import Console

    if console is not None:
        formats.render_rich(report.rows, console, extra_sections(report))
        return ""
    capture = Console(width=width or 160, record=True, file=io.StringIO(), color_system=None)
    formats.render_rich(report.rows, capture, extra_sections(report))
    return capture.export_text()

