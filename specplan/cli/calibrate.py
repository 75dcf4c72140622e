"""``specplan calibrate``: fit the acceptance law α = A·ppl_draft + B·ppl_target + C to measured pairs."""

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from specplan.report import calibrate as calibration
from specplan.cli import app
from specplan.checks import number_in
from specplan.errors import SpecplanError
from specplan.records import read_records, refuse_overwriting_inputs, write_whole


@app.command()
def calibrate(
    records: Annotated[list[Path], typer.Argument(
        metavar="RECORDS...",
        help="Run-record files (JSONL) from `specplan bench` holding speculative runs and both models' perplexities "
             "(`bench --perplexity`), one pair or many.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE",
        help="Write the fitted law (YAML: a, b, c and fit statistics) for `specplan plan --alpha-law FILE`.")] = None,
    engine: Annotated[str, typer.Option(
        help="Whose rounds give α̂: sd (specplan's loop) or hf (transformers assisted generation).")] = "sd",
    temperature: Annotated[float | None, typer.Option(
        help="Use only runs at this sampling temperature (needed when the records mix temperatures).")] = None,
    skip_bad_lines: Annotated[bool, typer.Option(
        help="Skip malformed or truncated record lines instead of stopping at the first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Fit α = A·x + B·y + C (x, y = draft, target held-out perplexity; α̂ = i.i.d. acceptance estimate over all
    rounds of a pair) to RECORDS, JSONL files from `specplan bench --perplexity --output FILE`. With one target,
    fits α = A·x + C for that family (B not identifiable, written as 0). Needs 3 pairs (one target) or 4."""
    if engine not in ("sd", "hf"):
        raise SpecplanError(f"--engine {engine!r} is not one of sd, hf")
    if temperature is not None:
        number_in(temperature, "--temperature", 0.0, 1e6)
    if output is not None and output.is_dir():
        raise SpecplanError(f"--output {str(output)!r} is a folder; give a FILE.yaml")
    refuse_overwriting_inputs("--output", output, records)
    record_set = read_records(records, skip_bad_lines=skip_bad_lines)
    if not record_set.typed:
        raise SpecplanError(f"no '{engine}' run records in {', '.join(map(str, records))}: it holds no records")
    points = calibration.points_from_records(record_set.typed, engine=engine, temperature=temperature)
    if not points:
        raise SpecplanError(f"no pair in {', '.join(map(str, records))} has perplexity records for both models "
                            "(run bench with --perplexity)")
    fit = calibration.fit_acceptance_law(points)
    result = fit.to_json()
    result["source"] = [str(p) for p in records]
    if output:
        write_law(output, result)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    console = Console()
    render(fit, console)
    for pair in calibration.pairs_without_perplexity(record_set.typed, engine):
        console.print(f"[yellow]skipped pair {escape(pair[0])} / {escape(pair[1])}: no perplexity record for both models "
                      "(run bench with --perplexity)[/yellow]")
    for line in record_set.skipped:
        console.print(f"[dim]skipped {escape(line)}[/dim]")
    if output:
        console.print(escape(f"wrote {output} (use: specplan plan --alpha-law {output} ...)"), soft_wrap=True)


def write_law(path: Path, result: dict) -> None:
    write_whole(path, "# specplan calibrate: acceptance law " + calibration.LAW + "\n"
                + yaml.safe_dump(result, sort_keys=False, allow_unicode=True), "--output")


def render(fit: calibration.Fit, console: Console) -> None:
    points = Table(title="Measured pairs (α̂: i.i.d. estimate over all rounds)", title_justify="left")
    for column in ("target", "draft", "ppl draft", "ppl target", "rounds", "α̂", "fitted", "residual"):
        points.add_column(column, justify="left" if column in ("target", "draft") else "right")
    for p, f, r in zip(fit.points, fit.fitted, fit.residuals):
        points.add_row(escape(p.target), escape(p.draft), f"{p.draft_ppl:.3f}", f"{p.target_ppl:.3f}", str(p.rounds),
                       f"{p.alpha:.4f}", f"{f:.4f}", f"{r:+.4f}")
    console.print(points)
    law = Table(title=f"Fit: {calibration.LAW}", title_justify="left", show_header=False)
    law.add_column(style="bold")
    law.add_column(justify="right")
    for name in ("a", "b", "c"):
        se = fit.std_errors.get(name)
        value = f"{getattr(fit, name):+.6f}" + (f" ± {se:.6f} (s.e.)" if se is not None else "")
        if name == "b" and not fit.b_identifiable:
            value = "0 (not identifiable: one target; c is this family's offset)"
        law.add_row(name, value)
    law.add_row("R²", "undefined (α̂ constant)" if fit.r2 is None else f"{fit.r2:.4f}")
    law.add_row("RMSE", f"{fit.rmse:.4f}")
    law.add_row("points", str(len(fit.points)))
    console.print(law)
