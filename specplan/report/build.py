"""The report step: records ─► rows of metrics ─► predicted vs measured ─► gate, then one rendering.

``specplan report`` calls :func:`build` and :func:`render`; everything here is pure Python (no torch).
"""

import io
import json
import math
from dataclasses import dataclass

from specplan.report import acceptance_check, batches, formats
from specplan.report.aggregate import aggregate, cross_engine
from specplan.errors import SpecplanError
from specplan.report.gate import Thresholds, check, few_runs_notes, parse_fraction, select_rows
from specplan.report.plan_match import check_plans_match
from specplan.report.predict import compare_gammas, load_plans, plan_for, predict
from specplan.records import RunRecord, read_records, typed

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
    perplexities: tuple = ()  # the records' PerplexityRecord s, as measured
    detail: bool = False  # every predicted speedup, not only one per row (--detail)
    acceptance: tuple = ()  # report.acceptance_check.AcceptanceCheck per row an acceptance record covers


def thresholds(min_speedup, min_acceptance_length, min_acceptance_rate, require_exact, max_regression,
               has_baseline: bool, min_runs: int | None = None) -> Thresholds:
    """Gate thresholds from CLI values, each checked (one-line error naming the bad value)."""
    for name, value in (("--min-speedup", min_speedup), ("--min-acceptance-length", min_acceptance_length),
                        ("--min-acceptance-rate", min_acceptance_rate)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise SpecplanError(f"{name} {value!r} must be a non-negative number")
    if min_acceptance_rate is not None and min_acceptance_rate > 1:
        raise SpecplanError(f"--min-acceptance-rate {min_acceptance_rate!r} is a rate: give a value in 0..1")
    if min_runs is not None and min_runs < 1:
        raise SpecplanError(f"--min-runs {min_runs} must be at least 1")
    regression = parse_fraction(max_regression) if max_regression is not None else (
        DEFAULT_MAX_REGRESSION if has_baseline else None)
    return Thresholds(min_speedup, min_acceptance_length, min_acceptance_rate, require_exact, regression, min_runs)


@dataclass(frozen=True)
class GateRows:
    """Which rows the gate checks (``report --engine``, ``--gamma``); all by default."""

    engines: tuple = ()
    gammas: tuple = ()
    best_gamma: bool = False


# Settings that change what a run measures: runs that differ in one of them are never pooled into one row.
POOLING_SETTINGS = ("temperature", "top_p", "max_new_tokens", "prompts", "device", "dtype")


def build(paths, by_category: bool = False, plan_path=None, baseline_path: str | None = None,
          thresholds: Thresholds = Thresholds(), skip_bad_lines: bool = False,
          gate_rows: GateRows = GateRows(), compare_any_plan: bool = False, detail: bool = False) -> Report:
    """Read, aggregate, predict and gate. Raises :class:`SpecplanError` for unusable input."""
    records = read_records(paths, skip_bad_lines=skip_bad_lines)
    check_one_setting(records.typed)
    notes = [f"skipped {line}" for line in records.skipped] + duplicate_notes(records.duplicates)
    notes += unusable_run_notes(records.typed)
    rows = aggregate(records.typed, by_category)
    if not rows:
        raise SpecplanError(f"no sd or hf run records in {', '.join(map(str, paths))}: nothing to report")
    plans = load_plans(plan_path)  # one path, or several (one per --batch-size)
    if not compare_any_plan:
        check_plans_match(plans, records.typed)
    predictions = predict(rows, plan_for(plans, 1))
    families = batches.by_batch(rows, plans)
    notes += batches.summary_lines(families) + cross_engine_lines(records.typed)
    if not predictions:
        notes.append("no latency records with draft and target steps: predicted vs measured needs c")
    gated = _gated_rows(rows, gate_rows)
    if thresholds.active:
        notes += few_runs_notes(gated, thresholds.min_runs)
    baseline = None
    if baseline_path:
        old = read_records([baseline_path], skip_bad_lines=skip_bad_lines)
        check_one_setting(old.typed)
        baseline = aggregate(old.typed, by_category)
        known = {r.key for r in baseline}
        notes += [f"no baseline row for pair {r.pair}, engine {r.engine}, γ {r.gamma}: not compared"
                  for r in gated if r.key not in known]
    accepted = acceptance_check.checks(rows, records.typed)
    notes += acceptance_check.notes(accepted)
    return Report(rows, predictions, compare_gammas(rows), check(gated, thresholds, baseline),
                  thresholds.active, notes, families, tuple(records.of_kind("perplexity")), detail, tuple(accepted))


def cross_engine_lines(records: list) -> list:
    """vLLM without speculation beside transformers' ar (greedy): a comparison of two engines, not a failure."""
    return [f"{engine} without speculation vs transformers ar (greedy, same prompt): {same}/{total} outputs "
            "token-identical (a cross-engine comparison, different kernels; not an exactness check)"
            for engine, (same, total) in sorted(cross_engine(records).items())]


def _gated_rows(rows: list, gate_rows: GateRows) -> list:
    """The rows ``--engine``/``--gamma`` name; a name that matches no row is an error (a gate on nothing)."""
    for engine in gate_rows.engines:
        if engine not in {r.engine for r in rows}:
            raise SpecplanError(f"--engine {engine!r} matches no row (engines in the records: "
                                f"{', '.join(sorted({r.engine for r in rows}))})")
    for gamma in gate_rows.gammas:
        if gamma not in {r.gamma for r in rows}:
            raise SpecplanError(f"--gamma {gamma} matches no row (γ in the records: "
                                f"{', '.join(sorted({str(r.gamma) for r in rows}))})")
    if not (gate_rows.engines or gate_rows.gammas or gate_rows.best_gamma):
        return default_gated_rows(rows)
    return select_rows(rows, gate_rows.engines, gate_rows.gammas, gate_rows.best_gamma)


def default_gated_rows(rows: list) -> list:
    """What the gate checks when the user names no engine or γ: specplan's ``sd`` at its best measured γ per pair
    (and batch size); without sd rows, every engine but transformers' ``hf`` (a reference, not what one deploys),
    each at its best γ; rows no speedup was measured for are all kept."""
    engines = {r.engine for r in rows}
    chosen = ("sd",) if "sd" in engines else tuple(sorted(engines - {"hf"})) or tuple(sorted(engines))
    best = select_rows(rows, chosen, (), best_gamma=True)
    return best or select_rows(rows, chosen)


def check_one_setting(records: list) -> None:
    """Runs of one pair that differ in a setting of ``POOLING_SETTINGS`` (temperature, top-p, max new tokens,
    prompts, device, dtype) would be pooled into one row as if they measured the same thing: refused, naming the
    setting and its values."""
    seen = {}
    for r in typed(records):
        if not isinstance(r, RunRecord):
            continue
        pair = json.dumps(r.pair and [r.pair.target, r.pair.draft])
        for key in POOLING_SETTINGS:
            if key not in r.settings:
                continue
            value = json.dumps(r.setting(key), sort_keys=True)
            first = seen.setdefault((pair, key), value)
            if first != value:
                raise SpecplanError(f"the records mix runs of {key} {first} and {value} for one pair; they are not "
                                    "one measurement: report each setting's records separately")


def duplicate_notes(duplicates: list) -> list:
    if not duplicates:
        return []
    return [f"{len(duplicates)} duplicate record(s) or file(s) read once, not counted twice (first: "
            f"{duplicates[0]})"]


def unusable_run_notes(records: list) -> list:
    """Runs with zero new tokens or zero wall time have no speed: they are left out of speed and speedup, and
    said so (never a silent drop)."""
    unusable = [r for r in typed(records) if isinstance(r, RunRecord) and not (r.new_tokens and r.wall_time_s)]
    if not unusable:
        return []
    first = unusable[0]
    return [f"{len(unusable)} run record(s) with zero new tokens or zero wall time left out of speed and speedup "
            f"(first: engine {first.engine}, γ {first.gamma}, prompt {first.prompt_index})"]


def extra_sections(report: Report) -> tuple:
    several, detail = formats.several_pairs(report.rows), report.detail
    return (formats.prediction_section(report.predictions, several, detail),
            formats.decomposition_section(report.predictions, several) if detail else None,
            formats.gamma_section(report.comparisons, several) if detail else None,
            batches.batch_section(report.batches, several),
            acceptance_check.section(report.acceptance, several),
            formats.perplexity_section(report.perplexities, several),
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
            perplexities=[formats.perplexity_json(r) for r in report.perplexities],
            acceptance_check=[acceptance_check.to_json(c) for c in report.acceptance],
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

