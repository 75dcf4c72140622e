"""Every engine ``bench`` and ``profile`` can run, by name: the one place that imports the engine modules.

Adding an engine: its module under ``measure/engines/`` (one object implementing ``base.SequentialEngine`` or
``base.BatchedEngine``) and one entry in ``ENGINES`` below; ``bench --engines``, its help, the pre-flight
refusals, the recorded settings and the task plan follow from the entry.
"""

from specplan.errors import SpecplanError
from specplan.measure.engines import ar, compiled_engine, hf, sd, vllm, vllm_steps
from specplan.measure.engines.base import BATCHED, SEQUENTIAL

ENGINES = {engine.name: engine for engine in (ar.ENGINE, sd.ENGINE, hf.ENGINE, vllm.ENGINE)}
DEFAULT = tuple(name for name, engine in ENGINES.items() if engine.kind == SEQUENTIAL)  # bench's --engines default
# profile's synthetic round: the baseline loop and specplan's own speculative loop (both take a RoundClock)
PROFILE_LOOPS = (ar.ENGINE, sd.ENGINE)
# the target alone, one token per step: the baseline loop, and what `acceptance` continues prompts with
BASELINE = ar.ENGINE
decode_target_alone = ar.decode_ar
# `profile --engine vllm`: vLLM's own steps and rounds (measure.vllm_profile)
PROFILE_VLLM = vllm_steps


# `--compile`: the engines with a compiled variant (the same names, on a static cache with compiled steps)
COMPILED = compiled_engine.VARIANTS
prepare_compiled, compiled_settings, late_compiles = (compiled_engine.prepare, compiled_engine.settings,
                                                      compiled_engine.late_compiles)


def names() -> tuple:
    return tuple(ENGINES)


def get(name: str):
    """The engine called ``name``; a one-line error naming the choices otherwise."""
    if name not in ENGINES:
        raise SpecplanError(f"--engines {name!r}: choose from {','.join(ENGINES)}")
    return ENGINES[name]


def for_run(name: str, compile: bool = False):
    """The engine that runs ``name``'s tasks: its compiled variant under ``--compile`` where it has one (``ar``,
    ``sd``), else the engine itself (``hf`` and ``vllm`` stay as they are)."""
    engine = get(name)
    return COMPILED.get(name, engine) if compile else engine


def unknown(selected: tuple) -> list:
    return [name for name in selected if name not in ENGINES]


def sequential(selected: tuple) -> list:
    """The selected engines that decode one sequence at a time, in the order given."""
    return [ENGINES[name] for name in selected if ENGINES[name].kind == SEQUENTIAL]


def batched(selected: tuple) -> list:
    return [ENGINES[name] for name in selected if ENGINES[name].kind == BATCHED]


def batched_names() -> tuple:
    """Every registered batched engine (what ``--batch-size`` applies to)."""
    return tuple(name for name, engine in ENGINES.items() if engine.kind == BATCHED)


def baseline():
    """The sequential engine without speculation: the reference of every exactness check."""
    return next(e for e in ENGINES.values() if e.kind == SEQUENTIAL and not e.speculative)


def help_text() -> str:
    """``--engines``' help: each engine's summary."""
    return "Comma-separated: " + ", ".join(engine.summary for engine in ENGINES.values()) + "."


def refusal(selected: tuple, config, role: str, compile: bool = False) -> str | None:
    """The first selected engine's refusal of this model (one line, registry order; the compiled variants' under
    ``--compile``), or None when every one can run it."""
    for engine in (for_run(name, compile) for name in ENGINES if name in selected):
        reason = engine.refuses(config, role)
        if reason:
            return reason
    return None
