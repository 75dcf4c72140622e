"""``specplan bench``: run the engines of ``measure/engines/registry.py`` on a real pair, stream run records to
JSONL and print a summary. torch/transformers load inside the command only."""

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from specplan.cli import app, on_interrupt
from specplan.cli.options import require_measuring_extra
from specplan.cli.progress import ProgressLines
from specplan.errors import SpecplanError
from specplan.measure.bench.config import DEFAULT_LATENCY_CONTEXT_TOKENS, DEFAULTS
from specplan.measure.engines import registry
from specplan.records import check_output, complete_last_line, refuse_overwriting_inputs, sole_writer


def parse_list(option: str, text: str, kind=str) -> tuple:
    """``1,2,4`` -> (1, 2, 4), repeats dropped (``2,2`` is one γ); a bad item is a one-line error naming it."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        return tuple(dict.fromkeys(kind(item) for item in items))
    except ValueError:
        raise SpecplanError(f"{option} {text!r}: expected a comma-separated list of {kind.__name__}") from None


@app.command()
def bench(
    target: Annotated[str | None, typer.Option(
        help="Target model: a local folder or a model-hub id (default: the embedded toy target).")] = None,
    draft: Annotated[str | None, typer.Option(
        help="Draft model, sharing the target's tokenizer (default: the embedded toy draft).")] = None,
    engines: Annotated[str, typer.Option(
        "--engines", "--engine",
        help=registry.help_text())] = ",".join(DEFAULTS["engines"]),
    gamma: Annotated[str, typer.Option(
        help="Lookahead γ values to sweep: draft tokens proposed per round, each ≥ 1.")]
        = ",".join(map(str, DEFAULTS["gammas"])),
    max_new_tokens: Annotated[int, typer.Option(help="Tokens generated per prompt (EOS does not stop).")] \
        = DEFAULTS["max_new_tokens"],
    temperature: Annotated[float, typer.Option(help="Sampling temperature; 0 = greedy (exactness is checked).")] \
        = DEFAULTS["temperature"],
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass in (0, 1] (ignored when greedy).")] \
        = DEFAULTS["top_p"],
    seed: Annotated[int, typer.Option(help="Seed of the one torch.Generator each decode threads through.")] \
        = DEFAULTS["seed"],
    device: Annotated[str, typer.Option(help="auto, cuda, mps or cpu (auto: cuda, then mps, then cpu).")] \
        = DEFAULTS["device"],
    dtype: Annotated[str, typer.Option(
        help="Weights dtype: auto (fp32 on CPU, bf16 on CUDA, fp16 on MPS), fp32, bf16 or fp16.")] = DEFAULTS["dtype"],
    device_map: Annotated[str | None, typer.Option(
        help="'auto' spreads a target larger than one GPU over the devices (accelerate).")] = None,
    trust_remote_code: Annotated[bool, typer.Option(
        help="Allow model code from the model folder or hub (off unless given).")] = False,
    prompts: Annotated[str | None, typer.Option(
        metavar="FILE", help=".txt (one prompt per line) or .jsonl ('prompt', optional 'category') "
                             "(default: built-in code/chat/summarisation/reasoning set; with the embedded pair, "
                             "held-out Python standard library code).")] = None,
    num_prompts: Annotated[int, typer.Option(help="Use the first N prompts.")] = DEFAULTS["num_prompts"],
    repeats: Annotated[int, typer.Option(help="Timed repeats of every (engine, γ, prompt).")] = DEFAULTS["repeats"],
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE.jsonl",
        help="Write one record per run, flushed as produced (docs/records.md). An existing records file needs "
             "--resume or --append; any other existing file is refused.")] = None,
    resume: Annotated[bool, typer.Option(help="Skip what --output already holds from the last run.")] = False,
    append: Annotated[bool, typer.Option(
        help="Add a new run to an existing --output records file (report tells the runs apart).")] = False,
    perplexity: Annotated[bool, typer.Option(
        help="Also measure each model's perplexity (nats/token, exponentiated) on held-out text.")] = False,
    perplexity_text: Annotated[str | None, typer.Option(
        metavar="FILE", help="Text for --perplexity (default: built-in English prose + Python; with the embedded "
                             "pair, held-out Python standard library code).")] = None,
    latency_samples: Annotated[int, typer.Option(help="Timed forward steps per latency record.")] \
        = DEFAULTS["latency_samples"],
    latency_context: Annotated[int | None, typer.Option(
        "--context-tokens", "--latency-context", metavar="TOKENS",
        help=f"Tokens in the KV cache when timing single steps (for c and the verify cost); default "
             f"{DEFAULT_LATENCY_CONTEXT_TOKENS} as in plan and profile, cut to what the target's positions hold "
             f"(said in the notes).")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads (default: torch's default).")] = None,
    compile: Annotated[bool, typer.Option(
        "--compile", help="Run ar and sd on a static KV cache with torch.compile'd steps (CUDA graphs on CUDA), "
                          "compiled and warmed up before the timed runs (off by default; hf and vllm unchanged).")]
        = DEFAULTS["compile"],
    batch_size: Annotated[str, typer.Option(
        help="vllm: requests in flight together, comma-separated (e.g. 1,4,16,64); each is timed as one batch. "
             "Sequential engines decode one sequence at a time.", rich_help_panel="vLLM")]
        = ",".join(map(str, DEFAULTS["batch_sizes"])),
    tensor_parallel_size: Annotated[int, typer.Option(
        help="vllm: devices the target is split over (GPUs; on a CPU, NUMA nodes).", rich_help_panel="vLLM")] = 1,
    draft_tensor_parallel_size: Annotated[int | None, typer.Option(
        help="vllm: devices the draft is split over, 1 or the target's (default 1, as plan assumes and emits; "
             "vLLM's own default would be the target's).", rich_help_panel="vLLM")] = 1,
    max_model_len: Annotated[int | None, typer.Option(
        help="vllm: longest sequence in tokens, prompt + new tokens (default: the target's).",
        rich_help_panel="vLLM")] = None,
    gpu_memory_utilization: Annotated[float, typer.Option(
        help="vllm: share of each GPU's memory vLLM may take, in (0, 1].", rich_help_panel="vLLM")] = 0.9,
    vllm_arg: Annotated[list[str] | None, typer.Option(
        metavar="KEY=VALUE", help="vllm: any other engine argument of vllm.LLM, VALUE as JSON where it parses "
                                  "(repeatable; e.g. enforce_eager=false, kv_cache_memory_bytes=4294967296). On a "
                                  "CPU the defaults are eager mode, 1 GiB of KV cache and the engine in-process.",
        rich_help_panel="vLLM")] = None,
    draft_sample_method: Annotated[str | None, typer.Option(
        help="vllm: how the draft proposes: greedy (its argmax, its probabilities taken as one-hot) or "
             "probabilistic (sampled, its probabilities in the rejection test) (default: not set, vLLM's own "
             "default greedy; recorded either way).", rich_help_panel="vLLM")] = None,
    vllm_cpu_repair: Annotated[bool, typer.Option(
        "--vllm-cpu-repair/--no-vllm-cpu-repair",
        help="vllm on a CPU: check vLLM's CPU stand-in that expands each request's temperature to its draft "
             "positions and replace it where it is wrong (vLLM 0.32's CPU build: sampled acceptance near 0 "
             "otherwise); the engine record says what was found (on by default).", rich_help_panel="vLLM")] = True,
) -> None:
    """Measure speculative decoding on your hardware: the baseline vs each speculative engine, exactness,
    acceptance, speed."""
    require_measuring_extra("bench")
    from specplan.measure.bench import BenchConfig
    from specplan.measure.engines.serving_options import VllmSettings, parse_vllm_arg
    from specplan.measure.loading import default_pair, default_pair_texts, model_source
    from specplan.records import resumable_records, set_aside_bad_lines

    if (target is None) != (draft is None):
        raise SpecplanError("give both --target and --draft, or neither (the embedded default pair)")
    if (resume or append) and not output:
        raise SpecplanError(f"--{'resume' if resume else 'append'} needs --output FILE.jsonl")
    if resume and append:
        raise SpecplanError("--resume completes the file's last run, --append starts a new one: give one of them")
    if target is None:
        pair = default_pair()
        default_prompts, default_text = default_pair_texts()
        prompts, perplexity_text = prompts or default_prompts, perplexity_text or default_text
    else:
        pair = (model_source("--target", target), model_source("--draft", draft))
    config = BenchConfig(
        target=pair[0], draft=pair[1], engines=parse_list("--engines", engines),
        gammas=parse_list("--gamma", gamma, int), max_new_tokens=max_new_tokens, temperature=temperature,
        top_p=top_p, seed=seed, device=device, dtype=dtype, device_map=device_map,
        trust_remote_code=trust_remote_code, prompts_file=prompts, num_prompts=num_prompts, repeats=repeats,
        latency_samples=latency_samples, latency_context_tokens=latency_context, perplexity=perplexity,
        perplexity_text=perplexity_text, threads=threads, batch_sizes=parse_list("--batch-size", batch_size, int),
        compile=compile,
        vllm=VllmSettings(tensor_parallel_size, draft_tensor_parallel_size, max_model_len, gpu_memory_utilization,
                          tuple(parse_vllm_arg(a) for a in vllm_arg or ()), draft_sample_method, vllm_cpu_repair))
    if output:
        refuse_overwriting_inputs("--output", output, [p for p in (prompts, perplexity_text) if p])
        check_output(output, resume, append)
    console = Console()
    with sole_writer(output, append):  # a second bench on this file is refused (unless --append)
        repaired = complete_last_line(output) if resume else None
        if repaired:
            console.print(escape(f"note: {repaired}"), soft_wrap=True)
        for note in set_aside_bad_lines(output) if resume else ():
            console.print(escape(f"note: skipped corrupt line {note}"), soft_wrap=True)
        existing = resumable_records(output) if resume else []
        result = _run_with_progress(config, existing, output, console)
    render_summary(result, console)
    if output:
        console.print(escape(f"wrote {result.produced} record(s) to {output}"
                             + (f" ({len(existing)} from the earlier run kept)" if existing else "")), soft_wrap=True)


def _run_with_progress(config, existing: list, output: str | None, console: Console):
    """Run with the live bar (a terminal) or plain progress lines, both on stderr; records written as made. A run
    that fails before its first record leaves no new file behind."""
    from pathlib import Path

    from specplan.measure.bench import run_bench
    from specplan.records import RecordWriter

    fresh = output is not None and not Path(output).exists()
    writer = RecordWriter(output) if output else None
    progress_console = Console(stderr=True)
    on_interrupt(lambda: "interrupted" + (f"; finished records are in {output}, rerun with --resume to complete"
                                          if writer and (writer.written or existing) else ""))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=progress_console, transient=True,
                      disable=not progress_console.is_terminal) as progress:
            bar = progress.add_task("loading models", total=None)
            lines = ProgressLines(progress_console)

            def on_start(total: int) -> None:
                progress.update(bar, total=total, description="warming up")
                lines.start(total)

            def on_record(record: dict, label: str) -> None:
                if writer:
                    writer.write(record)
                progress.update(bar, advance=1, description=escape(label))
                lines.advance(label)

            return run_bench(config, existing, on_start, on_record)
    finally:
        if writer:
            writer.close()
            if fresh and not writer.written:
                Path(output).unlink(missing_ok=True)


def render_summary(result, console: Console) -> None:
    """The end-of-run table per engine and γ (report's aggregation and renderer, so the numbers agree)."""
    from specplan.report.summary import render_summary as summary

    summary(result.records, result.notes, console)
