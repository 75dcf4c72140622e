"""Clocks for ``bench``: a timed region synchronised with the device, and warm-cache step latencies."""

import statistics
import time
from dataclasses import dataclass

from specplan.measure import devices


def timed(device: str, work):
    """(result, seconds) of ``work()``, with the device synchronised before and after so the clock reads finished
    work (metrics.md: timings synchronise the device before reading the clock)."""
    devices.synchronize(device)
    start = time.perf_counter()
    result = work()
    devices.synchronize(device)
    return result, time.perf_counter() - start


@dataclass(frozen=True)
class StepLatency:
    """Seconds for one forward step of ``new_tokens`` tokens on a warm cache of ``context_tokens`` tokens."""

    new_tokens: int
    context_tokens: int
    median_s: float
    p10_s: float
    p90_s: float
    samples: int


def step_latencies(steps: list, context_ids, device: str, vocab_tokens: int, samples: int = 20,
                   block: int = 5) -> list[StepLatency]:
    """Latency of each (model, new_tokens) step on a warm cache prefilled with (1, C) ``context_ids``.

    Steps are timed in interleaved blocks: ``block`` timed repetitions of one step after an untimed one, then the
    next step, round after round. Interleaving spreads a slow drift of the machine (clock, other load) over every
    step alike; the untimed lead-in warms the caches as a run of decode steps would. The KV cache is cropped back
    after each step, so every sample sees the same context (1 token = a decode step, γ+1 = a verification pass).
    """
    from specplan.measure.engines.step import forward, new_cache

    caches = [new_cache(model) for model, _ in steps]
    for (model, _), cache in zip(steps, caches):
        forward(model, context_ids, cache, 1, vocab_tokens)
    times = [[] for _ in steps]
    while len(times[0]) < samples:
        for (model, k), cache, kept in zip(steps, caches, times):
            step_ids = context_ids[:, :k]  # any tokens: the cost does not depend on their values
            for i in range(block + 1):
                _, seconds = timed(device, lambda: forward(model, step_ids, cache, k, vocab_tokens))
                cache.crop(-k)
                if i > 0:
                    kept.append(seconds)
    return [_summary(k, context_ids.shape[1], kept[:samples]) for (_, k), kept in zip(steps, times)]


def _summary(new_tokens: int, context_tokens: int, times: list) -> StepLatency:
    deciles = statistics.quantiles(times, n=10, method="inclusive") if len(times) > 1 else times * 9
    return StepLatency(new_tokens, context_tokens, statistics.median(times), deciles[0], deciles[-1], len(times))
