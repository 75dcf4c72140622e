"""One forward step of a causal LM over new tokens with a KV cache; shared by every engine and the timers."""

from dataclasses import dataclass, field

import torch

from specplan.measure.engines.cache import note_input
from specplan.measure.engines.cache_argument import CACHE_ARGUMENTS, cache_argument  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class Decoded:
    """What one decode produced: the new token ids and, for speculative engines, the per-round counts."""

    output_ids: list
    drafted: list = field(default_factory=list)  # k_s per round
    accepted: list = field(default_factory=list)  # j_s per round
    generator: str | None = None  # hf: the candidate generator transformers chose (its generation path)


@torch.inference_mode()
def forward(model, input_ids: torch.Tensor, cache, keep: int, vocab_tokens: int) -> torch.Tensor:
    """Logits of the last ``keep`` positions, (keep, V), for (1, T) new input ids appended to ``cache``.

    Logits are cut to ``vocab_tokens`` columns: embedding rows beyond the shared tokenizer are padding that the two
    models may have in different amounts (e.g. 151936 vs 152064) and never hold a real token.
    """
    note_input(cache, input_ids)
    out = model(input_ids=input_ids, **{cache_argument(model): cache}, use_cache=True, logits_to_keep=keep)
    return out.logits[0, -keep:, :vocab_tokens]
