"""The answer of a plan in words and for a serving engine: which checkpoint (or size) to deploy with which γ, which
engines accept it, and ``--emit``'s configuration for one engine. The box, the verdict line and ``--emit`` all
read the one :class:`Verdict`, so they never disagree.
"""

from dataclasses import dataclass, replace
from pathlib import Path

from specplan.errors import SpecplanError
from specplan.plan import checkpoints, parallel, planner, serving
from specplan.units import format_count


@dataclass(frozen=True)
class Verdict:
    """What to deploy: a checkpoint (``draft``, when the target's checkpoints are ranked) or a draft size, its γ and
    speedup; ``pays`` False: decode with the target alone."""

    pays: bool
    draft: str | None  # the checkpoint; None for a size plan
    draft_params: float
    gamma: int
    speedup: float
    text: str


def verdict(deployment: checkpoints.Deployment) -> Verdict:
    """The checkpoint verdict when the target's checkpoints are ranked, else the draft-size verdict."""
    return _checkpoint_verdict(deployment) if deployment.best else _size_verdict(deployment.plan)


def _size_verdict(result: planner.Plan) -> Verdict:
    rec = result.recommendation
    if not result.pays:
        gain = (f"at most {rec.speedup:.2f}×, below the {result.inputs.min_speedup:g}× margin; "
                if rec.gamma and rec.speedup > 1.0 else "")
        text = (f"Verdict: speculation does not pay here (best draft {format_count(rec.draft_params)}: "
                f"{gain}c = {rec.cost_ratio:.3f} against α = {rec.alpha:.3f}); decode with the target alone.")
        return Verdict(False, None, rec.draft_params, 0, 1.0, text)
    text = (f"Verdict: use a ~{format_count(rec.draft_params)} draft with γ = {rec.gamma} for about "
            f"{rec.speedup:.2f}× ({band_text(result)}).")
    return Verdict(True, None, rec.draft_params, rec.gamma, rec.speedup, text)


def _checkpoint_verdict(deployment: checkpoints.Deployment) -> Verdict:
    """The verdict naming a checkpoint, and for the engines that reject it the best one they accept."""
    best, plan = deployment.best, deployment.plan
    cand, margin = best.candidate, plan.inputs.min_speedup
    if not cand.gamma or cand.speedup < margin:
        gain = f"at most {cand.speedup:.2f}×, below the {margin:g}× margin; " if cand.gamma else ""
        text = (f"Verdict: speculation does not pay with any checkpoint here (best {best.model.name}: "
                f"{gain}c = {cand.cost_ratio:.3f} against α = {cand.alpha:.3f}); decode with the target alone.")
        return Verdict(False, best.model.name, cand.draft_params, 0, 1.0, text)
    text = (f"Verdict: use {best.model.name} with γ = {cand.gamma} for about {cand.speedup:.2f}× "
            f"(size optimum N* ≈ {format_count(plan.recommendation.draft_params)}, "
            f"{plan.recommendation.speedup:.2f}× if such a draft existed).")
    rejecting = [name for name in serving.ENGINES if best.engines[name].status == "rejected"]
    alternatives = {}  # alternative checkpoint (or None) -> the engines rejecting the best it is the answer for
    for name in rejecting:
        alternatives.setdefault(deployment.best_for(name), []).append(name)
    for alternative, names in alternatives.items():
        titles = [serving.ENGINE_NAMES[n] for n in names]
        text += (f" {' and '.join(titles)} reject{'s' if len(names) == 1 else ''} it "
                 f"({best.engines[names[0]].reason.split(':')[0]})"
                 + (f"; there use {alternative.model.name} with γ = {alternative.candidate.gamma} for about "
                    f"{alternative.candidate.speedup:.2f}×." if alternative else "; no ranked checkpoint passes there."))
    return Verdict(True, best.model.name, cand.draft_params, cand.gamma, cand.speedup, text)


def band_text(result: planner.Plan) -> str:
    """The flat band in words; a band of one size says that no other draft comes within 3%."""
    low, high = result.flat_band
    if format_count(low) == format_count(high):
        others = "given draft" if result.inputs.alphas else "draft size"
        return f"no other {others} is within 3%"
    return f"any draft from {format_count(low)} to {format_count(high)} is within 3%"


def alpha_source(inputs: planner.PlanInputs, draft_params: float) -> str:
    """Where a draft's α came from: measured (its --alpha), the SDSL law, given coefficients or a calibrated file."""
    given = inputs.alpha_source(draft_params)
    if given:
        return given
    return law_source(inputs)


def law_source(inputs: planner.PlanInputs) -> str:
    """The acceptance law's name in words."""
    return inputs.law_source


def choose(deployment: checkpoints.Deployment, name: str) -> tuple:
    """(checkpoint or None, notes): the best-ranked checkpoint engine ``name`` accepts that pays, and why faster ones
    were passed over; None when there is none (the notes then say why)."""
    engine = serving.engine(name)
    if deployment.target is None:
        raise SpecplanError(f"--emit {name} needs a real target: give --target ID|FOLDER instead of --target-params")
    if not deployment.checkpoints:
        raise SpecplanError(f"--emit {name}: no draft checkpoint to emit for {deployment.target.name} "
                            "(its family is not in the catalog): give --draft ID|FOLDER")
    chosen = deployment.best_for(name)
    if chosen is None:
        best = deployment.best or deployment.checkpoints[0]
        why = best.engines[name].reason if not best.engines[name].accepted else "speculation does not pay"
        return None, (f"{engine.title} accepts no ranked checkpoint that pays for {deployment.target.name} "
                      f"(best: {best.model.name}: {why})",)
    ahead = deployment.checkpoints[:deployment.checkpoints.index(chosen)]
    passed = [c for c in ahead if not c.engines[name].accepted]
    notes = (f"{engine.title} rejects faster checkpoints: "
             + ", ".join(f"{c.model.name} ({c.candidate.speedup:.2f}×)" for c in passed)
             + f" ({passed[0].engines[name].reason})",) if passed else ()
    return chosen, notes


def emit(deployment: checkpoints.Deployment, name: str, draft_sample_method: str | None = None) -> serving.Emission:
    """Engine ``name``'s configuration for the checkpoint it accepts that pays best, or its "do not speculate"
    answer; a one-line error where no configuration can be written (no real target, no checkpoints)."""
    engine = serving.engine(name)
    chosen, notes = choose(deployment, name)
    if chosen is None:
        return serving.do_not_speculate(name, notes[0])
    inputs = deployment.plan.inputs
    schedule = tuple(checkpoints.gamma_schedule(inputs, chosen, engine.schedule_batches)) \
        if engine.schedule_batches else ()
    length, length_notes = emitted_max_len(inputs, chosen, engine.title)
    pair = serving.Pair(target=deployment.target.name, draft=chosen.model.name, tp=inputs.tensor_parallel,
                        draft_tp=inputs.draft_tensor_parallel, gamma=chosen.candidate.gamma, schedule=schedule,
                        compatibility=chosen.engines[name], notes=notes + length_notes + rule_notes(inputs, name),
                        max_model_len=length, draft_sample_method=draft_sample_method)
    return engine.configure(pair)


def emitted_max_len(inputs: planner.PlanInputs, chosen: checkpoints.Checkpoint, title: str) -> tuple:
    """(the max_model_len to configure or None, notes): the planned one where it is shorter than the target's own
    (or the target's is unknown); where the pair does not fit at it by vLLM's arithmetic, the longest that fits
    and still holds the planned batch × context; a one-line error where none does."""
    profile, planned, own = inputs.profile, inputs.planned_max_len, inputs.model_max_len
    shorter = planned if own is None or planned < own else None
    if profile is None or profile.memory_gb is None:
        return shorter, ()
    need = replace(inputs, memory_draft=chosen.model.architecture).memory_need(profile.check_dtype(inputs.dtype))
    used = parallel.memory_at(profile, need, inputs.tensor_parallel)
    if used.fits:
        return shorter, ()
    longest = used.longest_tokens
    needed = max(inputs.batch_size * inputs.context_tokens, inputs.prompt_tokens + inputs.new_tokens, 1)
    tp = inputs.tensor_parallel
    if longest < needed:
        raise SpecplanError(f"{title} cannot start {inputs.target_name} with {chosen.model.name} at tensor "
                            f"parallelism {tp} on {profile.name}: {used.text()} leaves room for "
                            f"{longest:,} KV tokens, fewer than the {needed:,} planned; use a larger "
                            "--tensor-parallel-size")
    length = longest if longest < 4096 else longest // 1024 * 1024
    return length, (f"max_model_len {length:,}, not {planned:,}: at tensor parallelism {tp} only that much KV "
                    f"fits beside the weights ({used.text()})",)


def rule_notes(inputs: planner.PlanInputs, name: str) -> tuple:
    """What the acceptance rule means for engine ``name`` at the plan's temperature."""
    if inputs.temperature == 0:
        return ()
    if name == "vllm" and inputs.acceptance_rule == "argmax_draft":
        return (f"vLLM drafts by argmax by default (draft_sample_method \"greedy\"): at T {inputs.temperature:g} it "
                "accepts less than lossless rejection sampling; --draft-sample-method probabilistic writes the "
                "other rule into the config",)
    return ()