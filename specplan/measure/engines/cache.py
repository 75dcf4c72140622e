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
  Qwen3-Next, Qwen3.5, Jamba, LFM2, ...): a state that mixes every token in and cannot be cropped.
  The cache keeps the state of the last committed position and the tokens fed since (:class:`Replay`); a
  rollback restores that state and re-runs the kept tokens. The cost: a copy of the states once per round, and
  on a rejection a forward pass over the kept tokens. transformers' own assisted generation (``hf``) refuses
  such models, and so does our pre-flight (:func:`check_rollback`); Mamba-1 models are refused for ``sd`` too
  (their forward cannot take several tokens on a warm state).
"""

from specplan.errors import SpecplanError

# Layer types whose cache holds a state rather than per-token entries. "moe"/"mlp" placeholders hold nothing (5.24
# maps them, and layers reading another layer's keys and values, to "dummy").
STATE_LAYER_TYPES = ("conv", "linear_attention", "hybrid")
RECURRENT_LAYER_TYPES = ("linear_attention", "hybrid", "hybrid_sliding")  # "conv" holds only a window of inputs
ROLLBACK_LAYER_TYPES = ("full_attention", "sliding_attention", "chunked_attention", "moe", "mlp", "dummy",
                        *STATE_LAYER_TYPES)
# Model types whose transformers forward (5.19 to 5.24), given several tokens on a warm cache, restarts its scan
# from a zero state (Mamba-1's mixer handles a cached state only one token at a time): no verification is possible.
SINGLE_TOKEN_MODEL_TYPES = ("mamba", "falcon_mamba")


def layer_types(config) -> list:
    """The cache layer type of each decoder layer, as transformers' DynamicCache reads them from the config."""
    from transformers.cache_utils import get_layer_types_and_kwargs

    return list(get_layer_types_and_kwargs(config.get_text_config(decoder=True))[0])


def rollback_refusal(config, role: str, engine: str) -> str | None:
    """:func:`check_rollback`'s one line, or None where ``engine`` can roll this model's cache back (an engine's
    ``refuses``)."""
    try:
        check_rollback(config, role, engine)
    except SpecplanError as refusal:
        return str(refusal)
    return None


def check_rollback(config, role: str, engine: str) -> None:
    """One line, before any weights load, when ``engine`` cannot take rejected tokens back out of this model's
    cache: ``sd`` for Mamba-1 models and cache layer types it has no rollback for, ``hf`` for recurrent states
    (transformers refuses assisted generation of them; short-convolution layers it rolls back itself)."""
    architecture = (getattr(config, "architectures", None) or [type(config).__name__])[0]
    model = f"the {role} is a {config.model_type} model ({architecture})"
    if engine == "sd" and config.model_type in SINGLE_TOKEN_MODEL_TYPES:
        raise SpecplanError(f"--engines sd: {model} whose transformers forward cannot continue a cached state with "
                            f"several tokens at once (it restarts the scan from zero), so it cannot verify drafts; "
                            f"use --engines ar")
    kinds = layer_types(config)
    if engine == "sd":
        refused = sorted({kind for kind in kinds if kind not in ROLLBACK_LAYER_TYPES})
        reason, advice = "specplan has no rollback for these cache layers", "ar"
    else:
        refused = sorted({kind for kind in kinds if kind in RECURRENT_LAYER_TYPES})
        reason, advice = "transformers' assisted generation refuses recurrent / linear-attention states", "ar,sd"
    if refused:
        raise SpecplanError(f"--engines {engine}: {model} with {sum(k in refused for k in kinds)} of {len(kinds)} "
                            f"layers of type {', '.join(refused)}: {reason}; use --engines {advice}")


def new_cache(model, rollback: bool = True):
    """An empty cache for ``model``; with ``rollback`` (speculative decoding, the step timers) one that
    :func:`drop_last` can take tokens back out of: sliding and chunked layers record their past, recurrent
    states are kept at the last committed position (see the module docstring). ``ar`` never rolls back."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicSlidingWindowLayer, LinearAttentionCacheLayerMixin

    cache = DynamicCache(config=model.config)
    if not rollback:
        return cache
    for layer in cache.layers:  # not a hybrid one: recording would change how its conv state is kept
        if isinstance(layer, DynamicSlidingWindowLayer) and not isinstance(layer, LinearAttentionCacheLayerMixin):
            layer.activate_past_recording()
    if any(isinstance(layer, LinearAttentionCacheLayerMixin) for layer in cache.layers):
        cache.specplan_replay = Replay(model, cache)
    return cache


def note_input(cache, input_ids) -> None:
    """Called by every engine forward step before the model runs: a recurrent cache logs what it is fed."""
    replay = getattr(cache, "specplan_replay", None)
    if replay is not None:
        replay.note(input_ids)


def drop_last(cache, tokens: int) -> None:
    """Take the last ``tokens`` fed tokens back out of a cache made by :func:`new_cache`: key/value entries are
    cropped (sliding layers also trim back to their window), recurrent states replayed (:class:`Replay`)."""
    replay = getattr(cache, "specplan_replay", None)
    if replay is not None:
        replay.rollback(tokens)
    else:
        _drop_entries(cache, tokens)


def _drop_entries(cache, tokens: int) -> None:
    """Crop the last ``tokens`` key/value entries of every layer that has them. Never crops a full-attention
    layer by 0 (transformers 4.x read crop's argument as the length to keep)."""
    from transformers.cache_utils import DynamicSlidingWindowLayer

    for layer in cache.layers:
        crop = _attention_crop(type(layer))
        if crop is not None and (tokens > 0 or isinstance(layer, DynamicSlidingWindowLayer)):
            crop(layer, -tokens)  # a sliding layer's crop(0) trims it back to its window


class Replay:
    """Rollback of a cache with recurrent / conv states: the states at the last committed position (copied
    before the first forward after it) and the input ids fed since. The first forward of a fresh cache (the
    prefill) is committed as it runs."""

    def __init__(self, model, cache):
        self.model, self.cache = model, cache
        self.fresh, self.states, self.fed = True, None, []

    def note(self, input_ids) -> None:
        if self.fresh:
            self.fresh = False
            return
        if self.states is None:
            self.states = _States(self.cache)
        self.fed.append(input_ids)

    def rollback(self, tokens: int) -> None:
        """Drop the last ``tokens`` fed tokens: back to the committed states, re-run the rest; the result is the
        new committed position. With nothing to re-run the copied states stay valid for the next round."""
        import torch

        if tokens == 0:
            _drop_entries(self.cache, 0)
            self.states, self.fed = None, []
            return
        if not self.fed:  # only the prefill of a fresh cache was fed (a timer without context): back to empty
            self.cache.reset()
            self.fresh = True
            return
        fed = torch.cat(self.fed, dim=1)
        _drop_entries(self.cache, fed.shape[1])
        self.states.restore()
        self.fed = []
        kept = fed[:, :fed.shape[1] - tokens]
        if kept.shape[1]:
            from specplan.measure.engines.cache_argument import cache_argument

            self.model(input_ids=kept, **{cache_argument(self.model): self.cache}, use_cache=True, logits_to_keep=1)
            self.states = None


class _States:
    """A copy of the recurrent and conv states of every layer that has them."""

    def __init__(self, cache):
        from transformers.cache_utils import LinearAttentionCacheLayerMixin

        self.copies = [(layer, _clone(layer.conv_states), _clone(layer.recurrent_states),
                        dict(layer.has_previous_state))
                       for layer in cache.layers if isinstance(layer, LinearAttentionCacheLayerMixin)]

    def restore(self) -> None:
        for layer, conv, recurrent, previous in self.copies:
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
