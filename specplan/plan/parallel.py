"""The choice of tensor parallelism: which TPs a model's heads allow, the smallest whose worst GPU holds what vLLM
counts (``plan/memory.py``: weights, KV of one max_model_len sequence, reserve), and the notes when none
does. What a step costs at a TP is ``plan/latency.py``.
"""

from dataclasses import dataclass

from specplan.errors import SpecplanError
from specplan.plan import memory
from specplan.plan.architecture import Architecture
from specplan.plan.latency import all_reduce_s
from specplan.plan.profile_kinds import Profile

MAX_TENSOR_PARALLEL = 64
TP_CHOICES = (1, 2, 4, 8, 16, 32, 64)


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


def memory_at(profile: Profile, need: "MemoryNeed", tp: int) -> memory.GpuMemory:
    return memory.per_gpu(profile, need.target, tp, need.dtype, need.tokens, need.draft, need.draft_tp,
                          need.utilization)


@dataclass(frozen=True)
class MemoryNeed:
    """What must fit on each GPU: the target (and the draft, where known) in ``dtype`` with ``tokens`` of KV."""

    target: Architecture
    dtype: str
    tokens: int
    draft: Architecture | None = None
    draft_tp: int = 1
    utilization: float = memory.GPU_MEMORY_UTILIZATION


def smallest_fitting_tp(profile: Profile, need: MemoryNeed) -> tuple:
    """(TP, fits): the smallest power of two the heads allow whose worst GPU fits the budget; the largest allowed
    one, and False, when none fits."""
    allowed = [tp for tp in TP_CHOICES if tensor_parallel_fits(tp, need.target)] or [1]
    for tp in allowed:
        if memory_at(profile, need, tp).fits:
            return tp, True
    return allowed[-1], False


def choose_tensor_parallel(profile: Profile, need: MemoryNeed, given: int | None) -> tuple:
    """(TP, notes). A profile without a memory figure (measured): the given TP, else 1. A given TP stands (noted,
    term by term, when it does not fit). Else 1 when one device fits, or the smallest TP that fits, said in a note
    (TP 1 and a note when the profile has no interconnect figures to model more)."""
    if profile.memory_gb is None:  # no memory figure: nothing to choose by
        return given or 1, []
    if given is not None:
        used = memory_at(profile, need, given)
        if used.fits:
            return given, []
        return given, [f"the target does not fit {given} × {profile.name} at tensor parallelism {given} by vLLM's arithmetic "
                       f"({used.text()}): latencies assume they did"]
    tp, fits = smallest_fitting_tp(profile, need)
    if tp == 1:
        return 1, []
    if not profile.interconnect_bandwidth_gb_s:
        return 1, [f"the target does not fit one {profile.name} ({memory_at(profile, need, 1).text()}) and the "
                   "profile has no interconnect figures: latencies are those of one device streaming all weights"]
    how = "the smallest tensor parallelism that fits" if fits else "and it does not fit even there"
    return tp, [f"the target does not fit one {profile.name}: planned on {tp} GPUs, {how} "
                f"({memory_at(profile, need, tp).text()}); set --tensor-parallel-size to choose"]


def summary(profile: Profile, arch: Architecture, tp: int, dtype: str, batch: int, need: MemoryNeed) -> dict:
    """Interconnect, the all-reduce seconds of a one-token-per-sequence step, and the memory each GPU holds, term
    by term ({} for a profile without a memory figure)."""
    if profile.memory_gb is None:
        return {}
    used = memory_at(profile, need, tp)
    return {"interconnect": profile.interconnect or None,
            "all_reduce_s": all_reduce_s(profile, arch, batch, tp, dtype),
            "memory_per_gpu_gb": used.used, "memory": used.to_json()}
