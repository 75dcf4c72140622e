"""``specplan plan``: parse, read the inputs once (profile, target, drafts), call the planner, render, exit code."""

import json
from dataclasses import replace
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from specplan.cli import app
from specplan.cli.options import parse_count_option
from specplan.errors import SpecplanError
from specplan.plan import (acceptance_record, checkpoints, given_acceptance, hardware, model_source, planner, serving,
                           verdict)
from specplan.plan import temperature as temperature_rule
from specplan.plan.architecture import describe
from specplan.plan.scaling import AlphaLaw, parse_alpha_law
from specplan.units import format_count

CostModel = Enum("CostModel", {name: name for name in planner.COST_MODELS}, type=str)
Engine = Enum("Engine", {name: name for name in serving.ENGINES}, type=str)


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
        show_default=False,
        help=f"Tokens the draft is (or will be) trained on (default {format_count(planner.DEFAULT_DRAFT_TOKENS)}, "
             "as in the SDSL paper).")] = planner.DEFAULT_DRAFT_TOKENS,
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
    max_model_len: Annotated[int | None, typer.Option(
        metavar="TOKENS",
        help="The longest sequence the engine must hold (vLLM's --max-model-len): each GPU keeps room for one such "
             "sequence's KV cache. Default: the target's max_position_embeddings, else --context-tokens.")] = None,
    gpu_memory_utilization: Annotated[float, typer.Option(
        metavar="FRACTION",
        help="Share of each GPU's memory the engine may fill (vLLM's default 0.9): weights, KV cache and the "
             "activation reserve must fit it.")] = planner.GPU_MEMORY_UTILIZATION,
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
        "--tensor-parallel-size", metavar="N",
        help="GPUs the target is sharded over (tensor parallelism, 1-64, dividing its heads; alias "
             "--tensor-parallel). Default: 1, or the smallest power of two at which each GPU holds, by vLLM's "
             "arithmetic, the weights of both models, KV for one --max-model-len sequence and the activation "
             "reserve within --gpu-memory-utilization.")] = None,
    draft_tensor_parallel: Annotated[int | None, typer.Option(
        "--draft-tensor-parallel-size", metavar="M",
        help="GPUs the draft is sharded over (tensor parallelism; alias --draft-tensor-parallel). Default 1: the "
             "draft on one GPU (vLLM takes 1 or the target's; SGLang and TensorRT-LLM run the draft at the "
             "target's).")] = None,
    tensor_parallel_alias: Annotated[int | None, typer.Option("--tensor-parallel", hidden=True)] = None,
    draft_tensor_parallel_alias: Annotated[int | None, typer.Option("--draft-tensor-parallel", hidden=True)] = None,
    emit_engine: Annotated[Engine | None, typer.Option(
        "--emit", help="Also print the recommended pair and γ as that engine's configuration (needs --target): "
                       "vllm (serve command), sglang (launch flags), trtllm (YAML), llamacpp (llama-server flags), "
                       "hf (transformers generate).")] = None,
    alpha: Annotated[list[float] | None, typer.Option(
        help="Measured acceptance α in (0, 1), instead of the SDSL law, for one draft: the first --alpha belongs "
             "to the first --draft-params (or, without them, the first --draft), the second to the second, and so "
             "on (repeatable; a draft without one keeps the law).")] = None,
    acceptance_length: Annotated[list[str] | None, typer.Option(
        metavar="TAU@GAMMA",
        help="Measured mean acceptance length τ at γ, bonus token included (vLLM's 'mean acceptance length', "
             "SGLang's 'accept length'), e.g. 3.2@4: converted to α and paired in order with the drafts like "
             "--alpha (repeatable).")] = None,
    draft_acceptance_rate: Annotated[list[str] | None, typer.Option(
        metavar="RATE@GAMMA",
        help="Measured draft acceptance rate at γ (vLLM's and llama.cpp's), e.g. 0.55@4: converted to α and paired "
             "in order with the drafts like --alpha (repeatable).")] = None,
    gamma: Annotated[int | None, typer.Option(
        metavar="N",
        help="The γ your engine is configured with: the speedup at that γ, with the best γ beside it (JSON "
             "at_gamma).")] = None,
    alpha_from: Annotated[list[str] | None, typer.Option(
        metavar="FILE",
        help="An acceptance record written by `specplan acceptance` (records file or its --json): the α of plan's "
             "rule at the temperature nearest --temperature, paired in order with the drafts like --alpha "
             "(repeatable).")] = None,
    temperature: Annotated[float, typer.Option(
        metavar="T",
        help="Sampling temperature (0, the default: greedy, what most published acceptance figures report). At "
             "T > 0 the law's α is adjusted by a factor fitted on Leviathan et al.'s greedy/sampled pairs; a given "
             "α is taken as measured at T.")] = planner.DEFAULT_TEMPERATURE,
    acceptance_rule: Annotated[str | None, typer.Option(
        metavar="RULE",
        help="lossless (rejection sampling) or argmax_draft (the draft proposes its argmax; vLLM's default). "
             "Default: argmax_draft with --emit vllm (unless --draft-sample-method probabilistic), else "
             "lossless.")] = None,
    draft_sample_method: Annotated[str | None, typer.Option(
        metavar="greedy|probabilistic",
        help="vLLM's draft_sample_method, written into the emitted --speculative-config; sets the rule "
             "(greedy: argmax_draft, probabilistic: lossless).")] = None,
    alpha_law: Annotated[str | None, typer.Option(
        metavar="A,B,C|FILE",
        help="Acceptance law α = A·ppl_draft + B·ppl_target + C, or a file from `specplan calibrate` "
             "(default: SDSL pooled fit -0.0067,0.012971,0.642084).")] = None,
    gamma_max: Annotated[int, typer.Option(
        help="Largest lookahead γ (draft tokens per round) to consider.")] = planner.DEFAULT_GAMMA_MAX,
    min_speedup: Annotated[float, typer.Option(
        help="Smallest speedup (×) that counts as paying; below it the verdict is to decode with the target "
             "alone, since the model's own error is as large as the gain.")] = planner.DEFAULT_MIN_SPEEDUP,
    require_pays: Annotated[bool, typer.Option(
        "--require-pays", help="With --emit: exit 1 when the answer is not to speculate (for CI); without it that answer exits 0.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Recommend the draft size N*, a draft checkpoint, lookahead γ*, acceptance and speedup for a target (pure
    math, no torch)."""
    if (target is None) == (target_params is None):
        raise SpecplanError("give the target as --target ID|FOLDER or as --target-params COUNT (one of them)")
    tensor_parallel = _one_of(tensor_parallel, tensor_parallel_alias, "--tensor-parallel-size")
    draft_tensor_parallel = _one_of(draft_tensor_parallel, draft_tensor_parallel_alias, "--draft-tensor-parallel-size")
    model = model_source.resolve(target, "--target") if target is not None else None
    drafts = tuple(model_source.resolve(d, "--draft") for d in model_source.distinct_specs(draft or ()))
    rule = temperature_rule.resolve_rule(acceptance_rule, draft_sample_method,
                                         emit_engine.value if emit_engine else None)
    temperature = temperature_rule.check_temperature(temperature)
    records = [acceptance_record.given_alpha(path, temperature, rule) for path in alpha_from or ()]
    given = given_acceptance.given_alphas(alpha or (), acceptance_length or (), draft_acceptance_rate or (),
                                          tuple(r[0] for r in records))
    paired = given_acceptance.pair_with_drafts(given, tuple(draft_params or ()), tuple(d.name for d in drafts))
    inputs = planner.PlanInputs(
        target_params=target_params or model.architecture.params_total,
        target_tokens=target_tokens or (model and model.training_tokens) or planner.DEFAULT_TARGET_TOKENS,
        draft_tokens=draft_tokens,
        cost_model=cost_model.value,
        profile=hardware.load_profile(profile) if cost_model.value == "hardware" else None,
        dtype=None if dtype == "auto" else dtype,
        batch_size=batch_size,
        context_tokens=context_tokens,
        aspect_ratio=aspect_ratio,
        draft_params=tuple(draft_params or ()),
        alpha=paired.get("alpha"),
        alpha_sources=paired.get("alpha_sources", ()),
        checkpoint_alphas=paired.get("checkpoint_alphas", ()),
        gamma=gamma,
        temperature=temperature,
        acceptance_rule=rule,
        alpha_law=parse_alpha_law(alpha_law) if alpha_law is not None else AlphaLaw(),
        gamma_max=gamma_max,
        min_speedup=min_speedup,
        prompt_tokens=prompt_tokens,
        new_tokens=new_tokens,
        target_model=model.architecture if model else None,
        target_name=model.name if model else None,
        tensor_parallel=tensor_parallel,
        draft_tensor_parallel=1 if draft_tensor_parallel is None else draft_tensor_parallel,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
    )
    deployment = checkpoints.plan_deployment(inputs, model, drafts)
    deployment = replace(deployment, notes=deployment.notes + [n for r in records for n in r[2]])
    emission = verdict.emit(deployment, emit_engine.value, draft_sample_method) if emit_engine else None
    if as_json:
        data = deployment.to_json()
        data["emit"] = emission.to_json() if emission else None
        typer.echo(json.dumps(data, indent=2))
    else:
        render(deployment, Console())
        if emission:
            render_emission(emission)
    if emission and require_pays and not emission.pays:
        raise typer.Exit(1)


def _one_of(value, alias, option: str):
    """An option given by its vLLM name or by its short alias (not both)."""
    if value is not None and alias is not None:
        raise SpecplanError(f"{option} is given twice (once by its alias): give it once")
    return alias if value is None else value


def render_emission(emission: serving.Emission) -> None:
    title = serving.ENGINE_NAMES[emission.engine]
    if not emission.pays:
        typer.echo(f"\n# {title}: do not speculate")
    else:
        typer.echo(f"\n# {title}: {emission.draft} with γ = {emission.gamma}")
    for note in emission.notes:
        typer.echo(f"# note: {note}")
    if emission.text:
        typer.echo(emission.text)


def render(deployment: checkpoints.Deployment, console: Console) -> None:
    result = deployment.plan
    answer = verdict.verdict(deployment)
    console.print(_summary(deployment, answer))
    console.print(_sensitivity(result))
    if deployment.checkpoints:
        console.print(_checkpoint_table(deployment))
    for note in result.notes + deployment.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")  # names are data, never markup
    console.print(escape(answer.text))


def _summary(deployment: checkpoints.Deployment, answer: verdict.Verdict) -> Table:
    """The headline box. With ranked checkpoints it leads with what to deploy (the verdict's checkpoint and speedup),
    the size optimum N* beside it; else with N*. Its speedup is the verdict's, so the two never disagree."""
    result, target = deployment.plan, deployment.target
    inputs, rec = result.inputs, result.recommendation
    title = f"{target.name} ({describe(target.architecture)})" if target else f"{format_count(inputs.target_params)} parameters"
    summary = Table(title=escape(f"specplan plan — target {title}"), show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column()
    per_request = (f" per request of {inputs.prompt_tokens} prompt + {inputs.new_tokens} new tokens (prefills: target "
                   f"{rec.target_prefill_ratio:.3g}, draft {rec.draft_prefill_ratio:.3g} target steps)"
                   if inputs.per_request else "")
    if deployment.best:
        best = deployment.best
        deploy = (f"{answer.draft} with γ = {answer.gamma}: {answer.speedup:.2f}× (α {best.candidate.alpha:.3f}"
                  + ("" if best.alpha_source != inputs.law_source else f", {best.alpha_source}") + ")"
                  if answer.pays else
                  "the target alone: speculation does not pay with any checkpoint here")
        if inputs.gamma:
            fixed = planner.at_gamma(best.candidate, inputs.gamma)
            deploy += f"; at your γ = {inputs.gamma}: {fixed['speedup']:.2f}× (best γ {fixed['best_gamma']})"
        rows = [("deploy", deploy),
                ("size optimum N*", f"{format_count(rec.draft_params)} parameters: {rec.speedup:.2f}× if such a draft "
                                    f"existed{per_request}")]
    else:
        margin = "" if answer.pays or not rec.gamma else (f" (below the {inputs.min_speedup:g}× margin: decode with "
                                                          "the target alone)")
        rows = [("draft size N*", f"{format_count(rec.draft_params)} parameters"),
                ("expected speedup", f"{rec.speedup:.2f}×{per_request}{margin}")]
    rows += [
        ("target / draft M/N*", f"{inputs.target_params / rec.draft_params:.0f}"),
        ("acceptance α", _acceptance_row(deployment)),
        ("lookahead γ", f"{rec.gamma}" + (f" (real-valued γ* {rec.gamma_real:.2f})" if rec.gamma_real else "")
         + (f"; γ {rec.gamma_band[0]}–{rec.gamma_band[1]} within 3%" if rec.gamma_band
            and rec.gamma_band[0] != rec.gamma_band[1] else "")),
        ("tokens per round E", f"{rec.expected_tokens_per_round:.2f}"),
        ("cost ratio c", f"{rec.cost_ratio:.4f} (draft step / target step)"),
        ("flat band (≤3% off)", f"{format_count(result.flat_band[0])} – {format_count(result.flat_band[1])}"),
        ("pooled rule N*", f"{format_count(result.pooled_rule_draft_params)} (2.71e-3·M + 8.71e7)"),
        ("cost model", inputs.cost_model + (f", profile {result.profile_name}" if result.profile_name else "")
         + (f", batch {inputs.batch_size}" if inputs.batch_size > 1 else "")),
        ("tensor parallelism", _tensor_parallel_row(result)),
    ]
    if inputs.gamma:
        fixed = planner.at_gamma(rec, inputs.gamma)
        rows.insert(1, (f"at γ = {inputs.gamma}", f"{fixed['speedup']:.2f}×, E {fixed['expected_tokens_per_round']:.2f} "
                                                  f"(the best γ beside it: {fixed['best_gamma']}, "
                                                  f"{fixed['best_speedup']:.2f}×)"))
    for name, value in rows:
        summary.add_row(name, escape(value))
    return summary


def _acceptance_row(deployment: checkpoints.Deployment) -> str:
    """N*'s α and its source; beside it the deployed checkpoint's where it has another source (a published entry,
    a family offset, a given α)."""
    inputs, rec, best = deployment.plan.inputs, deployment.plan.recommendation, deployment.best
    text = f"{rec.alpha:.3f} ({verdict.alpha_source(inputs, rec.draft_params)})"
    if best is None or best.alpha_source == inputs.law_source:
        return text
    return (f"{text} for N*; {best.candidate.alpha:.3f} for {best.model.name.split('/')[-1]} "
            f"({best.alpha_source})")


def _sensitivity(result: planner.Plan) -> Table:
    inputs, best = result.inputs, result.recommendation.speedup
    table = Table(title="Sensitivity: speedup by draft size", title_justify="left")
    for column in ("draft", "M/N", "α", "γ", "E", "c", "speedup", ""):
        table.add_column(column, justify="right")
    for c in result.candidates:
        mark = "given" if c.draft_params in inputs.draft_params else ""
        if result.flat_band[0] <= c.draft_params <= result.flat_band[1]:
            mark = (mark + " in band").strip()
        table.add_row(format_count(c.draft_params), f"{inputs.target_params / c.draft_params:.0f}", f"{c.alpha:.3f}",
                      str(c.gamma), f"{c.expected_tokens_per_round:.2f}", f"{c.cost_ratio:.4f}",
                      f"{c.speedup:.2f}× ({c.speedup / best - 1:+.0%})", mark)
    return table


_MARKS = {"ok": "✓", "rejected": "✗", "universal path": "~", "unchecked": "?", "unknown": "–"}


def _tensor_parallel_row(result: planner.Plan) -> str:
    tp = result.tensor_parallel
    text = f"target {tp['target']}, draft {tp['draft']}"
    if tp.get("target_step_s"):
        text += (f"; target step {tp['target_step_s'] * 1e3:.2f} ms, all-reduce {tp['all_reduce_s'] * 1e3:.2f} ms; "
                 f"max_model_len {tp['max_model_len']:,}: {tp['memory']['text']}"
                 + ("" if tp["memory"]["fits"] else " — does not fit"))
    return text


def _checkpoint_table(deployment: checkpoints.Deployment) -> Table:
    target_params = deployment.plan.inputs.target_params
    engines = " ".join(serving.ENGINE_NAMES[e] for e in serving.ENGINES)
    table = Table(title=f"Checkpoints (same tokenizer) by predicted speedup; engines {engines}: ✓ accepts, "
                        "✗ rejects, ~ slower universal path, ? no check known", title_justify="left")
    for column in ("checkpoint", "params", "M/N", "α", "γ", "c", "speedup", "engines"):
        table.add_column(column, justify="left" if column in ("checkpoint", "engines") else "right",
                         overflow="fold" if column == "checkpoint" else "ellipsis")  # an id wraps, never cut
    for c in deployment.checkpoints:
        cand = c.candidate
        table.add_row(escape(c.model.name.split("/")[-1] + (" (given)" if c.given else "")),
                      format_count(c.model.architecture.params_total), f"{target_params / cand.draft_params:.0f}",
                      f"{cand.alpha:.3f}", str(cand.gamma), f"{cand.cost_ratio:.4f}", f"{cand.speedup:.2f}×",
                      " ".join(_MARKS[c.engines[e].status] for e in serving.ENGINES))
    return table
