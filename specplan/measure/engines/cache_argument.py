"""The keyword a model's forward takes its cache under; shared by the forward step (``step``) and the cache
policy's replay (``cache``), which both call models."""

import functools

from specplan.errors import SpecplanError

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
