"""The planner: from a target's size and a cost model to the best draft size N*, lookahead γ* and speedup.

Data flow: inputs ─► cost model (c(N), verification cost) ─► acceptance α(N) from the SDSL laws (or measured)
─► γ and speedup per draft size ─► N* by search over draft sizes, the flat band, a sensitivity table
(docs/theory.md §4).
"""

from dataclasses import dataclass, field, fields, replace

import numpy as np

from specplan.errors import SpecplanError
from specplan.plan import parallel, theory
from specplan.plan.costs import Costs, DraftCosts, acceptance
from specplan.plan.inputs import (  # noqa: F401  (the names plan's callers import from the planner)
    COST_MODELS, DEFAULT_DRAFT_TOKENS, DEFAULT_GAMMA_MAX, DEFAULT_MIN_SPEEDUP, DEFAULT_PROFILE, DEFAULT_TARGET_TOKENS,
    EXTRAPOLATION_FACTOR, FLAT_BAND_TOLERANCE, LIMITS, SENSITIVITY_SIZES, PlanInputs,
)

_GRID_POINTS = 1200
_SMALLEST_DRAFT = 1e6  # the N* search starts here (the SDSL law's fitted range)
from specplan.plan.architecture import Architecture
from specplan.plan.latency import DEFAULT_CONTEXT_TOKENS  # noqa: F401
from specplan.plan.memory import GPU_MEMORY_UTILIZATION  # noqa: F401
from specplan.plan.temperature import DEFAULT_TEMPERATURE  # noqa: F401
from specplan.plan.profile_kinds import Profile
from specplan.plan.scaling import ALPHA_FLOOR, pooled_rule_draft_params
from specplan.units import format_count


@dataclass(frozen=True)
class Candidate:
    """One draft size evaluated: acceptance, cost, the integer γ chosen and the speedup it gives."""

    draft_params: float
    alpha: float
    cost_ratio: float  # c = t_draft(1) / t_target(1)
    gamma: int  # 0: do not speculate
    gamma_real: float | None  # closed-form γ* with verification charged as one target step
    expected_tokens_per_round: float
    verify_cost_ratio: float  # t_target(γ+1) / t_target(1)
    speedup: float
    round_cost_ratio: float = 0.0  # o: a round's overhead beyond its forward steps / t_target(1) (measured loop)
    first_step_ratio: float = 0.0  # x: the draft's first step of a round beyond a warm one / t_target(1) (measured)
    draft_prefill_ratio: float = 0.0  # the draft's prefill of the prompt / t_target(1) (per-request plans)
    target_prefill_ratio: float = 0.0  # the target's prefill of the prompt / t_target(1) (per-request plans)
    speedup_by_gamma: tuple = ()  # index γ-1: the speedup at γ = 1..γmax (cost model and α as above)
    gamma_cap: int | None = None  # γ is chosen up to this (the γ a published τ/DAR was measured at); None: γmax

    @property
    def gamma_band(self) -> tuple | None:
        """(smallest, largest) γ whose predicted speedup is within ``FLAT_BAND_TOLERANCE`` of the best γ's: where the
        speedup curve is this flat, measurement noise decides which of them measures best. None when γ = 0."""
        if not self.gamma or not self.speedup_by_gamma:
            return None
        searched = self.speedup_by_gamma[:self.gamma_cap] if self.gamma_cap else self.speedup_by_gamma
        close = [g for g, s in enumerate(searched, 1) if s >= (1 - FLAT_BAND_TOLERANCE) * self.speedup]
        return min(close), max(close)


@dataclass(frozen=True)
class Plan:
    inputs: PlanInputs
    recommendation: Candidate
    flat_band: tuple  # (min_draft_params, max_draft_params)
    pooled_rule_draft_params: float
    candidates: list
    profile_name: str | None
    notes: list
    tensor_parallel: dict = field(default_factory=dict)

    @property
    def pays(self) -> bool:
        """Speculate: a γ ≥ 1 whose speedup reaches the margin ``min_speedup`` (default 1.05×)."""
        rec = self.recommendation
        return rec.gamma >= 1 and rec.speedup > 1.0 and rec.speedup >= self.inputs.min_speedup

    def to_json(self) -> dict:
        inputs = {f.name: getattr(self.inputs, f.name) for f in fields(self.inputs)
                  if f.name not in ("target_model", "memory_draft")}
        law = self.inputs.alpha_law
        inputs["alpha_law"] = {"a": law.a, "b": law.b, "c": law.c, "source": law.source}
        inputs["draft_params"] = list(self.inputs.draft_params)
        alphas = list(self.inputs.alphas)  # one α is a number, several a list
        inputs["alpha"] = alphas[0] if len(alphas) == 1 else (alphas or None)
        inputs["alphas"] = alphas  # one per --draft-params, in their order
        inputs["profile"] = self.profile_name
        # how a measured profile's steps were timed: "eager" | "compiled"; None for a datasheet profile or no profile
        inputs["profile_engine"] = getattr(self.inputs.profile, "engine", None)
        inputs["checkpoint_alphas"] = [{"draft": name, "alpha": given.alpha, "source": given.source}
                                       for name, given in self.inputs.checkpoint_alphas]
        rec = self.recommendation
        return {
            "inputs": inputs,
            "recommendation": {
                "draft_params": rec.draft_params,
                "gamma": rec.gamma,
                "gamma_real": rec.gamma_real,
                "alpha": rec.alpha,
                "expected_tokens_per_round": rec.expected_tokens_per_round,
                "speedup": rec.speedup,
                "target_draft_ratio": self.inputs.target_params / rec.draft_params,
                "cost_ratio": rec.cost_ratio,
                "verify_cost_ratio": rec.verify_cost_ratio,
                "round_cost_ratio": rec.round_cost_ratio,
                "first_step_ratio": rec.first_step_ratio,
                "draft_prefill_ratio": rec.draft_prefill_ratio,
                "target_prefill_ratio": rec.target_prefill_ratio,
                "speedup_by_gamma": list(rec.speedup_by_gamma),
                "gamma_band": list(rec.gamma_band) if rec.gamma_band else None,
                "alpha_source": self.inputs.alpha_source(rec.draft_params) or self.inputs.law_source,
            },
            "at_gamma": at_gamma(rec, self.inputs.gamma),
            "pays": self.pays,
            "flat_band": {
                "min_draft_params": self.flat_band[0],
                "max_draft_params": self.flat_band[1],
                "tolerance": FLAT_BAND_TOLERANCE,
            },
            "pooled_rule_draft_params": self.pooled_rule_draft_params,
            "candidates": [
                {"draft_params": c.draft_params, "alpha": c.alpha, "gamma": c.gamma, "speedup": c.speedup,
                 "gamma_real": c.gamma_real, "cost_ratio": c.cost_ratio,
                 "expected_tokens_per_round": c.expected_tokens_per_round}
                for c in self.candidates
            ],
            "notes": self.notes,
            "tensor_parallel": self.tensor_parallel,
        }


def at_gamma(candidate: Candidate, gamma: int | None) -> dict | None:
    """--gamma's answer for one candidate: its speedup and tokens per round at that γ, its best γ beside it."""
    if gamma is None:
        return None
    return {"gamma": gamma, "speedup": candidate.speedup_by_gamma[gamma - 1],
            "expected_tokens_per_round": float(theory.expected_tokens_per_round(candidate.alpha, gamma)),
            "best_gamma": candidate.gamma, "best_speedup": candidate.speedup}


def _evaluate(inputs: PlanInputs, costs: Costs, draft_params) -> list:
    """Candidates at their best integer γ (γ = 0 and speedup 1 where no γ pays)."""
    n = np.asarray(draft_params, dtype=float)
    return _candidates(n, acceptance(inputs, n), costs.drafts(n), costs)


def law_alphas(inputs: PlanInputs, drafts: list, draft_tokens: list) -> list:
    """The law's α for real draft architectures, each with its own parameter count and training tokens."""
    return [float(acceptance(replace(inputs, alpha=None, draft_tokens=t), np.array([float(d.params_total)]))[0])
            for d, t in zip(drafts, draft_tokens)]


def evaluate_architectures(inputs: PlanInputs, drafts: list, draft_tokens: list, given: list | None = None,
                           gamma_caps: list | None = None) -> list:
    """Candidates for real draft architectures under resolved inputs (``Plan.inputs``: tensor_parallel set). Each
    draft's acceptance is its ``given`` α where not None, else the law's with its own parameter count and training
    tokens; a draft's γ is chosen up to its ``gamma_caps`` entry where not None."""
    costs = Costs(inputs)
    n = np.array([d.params_total for d in drafts], dtype=float)
    given = given or [None] * len(drafts)
    law = law_alphas(inputs, drafts, draft_tokens) if None in given else [None] * len(drafts)
    alpha = np.array([g if g is not None else a for g, a in zip(given, law)])
    return _candidates(n, alpha, costs.draft_architectures(drafts), costs, gamma_caps)


def _candidates(n: np.ndarray, alpha: np.ndarray, drafts: DraftCosts, costs: Costs, gamma_caps=None) -> list:
    table = costs.speedup_table(alpha, drafts)
    c = drafts.c
    caps = list(gamma_caps or [None] * n.size)
    result = []
    for i in range(n.size):
        best = int(np.argmax(table[i, :caps[i]] if caps[i] else table[i]))
        gamma, speedup = (best + 1, float(table[i, best])) if table[i, best] > 1.0 else (0, 1.0)
        gamma_real = float(theory.gamma_star_real(alpha[i], c[i])) if c[i] < 1 else None
        result.append(Candidate(
            draft_params=float(n[i]), alpha=float(alpha[i]), cost_ratio=float(c[i]), gamma=gamma,
            gamma_real=gamma_real, expected_tokens_per_round=float(theory.expected_tokens_per_round(alpha[i], gamma)),
            verify_cost_ratio=float(costs.verify_ratio[gamma - 1]) if gamma else 1.0, speedup=speedup,
            round_cost_ratio=costs.round_ratio_at(gamma), first_step_ratio=float(drafts.first_step[i]),
            draft_prefill_ratio=float(drafts.prefill[i]), target_prefill_ratio=float(costs.target_prefill),
            speedup_by_gamma=tuple(float(x) for x in table[i]), gamma_cap=caps[i],
        ))
    return result


def evaluate_draft(inputs: PlanInputs, draft_params: float, gamma: int | None = None) -> Candidate:
    """One draft under ``inputs``' cost model and acceptance, at ``gamma`` (1..gamma_max) or, when None, at its
    best γ: what plan predicts for a pair whose γ is already chosen (e.g. a published result)."""
    inputs.validate()
    if inputs.profile is not None:
        inputs.profile.check_dtype(inputs.dtype)
    costs = Costs(inputs)
    best = _evaluate(inputs, costs, [draft_params])[0]
    if gamma is None:
        return best
    if not 1 <= gamma <= inputs.gamma_max:
        raise SpecplanError(f"γ {gamma!r} must be in 1..{inputs.gamma_max}")
    n = np.array([float(draft_params)])
    alpha = acceptance(inputs, n)
    speedup = float(costs.speedup_table(alpha, costs.drafts(n))[0, gamma - 1])
    return replace(best, gamma=gamma, speedup=speedup,
                   expected_tokens_per_round=float(theory.expected_tokens_per_round(alpha[0], gamma)),
                   verify_cost_ratio=float(costs.verify_ratio[gamma - 1]), round_cost_ratio=costs.round_ratio_at(gamma))


def _objective(inputs: PlanInputs, costs: Costs, draft_params: np.ndarray) -> np.ndarray:
    """Speedup to maximise over draft size. Under ``flops`` it is the paper's: the ratio form at the real-valued
    γ* (equivalently T*, tokens per FLOP; docs/theory.md §4). Under ``hardware`` it is the best integer γ's speedup."""
    alpha, drafts = acceptance(inputs, draft_params), costs.drafts(draft_params)
    if costs.profile is None:
        gamma = np.clip(theory.gamma_star_real(alpha, drafts.c), 0.0, inputs.gamma_max)
        return theory.speedup_ratio(alpha, gamma, drafts.c)
    return np.maximum(costs.speedup_table(alpha, drafts).max(axis=1), 1.0)


def _search(inputs: PlanInputs, costs: Costs):
    """N* on a log grid, refined on a finer grid between the best point's neighbours; the flat band read off the
    coarse grid (the paper searches 10,000 log-spaced sizes; this reaches a finer step with fewer evaluations)."""
    low, high = _SMALLEST_DRAFT, inputs.target_params / 2
    if high <= low:
        raise SpecplanError(f"--target-params {inputs.target_params:g} is too small to plan a draft for: the "
                            f"smallest draft searched is {format_count(low)}, so the target must be more than "
                            f"{format_count(2 * low)}")
    grid = np.geomspace(low, high, _GRID_POINTS)
    if inputs.alpha is None and np.all(acceptance(inputs, grid) <= ALPHA_FLOOR):
        law = inputs.alpha_law
        raise SpecplanError(f"acceptance law {law.source} (a={law.a:g}, b={law.b:g}, c={law.c:g}) gives α ≤ 0 "
                            "for every draft size: α must be in (0, 1)")
    speedups = _objective(inputs, costs, grid)
    i = int(np.argmax(speedups))
    fine = np.geomspace(grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)], _GRID_POINTS // 4)
    fine_speedups = _objective(inputs, costs, fine)
    j = int(np.argmax(fine_speedups))
    best_n, best_s = float(fine[j]), float(fine_speedups[j])
    in_band = grid[speedups >= (1.0 - FLAT_BAND_TOLERANCE) * best_s]
    band = (float(min(in_band.min(), best_n)), float(max(in_band.max(), best_n)))
    return best_n, band


def make_plan(inputs: PlanInputs) -> Plan:
    """Recommend a draft size, γ and the expected speedup (see the module docstring for the data flow)."""
    inputs.validate()
    profile = inputs.profile
    if profile is not None:
        profile.check_dtype(inputs.dtype)
    inputs, tp_notes = resolve_tensor_parallel(inputs, profile)
    costs = Costs(inputs)
    user = tuple(sorted(set(inputs.draft_params)))
    if inputs.alphas:  # a measured α belongs to the given drafts: choose among them only
        candidates = _evaluate(inputs, costs, user)
        recommendation = max(candidates, key=lambda c: c.speedup)
        best = recommendation.speedup
        band_members = [c.draft_params for c in candidates if c.speedup >= (1 - FLAT_BAND_TOLERANCE) * best]
        band = (min(band_members), max(band_members))
    else:
        best_n, band = _search(inputs, costs)
        recommendation = _evaluate(inputs, costs, [best_n])[0]
        sizes = sorted({n for n in SENSITIVITY_SIZES if n < inputs.target_params} | set(user))
        candidates = _evaluate(inputs, costs, sizes)
    return Plan(
        inputs=inputs,
        recommendation=recommendation,
        flat_band=band,
        pooled_rule_draft_params=pooled_rule_draft_params(inputs.target_params),
        candidates=candidates,
        profile_name=profile.name if profile else None,
        notes=_notes(inputs, profile, recommendation) + tp_notes,
        tensor_parallel=tensor_parallel_summary(inputs, profile, costs),
    )


def resolve_tensor_parallel(inputs: PlanInputs, profile: Profile | None) -> tuple:
    """(inputs with tensor_parallel set, notes): see :func:`parallel.choose_tensor_parallel`."""
    if profile is None:
        return replace(inputs, tensor_parallel=inputs.tensor_parallel or 1), []
    tp, notes = parallel.choose_tensor_parallel(profile, inputs.memory_need(profile.check_dtype(inputs.dtype)),
                                                inputs.tensor_parallel)
    return replace(inputs, tensor_parallel=tp), notes


def count_draft(plan: Plan, draft: Architecture) -> Plan:
    """The plan with ``draft`` counted in each GPU's memory (the summary only: latencies do not change)."""
    inputs = replace(plan.inputs, memory_draft=draft)
    summary = dict(plan.tensor_parallel)
    profile = inputs.profile
    if profile is not None and profile.memory_gb is not None:
        need = inputs.memory_need(profile.check_dtype(inputs.dtype))
        used = parallel.memory_at(profile, need, inputs.tensor_parallel)
        summary.update(memory_per_gpu_gb=used.used, memory=used.to_json())
    return replace(plan, inputs=inputs, tensor_parallel=summary)


def draft_fits(plan: Plan, draft: Architecture) -> bool:
    """Whether the plan's TP holds ``draft`` beside the target (True where the profile has no memory figure)."""
    inputs = plan.inputs
    profile = inputs.profile
    if profile is None or profile.memory_gb is None:
        return True
    need = replace(inputs, memory_draft=draft).memory_need(profile.check_dtype(inputs.dtype))
    return parallel.memory_at(profile, need, inputs.tensor_parallel).fits


def tensor_parallel_summary(inputs: PlanInputs, profile: Profile | None, costs: Costs) -> dict:
    """The ``tensor_parallel`` JSON object: TPs, and on a roofline profile the interconnect, the target step, its
    all-reduce part and the memory each GPU holds."""
    summary = {"target": inputs.tensor_parallel, "draft": inputs.draft_tensor_parallel}
    if profile is not None and profile.memory_gb is not None:
        dtype = profile.check_dtype(inputs.dtype)
        summary.update(parallel.summary(profile, inputs.target, inputs.tensor_parallel, dtype, inputs.batch_size,
                                        inputs.memory_need(dtype)),
                       target_step_s=costs.target_step_s, max_model_len=inputs.planned_max_len)
    return summary


def _notes(inputs: PlanInputs, profile: Profile | None, recommendation: Candidate) -> list:
    notes = []
    measured_tokens = profile.measured_tokens if profile else None
    verified_tokens = (recommendation.gamma + 1) * inputs.batch_size
    if measured_tokens and recommendation.gamma and verified_tokens > measured_tokens:
        notes.append(
            f"verification at γ {recommendation.gamma} × batch {inputs.batch_size} is a step of {verified_tokens} "
            f"tokens, beyond the {measured_tokens} that profile {profile.name!r} measured: its cost is extrapolated "
            f"(the last measured k's cost per parameter held); re-profile with --max-tokens {verified_tokens}"
        )
    if inputs.per_request and measured_tokens and profile.prefill_per_param_token_s is None:
        notes.append(f"profile {profile.name!r} has no prefill measurement: a {inputs.prompt_tokens}-token prefill is "
                     f"its step model extrapolated from steps of ≤ {measured_tokens} tokens; re-run `specplan profile`")
    if inputs.alphas:
        given = inputs.given_alpha()
        lawful = [format_count(n) for n in inputs.draft_params if n not in given]
        notes.append("acceptance given by --alpha for " + ", ".join(f"{format_count(n)} (α {a:g})"
                                                                    for n, a in given.items())
                     + (f"; the SDSL law for {', '.join(lawful)}" if lawful else "")
                     + ": the plan chooses among the given --draft-params only")
    notes += extrapolation_notes(inputs, profile, recommendation)
    if recommendation.gamma and 1.0 < recommendation.speedup < inputs.min_speedup:
        notes.append(f"the best speedup, {recommendation.speedup:.3f}×, is below the {inputs.min_speedup:g}× margin "
                     "(--min-speedup): within the model's error, so the verdict is not to speculate")
    return notes


def extrapolation_notes(inputs: PlanInputs, profile: Profile | None, recommendation: Candidate) -> list:
    """A note for each planned size (target, recommended draft) more than ``EXTRAPOLATION_FACTOR`` outside the
    sizes a measured profile measured, with the distance and, where the profile knows it, the fit's leave-one-out
    error at its extreme sizes (how far off a fitted size was when it was left out)."""
    measured = profile.measured_params if profile else None
    if not measured:
        return []
    low, high = measured
    notes = []
    for role, size in (("target", inputs.target_params), ("draft", recommendation.draft_params)):
        if size > EXTRAPOLATION_FACTOR * high:
            where, factor, edge = "above the largest", size / high, high
        elif size < low / EXTRAPOLATION_FACTOR:
            where, factor, edge = "below the smallest", low / size, low
        else:
            continue
        loo = profile.leave_one_out_error(edge)
        notes.append(f"{role} {format_count(size)} is {factor:.3g}× {where} size profile {profile.name!r} measured "
                     f"({format_count(edge)}): its step times are extrapolated"
                     + (f"; leaving {format_count(edge)} out of the fit missed it by up to {loo:.0%}"
                        if loo is not None else "")
                     + "; profile sizes nearer the plan (--sizes) to measure them")
    return notes
