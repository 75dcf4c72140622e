"""The cache policy: which KV cache a model gets and how it is rolled back, for the ``sd`` loop and the step
timers alike (one place, so a fix for one cache kind lands everywhere).

transformers 5.x builds a ``DynamicCache`` from the config's ``layer_types``:

- ``full_attention``: every past key/value is kept; ``crop(-n)`` drops the last n.
- ``sliding_attention`` / ``chunked_attention``: only the last ``window − 1`` entries are kept, so once the window
  is reached a plain crop cannot give back what a rejected token pushed out (transformers raises). With *past
  recording* on (``activate_past_recording``) the layer keeps every new entry until the next crop, which drops the
  rejected ones and trims back to the window. Rollback is then exact; the cost is the entries added since the
  last crop (the prompt, then at most a few rounds of γ + 1) beyond the window, not a full history.
- ``linear_attention`` / ``hybrid`` / ``conv`` (recurrent, linear-attention and short-convolution layers: Mamba,
  Qwen3-Next, Qwen3.5, Jamba, Falcon-H1, LFM2, ...): a state that mixes every token in and cannot be cropped.
  The timers restore a snapshot of it (:class:`Rewind`); speculative decoding refuses such a model
  (:func:`check_rollback`).
"""

from specplan.errors import SpecplanError

# Layer types whose cache holds a state rather than per-token entries; "moe"/"mlp" placeholders hold nothing.
STATE_LAYER_TYPES = ("conv", "linear_attention", "hybrid", "hybrid_sliding")


def layer_types(config) -> list:
    """The cache layer type of each decoder layer, as transformers' DynamicCache reads them from the config."""
    from transformers.cache_utils import get_layer_types_and_kwargs

    return list(get_layer_types_and_kwargs(config.get_text_config(decoder=True))[0])


def check_rollback(config, role: str, engine: str) -> None:
    """One line, before any decoding, when ``engine`` would have to take tokens back out of a recurrent state."""
    kinds = layer_types(config)
    stateful = sorted({kind for kind in kinds if kind in STATE_LAYER_TYPES})
    if stateful:
        architecture = (getattr(config, "architectures", None) or [type(config).__name__])[0]
        raise SpecplanError(
            f"--engines {engine}: the {role} is a {config.model_type} model ({architecture}) with recurrent / "
            f"linear-attention layers ({sum(k in stateful for k in kinds)} of {len(kinds)} layers: "
            f"{', '.join(stateful)}) whose state cannot be rolled back past rejected draft tokens; "
            f"speculative decoding is not supported for it (use --engines ar)")


def new_cache(model):
    """An empty cache for ``model`` whose key/value entries can be rolled back: sliding and chunked layers record
    their past (see the module docstring)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicSlidingWindowLayer, LinearAttentionCacheLayerMixin

    cache = DynamicCache(config=model.config)
    for layer in cache.layers:  # not a hybrid one: recording would change how its conv state is kept
        if isinstance(layer, DynamicSlidingWindowLayer) and not isinstance(layer, LinearAttentionCacheLayerMixin):
            layer.activate_past_recording()
    return cache


def drop_last(cache, tokens: int) -> None:
    """Remove the last ``tokens`` key/value entries of a cache made by :func:`new_cache` (sliding layers also trim
    back to their window). States of recurrent layers are left alone: :class:`Rewind` restores them, and
    speculative decoding refuses such models (:func:`check_rollback`). Never crops a full-attention layer by 0
    (transformers 4.x read crop's argument as the length to keep)."""
    from transformers.cache_utils import DynamicSlidingWindowLayer

    for layer in cache.layers:
        crop = _attention_crop(type(layer))
        if crop is not None and (tokens > 0 or isinstance(layer, DynamicSlidingWindowLayer)):
            crop(layer, -tokens)  # a sliding layer's crop(0) trims it back to its window


class Rewind:
    """Puts a cache back to where it is now after each timed step: key/value entries by dropping the step's
    tokens, recurrent and conv states from a snapshot taken here."""

    def __init__(self, cache):
        from transformers.cache_utils import LinearAttentionCacheLayerMixin

        self.cache = cache
        self.states = [(layer, _clone(layer.conv_states), _clone(layer.recurrent_states),
                        dict(layer.has_previous_state))
                       for layer in cache.layers if isinstance(layer, LinearAttentionCacheLayerMixin)]

    def __call__(self, step_tokens: int) -> None:
        drop_last(self.cache, step_tokens)
        for layer, conv, recurrent, previous in self.states:
            layer.conv_states, layer.recurrent_states = _clone(conv), _clone(recurrent)
            layer.has_previous_state = dict(previous)


def _attention_crop(layer_class):
    """The crop of a layer's key/value entries: its own for attention layers, the attention half's for a hybrid
    (linear attention + attention) layer, None for a layer without entries."""
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer, LinearAttentionCacheLayerMixin

    if not issubclass(layer_class, LinearAttentionCacheLayerMixin):
        return layer_class.crop
    attention = [c for c in layer_class.__mro__ if c in (DynamicSlidingWindowLayer, DynamicLayer)]
    return attention[0].crop if attention else None


def _clone(states: dict) -> dict:
    return {i: None if s is None else s.clone() for i, s in states.items()}
