"""Acceptance along a text, in pure numpy: the speculative loop's rounds simulated from per-position acceptance
probabilities, the i.i.d. α with the same tokens per round, conversions between the acceptance figures engines
print (docs/metrics.md, Conversions), and a per-prompt bootstrap.

Notation: a text of N new tokens, index 0 … N−1. Token 0 comes from the target's prefill (not a round, as in
``sd``); ``accept[t − 1]`` is the chance that a draft token proposed for index t (t ≥ 1) is accepted, given the
text before t. A round starting after e emitted tokens proposes k = min(γ, N − e − 1) drafts (the loop never
overshoots), accepts a run of j ≤ k of them and emits j + 1 tokens (the correction or bonus token).
"""

import numpy as np

from specplan.plan.theory import expected_tokens_per_round

GAMMAS = tuple(range(1, 9))


def expected_rounds(accept: np.ndarray, gamma: int) -> np.ndarray:
    """Expected number of rounds the loop runs over the text, for every column of ``accept`` ((N − 1,) or
    (N − 1, M) probabilities in [0, 1]). With 0/1 entries (greedy) this is exactly the loop's round count.

    Backward over where a round starts: R(N) = 0, R(e) = 1 + Σ_j P_e(j) R(e + j + 1), with
    P_e(j) = a_e ⋯ a_{e+j−1} (1 − a_{e+j}) for j < k and a_e ⋯ a_{e+k−1} for j = k."""
    a = np.asarray(accept, dtype=float)
    a = a.reshape(len(a), -1)
    n = len(a) + 1  # tokens in the text
    rounds = np.zeros((n + 1, a.shape[1]))
    for e in range(n - 1, 0, -1):
        k = min(gamma, n - e - 1)
        run = a[e - 1:e - 1 + k]  # acceptance of drafts for indices e … e+k−1
        reach = np.vstack([np.ones((1, a.shape[1])), np.cumprod(run, axis=0)])  # P(j ≥ i), i = 0 … k
        stop = reach[:-1] * (1.0 - run)  # P(j = i), i < k
        after = rounds[e + 1:e + k + 2]  # R(e + j + 1), j = 0 … k
        rounds[e] = 1.0 + (stop * after[:-1]).sum(axis=0) + reach[-1] * after[-1]
    return rounds[1] if np.ndim(accept) > 1 else rounds[1, 0]


def rounds_by_gamma(accept: np.ndarray, gammas=GAMMAS) -> np.ndarray:
    """(G, M) expected rounds for each γ of ``gammas`` and each column of (N − 1, M) ``accept``."""
    a = np.asarray(accept, dtype=float).reshape(len(accept), -1)
    return np.stack([expected_rounds(a, g) for g in gammas])


def tokens_per_round(tokens: np.ndarray, rounds: np.ndarray) -> np.ndarray:
    """Pooled tokens per round over prompts: Σ tokens / Σ rounds (report's acceptance length, a ratio of sums).
    ``tokens`` (P,) new tokens emitted by rounds per prompt (N − 1), ``rounds`` (P, ...) expected rounds."""
    tokens = np.asarray(tokens, dtype=float)
    rounds = np.asarray(rounds, dtype=float)
    total = rounds.sum(axis=0)
    return np.where(total > 0, tokens.sum() / np.where(total > 0, total, 1.0), np.nan)


def acceptance_length(alpha, gamma):
    """AL(α, γ) = (1 − α^(γ+1)) / (1 − α), γ + 1 at α = 1 (docs/metrics.md): the tokens per round of
    ``theory.expected_tokens_per_round``; arrays broadcast."""
    return np.asarray(expected_tokens_per_round(alpha, gamma), dtype=float)


def draft_acceptance_rate(alpha, gamma):
    """E[DAR] = α (1 − α^γ) / (γ (1 − α)) = (AL − 1) / γ under the i.i.d. model with γ drafts every round."""
    return (acceptance_length(alpha, gamma) - 1.0) / np.asarray(gamma, dtype=float)


def alpha_from_acceptance_length(al, gamma):
    """The i.i.d. α whose AL(α, γ) is ``al`` (1 ≤ al ≤ γ + 1; bisection, AL increases with α)."""
    al = np.asarray(al, dtype=float)
    gamma = np.asarray(gamma, dtype=float)
    if np.any(~np.isfinite(al)) or np.any(al < 1.0) or np.any(al > gamma + 1.0):
        raise ValueError("an acceptance length at γ lies in [1, γ + 1]")
    low, high = np.zeros(np.broadcast(al, gamma).shape), np.ones(np.broadcast(al, gamma).shape)
    for _ in range(60):
        mid = 0.5 * (low + high)
        below = acceptance_length(mid, gamma) < al
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    result = 0.5 * (low + high)
    return float(result) if result.ndim == 0 else result


def alpha_from_draft_acceptance_rate(rate, gamma):
    """The i.i.d. α whose E[DAR] at γ is ``rate`` (0 ≤ rate ≤ 1): AL = 1 + γ · rate, then as an AL."""
    rate = np.asarray(rate, dtype=float)
    if np.any(~np.isfinite(rate)) or np.any(rate < 0.0) or np.any(rate > 1.0):
        raise ValueError("a draft acceptance rate lies in [0, 1]")
    return alpha_from_acceptance_length(1.0 + np.asarray(gamma, dtype=float) * rate, gamma)


def fit_alpha(al_by_gamma: np.ndarray, gammas=GAMMAS) -> np.ndarray:
    """The i.i.d. α with the same tokens per round: least squares of AL(α, γ) against ``al_by_gamma`` over
    ``gammas`` (report's SDSL fit), for (G,) or (G, ...) arrays; golden-section search on [0, 1]."""
    al = np.asarray(al_by_gamma, dtype=float)
    g = np.asarray(gammas, dtype=float).reshape((-1,) + (1,) * (al.ndim - 1))

    def loss(alpha):
        return ((acceptance_length(alpha[None], g) - al) ** 2).sum(axis=0)

    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    low, high = np.zeros(al.shape[1:]), np.ones(al.shape[1:])
    for _ in range(80):
        x1, x2 = high - ratio * (high - low), low + ratio * (high - low)
        left = loss(x1) < loss(x2)
        low, high = np.where(left, low, x1), np.where(left, x2, high)
    result = 0.5 * (low + high)
    return float(result) if result.ndim == 0 else result


def bootstrap_indices(prompts: int, samples: int = 1000, seed: int = 0) -> np.ndarray:
    """(samples, prompts) prompt indices drawn with replacement: the per-prompt bootstrap's resamples."""
    return np.random.default_rng(seed).integers(0, prompts, size=(samples, prompts))


def bootstrap_interval(values: np.ndarray, confidence: float = 0.95) -> tuple:
    """(low, high) percentile interval over the first axis (the resamples)."""
    tail = 100.0 * (1.0 - confidence) / 2.0
    return np.percentile(values, tail, axis=0), np.percentile(values, 100.0 - tail, axis=0)


def bootstrap_tokens_per_round(tokens: np.ndarray, rounds: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """(samples, ...) pooled tokens per round of each resample of prompts (``rounds`` (P, ...))."""
    tokens = np.asarray(tokens, dtype=float)
    rounds = np.asarray(rounds, dtype=float)
    return tokens[indices].sum(axis=1).reshape((-1,) + (1,) * (rounds.ndim - 1)) / rounds[indices].sum(axis=1)


def summarise(columns: list, tokens, rounds, accepted_sum, gammas=GAMMAS, samples: int = 1000,
              seed: int = 0) -> list:
    """One result per (temperature, rule) of ``columns``: tokens per round by γ, the i.i.d. α with the same E and
    the mean per-position acceptance, each with a 95% per-prompt bootstrap interval.

    tokens (P,) new tokens per prompt emitted by rounds (N − 1); rounds (P, G, M) expected rounds; accepted_sum
    (P, M) per-position acceptance summed over the prompt's positions."""
    tokens = np.asarray(tokens, dtype=float)
    rounds = np.asarray(rounds, dtype=float)
    accepted_sum = np.asarray(accepted_sum, dtype=float)
    al = tokens_per_round(tokens, rounds)  # (G, M)
    alpha = np.atleast_1d(fit_alpha(al, gammas))
    mean_accept = accepted_sum.sum(axis=0) / tokens.sum()
    indices = bootstrap_indices(len(tokens), samples, seed)
    al_b = bootstrap_tokens_per_round(tokens, rounds, indices)  # (B, G, M)
    alpha_b = np.atleast_2d(fit_alpha(np.moveaxis(al_b, 0, 1), gammas))  # (B, M)
    mean_b = accepted_sum[indices].sum(axis=1) / tokens[indices].sum(axis=1, keepdims=True)
    intervals = {"al": bootstrap_interval(al_b), "alpha": bootstrap_interval(alpha_b),
                 "mean": bootstrap_interval(mean_b)}
    results = []
    for m, (temperature, rule) in enumerate(columns):
        def pair(name, *index):
            low, high = intervals[name]
            return [float(low[index]), float(high[index])]

        results.append({
            "temperature": float(temperature), "rule": rule,
            "alpha": float(alpha[m]), "alpha_interval": pair("alpha", m),
            "mean_acceptance": float(mean_accept[m]), "mean_acceptance_interval": pair("mean", m),
            "tokens_per_round": {str(g): float(al[i, m]) for i, g in enumerate(gammas)},
            "tokens_per_round_interval": {str(g): pair("al", i, m) for i, g in enumerate(gammas)},
        })
    return results
