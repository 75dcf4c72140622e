"""``specplan profile``: measure the latency curve of this machine and write a profile that ``plan`` reads."""

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from specplan.measure import compiled_profile, latency_profile, profile_fit
from specplan.cli import app, interrupted
from specplan.cli.options import require_measuring_extra
from specplan.cli.progress import ProgressLines
from specplan.errors import SpecplanError
from specplan.plan.hardware import one_size_measured
from specplan.records import refuse_overwriting_inputs
from specplan.units import format_count


@app.command()
def profile(
    sizes: Annotated[str | None, typer.Option(
        metavar="COUNT,COUNT,...",
        help="Model sizes to time, in parameters, e.g. 20M,80M,300M (default: 20M, 80M, 300M, 1.2B, ... as far "
             "as half the device memory holds the weights; on cpu up to 300M; none when --model is given).")] = None,
    model: Annotated[list[str] | None, typer.Option(
        metavar="ID|PATH",
        help="Also time this model's architecture (repeatable): only its config is read (a folder, or a hub id's "
             "config.json); the weights are random.")] = None,
    device: Annotated[str, typer.Option(
        help="auto (cuda, else mps, else cpu), cuda, cuda:N, mps or cpu.")] = "auto",
    dtype: Annotated[str | None, typer.Option(
        help="auto, fp32, bf16 or fp16 (auto, the default: bf16 on cuda, fp16 on mps, fp32 on cpu).")] = None,
    context: Annotated[int, typer.Option(
        "--context-tokens", "--context", metavar="TOKENS",
        help="KV cache length (tokens) at every timed step.")] = latency_profile.PROFILE_CONTEXT_TOKENS,
    max_tokens: Annotated[int, typer.Option(
        "--max-tokens", metavar="K",
        help="Time steps of k = 1..K new tokens (k = 1: a decode step; k = γ+1: a verification pass). Plan holds "
             "the cost of k = K beyond it, and says so: cover the γ you expect.")]
        = latency_profile.DEFAULT_MAX_TOKENS,
    repeats: Annotated[int, typer.Option(
        help="Timed steps per model and k (the median is fitted; 10th and 90th percentiles kept).")]
        = latency_profile.DEFAULT_REPEATS,
    warmup: Annotated[int, typer.Option(
        help="Untimed steps per model and k before the timed ones.")] = latency_profile.DEFAULT_WARMUP,
    threads: Annotated[int | None, typer.Option(
        help="CPU threads for torch (default: torch's, one per core); fewer time more steadily on a busy "
             "machine.")] = None,
    aspect_ratio: Annotated[float, typer.Option(
        help="Shape rule of the ladder models: width / layers (as plan's --aspect-ratio).")] = 100.0,
    seed: Annotated[int, typer.Option(help="Seed of the random weights and token ids.")] = 0,
    name: Annotated[str | None, typer.Option(
        help="Profile name (default: measured-DEVICE-DTYPE).")] = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE",
        help="Profile YAML to write (default: NAME.yaml); then run `specplan plan --profile FILE`.")] = None,
    loop_round: Annotated[bool, typer.Option(
        "--loop/--no-loop",
        help="Also time a synthetic speculative round (greedy ar and sd loops on two random models of the "
             "smallest size) for the decode loop's own costs: ℓ per step and o per round, which plan adds.")] = True,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Also print the profile as one JSON object on stdout.")] = False,
    compile_steps: Annotated[bool, typer.Option(
        "--compile",
        help="Time compiled steps on a static KV cache, as a serving engine runs them (torch.compile: CUDA graphs "
             "on cuda, inductor on cpu; compile time kept apart), into an `engine: compiled` profile (default name "
             "measured-DEVICE-DTYPE-compiled; cpu ladder up to 80M; no loop terms).")] = False,
    engine: Annotated[str, typer.Option(
        metavar="transformers|vllm",
        help="What runs the steps: transformers' forward (fitted latency model), or vLLM, the serving engine "
             "(decode steps per --batch-sizes, verification passes of 1..K tokens and speculative rounds at "
             "γ 1..K−1 with random drafts, as tables plan interpolates; needs two or more sizes and vLLM; "
             "--loop and --warmup do not apply).")] = "transformers",
    batch_sizes: Annotated[str | None, typer.Option(
        metavar="B,B,...",
        help="With --engine vllm: batch sizes (running requests) to time decode steps and rounds at "
             "(default: 1,2,4,8,16,32; batch 1 is always timed).")] = None,
) -> None:
    """Time decode and verification steps of random-weight models on this machine (offline, no downloads), fit
    plan's latency model and write a profile YAML for `specplan plan --profile FILE`."""
    require_measuring_extra("profile")
    if engine not in ("transformers", "vllm"):
        raise SpecplanError(f"--engine {engine!r} must be transformers or vllm")
    if engine == "vllm" and compile_steps:
        raise SpecplanError("--compile goes with --engine transformers (vLLM compiles and captures its own graphs)")
    if engine == "vllm":
        from specplan.cli.profile_vllm import profile_vllm

        return profile_vllm(sizes=sizes, model=model, device=device, dtype=dtype, context=context,
                            max_tokens=max_tokens, repeats=repeats, aspect_ratio=aspect_ratio, seed=seed, name=name,
                            output=output, as_json=as_json, batch_sizes=batch_sizes)
    if batch_sizes is not None:
        raise SpecplanError(f"--batch-sizes {batch_sizes!r} goes with --engine vllm (transformers' steps are timed "
                            "at batch 1; plan charges batch B as B·k tokens)")
    from specplan.measure import devices

    latency_profile.ProfileSettings(device=device, dtype=dtype or "auto", context_tokens=context,
                                    max_tokens=max_tokens, repeats=repeats, warmup=warmup, seed=seed,
                                    aspect_ratio=aspect_ratio).validate()  # a typo fails before torch loads
    if sizes is not None:
        latency_profile.parse_sizes(sizes)
    devices.check_threads(threads)
    resolved = devices.resolve_device(device)
    dtype_name, _ = devices.resolve_dtype(dtype, resolved)
    if compile_steps:
        compiled_profile.check_device(resolved)
    devices.set_cpu_threads(threads)
    settings = latency_profile.ProfileSettings(device=resolved, dtype=dtype_name, context_tokens=context,
                                         max_tokens=max_tokens, repeats=repeats, warmup=warmup, seed=seed,
                                         aspect_ratio=aspect_ratio)
    if sizes is not None:
        ladder = latency_profile.parse_sizes(sizes)
    elif model:  # the given architectures alone: the default ladder's shapes would mix into their fit
        ladder = []
    else:
        ladder = latency_profile.default_ladder(resolved, dtype_name, devices.memory_bytes(resolved))
        ladder = compiled_profile.default_ladder(resolved, ladder) if compile_steps else ladder
    default = profile_fit.default_name(settings)
    name = name or (compiled_profile.default_name(default) if compile_steps else default)
    refuse_overwriting_inputs("--output", output, [Path(m).expanduser() / "config.json" for m in model or []])
    path = profile_fit.prepare_output(output or f"{name}.yaml")  # a bad path fails before the timing
    jobs = latency_profile.jobs_for(ladder, model or [], settings)
    if compile_steps:
        compiled_profile.check_jobs(jobs)
    console = Console(stderr=True)
    timers = compiled_profile.CompiledTimers(resolved, lambda label, what: console.print(
        escape(f"compiling {label}: {what}"))) if compile_steps else latency_profile.eager_timer
    measurement = _measure_with_progress(jobs, settings, console, timers)
    if not measurement.timings:
        for line in measurement.skipped:
            console.print(f"skipped {escape(line)}")
        if measurement.partial:
            raise interrupted("interrupted before any step was timed: no profile written")
        raise SpecplanError("no model could be measured (see the skipped lines above)")
    fit = profile_fit.fit_latency(measurement.timings, settings.aspect_ratio)
    if compile_steps and loop_round:
        console.print("[yellow]no loop terms: --compile times the steps only (the synthetic round runs eagerly)"
                      "[/yellow]")
    loop = None if measurement.partial or not loop_round or compile_steps else \
        _loop_terms(jobs, measurement, settings, console)
    document = profile_fit.profile_document(measurement, fit, name, loop)
    document = compiled_profile.mark(document, timers, name) if compile_steps else document
    path = profile_fit.write_profile(document, path)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    render(document, str(path), console)
    if measurement.partial:
        raise interrupted(f"interrupted: {path} holds the models measured so far (partial: true)")


def _loop_terms(jobs, measurement, settings, console: Console) -> dict | None:
    """The loop terms on the model measure.loop_profile chooses; None (and why) without one or if interrupted."""
    from specplan.measure import loop_profile

    choice = loop_profile.loop_model(jobs, measurement, settings)
    if choice.job is None:
        console.print(f"[yellow]no loop terms: {escape(choice.reason)}[/yellow]")
        return None
    console.print(f"timing a synthetic speculative round on {escape(choice.job.label)} (loop costs beyond the forward "
                  "steps)")
    try:
        loop, reason = loop_profile.measure_loop_or_reason(choice.job, settings)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the profile is written without loop terms[/yellow]")
        return None
    if reason:
        console.print(f"[yellow]no loop terms: {escape(reason)}[/yellow]")
    return loop


def _measure_with_progress(jobs, settings, console: Console, make_timer):
    total = len(jobs) * settings.steps_per_model
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as progress:
        task = progress.add_task("timing", total=total)
        lines = ProgressLines(console)
        lines.start(total)

        def advance(label: str, steps: int) -> None:
            progress.update(task, advance=steps, description=escape(f"timing {label}"))
            lines.advance(f"timing {label}", steps)

        return latency_profile.measure(jobs, settings, advance, make_timer)


def render(document: dict, path: str, console: Console) -> None:
    """Per model: step latency at k = 1 and k = K, and the fit's worst error on its points; then the coefficients."""
    rows = document["measurements"]
    k_max = max(r["new_tokens"] for r in rows)
    table = Table(title=escape(f"specplan profile — {document['device']}, {document['dtype']}, "
                               f"{document.get('engine', 'eager')} steps, "
                               f"context {document['context_tokens']} tokens"), title_justify="left")
    for column in ("model", "params", "layers × width", "k=1 ms (p10–p90)", f"k={k_max} ms", "fit worst error"):
        table.add_column(column, justify="right")
    one_size = one_size_measured(rows)
    for label in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == label]
        one = next(r for r in mine if r["new_tokens"] == 1)
        top = max(mine, key=lambda r: r["new_tokens"])
        worst = max(mine, key=lambda r: abs(r["error"]))
        table.add_row(escape(label), format_count(one["params"]), f"{one['layers']} × {one['width']}",
                      f"{one['median_s'] * 1e3:.3g} ({one['p10_s'] * 1e3:.3g}–{one['p90_s'] * 1e3:.3g})",
                      f"{top['median_s'] * 1e3:.3g}",
                      "— (one size)" if one_size else f"{worst['error']:+.1%} (k={worst['new_tokens']})")
    console.print(table)
    for line in filter(None, [compiled_profile.engine_line(document), *compiled_profile.compile_lines(document)]):
        console.print(escape(line))
    c = document["coefficients"]
    table = c["multi_token_per_param_s"]
    extras = ", ".join(f"{m * 1e12:.3g}" for m in (table if isinstance(table, list) else [table]))
    errors = ("no error to judge: a fit to one model size passes through its own points" if one_size else
              f"worst error {document['fit']['max_abs_error']:.1%}, rms {document['fit']['rms_error']:.1%} over "
              f"{document['fit']['points']} points")
    console.print(f"fit: step {c['step_overhead_s'] * 1e6:.4g} µs + layer {c['layer_overhead_s'] * 1e6:.4g} µs·L "
                  f"+ {c['layer_token_s'] * 1e6:.4g} µs·L·k + P·({c['per_param_s'] * 1e12:.4g} ps + m(k)), "
                  f"m(k = 2..{k_max}) = {extras} ps; {errors}")
    if one_size:
        console.print("[yellow]one model size measured: plan refuses this profile (it cannot tell the cost per "
                      "parameter from the fixed overheads); profile two or more --sizes[/yellow]")
    loop = document.get("loop")
    if loop:
        console.print(f"loop: ℓ {loop['step_overhead_s'] * 1e6:.4g} µs per step in a decode loop, o "
                      f"{loop['round_overhead_s'] * 1e6:.4g} µs per speculative round ({loop['method']})")
    noisy = latency_profile.noisy_points(rows)
    if noisy:
        console.print(f"[yellow]{len(noisy)} of {len(rows)} points spread more than "
                      f"{latency_profile.NOISY_SPREAD:.0%} of their median (p10–p90): the device was busy; try a quiet "
                      "moment, more --repeats, or on a shared cpu --threads 1[/yellow]")
    for line in document["skipped"]:
        console.print(f"[yellow]skipped {escape(line)}[/yellow]")
    console.print(escape(f"wrote {path}: use it with `specplan plan --target-params COUNT --profile {shlex.quote(path)}`"),
                  soft_wrap=True)
