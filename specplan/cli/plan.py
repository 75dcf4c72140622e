"""``specplan plan``: recommend a draft size, γ and the expected speedup for a target model."""

import json
from pathlib import Path
from typing import Annotated

from enum import Enum

import typer
from rich.console import Console
from rich.table import Table

from specplan.plan import checkpoints, emit, engine_rules, model_source, planner
from specplan.cli import app
from specplan.cli.options import parse_count_option
from specplan.errors import SpecplanError
from specplan.plan.architecture import describe
from specplan.plan.scaling import AlphaLaw, parse_alpha_law
from specplan.units import format_count

CostModel = Enum("CostModel", {name: name for name in planner.COST_MODELS}, type=str)
Engine = Enum("Engine", {name: name for name in engine_rules.ENGINES}, type=str)


@app.command()
def plan(
    target: Annotated[str | None, typer.Option(
        metavar="ID|FOLDER",
        help="The target model: a hub id (read from the bundled catalog, `specplan models`, or the local model "
             "cache; the hub when online) or a folder with config.json. Its real shape replaces the shape rule and "
             "its family's checkpoints are ranked as drafts.")] = None,
    target_params: Annotated[float | None, typer.Option(
        parser=parse_count_option, metavar="COUNT",
        help="Target model parameters, e.g. 70e9, 70B, 7.5b, 405M (instead of --target).")] = None,
    target_tokens: Annotated[float | None, typer.Option(
        parser=parse_count_option, metavar="COUNT",
        help="Tokens the target was trained on (default 15T, LLaMA-3 as in the SDSL paper; for a --target in "
             "the catalog, its own figure).")] = None,
    draft_tokens: Annotated[float, typer.Option(
        parser=parse_count_option, metavar="COUNT",
        help="Tokens the draft is (or will be) trained on (default 2.4T, as in the SDSL paper).")] = planner.DEFAULT_DRAFT_TOKENS,
    profile: Annotated[str, typer.Option(
        metavar="NAME|PATH",
        help="Hardware profile: a bundled name (see `specplan profiles`) or a YAML file, e.g. one written by "
             "`specplan profile`. Used by the hardware cost model.")] = planner.DEFAULT_PROFILE,
    cost_model: Annotated[CostModel, typer.Option(
        help="hardware: latencies from the profile's roofline and overheads; flops: the paper's c = N/M with "
             "verification charged as one target step.")] = CostModel.hardware,
    dtype: Annotated[str | None, typer.Option(
        help="Weight dtype: auto (the default: a quantized --target's, else the profile's), fp32, bf16, fp16, "
             "fp8, int8 or int4.")] = None,
    batch_size: Annotated[int, typer.Option(
        help="Sequences decoded together. Larger batches make verification compute-bound (hardware model).")] = 1,
    context_tokens: Annotated[int, typer.Option(
        "--context-tokens", "--context", metavar="TOKENS", help="Tokens in the KV cache at each step, in the hardware model.")] = planner.DEFAULT_CONTEXT_TOKENS,
    prompt_tokens: Annotated[int, typer.Option(
        metavar="TOKENS",
        help="Prompt length of one request. With --new-tokens the speedup is of whole requests: target and draft "
             "both prefill the prompt, which speculation does not speed up. 0 (default): steady-state decoding, "
             "prefill not counted.")] = 0,
    new_tokens: Annotated[int, typer.Option(
        metavar="TOKENS",
        help="Tokens generated per request (with --prompt-tokens). Short answers after long prompts gain less; "
             "0 (default): steady state.")] = 0,
    aspect_ratio: Annotated[float, typer.Option(
        help="Shape rule: model width / layer count, used for per-layer overhead and KV bytes.")] = 100.0,
    draft_params: Annotated[list[float] | None, typer.Option(
        parser=parse_count_option, metavar="COUNT",
        help="Also evaluate this candidate draft size (repeatable), e.g. --draft-params 1B.")] = None,
    draft: Annotated[list[str] | None, typer.Option(
        metavar="ID|FOLDER",
        help="Also rank this draft checkpoint (repeatable): a hub id or a folder with config.json.")] = None,
    tensor_parallel: Annotated[int | None, typer.Option(
        metavar="N",
        help="GPUs the target is sharded over (tensor parallelism, 1-64, dividing its heads). Default: 1, or the "
             "smallest power of two whose share of weights and KV cache fits 90% of one device.")] = None,
    draft_tensor_parallel: Annotated[int, typer.Option(
        metavar="M", help="GPUs the draft is sharded over (tensor parallelism).")] = 1,
    emit_engine: Annotated[Engine | None, typer.Option(
        "--emit", help="Also print the recommended pair and γ as that engine's configuration (needs --target): "
                       "vllm (serve command), sglang (launch flags), trtllm (YAML), llamacpp (llama-server flags), "
                       "hf (transformers generate).")] = None,
    alpha: Annotated[list[float] | None, typer.Option(
        help="Measured acceptance α in (0, 1), instead of the SDSL law, for one --draft-params: the first --alpha "
             "belongs to the first --draft-params, the second to the second, and so on (repeatable; a draft "
             "without one keeps the law).")] = None,
    alpha_law: Annotated[str | None, typer.Option(
        metavar="A,B,C|FILE",
        help="Acceptance law α = A·ppl_draft + B·ppl_target + C, or a file from `specplan calibrate` "
             "(default: SDSL pooled fit -0.0067,0.012971,0.642084).")] = None,
    gamma_max: Annotated[int, typer.Option(
        help="Largest lookahead γ (draft tokens per round) to consider.")] = planner.DEFAULT_GAMMA_MAX,
    min_speedup: Annotated[float, typer.Option(
        help="Smallest speedup (×) that counts as paying; below it the verdict is to decode with the target "
             "alone, since the model's own error is as large as the gain.")] = planner.DEFAULT_MIN_SPEEDUP,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Recommend the draft size N*, a draft checkpoint, lookahead γ*, acceptance and speedup for a target (pure
    math, no torch)."""
    if (target is None) == (target_params is None):
        raise SpecplanError("give the target as --target ID|FOLDER or as --target-params COUNT (one of them)")
    model = model_source.resolve(target, "--target") if target else None
    drafts = tuple(model_source.resolve(d, "--draft") for d in draft or ())
    inputs = planner.PlanInputs(
        target_params=target_params or model.architecture.params_total,
        target_tokens=target_tokens or (model and model.training_tokens) or planner.DEFAULT_TARGET_TOKENS,
        draft_tokens=draft_tokens,
        cost_model=cost_model.value,
        profile=profile,
        dtype=None if dtype == "auto" else dtype,
        batch_size=batch_size,
        context_tokens=context_tokens,
        aspect_ratio=aspect_ratio,
        draft_params=tuple(draft_params or ()),
        alpha=tuple(alpha) if alpha else None,
        alpha_law=parse_alpha_law(alpha_law) if alpha_law is not None else AlphaLaw(),
        gamma_max=gamma_max,
        min_speedup=min_speedup,
        prompt_tokens=prompt_tokens,
        new_tokens=new_tokens,
        target_model=model.architecture if model else None,
        target_name=model.name if model else None,
        tensor_parallel=tensor_parallel,
        draft_tensor_parallel=draft_tensor_parallel,
    )
    deployment = checkpoints.plan_deployment(inputs, model, drafts)
    emission = emit.emit(deployment, emit_engine.value) if emit_engine else None
    if as_json:
        data = deployment.to_json()
        data["emit"] = emission.to_json() if emission else None
        typer.echo(json.dumps(data, indent=2))
        return
    render(deployment.plan, Console(), deployment)
    if emission:
        typer.echo(f"\n# {engine_rules.ENGINE_NAMES[emission.engine]}: {emission.draft} with γ = {emission.gamma}")
        for note in emission.notes:
            typer.echo(f"# note: {note}")
        typer.echo(emission.text)


def render(result: planner.Plan, console: Console, deployment: checkpoints.Deployment | None = None) -> None:
    inputs, rec = result.inputs, result.recommendation
    target = deployment.target if deployment else None
    title = (f"{target.name} ({describe(target.architecture)})" if target
             else f"{format_count(inputs.target_params)} parameters")
    summary = Table(title=f"specplan plan — target {title}", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column()
    rows = [
        ("draft size N*", f"{format_count(rec.draft_params)} parameters"),
        ("target / draft M/N*", f"{inputs.target_params / rec.draft_params:.0f}"),
        ("acceptance α", f"{rec.alpha:.3f} ({alpha_source(inputs, rec.draft_params)})"),
        ("lookahead γ", f"{rec.gamma}" + (f" (real-valued γ* {rec.gamma_real:.2f})" if rec.gamma_real else "")
         + (f"; γ {rec.gamma_band[0]}–{rec.gamma_band[1]} within 3%" if rec.gamma_band
            and rec.gamma_band[0] != rec.gamma_band[1] else "")),
        ("tokens per round E", f"{rec.expected_tokens_per_round:.2f}"),
        ("cost ratio c", f"{rec.cost_ratio:.4f} (draft step / target step)"),
        ("expected speedup", f"{rec.speedup:.2f}×" + (
            f" per request of {inputs.prompt_tokens} prompt + {inputs.new_tokens} new tokens (prefills: target "
            f"{rec.target_prefill_ratio:.3g}, draft {rec.draft_prefill_ratio:.3g} target steps)"
            if inputs.per_request else "")),
        ("flat band (≤3% off)", f"{format_count(result.flat_band[0])} – {format_count(result.flat_band[1])}"),
        ("pooled rule N*", f"{format_count(result.pooled_rule_draft_params)} (2.71e-3·M + 8.71e7)"),
        ("cost model", inputs.cost_model + (f", profile {result.profile_name}" if result.profile_name else "")
         + (f", batch {inputs.batch_size}" if inputs.batch_size > 1 else "")),
        ("tensor parallelism", _tensor_parallel_row(result)),
    ]
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)

    table = Table(title="Sensitivity: speedup by draft size", title_justify="left")
    for column in ("draft", "M/N", "α", "γ", "E", "c", "speedup", ""):
        table.add_column(column, justify="right")
    best = rec.speedup
    for c in result.candidates:
        mark = "given" if c.draft_params in inputs.draft_params else ""
        if result.flat_band[0] <= c.draft_params <= result.flat_band[1]:
            mark = (mark + " in band").strip()
        table.add_row(format_count(c.draft_params), f"{inputs.target_params / c.draft_params:.0f}", f"{c.alpha:.3f}",
                      str(c.gamma), f"{c.expected_tokens_per_round:.2f}", f"{c.cost_ratio:.4f}",
                      f"{c.speedup:.2f}× ({c.speedup / best - 1:+.0%})", mark)
    console.print(table)
    if deployment and deployment.checkpoints:
        console.print(_checkpoint_table(deployment))
    for note in result.notes + (deployment.notes if deployment else []):
        console.print(f"[dim]note: {note}[/dim]")
    console.print(checkpoint_verdict(deployment) if deployment and deployment.best else verdict(result))


_MARKS = {"ok": "✓", "rejected": "✗", "universal path": "~", "unchecked": "?", "unknown": "–"}


def _tensor_parallel_row(result: planner.Plan) -> str:
    tp = result.tensor_parallel
    text = f"target {tp['target']}, draft {tp['draft']}"
    if tp.get("target_step_s"):
        text += (f"; target step {tp['target_step_s'] * 1e3:.2f} ms, all-reduce {tp['all_reduce_s'] * 1e3:.2f} ms; "
                 f"{tp['memory_per_gpu_gb']:.1f} GB per GPU")
    return text


def _checkpoint_table(deployment: checkpoints.Deployment) -> Table:
    target_params = deployment.plan.inputs.target_params
    table = Table(title="Checkpoints (same tokenizer) by predicted speedup; engines vLLM SGLang TensorRT-LLM "
                        "llama.cpp transformers: ✓ accepts, ✗ rejects, ~ slower universal path, ? no check known",
                  title_justify="left")
    for column in ("checkpoint", "params", "M/N", "α", "γ", "c", "speedup", "engines"):
        table.add_column(column, justify="left" if column in ("checkpoint", "engines") else "right")
    for c in deployment.checkpoints:
        cand = c.candidate
        table.add_row(c.model.name.split("/")[-1] + (" (given)" if c.given else ""),
                      format_count(c.model.architecture.params_total), f"{target_params / cand.draft_params:.0f}",
                      f"{cand.alpha:.3f}", str(cand.gamma), f"{cand.cost_ratio:.4f}", f"{cand.speedup:.2f}×",
                      " ".join(_MARKS[c.engines[e].status] for e in engine_rules.ENGINES))
    return table


def checkpoint_verdict(deployment: checkpoints.Deployment) -> str:
    """The verdict naming a checkpoint, and the best one the strict engines accept when they reject it."""
    best, plan = deployment.best, deployment.plan
    if not best.candidate.gamma or best.candidate.speedup < plan.inputs.min_speedup:
        gain = (f"at most {best.candidate.speedup:.2f}×, below the {plan.inputs.min_speedup:g}× margin; "
                if best.candidate.gamma else "")
        return (f"Verdict: speculation does not pay with any checkpoint here (best {best.model.name}: "
                f"{gain}c = {best.candidate.cost_ratio:.3f} against α = {best.candidate.alpha:.3f}); decode with the "
                "target alone.")
    rejected = [engine_rules.ENGINE_NAMES[e] for e in ("vllm", "sglang") if best.engines[e].status == "rejected"]
    text = (f"Verdict: use {best.model.name} with γ = {best.candidate.gamma} for about {best.candidate.speedup:.2f}× "
            f"(size optimum N* ≈ {format_count(plan.recommendation.draft_params)}, "
            f"{plan.recommendation.speedup:.2f}× if such a draft existed).")
    if rejected:
        strict = deployment.best_for("vllm")
        text += (f" {' and '.join(rejected)} reject it ({best.engines['vllm'].reason.split(':')[0]})"
                 + (f"; there use {strict.model.name} with γ = {strict.candidate.gamma} for about "
                    f"{strict.candidate.speedup:.2f}×." if strict else "; no ranked checkpoint passes there."))
    return text


def alpha_source(inputs: planner.PlanInputs, draft_params: float) -> str:
    """Where a draft's α came from, as the table labels it: measured (its --alpha), the SDSL law, given
    coefficients or a calibrated file."""
    if draft_params in inputs.given_alpha():
        return "measured, --alpha"
    source = inputs.alpha_law.source
    if source == AlphaLaw.source:
        return "SDSL law"
    return "law --alpha-law A,B,C" if source == "--alpha-law" else f"calibrated law {Path(source).name}"


def verdict(result: planner.Plan) -> str:
    rec = result.recommendation
    if not result.pays:
        gain = (f"at most {rec.speedup:.2f}×, below the {result.inputs.min_speedup:g}× margin; "
                if rec.gamma and rec.speedup > 1.0 else "")
        return (f"Verdict: speculation does not pay here (best draft {format_count(rec.draft_params)}: "
                f"{gain}c = {rec.cost_ratio:.3f} against α = {rec.alpha:.3f}); decode with the target alone.")
    return (f"Verdict: use a ~{format_count(rec.draft_params)} draft with γ = {rec.gamma} for about "
            f"{rec.speedup:.2f}× ({band_text(result)}).")


def band_text(result: planner.Plan) -> str:
    """The flat band in words; a band of one size says that no other draft comes within 3%."""
    low, high = result.flat_band
    if format_count(low) == format_count(high):
        others = "given draft" if result.inputs.alphas else "draft size"
        return f"no other {others} is within 3%"
    return f"any draft from {format_count(low)} to {format_count(high)} is within 3%"
