"""The one function that turns logits into probabilities, for the target and the draft alike (float32)."""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Sampling:
    """How tokens are chosen: temperature 0 means greedy (one-hot on the argmax)."""

    temperature: float = 0.0
    top_p: float = 1.0
    # Greedy through the general rule (sampling from one-hot distributions) instead of compared argmaxes: the
    # reference the fast path is tested against; same tokens and counts, more work per step.
    one_hot_reference: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def argmax(self) -> bool:
        """Greedy on the fast path: tokens are argmaxes, acceptance compares them (no one-hot, no draw)."""
        return self.greedy and not self.one_hot_reference


def probabilities(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """(..., V) logits -> (..., V) float32 probabilities after temperature and top-p.

    Greedy decoding is the limit temperature -> 0: a one-hot on the argmax. With one-hot p and q the Leviathan rule
    accepts exactly when the argmaxes agree, so one acceptance rule serves greedy and sampled decoding.
    """
    logits = logits.float()
    if sampling.greedy:
        return torch.nn.functional.one_hot(logits.argmax(dim=-1), logits.shape[-1]).float()
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1.0:
        probs = _top_p(probs, sampling.top_p)
    return probs


def _top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose mass reaches top_p (at least one), renormalised."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the more likely tokens
    sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(dim=-1, keepdim=True)


def sample(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(..., V) probabilities -> (...) token ids, drawn with the run's one seeded generator (no host sync)."""
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def choose(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> torch.Tensor:
    """(..., V) logits -> (...) token ids. Greedy takes the argmax directly: the same token that sampling from the
    one-hot of :func:`probabilities` gives, without building a vocabulary-sized one-hot or drawing from it."""
    if sampling.argmax:
        return logits.argmax(dim=-1)
    return sample(probabilities(logits, sampling), generator)
