"""The one exactness check of every engine: under greedy decoding a speculative run must reproduce its baseline
token for token; where it does not, the first differing position and the target's top-2 logit margin there
(near 0: a numerical near-tie between batched and single-token kernels; large: a bug)."""

from typing import Callable


def first_divergence(reference: list, output: list) -> int | None:
    """0-based position of the first differing token (a length difference counts), or None when identical."""
    for position, (a, b) in enumerate(zip(reference, output)):
        if a != b:
            return position
    return None if len(reference) == len(output) else min(len(reference), len(output))


def exactness(greedy: bool, reference: list | None, output_ids: list, margin: Callable[[list], float | None]) -> dict:
    """The record fields ``exact``, ``first_divergence``, ``divergence_margin`` (docs/records.md); none when
    sampling or without a reference. ``margin(prefix)`` is the target's top-1 minus top-2 logit after the prompt
    and ``prefix`` (the reference up to the divergence)."""
    if not greedy or reference is None:
        return {}
    diverged = first_divergence(reference, output_ids)
    if diverged is None:
        return {"exact": True, "first_divergence": None, "divergence_margin": None}
    return {"exact": False, "first_divergence": diverged, "divergence_margin": margin(reference[:diverged])}


def top2_margin(target, prompt_ids, prefix: list, vocab_tokens: int) -> float:
    """The transformers target's top-1 minus top-2 logit after prompt + ``prefix`` (one uncached forward pass)."""
    import torch

    from specplan.measure.engines.cache import new_cache
    from specplan.measure.engines.step import forward

    ids = torch.cat([prompt_ids[0], torch.tensor(prefix, dtype=torch.long, device=prompt_ids.device)]).view(1, -1)
    top = forward(target, ids, new_cache(target, rollback=False), 1, vocab_tokens)[-1].float().topk(2).values
    return float(top[0] - top[1])
