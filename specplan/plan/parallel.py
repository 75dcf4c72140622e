"""The choice of tensor parallelism: which TPs a model's heads allow, the smallest whose share of the weights and
KV cache fits one device, and the notes when none does. What a step costs at a TP is ``plan/latency.py``.
"""

import math

from specplan.errors import SpecplanError
from specplan.plan.architecture import Architecture
from specplan.plan.latency import all_reduce_s, memory_per_gpu_gb
from specplan.plan.profile_kinds import Profile

MAX_TENSOR_PARALLEL = 64
# The share of device memory a serving engine may fill (vLLM's default gpu_memory_utilization).
MEMORY_UTILIZATION = 0.9
_TP_CHOICES = (1, 2, 4, 8, 16, 32, 64)


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


def smallest_fitting_tp(profile: Profile, arch: Architecture, dtype: str, context_tokens: int,
                        batch: int) -> tuple:
    """(TP, fits): the smallest power of two the heads allow whose share fits ``MEMORY_UTILIZATION`` of one
    device; the largest allowed one, and False, when none fits."""
    allowed = [tp for tp in _TP_CHOICES if tensor_parallel_fits(tp, arch)] or [1]
    budget = MEMORY_UTILIZATION * profile.memory_gb
    for tp in allowed:
        if memory_per_gpu_gb(arch, tp, dtype, context_tokens, batch) <= budget:
            return tp, True
    return allowed[-1], False


def describe_fit(profile: Profile, arch: Architecture, tp: int, dtype: str, context_tokens: int,
                 batch: int) -> str:
    used = memory_per_gpu_gb(arch, tp, dtype, context_tokens, batch)
    return f"{used:.1f} GB per GPU of {profile.memory_gb:g} GB ({math.floor(100 * used / profile.memory_gb)}%)"


def choose_tensor_parallel(profile: Profile, arch: Architecture, given: int | None, dtype: str,
                           context_tokens: int, batch: int) -> tuple:
    """(TP, notes). A profile without a memory figure (measured): the given TP, else 1. A given TP stands (noted when the target's share still does not fit). Else 1 when the target
    fits one device, or the smallest TP that fits, said in a note (TP 1 and a note when the profile has no
    interconnect figures to model more)."""
    if profile.memory_gb is None:  # no memory figure: nothing to choose by
        return given or 1, []
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
                f"({describe_fit(profile, arch, tp, *fit)}); set --tensor-parallel-size to choose"]


def summary(profile: Profile, arch: Architecture, tp: int, dtype: str, context_tokens: int,
            batch: int) -> dict:
    """Interconnect, the all-reduce seconds of a one-token-per-sequence step, and the memory each GPU holds ({} for
    a profile without a memory figure)."""
    if profile.memory_gb is None:
        return {}
    return {"interconnect": profile.interconnect or None,
            "all_reduce_s": all_reduce_s(profile, arch, batch, tp, dtype),
            "memory_per_gpu_gb": memory_per_gpu_gb(arch, tp, dtype, context_tokens, batch)}
