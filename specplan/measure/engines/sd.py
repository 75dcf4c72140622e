"""``sd``: specplan's speculative loop (gpt-fast style): draft γ tokens, verify γ+1 in one target pass, accept,
bonus token, crop both KV caches to the committed prefix. The prompt is encoded once per model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from specplan.measure.engines.base import SEQUENTIAL, NoOwnSettings, generator, rounds_field
from specplan.measure.engines.cache import rollback_refusal

if TYPE_CHECKING:
    import torch

    from specplan.measure.engines.probs import Sampling
    from specplan.measure.engines.step import Decoded


def decode_sd(target, draft, prompt_ids: torch.Tensor, gamma: int, max_new_tokens: int, sampling: Sampling,
              generator: torch.Generator, vocab_tokens: int, on_round=None, clock=None) -> Decoded:
    """Generate exactly ``max_new_tokens`` tokens speculatively; ``on_round(target_cache, draft_cache, emitted,
    pending)`` is called after each round (tests check the cache lengths there); ``clock`` (a
    :class:`~specplan.measure.engines.round_clock.RoundClock`) times each round's components.

    Invariant between rounds: each cache holds every committed token except the ones still pending for it. The
    target always lacks only the last committed token; the draft also lacks its own last draft token after a fully
    accepted round (it proposed x_γ but never ran on it), so it gets both in its next first step.
    """
    import torch

    with torch.inference_mode():
        return _decode(target, draft, prompt_ids, gamma, max_new_tokens, sampling, generator, vocab_tokens,
                       on_round, clock)


def _decode(target, draft, prompt_ids, gamma, max_new_tokens, sampling, generator, vocab_tokens, on_round, clock):
    import torch

    from specplan.measure.engines.cache import drop_last, new_cache
    from specplan.measure.engines.probs import choose
    from specplan.measure.engines.round_clock import NoClock
    from specplan.measure.engines.step import Decoded, forward

    clock = clock or NoClock()
    clock.begin()
    target_cache, draft_cache = new_cache(target), new_cache(draft)
    first = choose(forward(target, prompt_ids, target_cache, 1, vocab_tokens)[-1], sampling, generator)
    forward(draft, prompt_ids, draft_cache, 1, vocab_tokens)  # draft prefill (its logits are not needed)
    tokens, drafted, accepted = [first.view(1)], [], []
    pending = first.view(1, 1)  # (1, 1 or 2) tokens the draft has not seen
    emitted = 1
    while emitted < max_new_tokens:
        k = min(gamma, max_new_tokens - emitted - 1)  # a round emits up to k+1 tokens; never overshoot
        clock.start()
        draft_tokens, q = _propose(draft, draft_cache, pending, k, sampling, generator, vocab_tokens)
        clock.lap()
        verify_ids = torch.cat([tokens[-1][-1:], draft_tokens]).view(1, -1)  # (1, k+1)
        logits = forward(target, verify_ids, target_cache, k + 1, vocab_tokens)  # (k+1, V)
        clock.lap()
        j, next_token = _verdict(logits, q, draft_tokens, sampling, generator)
        drop_last(target_cache, k - j)  # keep the last committed token + j accepted drafts, drop the rejected ones
        if j < k:
            drop_last(draft_cache, k - 1 - j)  # the draft ran on x_1..x_{k-1}; keep x_1..x_j
            pending = next_token.view(1, 1)
        else:  # the draft never ran on its last proposal (nor on the pending tokens, when k = 0)
            unseen = draft_tokens[-1:] if k > 0 else pending.view(-1)
            pending = torch.cat([unseen, next_token.view(1)]).view(1, -1)
        tokens.append(torch.cat([draft_tokens[:j], next_token.view(1)]))
        drafted.append(k)
        accepted.append(j)
        emitted += j + 1
        clock.end(k)
        if on_round is not None:
            on_round(target_cache, draft_cache, emitted, pending.shape[1])
    return Decoded(torch.cat(tokens).tolist(), drafted, accepted)


def _verdict(logits: torch.Tensor, q, draft_tokens: torch.Tensor, sampling: Sampling,
             generator: torch.Generator) -> tuple[int, torch.Tensor]:
    """Accepted count j and the next token from the target's (k+1, V) logits: compared argmaxes when greedy (the
    same result as the general rule on one-hot distributions), else the Leviathan rule on probabilities."""
    from specplan.measure.engines.accept import accept, accept_greedy
    from specplan.measure.engines.probs import probabilities

    if sampling.argmax:
        return accept_greedy(logits.argmax(dim=-1), draft_tokens)
    return accept(probabilities(logits, sampling), q, draft_tokens, generator)


def _propose(draft, cache, pending: torch.Tensor, k: int, sampling: Sampling, generator: torch.Generator,
             vocab_tokens: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """k draft tokens (k,) and the draft probabilities they were sampled from (k, V), on the device, no sync.
    Greedy drafting takes each step's argmax and returns no probabilities (the greedy verdict needs none)."""
    import torch

    from specplan.measure.engines.probs import probabilities, sample
    from specplan.measure.engines.step import forward

    draft_tokens, q_rows = [], []
    step_ids = pending
    for _ in range(k):
        logits = forward(draft, step_ids, cache, 1, vocab_tokens)[-1]  # (V,)
        if sampling.argmax:
            x_i = logits.argmax(dim=-1, keepdim=True)  # (1,)
        else:
            q_rows.append(probabilities(logits, sampling))
            x_i = sample(q_rows[-1], generator).view(1)
        draft_tokens.append(x_i)
        step_ids = x_i.view(1, 1)
    if not draft_tokens:  # k = 0: the last round of a run, when one token remains
        device = pending.device
        return torch.empty(0, dtype=torch.long, device=device), torch.empty(0, vocab_tokens, device=device)
    return torch.cat(draft_tokens), (torch.stack(q_rows) if q_rows else None)


class _Sd(NoOwnSettings):
    name, kind, speculative, times_rounds = "sd", SEQUENTIAL, True, True
    summary = "sd (specplan's speculative loop)"

    def refuses(self, config, role: str) -> str | None:
        """Mamba-1 models and cache layers without a rollback (:func:`check_rollback`)."""
        return rollback_refusal(config, role, self.name)

    def decode(self, models, prompt_ids, gamma, max_new_tokens: int, sampling, seed: int, clock=None):
        return decode_sd(models.target, models.draft, prompt_ids, gamma, max_new_tokens, sampling,
                         generator(models.device, seed), models.vocab_tokens, clock=clock)

    def run_fields(self, decoded, clock) -> dict:
        return rounds_field(decoded.drafted, decoded.accepted) | ({"round_times": clock.record} if clock else {})


ENGINE = _Sd()
