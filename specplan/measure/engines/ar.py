"""``ar``: the target alone with its KV cache, one token per forward step — the baseline."""

import torch

from specplan.measure.engines.cache import new_cache
from specplan.measure.engines.probs import Sampling, choose
from specplan.measure.engines.step import Decoded, forward


@torch.inference_mode()
def decode_ar(target, prompt_ids: torch.Tensor, max_new_tokens: int, sampling: Sampling,
              generator: torch.Generator, vocab_tokens: int) -> Decoded:
    """Generate exactly ``max_new_tokens`` tokens after (1, P) ``prompt_ids`` (EOS does not stop, so runs pair)."""
    cache = new_cache(target, rollback=False)  # never rolled back: no recording, no state copies
    logits = forward(target, prompt_ids, cache, 1, vocab_tokens)  # prefill; (1, V)
    tokens = []
    for _ in range(max_new_tokens):
        token = choose(logits[-1], sampling, generator)  # () on the device
        tokens.append(token)
        if len(tokens) < max_new_tokens:
            logits = forward(target, token.view(1, 1), cache, 1, vocab_tokens)
    return Decoded(torch.stack(tokens).tolist())  # one host sync, at the end
