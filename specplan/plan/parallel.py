"""Tensor parallelism in the latency model, and the step time of a model of a given architecture.

With tensor parallelism N (Megatron-style, as vLLM, SGLang and TensorRT-LLM shard a decoder), each GPU holds 1/N of
every weight matrix and 1/N of the KV heads (at least one head: with fewer KV heads than GPUs they are replicated),
so a step streams 1/N of the weights and KV cache and does 1/N of the FLOPs per GPU — but every GPU still runs every
layer (the per-step and per-layer overheads stay whole), and the partial results are summed by two all-reduces
per layer (after attention and after the MLP). One all-reduce of B bytes over N GPUs costs, on a ring,

    t_allreduce = latency + 2·(N − 1)/N · B / bandwidth,   B = new tokens · width · activation bytes

with the interconnect's latency and per-GPU, per-direction bandwidth from the profile (``interconnect_*`` keys).
A step then takes

    t = step_overhead + layers·layer_overhead + max(bytes/N ÷ (bw·η_bw), FLOPs/N ÷ (peak·η_flops))
        + 2·layers·t_allreduce.

A measured profile describes one device: it stays valid for N = 1 only. Check values: docs/theory.md §5.
"""

import math

from specplan.errors import SpecplanError
from specplan.plan.architecture import Architecture
from specplan.plan.hardware import BYTES_PER_PARAM, Profile, RooflineProfile

MAX_TENSOR_PARALLEL = 64
# The share of device memory a serving engine may fill (vLLM's default gpu_memory_utilization).
MEMORY_UTILIZATION = 0.9
_TP_CHOICES = (1, 2, 4, 8, 16, 32, 64)


def activation_bytes(dtype: str) -> float:
    """Activations stay in 16 bits for 16-bit and quantized weights, 32 bits for fp32/tf32."""
    return 4.0 if BYTES_PER_PARAM[dtype] >= 4 else 2.0


def check_tensor_parallel(tp: int, arch: Architecture | None, option: str, who: str = "target") -> None:
    """TP must be 1..64, divide the query heads, and divide or be a multiple of the KV heads (vLLM's rule)."""
    if isinstance(tp, bool) or not isinstance(tp, int) or not 1 <= tp <= MAX_TENSOR_PARALLEL:
        raise SpecplanError(f"{option} {tp!r} must be an integer from 1 to {MAX_TENSOR_PARALLEL}")
    if arch is None or arch.heads is None:
        return
    if arch.heads % tp:
        raise SpecplanError(f"{option} {tp} does not divide the {who}'s {arch.heads} attention heads")
    if arch.kv_heads and arch.kv_heads % tp and tp % arch.kv_heads:
        raise SpecplanError(f"{option} {tp} neither divides nor is a multiple of the {who}'s {arch.kv_heads} KV heads")


def tensor_parallel_fits(tp: int, arch: Architecture) -> bool:
    try:
        check_tensor_parallel(tp, arch, "tp")
    except SpecplanError:
        return False
    return True


def kv_share(arch: Architecture, tp: int) -> float:
    """The share of the KV cache one GPU holds: 1/N of the KV heads, at least one head."""
    if not arch.kv_heads:
        return 1.0 / tp
    return max(1.0 / tp, 1.0 / arch.kv_heads)


def all_reduce_s(profile: RooflineProfile, arch: Architecture, new_tokens: int, tp: int, dtype: str) -> float:
    """Seconds of the 2 all-reduces per layer of one step (0 at TP 1); see the module docstring."""
    if tp == 1:
        return 0.0
    payload = new_tokens * arch.hidden * activation_bytes(dtype)
    bandwidth = profile.interconnect_bandwidth_gb_s * 1e9
    one = profile.interconnect_latency_us * 1e-6 + 2.0 * (tp - 1) / tp * payload / bandwidth
    return 2.0 * arch.layers * one


def step_time_s(profile: Profile, arch: Architecture, tokens: int, batch: int, dtype: str | None,
                context_tokens: int, tp: int = 1, aspect_ratio: float | None = None) -> float:
    """Seconds for one forward step of ``batch`` sequences with ``tokens`` new tokens each, at tensor parallelism
    ``tp``. With the shape rule's architecture and TP 1 this is exactly the profile's own ``step_time_s``; a
    measured profile takes the active parameter count (its fit's shape rule, at ``aspect_ratio``)."""
    if not isinstance(profile, RooflineProfile):
        _check_one_device(profile, tp)
        return profile.step_time_s(arch.params_active, tokens, batch, dtype, context_tokens, aspect_ratio)
    dtype = profile.check_dtype(dtype)
    if tp > 1 and not profile.interconnect_bandwidth_gb_s:
        raise SpecplanError(f"profile {profile.name!r} has no interconnect figures (interconnect_bandwidth_gb_s, "
                            f"interconnect_latency_us): tensor parallelism {tp} cannot be modelled on it")
    new_tokens = tokens * batch
    weights = arch.streamed_params(new_tokens) * BYTES_PER_PARAM[dtype] / tp
    kv = arch.kv_bytes_per_token(activation_bytes(dtype)) * context_tokens * batch * kv_share(arch, tp)
    flops = 2.0 * arch.matmul_params * new_tokens / tp
    compute_and_memory = profile.roofline_s(weights + kv, flops, arch.layers, dtype)
    return compute_and_memory + all_reduce_s(profile, arch, new_tokens, tp, dtype)


def prefill_time_s(profile: Profile, arch: Architecture, tokens: int, batch: int, dtype: str | None, tp: int = 1,
                   aspect_ratio: float | None = None) -> float:
    """Seconds to prefill ``batch`` prompts of ``tokens`` tokens: a measured profile's prefill model, or one step of
    that many new tokens on a roofline profile (compute-bound once the prompt is long; the KV cache it reads is
    counted at the prompt's length)."""
    if isinstance(profile, RooflineProfile):
        return step_time_s(profile, arch, tokens, batch, dtype, tokens, tp, aspect_ratio)
    _check_one_device(profile, tp)
    return profile.prefill_time_s(arch.params_active, tokens * batch, dtype, aspect_ratio)


def _check_one_device(profile: Profile, tp: int) -> None:
    if tp != 1:
        raise SpecplanError(f"profile {profile.name!r} was measured on one device: tensor parallelism {tp} needs a "
                            "roofline profile with interconnect figures")


def memory_per_gpu_gb(arch: Architecture, tp: int, dtype: str, context_tokens: int, batch: int) -> float:
    """Weights (every expert) and KV cache one GPU holds at TP ``tp``."""
    weights = arch.params_total * BYTES_PER_PARAM[dtype] / tp
    kv = arch.kv_bytes_per_token(activation_bytes(dtype)) * context_tokens * batch * kv_share(arch, tp)
    return (weights + kv) / 1e9


def smallest_fitting_tp(profile: RooflineProfile, arch: Architecture, dtype: str, context_tokens: int,
                        batch: int) -> tuple:
    """(TP, fits): the smallest power of two the heads allow whose share fits ``MEMORY_UTILIZATION`` of one
    device; the largest allowed one, and False, when none fits."""
    allowed = [tp for tp in _TP_CHOICES if tensor_parallel_fits(tp, arch)] or [1]
    budget = MEMORY_UTILIZATION * profile.memory_gb
    for tp in allowed:
        if memory_per_gpu_gb(arch, tp, dtype, context_tokens, batch) <= budget:
            return tp, True
    return allowed[-1], False


def describe_fit(profile: RooflineProfile, arch: Architecture, tp: int, dtype: str, context_tokens: int,
                 batch: int) -> str:
    used = memory_per_gpu_gb(arch, tp, dtype, context_tokens, batch)
    return f"{used:.1f} GB per GPU of {profile.memory_gb:g} GB ({math.floor(100 * used / profile.memory_gb)}%)"


def choose_tensor_parallel(profile: RooflineProfile, arch: Architecture, given: int | None, dtype: str,
                           context_tokens: int, batch: int) -> tuple:
    """(TP, notes). A given TP stands (noted when the target's share still does not fit). Else 1 when the target
    fits one device, or the smallest TP that fits, said in a note (TP 1 and a note when the profile has no
    interconnect figures to model more)."""
    fit = (dtype, context_tokens, batch)
    budget = MEMORY_UTILIZATION * profile.memory_gb
    if given is not None:
        if memory_per_gpu_gb(arch, given, *fit) <= budget:
            return given, []
        return given, [f"the target does not fit {given} × {profile.name} at tensor parallelism {given} "
                       f"({describe_fit(profile, arch, given, *fit)}): latencies assume it did"]
    tp, fits = smallest_fitting_tp(profile, arch, *fit)
    if tp == 1:
        return 1, []
    if not profile.interconnect_bandwidth_gb_s:
        return 1, [f"the target does not fit one {profile.name} ({describe_fit(profile, arch, 1, *fit)}) and the "
                   "profile has no interconnect figures: latencies are those of one device streaming all weights"]
    how = "the smallest tensor parallelism that fits" if fits else "and it does not fit even there"
    return tp, [f"the target does not fit one {profile.name}: planned on {tp} GPUs, {how} "
                f"({describe_fit(profile, arch, tp, *fit)}); set --tensor-parallel to choose"]


def summary(profile: RooflineProfile, arch: Architecture, tp: int, dtype: str, context_tokens: int,
            batch: int) -> dict:
    """Interconnect, the all-reduce seconds of a one-token-per-sequence step, and the memory each GPU holds."""
    return {"interconnect": profile.interconnect or None,
            "all_reduce_s": all_reduce_s(profile, arch, batch, tp, dtype),
            "memory_per_gpu_gb": memory_per_gpu_gb(arch, tp, dtype, context_tokens, batch)}
