"""The speculative acceptance rule (Leviathan et al. 2023, Algorithm 1; docs/theory.md §1) as a pure function."""

import torch

from specplan.measure.engines.probs import sample


def accept(p: torch.Tensor, q: torch.Tensor, draft_tokens: torch.Tensor,
           generator: torch.Generator) -> tuple[int, torch.Tensor]:
    """Accepted draft count j and the next token (correction or bonus) for one verification round.

    p: (k+1, V) target probabilities at the k+1 verified positions; q: (k, V) draft probabilities the k draft
    tokens (k,) were sampled from. Accept x_i while r_i < p_i(x_i) / q_i(x_i), r_i ~ U[0, 1); at the first rejection
    sample from norm(max(0, p_i − q_i)); if all k are accepted, sample the bonus token from p_{k+1}.
    The output then follows p exactly. With one-hot (greedy) p and q this accepts while the argmaxes agree.
    """
    k = draft_tokens.shape[0]
    positions = torch.arange(k, device=p.device)
    ratio = p[positions, draft_tokens] / q[positions, draft_tokens]  # (k,)
    r = torch.rand(k, generator=generator, device=p.device)
    accepted = int((r < ratio).int().cumprod(dim=0).sum())  # the one host sync a round needs
    if accepted == k:
        return accepted, sample(p[k], generator)
    residual = (p[accepted] - q[accepted]).clamp(min=0.0)
    total = residual.sum()
    # p == q at a rejected position has probability 0; fall back to p rather than divide by zero.
    residual = torch.where(total > 0, residual / total.clamp(min=1e-30), p[accepted])
    return accepted, sample(residual, generator)


def accept_greedy(target_tokens: torch.Tensor, draft_tokens: torch.Tensor) -> tuple[int, torch.Tensor]:
    """:func:`accept` for greedy decoding, from argmaxes: (k+1,) target argmaxes at the verified positions and the
    (k,) draft tokens. With one-hot p and q the ratio p_i(x_i)/q_i(x_i) is 1 where the argmaxes agree and 0 where
    they differ, and the residual at the first disagreement is the one-hot of the target's argmax; so j = the
    length of the agreeing prefix and the next token is the target's argmax at position j+1 (bonus or correction)."""
    k = draft_tokens.shape[0]
    accepted = int((draft_tokens == target_tokens[:k]).int().cumprod(dim=0).sum()) if k else 0  # the round's sync
    return accepted, target_tokens[accepted]
