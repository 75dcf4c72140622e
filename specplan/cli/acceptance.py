"""``specplan acceptance``: a pair's acceptance per temperature and engine rule, and the tokens per round E(γ),
from one teacher-forced pass of each model (no speculative loop). torch/transformers load inside the command."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from specplan.cli import app
from specplan.cli.options import require_measuring_extra
from specplan.errors import SpecplanError
from specplan.records import check_output

SHOWN_GAMMAS = ("1", "2", "4", "8")


@app.command()
def acceptance(
    target: Annotated[str | None, typer.Option(
        help="Target model: a local folder or a model-hub id (default: the embedded toy target).")] = None,
    draft: Annotated[str | None, typer.Option(
        help="Draft model, sharing the target's tokenizer (default: the embedded toy draft).")] = None,
    temperature: Annotated[str, typer.Option(
        help="Comma-separated sampling temperatures, all from one pass; 0 = greedy.")] = "0,1",
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass in (0, 1], for both models.")] = 1.0,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens of the target's continuation per prompt.")] = 64,
    prompts: Annotated[str | None, typer.Option(
        metavar="FILE", help=".txt (one prompt per line) or .jsonl ('prompt', optional 'category') (default: as "
                             "bench's).")] = None,
    num_prompts: Annotated[int, typer.Option(help="Use the first N prompts.")] = 8,
    device: Annotated[str, typer.Option(help="auto, cuda, mps or cpu (auto: cuda, then mps, then cpu).")] = "auto",
    dtype: Annotated[str, typer.Option(
        help="Weights dtype: auto (fp32 on CPU, bf16 on CUDA, fp16 on MPS), fp32, bf16 or fp16.")] = "auto",
    trust_remote_code: Annotated[bool, typer.Option(
        help="Allow model code from the model folder or hub (off unless given).")] = False,
    continuation: Annotated[str, typer.Option(
        help="sampled: per temperature, the target continues each prompt sampling at it (the text the loop "
             "produces there); greedy: one greedy continuation scored at every temperature (fewer decodes).")]
        = "sampled",
    continuations: Annotated[str | None, typer.Option(
        metavar="FILE.jsonl", help="Read the continuations instead of decoding them: an acceptance record (its "
                                   "texts) or bench's ar runs, same prompts; the first --max-new-tokens of each "
                                   "(default: the target decodes them).")] = None,
    bootstrap: Annotated[int, typer.Option(help="Per-prompt bootstrap resamples for the intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the sampled continuations and of the bootstrap.")] = 0,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE.jsonl", help="Write the acceptance record (docs/records.md).")] = None,
    append: Annotated[bool, typer.Option(help="Add the record to an existing --output records file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON (stable keys).")] = False,
) -> None:
    """Measure acceptance without the speculative loop: per temperature, under lossless rejection sampling,
    argmax drafting (vLLM's default) and greedy, with the tokens per round E(γ) for γ = 1…8."""
    require_measuring_extra("acceptance")
    from specplan.cli.bench import parse_list
    from specplan.measure.acceptance import AcceptanceConfig
    from specplan.measure.acceptance_run import run_acceptance
    from specplan.measure.loading import default_pair, default_pair_texts, model_source

    if (target is None) != (draft is None):
        raise SpecplanError("give both --target and --draft, or neither (the embedded default pair)")
    if append and not output:
        raise SpecplanError("--append needs --output FILE.jsonl")
    if continuations is not None and not Path(continuations).is_file():
        raise SpecplanError(f"--continuations {continuations!r}: no such file")
    if target is None:
        pair = default_pair()
        prompts = prompts or default_pair_texts()[0]
    else:
        pair = (model_source("--target", target), model_source("--draft", draft))
    config = AcceptanceConfig(pair[0], pair[1], parse_list("--temperature", temperature, float), top_p,
                              max_new_tokens, device, dtype, trust_remote_code, prompts, num_prompts, bootstrap,
                              seed, continuation, continuations)
    if output:
        check_output(output, False, append)
    result = run_acceptance(config)
    if output:
        from specplan.records import RecordWriter

        with RecordWriter(output) as writer:
            writer.write(result.record)
    if as_json:
        typer.echo(json.dumps(json_view(result), indent=2))
    else:
        render(result, Console())
        if output:
            Console().print(escape(f"wrote 1 acceptance record to {output}"), soft_wrap=True)


def json_view(result) -> dict:
    """``--json``: the pair, settings and ``results[]`` (temperature, rule, alpha, tokens_per_round by γ, their
    intervals), without the per-prompt detail the record keeps."""
    record = result.record
    results = [{k: v for k, v in r.items() if k != "prompt_rounds"} for r in record["results"]]
    return {"pair": record["pair"], "settings": record["settings"], "results": results,
            "seconds": result.seconds, "load_seconds": result.load_seconds, "phase_seconds": result.phase_seconds,
            "peak_memory_bytes": result.peak_memory_bytes, "notes": list(result.notes)}


def render(result, console: Console) -> None:
    for note in result.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")
    table = Table(title=escape(f"acceptance: {result.record['pair']['target']} ← {result.record['pair']['draft']}"))
    for column in ("T", "rule", "α (i.i.d.)", "mean accept", *(f"E(γ={g})" for g in SHOWN_GAMMAS)):
        table.add_column(column, justify="right" if column not in ("rule",) else "left")
    for r in result.record["results"]:
        low, high = r["alpha_interval"]
        table.add_row(f"{r['temperature']:g}", r["rule"], f"{r['alpha']:.3f} [{low:.3f}, {high:.3f}]",
                      f"{r['mean_acceptance']:.3f}", *(f"{r['tokens_per_round'][g]:.2f}" for g in SHOWN_GAMMAS))
    console.print(table)
    phases = ", ".join(f"{k.replace('_', '-')} {v:.1f}" for k, v in result.phase_seconds.items() if k != "load")
    console.print(f"[dim]{len(result.record['prompts'])} prompt(s) in {result.seconds:.1f} s after loading "
                  f"({result.load_seconds:.1f} s; {phases} s); "
                  f"peak memory {result.peak_memory_bytes / 2 ** 20:.0f} MiB; intervals: 95% per-prompt bootstrap[/dim]")
