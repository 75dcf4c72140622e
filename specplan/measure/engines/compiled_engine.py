"""``bench --compile``: the ``ar`` and ``sd`` engines on the compiled engine's static cache and compiled steps
(:mod:`specplan.measure.engines.compiled`), behind the same interface as the eager ones.

They keep the eager engines' names (``ar``, ``sd``), record fields and exactness check, so ``report`` pairs a
compiled ``sd`` with a compiled ``ar``; the run's settings say ``compile: true``, the torch.compile mode and which
engines ran compiled (``hf`` and ``vllm`` stay as they are). :func:`prepare` compiles every shape and warms up
once per pair, before the timed runs, and returns the ``kind: "engine"`` record's fields. torch (and the compiled
module, which imports it) loads inside the functions only, so the registry stays cheap to import.
"""

from specplan.measure.engines import ar, sd
from specplan.measure.engines.base import generator

NAME = "compiled"  # the engine record's ``engine``
BACKEND = "inductor"  # torch.compile's backend; "eager" / "aot_eager" capture the same graphs without codegen


def mode_for(device: str) -> str:
    """torch.compile's mode on ``device``: CUDA graphs on CUDA, inductor's default elsewhere."""
    return "reduce-overhead" if str(device).startswith("cuda") else "default"


def settings(config, device: str) -> dict:
    """What ``--compile`` adds to the run's settings (nothing without it, so older files resume)."""
    if not config.compile:
        return {}
    mode = mode_for(device) if BACKEND == "inductor" else BACKEND
    return {"compile": True, "compile_mode": mode,
            "compiled_engines": [name for name in config.engines if name in VARIANTS]}


class _CompiledEngine:
    """One eager engine's compiled variant: the eager engine's name, fields and refusals, plus the compiled
    path's own (checked on the config alone, before any weights load)."""

    def __init__(self, eager):
        self.eager = eager
        self.name, self.kind, self.speculative = eager.name, eager.kind, eager.speculative
        self.times_rounds, self.summary = eager.times_rounds, eager.summary

    def refuses(self, config, role: str) -> str | None:
        from specplan.measure.engines import compiled

        reason = compiled.refuses(config)
        if reason:
            return f"--compile ({self.name}, {role}): {reason} (drop --compile)"
        return self.eager.refuses(config, role)

    def settings(self, config) -> dict:
        return self.eager.settings(config)

    def absent_settings(self) -> dict:
        return self.eager.absent_settings()

    def environment(self) -> dict:
        return self.eager.environment()

    def decode(self, models, prompt_ids, gamma, max_new_tokens: int, sampling, seed: int, clock=None):
        from specplan.measure.engines import compiled

        rng = generator(models.device, seed)
        if not self.speculative:
            return compiled.decode_ar(models.target, prompt_ids, max_new_tokens, sampling, rng, models.vocab_tokens)
        return compiled.decode_sd(models.target, models.draft, prompt_ids, gamma, max_new_tokens, sampling, rng,
                                  models.vocab_tokens, clock=clock)

    def run_fields(self, decoded, clock) -> dict:
        return self.eager.run_fields(decoded, clock)


VARIANTS = {engine.name: _CompiledEngine(engine) for engine in (ar.ENGINE, sd.ENGINE)}


def prepare(config, models, prompt_ids: list) -> dict:
    """Compile every shape the run's compiled engines take and warm them up (untimed), sized for the longest of
    ``prompt_ids`` ((1, P) tensors); the ``kind: "engine"`` record's fields, compile time and warm-up apart."""
    from specplan.measure.engines import compiled
    from specplan.measure.engines.probs import Sampling

    engines = tuple(name for name in config.engines if name in VARIANTS)
    speculative = any(VARIANTS[name].speculative for name in engines)
    report = compiled.prepare(models.target, models.draft, prompt_ids[0], config.max_new_tokens,
                              config.gammas if speculative else (), Sampling(config.temperature, config.top_p),
                              models.vocab_tokens, max_prompt_tokens=max(int(p.shape[1]) for p in prompt_ids),
                              engines=engines, backend=BACKEND)
    return engine_fields(report)


def engine_fields(report) -> dict:
    """A ``CompileReport`` as an engine record's fields: the compile seconds as start-up, the warm-up apart."""
    return {"engine": NAME, "gamma": None, "startup_s": report.total_compile_s, "warmup_s": report.warmup_s,
            "compile": report.as_dict()}


def late_compiles(models) -> tuple:
    """Shapes first compiled inside a timed decode (their compile time is inside that run's wall time)."""
    from specplan.measure.engines import compiled

    return compiled.compile_report(models.target, models.draft).late_compiles
