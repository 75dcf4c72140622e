"""``profile --compile``: a measured profile of compiled steps (``engine: compiled``), timed as a serving engine
runs them: the compiled engine's static KV cache (:mod:`specplan.measure.engines.static_cache`) and steps compiled
with torch.compile (:mod:`specplan.measure.engines.compiled`): CUDA graphs on CUDA (``reduce-overhead``), inductor's
default on the CPU.

Data flow: the same models, repeats, interleaving and fit as the eager profile (:mod:`specplan.measure.
latency_profile`), with :class:`CompiledStepTimer` in place of :class:`specplan.measure.timing.StepTimer`. Each
timer compiles its model's steps before any timed one, three graphs per model (counted, ``graphs``):

- the prefill of the context: one graph with a dynamic length (no CUDA graph), as ``bench --compile``'s;
- the decode step (k = 1): a static graph, a CUDA graph on CUDA;
- the verification passes k = 2..K: ONE graph with k symbolic (``dynamic=True``; on CUDA one CUDA graph is
  recorded per k from it, as vLLM captures one per batch size). Per-k static graphs would cost K − 1 compiles
  per model (minutes each on a CPU) and time the same kernels.

Every shape is run ``CAPTURE_CALLS`` times untimed (on CUDA the first run warms up and the second records the CUDA
graph); the first call's seconds per shape are the ``compile`` section's ``compile_s``, the rest its ``warmup_s``,
never inside a timed figure. A timed step that still compiled a graph is counted (``late_compiles``) and named.

torch is imported inside the functions and methods only.
"""

from specplan.errors import SpecplanError

NAME = "compiled"  # the profile's ``engine``
# torch.compile's backend: "inductor" (generated kernels) in every profile; tests set "eager", which captures
# the same single graphs per shape without generating kernels (minutes less on a CPU; its timings are eager ones)
BACKEND = "inductor"
CAPTURE_CALLS = 3  # untimed calls per shape before timing: compile + warm-up (+ CUDA graph record)
DEVICES = ("cpu", "cuda")  # where --compile runs (inductor's CPU and CUDA backends)
# The CPU default ladder under --compile: every model costs three compiles of about a minute each on a CPU
# (20M: 91 s prefill, 38 s decode step, 30 s verification graph on this project's shared 2-core CPU, 1 thread),
# so the default stops at two sizes (the fewest plan accepts); --sizes goes further.
CPU_LADDER_MAX_PARAMS = 80e6


def check_device(device: str) -> None:
    """One line when ``--compile`` cannot run on ``device`` (resolved: cpu, cuda, cuda:N, mps)."""
    if device.split(":")[0] not in DEVICES:
        raise SpecplanError(f"--compile on --device {device!r}: the compiled steps run on cpu and cuda only "
                            "(inductor); drop --compile or choose one of those")


def check_jobs(jobs) -> None:
    """One line, before any model is built, for the first model whose architecture the compiled engine refuses."""
    from specplan.measure.engines import compiled

    for job in jobs:
        reason = compiled.refuses(job.config)
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


def graph_count() -> int:
    """Graphs dynamo has compiled in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def cudagraph_skips() -> int:
    """Compiled graphs inductor ran without a CUDA graph (on CUDA: a step that was not captured)."""
    from torch._dynamo.utils import counters

    return int(counters["inductor"]["cudagraph_skips"])


class CompiledStepTimer:
    """:class:`specplan.measure.timing.StepTimer`'s interface (``time(k)``, ``time_prefill(ids)``) on a static
    cache with compiled steps: a warm cache of (1, C) ``context_ids``, steps of k of the (1, K) ``step_ids``, the
    cache rewound after each by moving its write position. ``on_compile(what)`` is told each shape before it is
    compiled; ``report`` holds what compiling cost and whether a timed step compiled."""

    def __init__(self, model, context_ids, step_ids, device: str, vocab_tokens: int, on_compile=lambda what: None):
        import torch

        from specplan.measure.engines import compiled
        from specplan.measure.engines.static_cache import new_static_cache
        from specplan.measure.engines.step import cache_argument

        compiled.configure()
        max_tokens = step_ids.shape[1]
        self.device, self.vocab_tokens, self.context_ids = device, vocab_tokens, context_ids
        # the attributes compiled.call reads
        self.mode, self.backend, self.argument = compiled.mode_for(device), BACKEND, cache_argument(model)
        self.cache = new_static_cache(model, context_ids.shape[1] + max_tokens + 1)
        self.ids = {k: step_ids[:, :k].clone() for k in range(1, max_tokens + 1)}
        graphs = {"mode": self.mode} if self.mode != "default" and BACKEND == "inductor" else {}
        self.prefill = torch.compile(model.forward, fullgraph=True, dynamic=True, backend=BACKEND)  # no CUDA graph
        decode = torch.compile(model.forward, fullgraph=True, dynamic=False, backend=BACKEND, **graphs)
        verify = torch.compile(model.forward, fullgraph=True, dynamic=True, backend=BACKEND, **graphs)
        self.steps = {k: decode if k == 1 else verify for k in self.ids}
        self.report = {"compile_s": {}, "warmup_s": 0.0, "graphs": 0, "late_compiles": 0}
        before = graph_count()
        if context_ids.shape[1]:
            on_compile(f"prefill of {context_ids.shape[1]} tokens (dynamic length)")
            self._warm("prefill", lambda: self._prefill(context_ids))
        on_compile("decode step (k = 1)")
        self._warm("k=1", lambda: self._step(1))
        if max_tokens > 1:
            on_compile(f"verification passes (k = 2..{max_tokens}, one graph)")
        for k in range(2, max_tokens + 1):
            self._warm(f"k={k}", lambda k=k: self._step(k))
        self.report["graphs"] = graph_count() - before

    def _warm(self, shape: str, work) -> None:
        from specplan.measure.timing import timed

        seconds = [timed(self.device, work)[1] for _ in range(CAPTURE_CALLS)]
        self.report["compile_s"][shape] = seconds[0]
        self.report["warmup_s"] += sum(seconds[1:])

    def _prefill(self, prompt_ids) -> None:
        from specplan.measure.engines import compiled
        from specplan.measure.engines.static_cache import restart

        restart(self.cache)
        with _inference():
            compiled.call(self, self.prefill, prompt_ids, 1, self.vocab_tokens)

    def _step(self, k: int) -> None:
        from specplan.measure.engines import compiled
        from specplan.measure.engines.static_cache import rewind

        with _inference():
            compiled.call(self, self.steps[k], self.ids[k], k, self.vocab_tokens)
        rewind(self.cache, k)

    def _timed(self, work) -> float:
        from specplan.measure.timing import timed

        before = graph_count()
        seconds = timed(self.device, work)[1]
        if graph_count() != before:
            self.report["late_compiles"] += 1
        return seconds

    def time(self, new_tokens: int) -> float:
        """Seconds of one compiled step of ``new_tokens`` tokens, device synchronised; the cache rewound after."""
        return self._timed(lambda: self._step(new_tokens))

    def time_prefill(self, prompt_ids) -> float:
        """Seconds of a compiled prefill of ``prompt_ids`` on an emptied cache; the cache holds the context again
        after it (refilled, untimed, when ``prompt_ids`` are other tokens)."""
        seconds = self._timed(lambda: self._prefill(prompt_ids))
        if prompt_ids is not self.context_ids:
            self._prefill(self.context_ids)
        return seconds


def _inference():
    """inference_mode, as the static cache's tensors were made in it (an in-place write outside fails)."""
    import torch

    return torch.inference_mode()


class CompiledTimers:
    """The step-timer factory ``latency_profile.measure`` takes under ``--compile``; keeps each model's compile
    report for the profile's ``compile`` section. ``on_compile(label, what)`` reports progress."""

    def __init__(self, device: str, on_compile=lambda label, what: None):
        from specplan.measure.engines import compiled

        self.device, self.on_compile = device, on_compile
        self.mode = compiled.mode_for(device) if BACKEND == "inductor" else BACKEND
        self.reports = {}  # model label -> CompiledStepTimer.report
        self.skips_before = cudagraph_skips()

    def __call__(self, job, model, context_ids, step_ids, device: str, vocab_tokens: int) -> CompiledStepTimer:
        timer = CompiledStepTimer(model, context_ids, step_ids, device, vocab_tokens,
                                  lambda what: self.on_compile(job.label, what))
        self.reports[job.label] = timer.report
        return timer

    def section(self) -> dict:
        """The profile's ``compile`` mapping: how the steps were compiled and what compiling cost, per model."""
        models = {label: {"compile_s": dict(r["compile_s"]), "total_compile_s": sum(r["compile_s"].values()),
                          "warmup_s": r["warmup_s"], "graphs": r["graphs"], "late_compiles": r["late_compiles"]}
                  for label, r in self.reports.items()}
        return {"mode": self.mode, "backend": BACKEND, "cuda_graphs": self.mode == "reduce-overhead",
                "cudagraph_skips": cudagraph_skips() - self.skips_before,
                "shapes": "prefill: one dynamic-length graph; k = 1: a static graph; k = 2..K: one graph, k symbolic",
                "total_compile_s": sum(m["total_compile_s"] for m in models.values()),
                "late_compiles": sum(m["late_compiles"] for m in models.values()), "models": models}


def mark(document: dict, timers: CompiledTimers, name: str) -> dict:
    """The eager profile document made a compiled one: ``engine: compiled``, its description, the ``compile``
    section; checked again by plan's loader."""
    from specplan.plan.hardware import profile_from_dict

    document["engine"] = NAME
    how = "CUDA graphs" if timers.mode == "reduce-overhead" else BACKEND
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
