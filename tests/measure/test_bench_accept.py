"""The acceptance rule on hand-written distributions, and a chi-square test that speculative sampling is lossless."""

import pytest
import torch
from scipy.stats import chisquare

from specplan.measure.engines.accept import accept
from specplan.measure.engines.probs import Sampling, probabilities, sample


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_identical_distributions_accept_every_draft():
    p = torch.tensor([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    for seed in range(50):
        j, _ = accept(p, p[:2], torch.tensor([1, 0]), _gen(seed))
        assert j == 2


def test_greedy_rejects_at_first_argmax_mismatch_and_corrects_with_the_target_argmax():
    p = probabilities(torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 9.0]]), Sampling())
    q = probabilities(torch.tensor([[0.0, 7.0, 0.0], [0.0, 2.0, 0.0]]), Sampling())
    j, token = accept(p, q, torch.tensor([1, 1]), _gen())
    assert (j, int(token)) == (1, 0)  # x1 = 1 agrees with p's argmax; x2 = 1 does not, p says 0


def test_all_accepted_gives_the_bonus_token_from_the_last_position():
    p = probabilities(torch.tensor([[4.0, 0.0], [0.0, 4.0]]), Sampling())
    j, token = accept(p, p[:1], torch.tensor([0]), _gen())
    assert (j, int(token)) == (1, 1)


def test_acceptance_probability_is_p_over_q_and_rejection_samples_the_residual():
    p = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    q = torch.tensor([[1.0, 0.0]])
    generator, outcomes = _gen(3), []
    for _ in range(4000):
        j, token = accept(p, q, torch.tensor([0]), generator)
        outcomes.append((j, int(token)))
    rejected = [t for j, t in outcomes if j == 0]
    assert abs(len(rejected) / len(outcomes) - 0.5) < 0.03  # accept with p(0)/q(0) = 0.5
    assert set(rejected) == {1}  # residual max(0, p − q) = (0, 0.5): only token 1


@pytest.mark.parametrize("gamma", [1, 3])
def test_sampled_speculative_tokens_follow_the_target_distribution(gamma):
    """Given the first i drafts were accepted, the (i+1)-th emitted token must follow p_{i+1} exactly."""
    generator = _gen(1234)
    p = torch.softmax(torch.randn(gamma + 1, 5, generator=_gen(7)) * 1.5, dim=-1)
    q = torch.softmax(torch.randn(gamma, 5, generator=_gen(8)) * 1.5, dim=-1)
    counts = torch.zeros(gamma + 1, 5)
    for _ in range(6000):
        drafts = sample(q, generator)  # (γ,)
        j, token = accept(p, q, drafts, generator)
        emitted = torch.cat([drafts[:j], token.view(1)])
        counts[torch.arange(j + 1), emitted] += 1
    for i in range(gamma + 1):
        n = counts[i].sum()
        if n < 500:
            continue
        result = chisquare(counts[i].numpy(), (p[i] * n).numpy())
        assert result.pvalue > 1e-3, (i, counts[i], p[i] * n)
    assert counts[0].sum() == 6000


def test_top_p_keeps_the_smallest_set_reaching_the_mass():
    probs = probabilities(torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05])), Sampling(temperature=1.0, top_p=0.7))
    assert torch.allclose(probs, torch.tensor([0.5 / 0.8, 0.3 / 0.8, 0.0, 0.0]))
    assert probs.dtype == torch.float32
