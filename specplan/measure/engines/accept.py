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
