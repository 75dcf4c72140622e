"""Serving engines for ``plan --emit`` and the checkpoint table: one module per engine (``vllm``, ``sglang``,
``trtllm``, ``llamacpp``, ``hf``), each with the same interface (``plan/serving/base.py``): its vocabulary rule for
a separate draft and its configuration writer. Pure: tests check them without the engines installed.

Adding an engine: a module here defining ``ENGINE``, and its name in ``_MODULES``.
"""

from specplan.errors import SpecplanError
from specplan.plan.catalog import ModelInfo
from specplan.plan.serving import hf, llamacpp, sglang, trtllm, vllm
from specplan.plan.serving.base import Compatibility, Emission, Pair, ServingEngine, do_not_speculate  # noqa: F401

_MODULES = (vllm, sglang, trtllm, llamacpp, hf)  # the checkpoint table's column order
REGISTRY = {module.ENGINE.name: module.ENGINE for module in _MODULES}
ENGINES = tuple(REGISTRY)
ENGINE_NAMES = {name: engine.title for name, engine in REGISTRY.items()}


def engine(name: str) -> ServingEngine:
    if name not in REGISTRY:
        raise SpecplanError(f"--emit {name!r} is not one of {', '.join(ENGINES)}")
    return REGISTRY[name]


def same_tokenizer(target: ModelInfo, draft: ModelInfo) -> bool | None:
    """True or False when the catalog knows both tokenizers; None when either is unknown."""
    if target.tokenizer is None or draft.tokenizer is None:
        return None
    return target.tokenizer == draft.tokenizer


def compatibility(target: ModelInfo, draft: ModelInfo) -> dict:
    """engine -> :class:`Compatibility` of this pair under that engine's vocabulary rule; a different tokenizer is
    rejected by every engine."""
    tokenizer = same_tokenizer(target, draft)
    if tokenizer is False:
        different = Compatibility(False, "rejected", f"different tokenizers ({draft.tokenizer} vs {target.tokenizer})")
        return {name: different for name in ENGINES}
    unknown = "" if tokenizer else "; tokenizer identity not known to specplan: check the two tokenizers match"
    return {name: engine.compatibility(target, draft, unknown) for name, engine in REGISTRY.items()}
