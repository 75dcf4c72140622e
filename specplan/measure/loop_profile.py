"""``profile``'s synthetic speculative round: what a decode loop costs beyond its forward passes.

Two random-weight models of one size (a draft and a target with different seeds) run the same greedy ``ar`` and
``sd`` loops as ``bench`` (engines ar/sd, the round timed by :class:`RoundClock`), beside isolated step latencies
of the same models on the same context (:func:`specplan.measure.timing.step_latencies`). Their differences are
the two loop terms ``plan``'s measured latency model adds (docs/records.md, report's "Where the time goes"):

- ``step_overhead_s`` ℓ: per forward step inside a decode loop beyond the isolated step (argmax, the step's
  small tensor ops and Python): the mean of the AR loop's (t_AR − t_target(1)) and the draft steps'
  (d − t_draft(1));
- ``round_overhead_s`` o: per speculative round beyond its draft steps and the isolated verification step
  (acceptance, KV-cache rollback, the round's host sync, and the verification's own loop cost).

Plan then charges t_AR = t(M, 1) + ℓ, a draft step t(N, 1) + ℓ and a round γ·(t(N, 1) + ℓ) + t(M, γ+1) + ℓ + o.
torch is imported inside the functions only.
"""

import copy
import statistics
from dataclasses import dataclass

LOOP_GAMMA = 4
LOOP_NEW_TOKENS = 48
LOOP_REPEATS = 3


def measure_loop(job, settings, gamma: int = LOOP_GAMMA, new_tokens: int = LOOP_NEW_TOKENS,
                 repeats: int = LOOP_REPEATS) -> dict:
    """The loop terms on ``job``'s architecture (random weights), as the profile's ``loop`` mapping."""
    import torch

    from specplan.measure import devices
    from specplan.measure.engines.base import Models
    from specplan.measure.engines.probs import Sampling
    from specplan.measure.engines.registry import PROFILE_LOOPS
    from specplan.measure.engines.round_clock import RoundClock
    from specplan.measure.random_models import build_from_config
    from specplan.measure.timing import step_latencies, timed

    device = settings.device
    context = max(settings.context_tokens, 1)
    config = copy.deepcopy(job.config)
    config.max_position_embeddings = max(getattr(config, "max_position_embeddings", 0) or 0,
                                         context + new_tokens + gamma + 16)
    _, torch_dtype = devices.resolve_dtype(settings.dtype, device)
    target = build_from_config(config, torch_dtype, device, settings.seed)
    draft = build_from_config(config, torch_dtype, device, settings.seed + 1)
    baseline, speculative = PROFILE_LOOPS
    try:
        vocab = config.get_text_config().vocab_size
        models = Models(target, draft, device, vocab)
        generator = torch.Generator().manual_seed(settings.seed)
        prompt = torch.randint(vocab, (1, context), generator=generator).to(device)
        greedy = Sampling()
        steps = step_latencies([(draft, 1), (target, 1), (target, gamma + 1)], prompt, device, vocab,
                               samples=max(settings.repeats, 5))
        draft_1, target_1, verify = (s.median_s for s in steps)

        def ar(tokens: int) -> float:
            return timed(device, lambda: baseline.decode(models, prompt, None, tokens, greedy, 0))[1]

        ar(new_tokens)  # warm-up
        ar_step = statistics.median((ar(new_tokens) - ar(1)) / (new_tokens - 1) for _ in range(repeats))
        clocks = []
        for repeat in range(repeats + 1):  # the first is a warm-up
            clock = RoundClock(device, every=1)
            speculative.decode(models, prompt, gamma, new_tokens, greedy, 0, clock)
            if repeat:
                clocks.append(clock.record)
    finally:
        del target, draft
        devices.free_memory(device)
    rounds = sum(len(c["rounds"]) for c in clocks)
    drafted = sum(sum(c["drafted"]) for c in clocks)
    draft_step = sum(sum(c["draft_s"]) for c in clocks) / drafted
    verify_loop = sum(sum(c["verify_s"]) for c in clocks) / rounds
    rest = sum(r - d - v for c in clocks for d, v, r in zip(c["draft_s"], c["verify_s"], c["round_s"])) / rounds
    step_overhead = max(0.0, ((ar_step - target_1) + (draft_step - draft_1)) / 2)
    round_overhead = max(0.0, rest + verify_loop - verify - step_overhead)
    return {
        "step_overhead_s": step_overhead,
        "round_overhead_s": round_overhead,
        "method": f"synthetic speculative round: {job.label} draft and target (random weights, greedy), "
                  f"γ {gamma}, {new_tokens} tokens × {repeats} decodes, context {context}",
        "measured": {"ar_step_s": ar_step, "draft_step_in_loop_s": draft_step, "verify_in_loop_s": verify_loop,
                     "round_rest_s": rest, "target_step_s": target_1, "draft_step_s": draft_1,
                     "verify_step_s": verify, "rounds": rounds},
    }


@dataclass(frozen=True)
class LoopChoice:
    """The model the synthetic round runs on, or why there is none (one line)."""

    job: object = None
    reason: str | None = None


def loop_model(jobs, measurement, settings) -> LoopChoice:
    """The smallest measured model that specplan's speculative loop can run and of which a draft and a target fit
    in ``LADDER_MEMORY_SHARE`` of the device memory."""
    from specplan.measure import devices
    from specplan.measure.engines.registry import PROFILE_LOOPS
    from specplan.measure.latency_profile import LADDER_MEMORY_SHARE
    from specplan.plan.hardware import BYTES_PER_PARAM

    measured = {t.model.label for t in measurement.timings}
    candidates = [j for j in jobs if j.label in measured
                  and not any(loop.refuses(j.config, "model") for loop in PROFILE_LOOPS)]
    if not candidates:
        return LoopChoice(reason="no measured model can run the speculative loop (see `bench` architectures in "
                                 "the README)")
    job = min(candidates, key=lambda j: j.params)
    need = 2 * job.params * BYTES_PER_PARAM[settings.dtype]  # a draft and a target of this size at once
    if need > LADDER_MEMORY_SHARE * devices.memory_bytes(settings.device):
        return LoopChoice(reason=f"two {job.label} models do not fit in half the device memory")
    return LoopChoice(job)


def measure_loop_or_reason(job, settings) -> tuple[dict | None, str | None]:
    """:func:`measure_loop`, or (None, why) when the two models run out of device memory."""
    from specplan.measure import devices

    try:
        return measure_loop(job, settings), None
    except (RuntimeError, MemoryError) as exc:
        if not devices.is_out_of_memory(exc):
            raise
        devices.free_memory(settings.device)
        return None, f"out of memory on {settings.device} for two {job.label} models"
