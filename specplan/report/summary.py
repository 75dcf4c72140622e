"""``bench``'s end-of-run summary: the records just measured through report's aggregation and tables, so bench
and report show the same numbers. No torch here; ``cli/bench.py`` prints it."""

from rich.markup import escape

from specplan.records import RunRecord, typed
from specplan.report import batches
from specplan.report.aggregate import aggregate
from specplan.report.build import cross_engine_lines
from specplan.report.formats import render_rich, several_pairs


def divergence_lines(records: list) -> list:
    """One line per greedy speculative run whose output differed from its baseline."""
    return [f"{r.engine} γ={r.gamma} prompt {r.prompt_index}: first divergence at token {r.first_divergence}, "
            f"target top-2 logit margin {'—' if r.divergence_margin is None else format(r.divergence_margin, '.3g')}"
            for r in typed(records) if isinstance(r, RunRecord) and r.exact is False]


def render_summary(records: list, notes: list, console) -> None:
    """Print the notes, the metric tables per engine and γ (and by batch size), then the cross-engine and
    divergence lines, on ``console``."""
    records = typed(records)
    for note in notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")
    rows = aggregate(records)
    families = batches.by_batch(rows)
    render_rich(rows, console, (batches.batch_section(families, several_pairs(rows)),) if families else ())
    for line in batches.summary_lines(families) + cross_engine_lines(records) + divergence_lines(records):
        console.print(f"[dim]{escape(line)}[/dim]")
