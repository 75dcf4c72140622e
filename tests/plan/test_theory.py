"""The speculative-decoding math of docs/theory.md §1–2, against its check values, scipy and brute force."""

import math
import random

import numpy as np
import pytest
from scipy.special import lambertw

from specplan.plan import planner, theory
from theory_helpers import tokens_per_flop


def speedup_at_gamma_star(alpha: float, c: float) -> float:
    """S* = ln α / (c (1 − α) W) at the real-valued γ* (docs/theory.md §2)."""
    w = theory.lambertw_m1_from_log((1.0 / c - 1.0) * math.log(alpha) - 1.0)
    return math.log(alpha) / (c * (1.0 - alpha) * w)


def planned_gamma(alpha: float, c: float, gamma_max: int) -> planner.Candidate:
    """The planner's integer γ for a draft of cost ratio c and acceptance α under the ratio form (flops model)."""
    target = 1e9
    inputs = planner.PlanInputs(target_params=target, cost_model="flops", draft_params=(c * target,), alpha=(alpha,),
                                gamma_max=gamma_max)
    return planner.evaluate_draft(inputs, c * target)

# docs/theory.md §2: real-valued γ* for c = N/M.
GAMMA_TABLE = {
    0.5: [8.45, 6.89, 5.21, 3.74, 3.09, 2.25],
    0.7: [15.53, 12.52, 9.34, 6.64, 5.48, 4.02],
    0.9: [43.70, 33.94, 24.10, 16.37, 13.29, 9.65],
}
COSTS = [0.001, 0.003, 0.01, 0.03, 0.05, 0.1]


@pytest.mark.parametrize("alpha", GAMMA_TABLE)
def test_gamma_star_matches_the_sdsl_table(alpha):
    for c, expected in zip(COSTS, GAMMA_TABLE[alpha]):
        assert theory.gamma_star_real(alpha, c) == pytest.approx(expected, abs=0.01)


def test_gamma_star_maximises_the_ratio_form():
    # The derivative of f(γ) = (1 − α^(γ+1)) / (1 + cγ) vanishes at γ*: f there beats its neighbours.
    for alpha, c in [(0.6, 0.02), (0.8, 0.005), (0.95, 0.05)]:
        g = theory.gamma_star_real(alpha, c)
        f = lambda x: theory.speedup_ratio(alpha, x, c)  # noqa: E731
        assert f(g) > f(g - 0.05) and f(g) > f(g + 0.05)
        assert speedup_at_gamma_star(alpha, c) == pytest.approx(f(g), rel=1e-9)


def test_integer_gamma_equals_brute_force_for_random_alpha_and_c():
    rng = random.Random(20261122)
    for _ in range(300):
        alpha, c = rng.uniform(0.05, 0.97), 10 ** rng.uniform(-4, -0.3)
        choice = planned_gamma(alpha, c, gamma_max=200)
        brute = max(range(0, 201), key=lambda g: theory.speedup_ratio(alpha, g, c))
        assert choice.gamma == brute, (alpha, c)
        assert choice.speedup == pytest.approx(theory.speedup_ratio(alpha, brute, c))


def test_does_not_pay_when_alpha_at_most_c():
    none = planned_gamma(0.3, 0.3, 10)
    assert (none.gamma, none.speedup) == (0, 1.0)
    assert planned_gamma(0.2, 0.5, 10).gamma == 0
    # Just above c, γ = 1 pays (1 + α)/(1 + c) (docs/theory.md §1).
    choice = planned_gamma(0.31, 0.3, 10)
    assert choice.gamma >= 1 and choice.speedup >= (1 + 0.31) / (1 + 0.3) - 1e-12


def test_integer_gamma_is_capped_by_gamma_max():
    assert planned_gamma(0.9, 0.001, gamma_max=8).gamma == 8


def test_theory_is_vectorised_as_the_planner_calls_it():
    alpha, c = np.array([0.5, 0.7, 0.9]), np.array([0.01, 0.03, 0.1])
    gammas = theory.gamma_star_real(alpha, c)
    assert gammas.shape == (3,) and gammas.tolist() == [theory.gamma_star_real(a, x) for a, x in zip(alpha, c)]
    table = theory.expected_tokens_per_round(alpha[:, None], np.arange(1, 5)[None, :])
    assert table.shape == (3, 4) and table[1, 2] == theory.expected_tokens_per_round(0.7, 3)
    assert isinstance(theory.speedup_ratio(0.7, 4, 0.05), float)


def test_log_space_lambert_w_agrees_with_scipy_where_scipy_works():
    for z in [-0.36, -0.3, -0.1, -1e-3, -1e-20, -1e-150, -1e-300]:
        assert theory.lambertw_m1_from_log(math.log(-z)) == pytest.approx(lambertw(z, -1).real, rel=1e-10)


def test_log_space_lambert_w_near_the_branch_point():
    # scipy loses digits within 1e-12 of −1/e; the defining equation w·e^w = z decides instead.
    z = -1 / math.e + 1e-12
    w = theory.lambertw_m1_from_log(math.log(-z))
    assert w < -1 and w * math.exp(w) == pytest.approx(z, abs=1e-15)
    assert w == pytest.approx(-1 - math.sqrt(2 * math.e * 1e-12), rel=1e-6)  # series w ≈ −1 − √(2(ez + 1))


def test_log_space_lambert_w_stays_finite_where_scipy_underflows():
    # M/N = 1e5 at α = 0.6: u = (1/c − 1)·ln α − 1 ≈ −5.1e4, so z = −e^u underflows to −0.
    alpha, c = 0.6, 1e-5
    u = (1 / c - 1) * math.log(alpha) - 1
    assert math.exp(u) == 0.0 and not np.isfinite(lambertw(-math.exp(u), -1).real)
    w = theory.lambertw_m1_from_log(u)
    assert math.isfinite(w) and w + math.log(-w) == pytest.approx(u, rel=1e-12)
    for ratio in (1e5, 1e6, 1e8):
        gamma = theory.gamma_star_real(alpha, 1 / ratio)
        assert math.isfinite(gamma) and gamma > 1


def test_lambert_w_is_vectorised():
    u = np.array([-1.0, -2.0, -50.0, -1e4])
    w = theory.lambertw_m1_from_log(u)
    assert w.shape == u.shape
    assert np.allclose(w + np.log(-w), u)


def test_expected_tokens_and_speedup_forms():
    assert theory.expected_tokens_per_round(0.5, 3) == pytest.approx(1 + 0.5 + 0.25 + 0.125)
    assert theory.expected_tokens_per_round(1.0, 4) == 5.0
    # Latency form with t_verify = t_target reduces to the ratio form.
    ratio = theory.speedup_ratio(0.7, 4, 0.05)
    assert theory.speedup_latency(0.7, 4, 0.02, 0.001, 0.02) == pytest.approx(ratio)
    # A verification pass costing twice a target step halves nothing but the denominator's target part.
    e = theory.expected_tokens_per_round(0.7, 4)
    assert theory.speedup_latency(0.7, 4, 1.0, 0.05, 2.0) == pytest.approx(e / (4 * 0.05 + 2.0))


def test_best_gamma_by_search_uses_the_given_speedup():
    curve = {1: 1.2, 2: 1.5, 3: 1.4}
    assert theory.best_gamma_by_search(0.5, curve.get, 3) == theory.GammaChoice(2, 1.5)
    assert theory.best_gamma_by_search(0.5, lambda g: 0.9, 3) == theory.GammaChoice(0, 1.0)


def test_tokens_per_flop_is_speedup_over_two_m():
    m, n, alpha, gamma = 70e9, 300e6, 0.66, 10
    assert tokens_per_flop(alpha, gamma, m, n) == pytest.approx(
        theory.speedup_ratio(alpha, gamma, n / m) / (2 * m))
