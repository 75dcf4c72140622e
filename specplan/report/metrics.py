"""Acceptance and speed metrics from raw per-round counts, one formula each (``docs/metrics.md``).

Per verification round s: k_s = drafted tokens, j_s = accepted draft tokens (0..k_s); the round emits j_s + 1
tokens. Pure functions on plain sequences; no torch. Each returns None where its data is empty.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

# The formula behind each metric, kept beside the value in JSON output.
FORMULAS = {
    "acceptance_length": "mean over rounds of (j_s + 1)",
    "mean_accepted": "mean over rounds of j_s",
    "draft_acceptance_rate": "sum j_s / sum k_s",
    "per_position_unconditional": "#(j_s >= i) / #(k_s >= i)",
    "per_position_conditional": "#(j_s >= i) / #(j_s >= i-1 and k_s >= i)",
    "alpha_iid": "sum j_s / sum examined_s, examined_s = j_s + 1 if j_s < k_s else k_s",
    "alpha_sdsl_fit": "least squares of AL(g) = (1 - a^(g+1)) / (1 - a) over the measured g",
    "speedup": "geometric mean over paired runs of (AR s/token) / (SD s/token), 95% t-interval on the logs",
    "cost_ratio": "t_draft(1 token) / t_target(1 token)",
    "verify_cost_ratio": "t_target(g+1 tokens) / t_target(1 token)",
    "tokens_per_s": "sum new tokens / sum wall time",
}


def acceptance_length(accepted: Sequence[int]) -> float | None:
    """AL = mean over rounds of (j_s + 1) (vLLM mean acceptance length, Spec-Bench MAT, EAGLE τ)."""
    return sum(accepted) / len(accepted) + 1.0 if accepted else None


def mean_accepted(accepted: Sequence[int]) -> float | None:
    """E[j] = mean over rounds of j_s = AL − 1 (gpt-fast "Mean Accepted")."""
    return sum(accepted) / len(accepted) if accepted else None


def draft_acceptance_rate(drafted: Sequence[int], accepted: Sequence[int]) -> float | None:
    """DAR = Σ j_s / Σ k_s (vLLM and llama.cpp "draft acceptance rate")."""
    total = sum(drafted)
    return sum(accepted) / total if total else None


def per_position_unconditional(drafted: Sequence[int], accepted: Sequence[int], gamma: int) -> list:
    """pos_i = #(rounds with j_s ≥ i) / #(rounds with k_s ≥ i), i = 1..γ (vLLM per-position acceptance)."""
    rates = []
    for i in range(1, gamma + 1):
        offered = sum(1 for k in drafted if k >= i)
        rates.append(sum(1 for k, j in zip(drafted, accepted) if k >= i and j >= i) / offered if offered else None)
    return rates


def per_position_conditional(drafted: Sequence[int], accepted: Sequence[int], gamma: int) -> list:
    """cond_i = #(j_s ≥ i) / #(j_s ≥ i−1 and k_s ≥ i), i = 1..γ (EAGLE n-α, NeMo conditional rate)."""
    rates = []
    for i in range(1, gamma + 1):
        reached = sum(1 for k, j in zip(drafted, accepted) if j >= i - 1 and k >= i)
        rates.append(sum(1 for k, j in zip(drafted, accepted) if k >= i and j >= i) / reached if reached else None)
    return rates


def alpha_iid(drafted: Sequence[int], accepted: Sequence[int]) -> float | None:
    """α̂ = accepted / examined drafts, a round accepting j < k having examined j + 1 drafts and a round accepting
    all k having examined k: the maximum-likelihood α under the i.i.d. model (Leviathan α)."""
    examined = examined_drafts(drafted, accepted)
    return sum(accepted) / examined if examined else None


def examined_drafts(drafted: Sequence[int], accepted: Sequence[int]) -> int:
    """Drafts the target examined: j_s + 1 in a round that rejected one, k_s in a round that accepted all."""
    return sum(j + 1 if j < k else k for k, j in zip(drafted, accepted))


def expected_acceptance_length(alpha: float, gamma: int) -> float:
    """AL(γ) = (1 − α^(γ+1)) / (1 − α) under the i.i.d. model (docs/theory.md §1)."""
    return gamma + 1.0 if alpha >= 1.0 else (1.0 - alpha ** (gamma + 1)) / (1.0 - alpha)


def alpha_sdsl_fit(gammas: Sequence[int], acceptance_lengths: Sequence[float]) -> float | None:
    """α̂ by least squares of AL(γ) = (1 − α^(γ+1))/(1 − α) over the measured γ (SDSL App. B)."""
    if not gammas:
        return None
    from scipy.optimize import minimize_scalar

    def loss(alpha: float) -> float:
        return sum((expected_acceptance_length(alpha, g) - al) ** 2 for g, al in zip(gammas, acceptance_lengths))

    return float(minimize_scalar(loss, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-9}).x)


@dataclass(frozen=True)
class Interval:
    value: float
    low: float | None  # None with fewer than two pairs
    high: float | None


def paired_speedup(ar_s_per_token: Sequence[float], sd_s_per_token: Sequence[float],
                   confidence: float = 0.95) -> Interval | None:
    """Speedup = geometric mean over paired runs of (AR s/token) / (SD s/token), with a t-interval on the log
    ratios (Spec-Bench speedup, paired by prompt and repeat)."""
    logs = [_log_ratio(a, s) for a, s in zip(ar_s_per_token, sd_s_per_token) if a > 0 and s > 0]
    if not logs:
        return None
    n = len(logs)
    mean = sum(logs) / n
    if n < 2:
        return Interval(_exp(mean), None, None)
    from scipy.stats import t

    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
    half = t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return Interval(_exp(mean), _exp(mean - half), _exp(mean + half))


def _log_ratio(a: float, s: float) -> float:
    """log(a / s), also where a / s leaves the float range (a subnormal time)."""
    ratio = a / s
    return math.log(ratio) if 0 < ratio < math.inf else math.log(a) - math.log(s)


def _exp(x: float) -> float:
    """exp, inf beyond the float range (a run timed at a subnormal number of seconds; JSON writes it as null)."""
    return math.exp(x) if x < 709.0 else math.inf
