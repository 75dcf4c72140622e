"""The static KV cache of the compiled engine (:mod:`specplan.measure.engines.compiled`): fixed-size key/value
tensors at fixed addresses, so a compiled step (and a CUDA graph) can write into them in place, and a rollback that
only moves the write position.

Every attention layer, full, sliding or chunked, gets a transformers ``StaticLayer`` holding all positions of the
workload (prompt + new tokens + γ + 1), not the window-sized ``StaticSlidingWindowLayer``: that one shifts its
contents once the window is full (a rejected token's write cannot be undone) and keeps its length in a Python int
(a compiled step would be re-specialised at every position). A sliding or chunked layer still sees only its window:
the model builds the sliding / chunked mask over absolute positions (``kv_offset`` 0), as it does in eager mode.

The transformers internals this relies on (checked by :func:`missing_internals`, pinned by
tests/measure/test_compiled.py):

- ``StaticLayer.cumulative_length``: a 0-d integer tensor, the layer's write position, at a static address once
  the layer is initialised; ``Cache.get_seq_length()`` returns it, the model derives its position ids and causal
  mask from it, and slots at or past it are masked out. So dropping the last n fed tokens is
  ``cumulative_length.sub_(n)`` on every layer, in place, and an empty cache is ``zero_()`` (stale slots are
  overwritten before they are ever attended to).
- ``Cache(layers=[...])`` with ``StaticLayer`` and ``DummyLayer`` (layers without a cache of their own).
- The sdpa mask function takes ``allow_is_causal_skip``: :func:`keep_mask_when_compiling` turns the skip off while
  dynamo traces (transformers 5.19 tests ``q_offset == 0`` on the position tensor there, a data-dependent branch
  that breaks the graph of a multi-token step; 5.24 no longer skips there).
"""

ATTENTION_LAYER_TYPES = ("full_attention", "sliding_attention", "chunked_attention")
NO_CACHE_LAYER_TYPES = ("dummy",)  # MoE/MLP-only layers and layers reading another layer's cache


def missing_internals() -> str | None:
    """What the installed transformers lacks of the internals above, in a few words, or None."""
    import inspect

    try:
        import transformers
        from transformers import masking_utils
        from transformers.cache_utils import Cache, DummyLayer, StaticLayer  # noqa: F401
    except ImportError as exc:
        return f"transformers lacks a static-cache class ({exc})"
    version = transformers.__version__
    layer = StaticLayer(max_cache_len=1)
    if not _is_tensor(getattr(layer, "cumulative_length", None)):
        return f"transformers {version}: StaticLayer has no tensor write position (cumulative_length)"
    if "layers" not in inspect.signature(Cache.__init__).parameters:
        return f"transformers {version}: Cache cannot be built from a list of layers"
    registry = getattr(masking_utils, "ALL_MASK_ATTENTION_FUNCTIONS", None)
    sdpa = registry.get("sdpa") if registry is not None else None
    if sdpa is None or "allow_is_causal_skip" not in inspect.signature(_unwrapped(sdpa)).parameters:
        return f"transformers {version}: the sdpa mask function takes no allow_is_causal_skip"
    return None


def _is_tensor(value) -> bool:
    import torch

    return isinstance(value, torch.Tensor) and value.dim() == 0


def _unwrapped(function):
    return getattr(function, "specplan_original", function)


def cache_layer_types(config) -> list:
    """The cache layer type of each decoder layer, as transformers maps them ("moe"/"mlp" → "dummy")."""
    from transformers.cache_utils import get_layer_types_and_kwargs

    return list(get_layer_types_and_kwargs(config.get_text_config(decoder=True))[0])


def unsupported_layer_types(config) -> list:
    """The layer types of ``config`` a static cache with positional rollback cannot hold (recurrent, convolution,
    compressed or indexed attention states), sorted; empty when every layer is attention or cache-less."""
    return sorted({kind for kind in cache_layer_types(config)
                   if kind not in ATTENTION_LAYER_TYPES + NO_CACHE_LAYER_TYPES})


def new_static_cache(model, max_cache_len: int):
    """An initialised static cache of ``max_cache_len`` positions for ``model``, empty (write position 0).

    It is initialised by one eager 1-token forward (the layers take their head counts, dims, dtype and device from
    the real key/value states, whatever the architecture) and then emptied: its tensors are allocated and marked as
    static addresses before any compiled step sees them (transformers cannot mark them inside a traced graph)."""
    import torch
    from transformers.cache_utils import Cache, DummyLayer, StaticLayer

    layers = [DummyLayer() if kind in NO_CACHE_LAYER_TYPES else StaticLayer(max_cache_len=max_cache_len)
              for kind in cache_layer_types(model.config)]
    from specplan.measure.engines.step import cache_argument

    cache = Cache(layers=layers)
    ids = torch.zeros((1, 1), dtype=torch.long, device=model.device)
    with torch.inference_mode():
        model(input_ids=ids, **{cache_argument(model): cache}, use_cache=True, logits_to_keep=1)
    restart(cache)
    return cache


def attention_layers(cache) -> list:
    from transformers.cache_utils import StaticLayer

    return [layer for layer in cache.layers if isinstance(layer, StaticLayer)]


def position(cache) -> int:
    """The write position (tokens held); a host sync on an accelerator, for tests and checks only."""
    return int(attention_layers(cache)[0].cumulative_length)


def rewind(cache, tokens: int) -> None:
    """Drop the last ``tokens`` fed tokens: move every layer's write position back, in place (no copy)."""
    if tokens:
        for layer in attention_layers(cache):
            layer.cumulative_length.sub_(tokens)


def restart(cache) -> None:
    """An empty cache again, the same tensors."""
    for layer in attention_layers(cache):
        layer.cumulative_length.zero_()


def keep_mask_when_compiling() -> None:
    """While dynamo traces, build the sdpa mask always (``allow_is_causal_skip=False``); eager calls unchanged.

    transformers 5.19 skips the mask of a multi-token step when the cache is empty by testing the position tensor
    (``q_offset == 0``), a data-dependent branch: a fullgraph compile of the γ+1 verification fails there. The
    override wraps the sdpa entry of the registry masking_utils reads, once (idempotent)."""
    import torch
    from transformers import masking_utils

    registry = masking_utils.ALL_MASK_ATTENTION_FUNCTIONS
    original = registry["sdpa"]
    if getattr(original, "specplan_original", None) is not None:
        return

    def sdpa_mask_no_skip_when_compiling(*args, **kwargs):
        if torch.compiler.is_compiling():
            kwargs["allow_is_causal_skip"] = False
        return original(*args, **kwargs)

    sdpa_mask_no_skip_when_compiling.specplan_original = original
    registry["sdpa"] = sdpa_mask_no_skip_when_compiling
