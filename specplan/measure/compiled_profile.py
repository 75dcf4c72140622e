"""``profile --compile``: a measured profile of compiled steps (``engine: compiled``), timed as a serving engine
runs them: the compiled engine's static KV cache (:mod:`specplan.measure.engines.static_cache`) and steps compiled
with torch.compile (:mod:`specplan.measure.engines.compiled`): CUDA graphs on CUDA (``reduce-overhead``), inductor's
default on the CPU.

Data flow: the same models, repeats, interleaving and fit as the eager profile (:mod:`specplan.measure.
latency_profile`), each model's steps timed by :class:`specplan.measure.engines.compiled_steps.CompiledStepTimer`
(built by :class:`CompiledTimers`, the factory ``latency_profile.measure`` takes) in place of
:class:`specplan.measure.timing.StepTimer`: two graphs per model (k = 1; one for the prefill and k = 2..K), compiled
and warmed up before any timed step ─► the eager document made a compiled one (:func:`mark`): ``engine: compiled``
and a ``compile`` section (what compiling cost per model and shape, the graph count, ``late_compiles``), never
inside a timed figure.

torch loads inside the timer only.
"""

from specplan.errors import SpecplanError
from specplan.measure.engines import compiled_steps

NAME = "compiled"  # the profile's ``engine``
DEVICES = ("cpu", "cuda")  # where --compile runs (inductor's CPU and CUDA backends)
# The CPU default ladder under --compile: every model costs two compiles of one to three minutes each on this
# project's shared 2-core CPU (docs/compiled.md), so the default stops at two sizes (the fewest plan accepts);
# --sizes goes further.
CPU_LADDER_MAX_PARAMS = 80e6


def check_device(device: str) -> None:
    """One line when ``--compile`` cannot run on ``device`` (resolved: cpu, cuda, cuda:N, mps)."""
    if device.split(":")[0] not in DEVICES:
        raise SpecplanError(f"--compile on --device {device!r}: the compiled steps run on cpu and cuda only "
                            "(inductor); drop --compile or choose one of those")


def check_jobs(jobs) -> None:
    """One line, before any model is built, for the first model whose architecture the compiled engine refuses."""
    for job in jobs:
        reason = compiled_steps.refuses(job.config)
        if reason:
            raise SpecplanError(f"--compile ({job.label}): {reason} (drop --compile)")


def default_ladder(device: str, ladder: list) -> list:
    """The eager default ladder cut to ``CPU_LADDER_MAX_PARAMS`` on cpu (at least its two smallest sizes)."""
    if device != "cpu":
        return ladder
    return [p for p in ladder if p <= CPU_LADDER_MAX_PARAMS] or ladder[:2]


def default_name(eager_name: str) -> str:
    """measured-DEVICE-DTYPE-compiled: a compiled profile does not overwrite the eager one."""
    return f"{eager_name}-{NAME}"


class CompiledTimers:
    """The step-timer factory ``latency_profile.measure`` takes under ``--compile``; keeps each model's compile
    report for the profile's ``compile`` section. ``on_compile(label, what)`` reports progress."""

    def __init__(self, device: str, on_compile=lambda label, what: None):
        self.device, self.on_compile, self.mode = device, on_compile, compiled_steps.mode_for(device)
        self.reports = {}  # model label -> CompiledStepTimer.report
        self.skips_before = compiled_steps.cudagraph_skips()

    def __call__(self, job, model, context_ids, step_ids, device: str, vocab_tokens: int):
        timer = compiled_steps.CompiledStepTimer(model, context_ids, step_ids, device, vocab_tokens,
                                  lambda what: self.on_compile(job.label, what))
        self.reports[job.label] = timer.report
        return timer

    def section(self) -> dict:
        """The profile's ``compile`` mapping: how the steps were compiled and what compiling cost, per model."""
        models = {label: {"compile_s": dict(r["compile_s"]), "total_compile_s": sum(r["compile_s"].values()),
                          "warmup_s": r["warmup_s"], "graphs": r["graphs"], "late_compiles": r["late_compiles"]}
                  for label, r in self.reports.items()}
        return {"mode": self.mode, "backend": compiled_steps.BACKEND, "cuda_graphs": self.mode == "reduce-overhead",
                "cudagraph_skips": compiled_steps.cudagraph_skips() - self.skips_before,
                "shapes": "k = 1: a static graph; the prefill and k = 2..K: one graph, length symbolic, every row's logits",
                "total_compile_s": sum(m["total_compile_s"] for m in models.values()),
                "late_compiles": sum(m["late_compiles"] for m in models.values()), "models": models}


def mark(document: dict, timers: CompiledTimers, name: str) -> dict:
    """The eager profile document made a compiled one: ``engine: compiled``, its description, the ``compile``
    section; checked again by plan's loader."""
    from specplan.plan.hardware import profile_from_dict

    document["engine"] = NAME
    how = "CUDA graphs" if timers.mode == "reduce-overhead" else compiled_steps.BACKEND
    document["description"] += f", compiled steps (static cache, torch.compile {timers.mode}: {how})"
    document["compile"] = timers.section()
    profile_from_dict(document, f"profile {name!r}")
    return document


def engine_line(document: dict) -> str | None:
    """On CUDA, which steps the profile measured (one line), else None."""
    if not str(document.get("settings", {}).get("device", "")).startswith("cuda"):
        return None
    if document.get("engine") == NAME:
        section = document.get("compile", {})
        skips = section.get("cudagraph_skips", 0)
        return ("measured compiled steps: static cache, CUDA graphs (torch.compile reduce-overhead), as a serving "
                "engine runs them" + (f"; {skips} graph(s) ran without a CUDA graph" if skips else ""))
    return ("measured eager steps: transformers' forward with its host work per step (no CUDA graphs); "
            "--compile times CUDA-graph steps as a serving engine runs them")


def compile_lines(document: dict) -> list:
    """One line on what compiling cost (kept apart from the timings), and one per timed step that compiled."""
    section = document.get("compile")
    if not section:
        return []
    models = section["models"]
    lines = [f"compile (not timed): {section['total_compile_s']:.0f} s, "
             + ", ".join(f"{label} {m['total_compile_s']:.0f} s / {m['graphs']} graphs" for label, m in models.items())
             + f"; warm-up {sum(m['warmup_s'] for m in models.values()):.1f} s"]
    if section["late_compiles"]:
        lines.append(f"{section['late_compiles']} timed step(s) compiled a graph: their figures include compile "
                     "time; re-run")
    return lines
