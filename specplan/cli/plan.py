"""``specplan plan``: recommend a draft size, γ and the expected speedup for a target model."""

import json
from typing import Annotated

from enum import Enum

import typer
from rich.console import Console
from rich.table import Table

from specplan.plan import planner
from specplan.cli import app
from specplan.cli.options import parse_count_option
from specplan.plan.scaling import AlphaLaw, parse_alpha_law
from specplan.units import format_count

CostModel = Enum("CostModel", {name: name for name in planner.COST_MODELS}, type=str)


@app.command()
def plan(
    target_params: Annotated[float, typer.Option(
        parser=parse_count_option, metavar="COUNT",
        help="Target model parameters, e.g. 70e9, 70B, 7.5b, 405M.")],
    target_tokens: Annotated[float, typer.Option(
        parser=parse_count_option, metavar="COUNT",
        help="Tokens the target was trained on (default 15T, LLaMA-3 as in the SDSL paper).")] = planner.DEFAULT_TARGET_TOKENS,
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
        help="Weight dtype (fp32, bf16, fp16, fp8, int8, int4) (default: the profile's).")] = None,
    batch_size: Annotated[int, typer.Option(
        help="Sequences decoded together. Larger batches make verification compute-bound (hardware model).")] = 1,
    context_tokens: Annotated[int, typer.Option(
        help="Tokens in the KV cache at each step, in the hardware model.")] = planner.DEFAULT_CONTEXT_TOKENS,
    aspect_ratio: Annotated[float, typer.Option(
        help="Shape rule: model width / layer count, used for per-layer overhead and KV bytes.")] = 100.0,
    draft_params: Annotated[list[float] | None, typer.Option(
        parser=parse_count_option, metavar="COUNT",
        help="Also evaluate this candidate draft size (repeatable), e.g. --draft-params 1B.")] = None,
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
    """Recommend the draft size N*, lookahead γ*, acceptance and speedup for a target (pure math, no torch)."""
    inputs = planner.PlanInputs(
        target_params=target_params,
        target_tokens=target_tokens,
        draft_tokens=draft_tokens,
        cost_model=cost_model.value,
        profile=profile,
        dtype=dtype,
        batch_size=batch_size,
        context_tokens=context_tokens,
        aspect_ratio=aspect_ratio,
        draft_params=tuple(draft_params or ()),
        alpha=tuple(alpha) if alpha else None,
        alpha_law=parse_alpha_law(alpha_law) if alpha_law else AlphaLaw(),
        gamma_max=gamma_max,
        min_speedup=min_speedup,
    )
    result = planner.make_plan(inputs)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        render(result, Console())


def render(result: planner.Plan, console: Console) -> None:
    inputs, rec = result.inputs, result.recommendation
    summary = Table(title=f"specplan plan — target {format_count(inputs.target_params)} parameters",
                    show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column()
    rows = [
        ("draft size N*", f"{format_count(rec.draft_params)} parameters"),
        ("target / draft M/N*", f"{inputs.target_params / rec.draft_params:.0f}"),
        ("acceptance α", f"{rec.alpha:.3f}" + (" (given)" if rec.draft_params in inputs.given_alpha()
                                                else " (SDSL law)")),
        ("lookahead γ", f"{rec.gamma}" + (f" (real-valued γ* {rec.gamma_real:.2f})" if rec.gamma_real else "")),
        ("tokens per round E", f"{rec.expected_tokens_per_round:.2f}"),
        ("cost ratio c", f"{rec.cost_ratio:.4f} (draft step / target step)"),
        ("expected speedup", f"{rec.speedup:.2f}×"),
        ("flat band (≤3% off)", f"{format_count(result.flat_band[0])} – {format_count(result.flat_band[1])}"),
        ("pooled rule N*", f"{format_count(result.pooled_rule_draft_params)} (2.71e-3·M + 8.71e7)"),
        ("cost model", inputs.cost_model + (f", profile {result.profile_name}" if result.profile_name else "")
         + (f", batch {inputs.batch_size}" if inputs.batch_size > 1 else "")),
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
    for note in result.notes:
        console.print(f"[dim]note: {note}[/dim]")
    console.print(verdict(result))


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
