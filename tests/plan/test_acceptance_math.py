"""The pure acceptance math (specplan/plan/acceptance_math.py): rounds simulated along a text, tokens per round,
the i.i.d. α with the same E, the τ / DAR ↔ α conversions of docs/metrics.md, the per-prompt bootstrap."""

import numpy as np
import pytest

from specplan.plan import acceptance_math as am


def loop_rounds(matches: list, gamma: int) -> list:
    """The sd loop's accepted counts on a greedy text, written out: the first token from the prefill, then rounds
    of k = min(γ, N − emitted − 1) drafts accepted while the per-position match holds (matches[t − 1] for t ≥ 1)."""
    n, emitted, accepted = len(matches) + 1, 1, []
    while emitted < n:
        k = min(gamma, n - emitted - 1)
        j = 0
        while j < k and matches[emitted + j - 1]:
            j += 1
        accepted.append(j)
        emitted += j + 1
    return accepted


def test_greedy_rounds_reproduce_the_loop_exactly():
    matches = [1, 1, 0, 1, 1]  # N = 6; γ = 2: round 1 accepts 2 (emits 3), round 2 has k = 1 and accepts it
    assert am.expected_rounds(np.array(matches, float), 2) == pytest.approx(2.0)
    assert loop_rounds(matches, 2) == [2, 1]
    rng = np.random.default_rng(1)
    for _ in range(50):
        text = list(rng.integers(0, 2, size=int(rng.integers(1, 40))))
        for gamma in am.GAMMAS:
            assert am.expected_rounds(np.array(text, float), gamma) == pytest.approx(len(loop_rounds(text, gamma)))


def test_expected_rounds_by_hand():
    # N = 3, γ = 2: the first round has k = 1; rejected (1 − a1): one more round of k = 0. R = 2 − a1.
    assert am.expected_rounds(np.array([0.3, 0.9]), 2) == pytest.approx(1.7)
    # N = 4, γ = 1: rounds at e = 1 (k = 1), e = 2 or 3 ... R(3) = 1 (k = 0), R(2) = 1 + R(3) = 2 (k = 1: either
    # way e reaches 3 or 4): R(2) = 1 + (1 − a2)·R(3) + a2·R(4) = 1 + (1 − a2); R(1) = 1 + (1 − a1) R(2) + a1 R(3).
    a1, a2, a3 = 0.6, 0.5, 0.8
    r3 = 1.0
    r2 = 1.0 + (1 - a2) * r3
    r1 = 1.0 + (1 - a1) * r2 + a1 * r3
    assert am.expected_rounds(np.array([a1, a2, a3]), 1) == pytest.approx(r1)
    # columns are independent series
    both = am.expected_rounds(np.array([[0.3, 0.6], [0.9, 0.5]]), 2)
    assert both == pytest.approx([1.7, 1.4])


def test_constant_acceptance_gives_the_iid_tokens_per_round():
    accept = np.full(4000, 0.7)
    for gamma in (1, 2, 4, 8):
        e = 4000 / am.expected_rounds(accept, gamma)
        assert e == pytest.approx(float(am.acceptance_length(0.7, gamma)), rel=0.01)


def test_tokens_per_round_pools_a_ratio_of_sums():
    assert am.tokens_per_round([10, 30], [[5.0], [10.0]]) == pytest.approx([40 / 15])


def test_conversions_round_trip_and_the_docs_example():
    for alpha in (0.05, 0.5, 0.8, 0.97):
        for gamma in (1, 3, 4, 8):
            al = am.acceptance_length(alpha, gamma)
            assert am.alpha_from_acceptance_length(al, gamma) == pytest.approx(alpha, abs=1e-9)
            rate = am.draft_acceptance_rate(alpha, gamma)
            assert rate == pytest.approx(alpha * (1 - alpha ** gamma) / (gamma * (1 - alpha)))
            assert am.alpha_from_draft_acceptance_rate(rate, gamma) == pytest.approx(alpha, abs=1e-9)
    assert am.acceptance_length(1.0, 4) == pytest.approx(5.0)
    assert am.alpha_from_acceptance_length(1.0, 4) == pytest.approx(0.0, abs=1e-9)
    assert am.alpha_from_acceptance_length(5.0, 4) == pytest.approx(1.0, abs=1e-6)
    assert am.alpha_from_acceptance_length(1.75, 2) == pytest.approx(0.5)  # 1 + α + α² = 1.75
    assert am.alpha_from_draft_acceptance_rate(0.375, 2) == pytest.approx(0.5)  # (α + α²) / 2
    for bad in (0.5, 5.5, float("nan")):
        with pytest.raises(ValueError):
            am.alpha_from_acceptance_length(bad, 4)
    with pytest.raises(ValueError):
        am.alpha_from_draft_acceptance_rate(1.2, 4)


def test_fit_alpha_recovers_the_iid_alpha():
    gammas = np.array(am.GAMMAS)
    al = np.stack([am.acceptance_length(a, gammas) for a in (0.3, 0.75, 0.9)], axis=1)  # (G, 3)
    assert am.fit_alpha(al) == pytest.approx([0.3, 0.75, 0.9], abs=1e-6)
    assert am.fit_alpha(am.acceptance_length(0.6, gammas)) == pytest.approx(0.6, abs=1e-6)


def test_summarise_and_bootstrap():
    rng = np.random.default_rng(0)
    accept = [rng.uniform(0.5, 0.9, size=(39, 2)) for _ in range(6)]
    rounds = np.stack([am.rounds_by_gamma(a) for a in accept])
    results = am.summarise([(1.0, "lossless"), (1.0, "argmax_draft")], [39] * 6, rounds,
                           np.stack([a.sum(axis=0) for a in accept]), samples=200)
    assert [r["rule"] for r in results] == ["lossless", "argmax_draft"]
    for m, r in enumerate(results):
        assert set(r["tokens_per_round"]) == {str(g) for g in am.GAMMAS}
        assert r["mean_acceptance"] == pytest.approx(np.mean([a[:, m] for a in accept]))
        for g, (low, high) in r["tokens_per_round_interval"].items():
            assert low <= r["tokens_per_round"][g] <= high
        assert r["alpha_interval"][0] <= r["alpha"] <= r["alpha_interval"][1]
        assert 0 < r["alpha"] < 1
        e = [r["tokens_per_round"][str(g)] for g in am.GAMMAS]
        assert e == sorted(e)  # more drafts per round never emit fewer tokens per round
