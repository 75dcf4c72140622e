"""``ar``: the target alone with its KV cache, one token per forward step — the baseline."""

from specplan.measure.engines.base import SEQUENTIAL, NoOwnSettings, generator


def decode_ar(target, prompt_ids, max_new_tokens: int, sampling, generator, vocab_tokens: int):
    """Generate exactly ``max_new_tokens`` tokens after (1, P) ``prompt_ids`` (EOS does not stop, so runs pair):
    a ``Decoded``."""
    import torch

    from specplan.measure.engines.cache import new_cache
    from specplan.measure.engines.probs import choose
    from specplan.measure.engines.step import Decoded, forward

    with torch.inference_mode():
        cache = new_cache(target, rollback=False)  # never rolled back: no recording, no state copies
        logits = forward(target, prompt_ids, cache, 1, vocab_tokens)  # prefill; (1, V)
        tokens = []
        for _ in range(max_new_tokens):
            token = choose(logits[-1], sampling, generator)  # () on the device
            tokens.append(token)
            if len(tokens) < max_new_tokens:
                logits = forward(target, token.view(1, 1), cache, 1, vocab_tokens)
        return Decoded(torch.stack(tokens).tolist())  # one host sync, at the end


class _Ar(NoOwnSettings):
    name, kind, speculative, times_rounds = "ar", SEQUENTIAL, False, False
    summary = "ar (target alone)"

    def refuses(self, config, role: str) -> str | None:
        return None  # a plain decode loop: every causal LM


    def decode(self, models, prompt_ids, gamma, max_new_tokens: int, sampling, seed: int, clock=None):
        return decode_ar(models.target, prompt_ids, max_new_tokens, sampling, generator(models.device, seed),
                         models.vocab_tokens)

    def run_fields(self, decoded, clock) -> dict:
        return {}


ENGINE = _Ar()
