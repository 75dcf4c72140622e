"""Recommend checkpoints, not just a size: the plan for a real target, its family's drafts ranked by speedup.

Data flow: target (catalog, folder, cache or hub) ─► ``planner.make_plan`` (N*, γ, flat band, tensor parallelism) ─►
the same-tokenizer checkpoints of the target's family, and any ``--draft`` given, each evaluated with its real shape
and training tokens ─► ranked by predicted speedup, each with its γ and every engine's verdict on the pair
(docs/theory.md §4).
"""

from dataclasses import dataclass, replace

from specplan.plan import catalog, parallel, planner, published_alpha, serving
from specplan.plan.catalog import ModelInfo

SCHEDULE_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # the batch sizes of a γ schedule, by default


@dataclass(frozen=True)
class Checkpoint:
    """One real draft for the target: the model, its candidate figures (α, c, γ, speedup) and engine verdicts."""

    model: ModelInfo
    candidate: planner.Candidate
    engines: dict  # engine name -> serving.Compatibility
    given: bool  # named with --draft
    notes: tuple = ()
    shares_tokenizer: bool | None = None  # None: a tokenizer specplan does not know
    alpha_source: str = "SDSL law"  # where its α came from (given with --draft, or the law's name)

    def to_json(self, target_params: float, gamma: int | None = None) -> dict:
        c = self.candidate
        return {
            "name": self.model.name, "family": self.model.family, "origin": self.model.origin, "given": self.given,
            "params": self.model.architecture.params_total, "active_params": self.model.architecture.params_active,
            "embedding_rows": self.model.architecture.vocab_rows, "training_tokens": self.model.training_tokens,
            "alpha": c.alpha, "cost_ratio": c.cost_ratio, "gamma": c.gamma, "speedup": c.speedup,
            "expected_tokens_per_round": c.expected_tokens_per_round, "verify_cost_ratio": c.verify_cost_ratio,
            "target_draft_ratio": target_params / c.draft_params,
            "engines": {name: verdict.to_json() for name, verdict in self.engines.items()},
            "shares_tokenizer": self.shares_tokenizer,
            "alpha_source": self.alpha_source,
            "gamma_cap": c.gamma_cap,
            "at_gamma": planner.at_gamma(c, gamma),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Deployment:
    """A plan with the target's real identity and the ranked checkpoints (best first)."""

    plan: planner.Plan
    target: ModelInfo | None
    checkpoints: list
    notes: list

    @property
    def best(self) -> Checkpoint | None:
        """The fastest checkpoint not known to have another tokenizer than the target's."""
        return next((c for c in self.checkpoints if c.shares_tokenizer is not False), None)

    def best_for(self, engine: str) -> Checkpoint | None:
        """The fastest checkpoint ``engine`` accepts whose speedup reaches the plan's margin (--min-speedup)."""
        margin = self.plan.inputs.min_speedup
        return next((c for c in self.checkpoints if c.engines[engine].accepted and c.candidate.gamma
                     and c.candidate.speedup >= margin), None)

    def to_json(self) -> dict:
        data = self.plan.to_json()
        data["notes"] = data["notes"] + self.notes
        data["target_model"] = self.target.summary() if self.target else None
        data["checkpoints"] = [c.to_json(self.plan.inputs.target_params, self.plan.inputs.gamma)
                               for c in self.checkpoints]
        return data


def family_drafts(target: ModelInfo) -> list:
    """The dense catalog checkpoints of the target's family that share its tokenizer, in the target's variant
    (base or instruct) where the family has it, smaller than the target per token and under half its weights (a
    mixture-of-experts model or a near-equal size is not a draft)."""
    if target.family is None:
        return []
    result = []
    for entry in catalog.family_members(target.family):
        draft = entry.info(target.variant or "instruct")
        arch = draft.architecture
        if (draft.tokenizer == target.tokenizer and not arch.experts
                and arch.params_active < target.architecture.params_active
                and arch.params_total < target.architecture.params_total / 2):
            result.append(draft)
    return result


def rank(inputs: planner.PlanInputs, target: ModelInfo | None, drafts: list, given_names: set) -> tuple:
    """(checkpoints best first, notes). ``inputs`` are a plan's resolved inputs (tensor_parallel set)."""
    notes, usable = [], []
    for draft in drafts:
        if draft.architecture.params_active >= inputs.target.params_active:
            notes.append(f"--draft {draft.name}: not smaller than the target per token, left out")
        elif not parallel.tensor_parallel_fits(inputs.draft_tensor_parallel, draft.architecture):
            notes.append(f"{draft.name}: --draft-tensor-parallel-size {inputs.draft_tensor_parallel} does not divide its "
                         f"{draft.architecture.heads} heads, left out")
        else:
            usable.append(draft)
    if not usable:
        return [], notes
    tokens = [d.training_tokens or inputs.draft_tokens for d in usable]
    given = [inputs.checkpoint_alpha(d.name) for d in usable]
    laws = planner.law_alphas(inputs, [d.architecture for d in usable], tokens)
    published = [None if g is not None or target is None else table_alpha(inputs, target, d, law)
                 for d, g, law in zip(usable, given, laws)]
    alphas = [g.alpha if g else (p.alpha if p else law) for g, p, law in zip(given, published, laws)]
    candidates = planner.evaluate_architectures(inputs, [d.architecture for d in usable], tokens, alphas,
                                                [p.gamma_cap if p else None for p in published])
    result, capped = [], []
    for draft, candidate, table in zip(usable, candidates, published):
        own = () if draft.training_tokens else (f"training tokens unknown: --draft-tokens {inputs.draft_tokens:g} "
                                                "used",)
        shares = serving.same_tokenizer(target, draft) if target is not None else None
        if shares is False:
            notes.append(f"--draft {draft.name}: another tokenizer than the target's ({draft.tokenizer} vs "
                         f"{target.tokenizer}); its tokens would not be accepted, ranked last")
        verdicts = serving.compatibility(target, draft) if target is not None else {
            e: serving.Compatibility(False, "unknown", "no target model (--target) to compare with")
            for e in serving.ENGINES}
        given_alpha = inputs.checkpoint_alpha(draft.name)
        source = given_alpha.source if given_alpha else (table.source if table else inputs.law_source)
        if table and table.gamma_cap and candidate.gamma == table.gamma_cap < inputs.gamma_max:
            capped.append(f"{draft.name.split('/')[-1]} γ ≤ {table.gamma_cap} "
                          f"({'its entry' if table.kind == 'published' else 'family offset'})")
        result.append(Checkpoint(draft, candidate, verdicts, draft.name in given_names, own, shares, source))
    if capped:
        notes.append("γ chosen up to the largest γ the published acceptance was measured at, for "
                     + ", ".join(capped) + ": an α inverted from τ or DAR at γ says nothing about later positions "
                     "(--gamma N shows another γ)")
    result.sort(key=lambda c: (c.shares_tokenizer is False, -c.candidate.speedup, c.model.architecture.params_total))
    return result, notes


def table_alpha(inputs: planner.PlanInputs, target: ModelInfo, draft: ModelInfo, law: float):
    """The published table's α for the pair (its entry, else its family's offset; plan/published_alpha.py), or
    None (the law): a family offset only where draft and target are of one family."""
    family = target.family if target.family is not None and draft.family == target.family else None
    found = published_alpha.pair_alpha(target.name, draft.name, family, inputs.alpha_law, law, inputs.temperature)
    if found is not None and inputs.temperature > 0 and inputs.acceptance_rule == "argmax_draft":
        # the table's figures were measured greedy or with rejection sampling: argmax drafting accepts less at T > 0
        found = replace(found, source=found.source + ": an upper bound under argmax drafting")
    return found


def plan_deployment(inputs: planner.PlanInputs, target: ModelInfo | None = None, drafts: tuple = ()) -> Deployment:
    """``make_plan`` for the target, then its family's checkpoints and the given drafts ranked by speedup."""
    inputs, dtype_notes = checkpoint_dtype(inputs, target)
    plan = planner.make_plan(inputs)
    candidates = {d.name: d for d in (family_drafts(target) if target else [])}
    candidates.update({d.name: d for d in drafts})
    checkpoints, notes = rank(plan.inputs, target, list(candidates.values()), {d.name for d in drafts})
    for _ in range(len(parallel.TP_CHOICES)):  # the automatic TP holds the best draft too (plan/memory.py)
        best = next((c for c in checkpoints if c.shares_tokenizer is not False), None)
        if best is None:
            break
        arch = best.model.architecture
        fits = planner.draft_fits(plan, arch)
        if fits or inputs.tensor_parallel is not None or plan.inputs.memory_draft == arch:
            if not fits:
                notes.append(f"{best.model.name} beside the target does not fit tensor parallelism "
                             f"{plan.inputs.tensor_parallel} by vLLM's arithmetic (see the memory row)")
            plan = planner.count_draft(plan, arch)
            break
        plan = planner.make_plan(replace(inputs, memory_draft=arch))
        checkpoints, notes = rank(plan.inputs, target, list(candidates.values()), {d.name for d in drafts})
    if target is not None and not target.training_tokens:
        notes.append(f"{target.name}'s training tokens are not known to specplan: --target-tokens "
                     f"{inputs.target_tokens:g} used")
    if target is not None and target.architecture.experts:
        notes.append("mixture-of-experts target: the acceptance law (fitted on dense models) takes its total "
                     "parameters; the latency model streams the experts a step's tokens route to")
    return Deployment(plan=plan, target=target, checkpoints=checkpoints, notes=dtype_notes + notes)


def checkpoint_dtype(inputs: planner.PlanInputs, target: ModelInfo | None) -> tuple:
    """(inputs, notes): a quantized target (fp8, int8, int4 in its config) is planned in that dtype when --dtype is
    not given and the profile has figures for it. 16-bit and fp32 checkpoints are served in 16 bits: the profile's
    dtype stands."""
    dtype = target.architecture.dtype if target else None
    if inputs.dtype is not None or dtype not in ("fp8", "int8", "int4") or inputs.cost_model != "hardware":
        return inputs, []
    profile = inputs.profile
    if dtype in profile.dtypes:
        return replace(inputs, dtype=dtype), [f"weights in {dtype}, as the checkpoint's quantization_config says "
                                              "(--dtype to override)"]
    return inputs, [f"the checkpoint's weights are {dtype}, but profile {profile.name!r} has no {dtype} figures: "
                    f"planned in {profile.dtype}"]


def gamma_schedule(inputs: planner.PlanInputs, checkpoint: Checkpoint, batches=SCHEDULE_BATCHES) -> list:
    """[(batch size, γ, speedup)] for one checkpoint: the batch model's best γ at each batch size (γ 0 where
    speculation does not pay), with the checkpoint's α and γ cap. ``inputs`` are the plan's resolved inputs; TP
    stays as planned."""
    draft = checkpoint.model
    tokens = [draft.training_tokens or inputs.draft_tokens]
    result = []
    for batch in batches:
        (candidate,) = planner.evaluate_architectures(replace(inputs, batch_size=batch), [draft.architecture], tokens,
                                                      [checkpoint.candidate.alpha],
                                                      [checkpoint.candidate.gamma_cap])
        result.append((batch, candidate.gamma, candidate.speedup))
    return result
