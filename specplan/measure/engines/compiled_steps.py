"""The compiled engine's step timer for ``profile --compile`` (:mod:`specplan.measure.compiled_profile`):
:class:`specplan.measure.timing.StepTimer`'s interface on the compiled engine's static KV cache
(:mod:`~specplan.measure.engines.static_cache`) with steps compiled by torch.compile as
:mod:`~specplan.measure.engines.compiled` compiles them: CUDA graphs on CUDA (``reduce-overhead``), inductor's
default on the CPU. Two graphs per model (counted, ``report["graphs"]``):

- the decode step (k = 1): a static graph, a CUDA graph on CUDA;
- ONE graph with the new-token count symbolic (``dynamic=True``) for the prefill of the context and the
  verification passes k = 2..K, every row's logits kept (``logits_to_keep=0``, so that one graph serves both;
  the prefill's output head then runs over all C context tokens, not only the last: V·d·C more multiply-adds,
  about 11% of the 20M ladder model's prefill, 5% of 80M's, under 1% from 1.2B up). On CUDA one CUDA graph is
  recorded from it per length, as vLLM records one per batch size. Static graphs per k and a prefill graph of
  its own would cost K compiles more per model (half a minute to three minutes each on a CPU) for the same
  kernels.

Every shape runs ``CAPTURE_CALLS`` times untimed (on CUDA the first run warms up and the second records the CUDA
graph); the first call's seconds per shape are ``report["compile_s"]``, the rest ``report["warmup_s"]``, never
inside a timed figure; a timed step that compiled a graph all the same is counted (``report["late_compiles"]``).
torch (and the compiled engine, which imports it) loads inside the functions only.
"""

from specplan.measure.devices import timed

# torch.compile's backend: "inductor" (generated kernels) in every profile; tests set "eager", which captures the
# same single graphs per shape without generating kernels (minutes less on a CPU; its timings are eager ones)
BACKEND = "inductor"
CAPTURE_CALLS = 3  # untimed calls per shape before timing: compile + warm-up (+ CUDA graph record)


def refuses(config) -> str | None:
    """The compiled engine's refusal of a model of ``config`` (one line), or None."""
    from specplan.measure.engines import compiled

    return compiled.refuses(config)


def mode_for(device: str) -> str:
    """torch.compile's mode on ``device`` (CUDA graphs on CUDA), or the backend when it is not inductor."""
    from specplan.measure.engines import compiled

    return compiled.mode_for(device) if BACKEND == "inductor" else BACKEND


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
        self.device, self.vocab_tokens, self.context_ids = device, vocab_tokens, context_ids.contiguous()
        self.mode, self.backend, self.argument = compiled.mode_for(device), BACKEND, cache_argument(model)  # for call
        self.cache = new_static_cache(model, context_ids.shape[1] + max_tokens + 1)
        # contiguous strides: a slice of (1, K) keeps stride K, and dynamo guards on it (a new graph per k)
        self.ids = {k: step_ids[:, :k].clone(memory_format=torch.contiguous_format) for k in range(1, max_tokens + 1)}
        graphs = {"mode": self.mode} if self.mode != "default" and BACKEND == "inductor" else {}
        decode = torch.compile(model.forward, fullgraph=True, dynamic=False, backend=BACKEND, **graphs)
        self.multi = torch.compile(model.forward, fullgraph=True, dynamic=True, backend=BACKEND, **graphs)
        self.steps = {k: decode if k == 1 else self.multi for k in self.ids}
        self.report = {"compile_s": {}, "warmup_s": 0.0, "graphs": 0, "late_compiles": 0}
        before = graph_count()
        if context_ids.shape[1]:
            on_compile(f"prefill of {context_ids.shape[1]} tokens and verification passes (one graph, length "
                       "symbolic)")
            self._warm("prefill", lambda: self._prefill(self.context_ids))
        on_compile("decode step (k = 1)")
        self._warm("k=1", lambda: self._step(1))
        if max_tokens > 1 and not context_ids.shape[1]:
            on_compile(f"verification passes (k = 2..{max_tokens}, one graph)")
        for k in range(2, max_tokens + 1):
            self._warm(f"k={k}", lambda k=k: self._step(k))
        self.report["graphs"] = graph_count() - before

    def _warm(self, shape: str, work) -> None:
        seconds = [timed(self.device, work)[1] for _ in range(CAPTURE_CALLS)]
        self.report["compile_s"][shape] = seconds[0]
        self.report["warmup_s"] += sum(seconds[1:])

    def _prefill(self, prompt_ids) -> None:
        from specplan.measure.engines.static_cache import restart

        restart(self.cache)
        self._forward(self.multi, prompt_ids, 0)  # 0: every row's logits (what the shared graph keeps)

    def _step(self, k: int) -> None:
        from specplan.measure.engines.static_cache import rewind

        self._forward(self.steps[k], self.ids[k], 1 if k == 1 else 0)
        rewind(self.cache, k)

    def _forward(self, fn, ids, keep: int) -> None:
        from specplan.measure.engines import compiled

        with _inference():
            compiled.call(self, fn, ids, keep, self.vocab_tokens)

    def _timed(self, fn, ids, keep: int) -> float:
        """Seconds of one compiled forward alone (the cache's rewind or restart stays outside the clock, as in
        eager ``StepTimer``); a graph compiled meanwhile is counted in ``late_compiles``."""
        before = graph_count()
        _, seconds = timed(self.device, lambda: self._forward(fn, ids, keep))
        if graph_count() != before:
            self.report["late_compiles"] += 1
        return seconds

    def time(self, new_tokens: int) -> float:
        """Seconds of one compiled step of ``new_tokens`` tokens, device synchronised; the cache rewound after."""
        from specplan.measure.engines.static_cache import rewind

        k = new_tokens
        seconds = self._timed(self.steps[k], self.ids[k], 1 if k == 1 else 0)
        rewind(self.cache, k)
        return seconds

    def time_prefill(self, prompt_ids) -> float:
        """Seconds of a compiled prefill of ``prompt_ids`` on an emptied cache; the cache holds the context again
        after it (refilled, untimed, when ``prompt_ids`` are other tokens)."""
        from specplan.measure.engines.static_cache import restart

        restart(self.cache)
        seconds = self._timed(self.multi, prompt_ids.contiguous(), 0)
        if prompt_ids is not self.context_ids:
            self._prefill(self.context_ids)
        return seconds


def _inference():
    """inference_mode, as the static cache's tensors were made in it (an in-place write outside fails)."""
    import torch

    return torch.inference_mode()
