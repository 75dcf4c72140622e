"""The cost model in target steps, and acceptance per draft: what a speculative round costs and emits.

Per draft: c(N) (a draft step), the first-step extra x(N) and the draft's prefill; per γ: the verification cost
v(γ+1) = t_target(γ+1) / t_target(1) and the round overhead o; the speedup table over drafts × γ (docs/theory.md §1,
§5). Latencies come from ``plan/latency.py`` for any profile kind; the flops cost model (no profile) is the paper's
c = N/M with verification charged as one target step.
"""

from dataclasses import dataclass

import numpy as np

from specplan.errors import SpecplanError
from specplan.plan import latency, temperature, theory
from specplan.plan.architecture import Architecture, rule_architecture
from specplan.plan.inputs import PlanInputs
from specplan.plan.scaling import ALPHA_CEIL, ALPHA_FLOOR, AlphaLaw, perplexity


class Costs:
    """The cost model in units of an AR token t_target(1): per draft c(N), the first-step extra x(N) and the draft's
    prefill; the verification cost v(k) = t_target(k) / t_target(1), the round overhead o and the target's
    prefill. A measured profile's loop terms (ℓ per step in a decode loop, o per round, x from its cold steps) are
    charged as a decode loop pays them: t_target(1) + ℓ per AR token, t_draft(1) + ℓ per draft step plus x once a
    round, t_target(γ+1) + ℓ + o per verification (measure.loop_profile, docs/theory.md §5)."""

    def __init__(self, inputs: PlanInputs):
        self.inputs = inputs
        self.profile = profile = inputs.profile
        self.loop_step_s = profile.loop_step_overhead_s if profile else 0.0
        gammas = np.arange(1, inputs.gamma_max + 1)
        target, tp = inputs.target, inputs.tensor_parallel or 1
        self.target_prefill = 0.0
        if profile is None:  # flops: c = N/M, verification charged as one target pass (docs/theory.md §5)
            self.target_step_s = None
            self.verify_ratio = np.ones_like(gammas, dtype=float)
            self.round_ratio = 0.0
        else:
            self.target_step_s = self.step_s(target, 1, tp)
            self.verify_ratio = np.array([self.step_s(target, g + 1, tp) for g in gammas]) / self.target_step_s
            self.round_ratio = self.round_overhead_s(gammas) / self.target_step_s
            self.target_prefill = self.prefill_s(target, tp) / self.target_step_s

    def round_overhead_s(self, gammas: np.ndarray):
        """o per γ: one figure for every γ, or, on a profile that measured rounds (``engine: vllm``), o(γ, B)."""
        at = getattr(self.profile, "round_overhead_at", None)
        if at is None:
            return self.profile.round_overhead_s
        return np.array([at(int(g), self.inputs.batch_size) for g in gammas])

    def round_ratio_at(self, gamma: int) -> float:
        """o / t_target(1) at ``gamma`` (at γ 1 when ``gamma`` is 0, do not speculate)."""
        ratio = np.atleast_1d(self.round_ratio)
        return float(ratio[min(max(gamma, 1), ratio.size) - 1])

    def step_s(self, arch: Architecture, tokens: int, tp: int) -> float:
        i = self.inputs
        isolated = latency.step_time_s(self.profile, arch, tokens, i.batch_size, i.dtype, i.context_tokens, tp,
                                       i.aspect_ratio)
        return isolated + self.loop_step_s

    def prefill_s(self, arch: Architecture, tp: int) -> float:
        """Seconds of one request's prefill (0 for steady-state plans)."""
        i = self.inputs
        if not i.per_request:
            return 0.0
        return latency.prefill_time_s(self.profile, arch, i.prompt_tokens, i.batch_size, i.dtype, tp, i.aspect_ratio)

    def drafts(self, draft_params: np.ndarray) -> "DraftCosts":
        return self.draft_architectures([rule_architecture(n, self.inputs.aspect_ratio) for n in draft_params])

    def draft_architectures(self, drafts: list) -> "DraftCosts":
        """c, x and the prefill for draft architectures (real checkpoints or the shape rule's), at the draft tensor
        parallelism."""
        if self.profile is None:
            c = np.array([d.params_active for d in drafts]) / self.inputs.target.params_active
            return DraftCosts(c, np.zeros_like(c), np.zeros_like(c))
        tp = self.inputs.draft_tensor_parallel
        return DraftCosts(np.array([self.step_s(d, 1, tp) for d in drafts]) / self.target_step_s,
                           np.array([self.profile.cold_step_extra_s(d.params_active) for d in drafts])
                           / self.target_step_s,
                           np.array([self.prefill_s(d, tp) for d in drafts]) / self.target_step_s)

    @property
    def round_cost(self) -> np.ndarray:
        """v(γ+1) + o per γ: what a round costs besides its draft steps, in target steps."""
        return self.verify_ratio + self.round_ratio

    def speedup_table(self, alpha: np.ndarray, drafts: "DraftCosts") -> np.ndarray:
        """Speedup for every draft (rows) and γ = 1..γmax (columns), docs/theory.md §1 and §5: a round costs
        R = γc + x + v(γ+1) + o target steps and emits E(α, γ) tokens; steady state S = E / R; per request of P
        prompt and n new tokens, S = (p_M + n − 1) / (p_M + p_N + (n − 1)·R/E) with the prefills p in target steps."""
        gammas = np.arange(1, self.round_cost.size + 1)[None, :]
        a = alpha[:, None]
        tokens = theory.expected_tokens_per_round(a, gammas)  # (drafts, γmax)
        round_cost = gammas * drafts.c[:, None] + drafts.first_step[:, None] + self.round_cost[None, :]
        if not self.inputs.per_request:
            return tokens / round_cost
        decoded = self.inputs.new_tokens - 1  # the first new token comes out of the target's prefill
        return (self.target_prefill + decoded) / (self.target_prefill + drafts.prefill[:, None]
                                                  + decoded * round_cost / tokens)


@dataclass(frozen=True)
class DraftCosts:
    """Per draft, in target steps: c (a draft step in the loop), the first-step extra x, the prompt's prefill."""

    c: np.ndarray
    first_step: np.ndarray
    prefill: np.ndarray


def acceptance(inputs: PlanInputs, draft_params: np.ndarray) -> np.ndarray:
    """α per draft: the one given for it with --alpha, else the SDSL law (docs/theory.md §3) adjusted to the
    sampling temperature (plan/temperature.py)."""
    target_ppl = perplexity(inputs.target_params, inputs.target_tokens)
    law = inputs.alpha_law
    alpha = law.a * np.array([perplexity(n, inputs.draft_tokens) for n in draft_params]) + law.b * target_ppl + law.c
    check_law_alpha(law, draft_params, alpha)
    alpha = np.clip(temperature.adjust(alpha, inputs.temperature), ALPHA_FLOOR, ALPHA_CEIL)
    given = inputs.given_alpha()
    return np.array([given.get(float(n), a) for n, a in zip(draft_params, alpha)], dtype=float)


def check_law_alpha(law: AlphaLaw, draft_params: np.ndarray, alpha: np.ndarray) -> None:
    """α is a probability below 1: a law that predicts α ≥ 1 (or NaN) for any draft size is wrong there, and
    clipping it would print a speedup of γ+1. Values ≤ 0 (tiny drafts) mean "does not pay" and are floored."""
    bad = ~(alpha < 1.0)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise SpecplanError(f"acceptance law {law.source} (a={law.a:g}, b={law.b:g}, c={law.c:g}) gives "
                            f"α = {alpha[i]:.4g} for a {draft_params[i]:.4g}-parameter draft: α must be in (0, 1)")
