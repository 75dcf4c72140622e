"""Speculative-decoding math: tokens per round, speedup and the optimal lookahead γ*.

Pure functions, no torch; the planner calls them on numpy arrays (one value per draft, or drafts × γ), and a
scalar in gives a float out. Notation of the papers inside this module only: α = expected acceptance,
γ = lookahead (draft tokens per round), c = draft step time / target step time. Section references are to
``docs/theory.md`` (§1 Leviathan et al. 2023, arXiv 2211.17192; §2 and §4 SDSL, arXiv 2603.11053).
"""

from dataclasses import dataclass

import numpy as np


def _out(value):
    """A float for a scalar result, the array otherwise."""
    return float(value) if np.ndim(value) == 0 else value


def expected_tokens_per_round(alpha, gamma):
    """E = (1 − α^(γ+1)) / (1 − α): tokens emitted per verification round (docs/theory.md §1); γ+1 as α → 1."""
    alpha, gamma = np.asarray(alpha, dtype=float), np.asarray(gamma, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        tokens = (1.0 - alpha ** (gamma + 1.0)) / (1.0 - alpha)
    return _out(np.where(alpha >= 1.0, gamma + 1.0, tokens))


def speedup_ratio(alpha, gamma, c):
    """S = (1 − α^(γ+1)) / ((1 − α)(γc + 1)): walltime speedup when verifying γ+1 tokens costs one target step
    (docs/theory.md §1, Leviathan et al. Theorem 3.8)."""
    return _out(np.asarray(expected_tokens_per_round(alpha, gamma)) / (np.asarray(gamma) * c + 1.0))


def speedup_latency(
    alpha: float, gamma: int, target_step_s: float, draft_step_s: float, verify_step_s: float
) -> float:
    """S = E · t_target(1) / (γ · t_draft(1) + t_verify(γ+1)): speedup from measured or modelled latencies
    (docs/theory.md §1). Reduces to :func:`speedup_ratio` when t_verify(γ+1) = t_target(1)."""
    return expected_tokens_per_round(alpha, gamma) * target_step_s / (gamma * draft_step_s + verify_step_s)


def lambertw_m1_from_log(u):
    """The lower real branch W₋₁(z) given u = ln(−z), for z ∈ [−1/e, 0), i.e. u ≤ −1 (docs/theory.md §2, Numerics).

    Solves w + ln(−w) = u for w ≤ −1 by Newton's method (derivative 1 + 1/w). Working with u = ln(−z) keeps the
    result finite where z itself underflows float64 (z ≈ −1e-46 and far smaller for large M/N).
    Accepts a float or a numpy array; returns the same shape.
    """
    u = np.asarray(u, dtype=float)
    if np.any(u > -1.0 + 1e-9):
        raise ValueError("lambertw_m1_from_log needs u = ln(-z) <= -1")
    u = np.minimum(u, -1.0)
    # Start near the branch point with the series w ≈ −1 − √(2(−1 − u)), elsewhere with w₀ = u − ln(−u).
    near = u > -2.0
    w = np.where(near, -1.0 - np.sqrt(2.0 * (-1.0 - u)), u - np.log(-np.minimum(u, -2.0)))
    w = np.minimum(w, -1.0)
    for _ in range(100):
        g = w + np.log(-w) - u
        dg = 1.0 + 1.0 / w
        step = np.where(dg > 1e-300, g / np.where(dg > 1e-300, dg, 1.0), 0.0)
        w_next = np.minimum(w - step, -1.0)
        if np.all(np.abs(w_next - w) <= 1e-15 * np.abs(w)):
            w = w_next
            break
        w = w_next
    return float(w) if w.ndim == 0 else w


def gamma_star_real(alpha, c):
    """Real-valued optimal lookahead maximising (1 − α^(γ+1)) / (1 + cγ) (docs/theory.md §2):

    z = −α^(1/c − 1)/e, W = W₋₁(z), γ* = (1 + W)/ln α − 1/c, computed in log space with u = (1/c − 1)·ln α − 1.
    May be below 1 (or negative) where speculation does not pay.
    """
    alpha, c = np.asarray(alpha, dtype=float), np.asarray(c, dtype=float)
    if not np.all((0.0 < alpha) & (alpha < 1.0)):
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not np.all((0.0 < c) & (c < 1.0)):
        raise ValueError(f"c must be in (0, 1), got {c}")
    log_alpha = np.log(alpha)
    w = lambertw_m1_from_log((1.0 / c - 1.0) * log_alpha - 1.0)
    return _out((1.0 + w) / log_alpha - 1.0 / c)


@dataclass(frozen=True)
class GammaChoice:
    """An integer lookahead and the speedup it gives; gamma = 0 means "do not speculate" (speedup 1)."""

    gamma: int
    speedup: float

    @property
    def pays(self) -> bool:
        return self.gamma >= 1 and self.speedup > 1.0


def best_gamma_by_search(alpha: float, speedup_of_gamma, gamma_max: int) -> GammaChoice:
    """Integer γ in 1..gamma_max maximising an arbitrary ``speedup_of_gamma(γ)`` (used when the verification cost
    is not one target step, so the closed form does not apply). Returns γ = 0 where no γ beats 1."""
    best = GammaChoice(0, 1.0)
    for gamma in range(1, gamma_max + 1):
        speedup = speedup_of_gamma(gamma)
        if speedup > best.speedup:
            best = GammaChoice(gamma, speedup)
    return best
