"""One forward step of a causal LM over new tokens with a KV cache; shared by every engine and the timers."""

import functools
from dataclasses import dataclass, field

import torch

from specplan.errors import SpecplanError
from specplan.measure.engines.cache import note_input


@dataclass(frozen=True)
class Decoded:
    """What one decode produced: the new token ids and, for speculative engines, the per-round counts."""

    output_ids: list
    drafted: list = field(default_factory=list)  # k_s per round
    accepted: list = field(default_factory=list)  # j_s per round
    generator: str | None = None  # hf: the candidate generator transformers chose (its generation path)


# The names a causal LM's forward has taken its cache under, newest first: ``cache`` from transformers 5.24 (where
# ``past_key_values`` and ``cache_params`` are deprecated aliases that warn on every call), ``past_key_values``
# before, and ``cache_params`` for Mamba-style models before 5.24. A name the forward does not declare lands in its
# ``**kwargs`` and is ignored: the model then builds a fresh cache every step and decodes without context.
CACHE_ARGUMENTS = ("cache", "past_key_values", "cache_params")


@functools.cache
def _cache_argument_of(model_class) -> str:
    import inspect

    parameters = inspect.signature(model_class.forward).parameters  # follows deprecate_kwarg's functools.wraps
    for name in CACHE_ARGUMENTS:
        if name in parameters:
            return name
    raise SpecplanError(f"{model_class.__name__}.forward takes its cache under none of {', '.join(CACHE_ARGUMENTS)}: "
                        f"specplan cannot give it a cache (a transformers version it does not know?)")


def cache_argument(model) -> str:
    """The name ``model.forward`` declares for its cache (:data:`CACHE_ARGUMENTS`, the first it declares)."""
    return _cache_argument_of(type(model))


@torch.inference_mode()
def forward(model, input_ids: torch.Tensor, cache, keep: int, vocab_tokens: int) -> torch.Tensor:
    """Logits of the last ``keep`` positions, (keep, V), for (1, T) new input ids appended to ``cache``.

    Logits are cut to ``vocab_tokens`` columns: embedding rows beyond the shared tokenizer are padding that the two
    models may have in different amounts (e.g. 151936 vs 152064) and never hold a real token.
    """
    note_input(cache, input_ids)
    out = model(input_ids=input_ids, **{cache_argument(model): cache}, use_cache=True, logits_to_keep=keep)
    return out.logits[0, -keep:, :vocab_tokens]
