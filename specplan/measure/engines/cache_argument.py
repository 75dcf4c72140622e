"""The keyword a model's forward takes its cache under; shared by the forward step (``step``) and the cache
policy's replay (``cache``), which both call models."""

import functools


@functools.cache
def _cache_argument_of(model_class) -> str:
    import inspect

    parameters = inspect.signature(model_class.forward).parameters
    return "cache_params" if "cache_params" in parameters and "past_key_values" not in parameters \
        else "past_key_values"


def cache_argument(model) -> str:
    """The name ``model.forward`` takes its cache under: ``past_key_values``, or ``cache_params`` (Mamba-style
    models, which would silently run without a cache if given ``past_key_values``)."""
    return _cache_argument_of(type(model))
