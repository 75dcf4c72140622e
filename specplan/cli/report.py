"""``specplan report``: metrics, predicted vs measured, and a CI gate from ``bench``'s run records (no torch)."""

from enum import Enum
from typing import Annotated

import typer

from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.records import refuse_overwriting_inputs, write_whole


class Format(str, Enum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"


class By(str, Enum):
    gamma = "gamma"
    category = "category"


@app.command()
def report(
    records: Annotated[list[str], typer.Argument(
        metavar="RECORDS.jsonl...", help="Run records written by `specplan bench --output` (one or more files).")],
    by: Annotated[By, typer.Option(
        help="Rows per pair × engine × γ (gamma), or also per prompt category (category).")] = By.gamma,
    plan: Annotated[list[str] | None, typer.Option(
        metavar="PLAN.json", help="Output of `specplan plan --json`: adds its a-priori speedup beside "
                                  "the measured one. Repeatable: one file per `plan --batch-size B` puts the "
                                  "plan's speedup beside each measured batch size.")] = None,
    fmt: Annotated[Format, typer.Option(
        "--format", help="table (rich), md (GitHub Markdown, e.g. >> $GITHUB_STEP_SUMMARY), csv (raw values, "
                         "one line per row) or json (each metric with its formula).")] = Format.table,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE",
        help="Write the report to FILE instead of stdout (its folder is created).")] = None,
    min_speedup: Annotated[float | None, typer.Option(
        metavar="X", help="Gate: fail a row whose measured speedup (geometric mean over paired runs, ×) is "
                          "below X.")] = None,
    min_acceptance_length: Annotated[float | None, typer.Option(
        metavar="X", help="Gate: fail a row whose acceptance length (tokens per round, bonus token included) "
                          "is below X.")] = None,
    min_acceptance_rate: Annotated[float | None, typer.Option(
        metavar="X", help="Gate: fail a row whose draft acceptance rate (Σ accepted / Σ drafted, 0..1) is "
                          "below X.")] = None,
    require_exact: Annotated[bool, typer.Option(
        "--require-exact",
        help="Gate: fail a row unless every greedy output was token-identical to AR (rows without greedy "
             "runs fail too).")] = False,
    baseline: Annotated[str | None, typer.Option(
        metavar="OLD.jsonl", help="Gate: compare with an earlier run's records; rows are matched by pair, "
                                  "engine, γ (and category) and compared on speedup and acceptance "
                                  "length.")] = None,
    engine: Annotated[str | None, typer.Option(
        metavar="ENGINE,...", help="Gate only the rows of these engines, e.g. sd,vllm (default, with neither --engine nor --gamma: sd "
                                  "at its best measured γ per pair).")] = None,
    gamma: Annotated[str | None, typer.Option(
        metavar="G,...|best", help="Gate only the rows of these γ, e.g. 4, or 'best': per pair × engine the γ "
                                   "with the best measured speedup (to gate a γ sweep).")] = None,
    max_regression: Annotated[str | None, typer.Option(
        metavar="PCT", help="Gate: largest allowed drop below --baseline, as 5% or 0.05 (5% when --baseline is "
                            "given without it).")] = None,
    plot: Annotated[str | None, typer.Option(
        metavar="FILE.png", help="Also draw speedup vs γ (measured and predicted) and per-position acceptance "
                                 "(needs the `plot` extra: matplotlib).")] = None,
    min_runs: Annotated[int | None, typer.Option(
        metavar="N", help="Gate: fail a row whose speedup rests on fewer than N paired runs.")] = None,
    compare_any_plan: Annotated[bool, typer.Option(
        "--compare-any-plan", help="Compare --plan even when it was made for another target, draft or "
                                   "hardware than the records'.")] = False,
    detail: Annotated[bool, typer.Option(
        "--detail", help="Show every predicted speedup (loop terms, plan's γ, the plan's a-priori), not only "
                         "one per row.")] = False,
    skip_bad_lines: Annotated[bool, typer.Option(
        "--skip-bad-lines",
        help="Skip malformed or truncated lines (listed on stderr) instead of stopping at the first.")] = False,
) -> None:
    """Acceptance and speedup tables, predicted vs measured, and a CI gate (exit 1 on any failure)."""
    from rich.console import Console

    from specplan.report import build as reporting
    from specplan.report.gate import parse_gate_gammas

    inputs = [*records, *([baseline] if baseline else []), *(plan or [])]
    refuse_overwriting_inputs("--output", output, inputs)
    refuse_overwriting_inputs("--plot", plot, inputs)
    if max_regression is not None and baseline is None:
        raise SpecplanError("--max-regression needs --baseline OLD.jsonl to compare with")
    thresholds = reporting.thresholds(min_speedup, min_acceptance_length, min_acceptance_rate, require_exact,
                                      max_regression, baseline is not None, min_runs)
    gammas, best_gamma = parse_gate_gammas(gamma)
    if plot:
        from specplan.report.plot import plot_path

        plot_path(plot)  # a bad name fails before the work
    engines = tuple(e.strip() for e in engine.split(",") if e.strip()) if engine is not None else ()
    if engine is not None and not engines:
        raise SpecplanError(f"--engine {engine!r} names no engine (e.g. sd or sd,hf)")
    fmt = Format.json if as_json else fmt
    result = reporting.build(records, by_category=by is By.category, plan_path=plan, baseline_path=baseline,
                             thresholds=thresholds, skip_bad_lines=skip_bad_lines,
                             gate_rows=reporting.GateRows(engines, gammas, best_gamma),
                             compare_any_plan=compare_any_plan, detail=detail)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if plot:
        from specplan.report.plot import plot_report

        plot_report(result.rows, result.predictions, plot, result.batches)
        typer.echo(f"wrote {plot}", err=True)
    if fmt is Format.table and output is None:
        reporting.render_table(result, console=Console())
    else:
        _emit(reporting.render(result, fmt.value), output)
    for failure in result.failures:
        typer.echo(failure.line, err=True)
    if result.failures:
        raise typer.Exit(1)


def _emit(text: str, output: str | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    write_whole(output, text, "--output")
    typer.echo(f"wrote {output}", err=True)
