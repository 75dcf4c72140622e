"""``specplan models``: list the bundled model catalog (what `plan --target ID` knows offline)."""

import json
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.plan import catalog
from specplan.units import format_count


@app.command()
def models(
    family: Annotated[str | None, typer.Option(help="Only this family, e.g. llama3, qwen2.5, qwen3, gemma3.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the entries with their sources as JSON.")] = False,
) -> None:
    """List the bundled model catalog: hub ids, exact parameters, shape, embedding rows, tokenizer and training
    tokens (sources with --json). `plan --target ID` reads these offline and ranks a family's checkpoints."""
    families = catalog.families()
    if family is not None and family not in families:
        raise SpecplanError(f"--family {family!r} is not in the catalog (families: {', '.join(families)})")
    entries = [e for e in catalog.catalog() if family in (None, e.family)]
    if as_json:
        typer.echo(json.dumps([_entry_json(e) for e in entries], indent=2))
        return
    table = Table(title="Bundled model catalog (parameters include embeddings; * = a figure not confirmed from a "
                        "primary source; act. = active per token; shapes, variants and sources with --json)",
                  title_justify="left", box=box.SIMPLE,
                  pad_edge=False)
    table.add_column("hub id", no_wrap=True, min_width=34, overflow="fold")
    for column in ("params", "rows", "tokens"):
        table.add_column(column, justify="right", no_wrap=True)
    current = None
    for entry in entries:
        if entry.family != current:
            current = entry.family
            table.add_row(f"[bold]{current}[/bold] (tokenizer {families[current]['tokenizer']})")
        arch = entry.info().architecture
        params = format_count(arch.params_total) + (f" ({format_count(arch.params_active)} act.)" if arch.experts
                                                     else "")
        mark = lambda figure: "*" if figure in entry.unverified else ""  # noqa: E731
        tokens = format_count(entry.training_tokens) if entry.training_tokens else "?"
        table.add_row(entry.name, params + mark("params"), f"{arch.vocab_rows:,}{mark('rows')}",
                      tokens + mark("tokens"))
    Console().print(table)


def _entry_json(entry: catalog.Entry) -> dict:
    info = entry.info()
    return {"ids": entry.ids, "family": entry.family, "tokenizer": info.tokenizer, "params": entry.params,
            "active_params": entry.active_params or entry.params, "training_tokens": entry.training_tokens,
            "config": entry.config, "sources": entry.sources, "unverified": list(entry.unverified)}
