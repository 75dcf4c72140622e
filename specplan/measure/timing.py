"""Clocks for ``bench``: warm-cache step latencies, on the synchronised clock ``timed`` (in devices, where the engines
reach it too; importable from here as before)."""

from dataclasses import dataclass

from specplan.measure.devices import timed
from specplan.records import step_quantiles


@dataclass(frozen=True)
class StepLatency:
    """Seconds for one forward step of ``new_tokens`` tokens on a warm cache of ``context_tokens`` tokens."""

    new_tokens: int
    context_tokens: int
    median_s: float
    p10_s: float
    p90_s: float
    samples: int


class StepTimer:
    """The one way specplan times a forward step (``bench`` latencies and ``profile`` alike): a model with a warm
    cache of (1, C) ``context_ids``, timed over steps of k of the (1, K) ``step_ids`` (any tokens: the cost does
    not depend on their values), the cache rewound after each through the engines' cache policy
    (:mod:`specplan.measure.engines.cache`) so that every step sees the same context. k = 1 is a decode step,
    k = γ+1 a verification pass."""

    def __init__(self, model, context_ids, step_ids, device: str, vocab_tokens: int):
        from specplan.measure.engines.cache import new_cache
        from specplan.measure.engines.step import forward

        self.model, self.step_ids, self.device, self.vocab_tokens = model, step_ids, device, vocab_tokens
        self.cache = new_cache(model)
        if context_ids.shape[1]:
            forward(model, context_ids, self.cache, 1, vocab_tokens)  # prefill: the warm cache

    def time(self, new_tokens: int) -> float:
        """Seconds of one step of ``new_tokens`` tokens, device synchronised; the cache is rewound after it."""
        from specplan.measure.engines.cache import drop_last
        from specplan.measure.engines.step import forward

        ids = self.step_ids[:, :new_tokens]
        _, seconds = timed(self.device, lambda: forward(self.model, ids, self.cache, new_tokens, self.vocab_tokens))
        drop_last(self.cache, new_tokens)
        return seconds

    def time_prefill(self, prompt_ids) -> float:
        """Seconds of a prefill of (1, P) ``prompt_ids`` on a fresh cache (what a request's prompt costs)."""
        from specplan.measure.engines.cache import new_cache
        from specplan.measure.engines.step import forward

        cache = new_cache(self.model)
        return timed(self.device, lambda: forward(self.model, prompt_ids, cache, 1, self.vocab_tokens))[1]


class CacheFlush:
    """Evicts the device's caches (CPU L1–L3, a GPU's L2) by writing a buffer larger than any of them, the way
    kernel benchmarks time a cold call. After it a model's next step reads its weights from memory again: what a
    draft's first step of a round does after the target's verification pass streamed the target's weights."""

    BYTES = 256 << 20

    def __init__(self, device: str):
        import torch

        self.buffer = torch.empty(self.BYTES, dtype=torch.uint8, device=device)

    def __call__(self) -> None:
        self.buffer.add_(1)  # read and write every byte


def step_latencies(steps: list, context_ids, device: str, vocab_tokens: int, samples: int = 20,
                   block: int = 5) -> list[StepLatency]:
    """Latency of each (model, new_tokens) step on a warm cache prefilled with (1, C) ``context_ids``.

    Steps are timed in interleaved blocks: ``block`` timed repetitions of one step after an untimed one, then the
    next step, round after round. Interleaving spreads a slow drift of the machine (clock, other load) over every
    step alike; the untimed lead-in warms the caches as a run of decode steps would.
    """
    timers = [StepTimer(model, context_ids, context_ids, device, vocab_tokens) for model, _ in steps]
    times = [[] for _ in steps]
    while len(times[0]) < samples:
        for (_, k), timer, kept in zip(steps, timers, times):
            for i in range(block + 1):
                seconds = timer.time(k)
                if i > 0:
                    kept.append(seconds)
    return [_summary(k, context_ids.shape[1], kept[:samples]) for (_, k), kept in zip(steps, times)]


def _summary(new_tokens: int, context_tokens: int, times: list) -> StepLatency:
    p10, median, p90 = step_quantiles(times)
    return StepLatency(new_tokens, context_tokens, median, p10, p90, len(times))
