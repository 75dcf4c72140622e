"""The memory one GPU holds, term by term, the way vLLM counts it before it starts (docs/serving.md, "Memory"):
the target's weights and KV-cache share, the draft's weights and KV share where it runs, and an activation
reserve, against ``gpu_memory_utilization`` × the device's memory, for at least one sequence of ``max_model_len``
tokens (vLLM refuses to start otherwise: ``check_enough_kv_cache_memory``).

The worst GPU is counted: at draft tensor parallelism 1 one GPU holds the whole draft besides its share of the
target. The activation reserve is an estimate (vLLM measures it with a dummy forward of
``max_num_batched_tokens`` tokens at start): those tokens' activations, the sampler's fp32 logits for
``max_num_seqs`` rows, and a fixed part for the CUDA context, NCCL and cuBLAS workspaces and the CUDA-graph pool.
"""

import math
from dataclasses import dataclass

from specplan.plan.architecture import Architecture
from specplan.plan.latency import BYTES_PER_PARAM, activation_bytes, kv_share

# vLLM's default gpu_memory_utilization: the share of one device's memory its worker may fill.
GPU_MEMORY_UTILIZATION = 0.9
# vLLM EngineArgs.get_batch_defaults for `vllm serve`: 8,192 batched tokens on a GPU of >= 70 GiB that is not an
# A100, else 2,048; max_num_seqs 256 rows for the sampler's dummy pass.
BATCHED_TOKENS_LARGE, BATCHED_TOKENS_SMALL, SAMPLER_ROWS = 8192, 2048, 256
# Estimates: activation values per token of the dummy forward, in units of the model width (residual, norms and
# attention ~4 unsharded; the gated MLP's ~12 sharded over TP); the fixed part in GB.
ACTIVATION_WIDTHS_SHARED, ACTIVATION_WIDTHS_SHARDED, FIXED_RESERVE_GB = 4.0, 12.0, 1.5
# vLLM allocates the KV cache in blocks of 16 tokens.
KV_BLOCK_TOKENS = 16


@dataclass(frozen=True)
class GpuMemory:
    """One GPU's memory at a TP in GB, term by term, and the budget it must fit (``utilization`` × ``memory``)."""

    target_weights: float
    draft_weights: float
    target_kv: float
    draft_kv: float
    reserve: float
    memory: float
    utilization: float
    kv_tokens: int  # tokens of KV cache counted: max(max_model_len, batch × context), whole blocks
    kv_bytes_per_token: float  # both models' KV bytes per cached token on this GPU

    @property
    def budget(self) -> float:
        return self.utilization * self.memory

    @property
    def used(self) -> float:
        return self.target_weights + self.draft_weights + self.target_kv + self.draft_kv + self.reserve

    @property
    def fits(self) -> bool:
        return self.used <= self.budget

    @property
    def longest_tokens(self) -> int:
        """The most KV tokens (whole blocks) that fit beside the weights and the reserve; 0 when none."""
        room = (self.budget - self.target_weights - self.draft_weights - self.reserve) * 1e9
        if room <= 0 or self.kv_bytes_per_token <= 0:
            return 0
        return int(room // self.kv_bytes_per_token) // KV_BLOCK_TOKENS * KV_BLOCK_TOKENS

    def text(self) -> str:
        terms = [f"target weights {self.target_weights:.1f}"]
        if self.draft_weights:
            terms.append(f"draft weights {self.draft_weights:.1f}")
        terms.append(f"target KV {self.target_kv:.1f}")
        if self.draft_kv:
            terms.append(f"draft KV {self.draft_kv:.1f}")
        terms.append(f"reserve {self.reserve:.1f}")
        return (f"{' + '.join(terms)} = {self.used:.1f} GB per GPU of {self.budget:.1f} "
                f"({self.utilization:g} × {self.memory:g} GB; KV for {self.kv_tokens:,} tokens)")

    def to_json(self) -> dict:
        return {"target_weights_gb": self.target_weights, "draft_weights_gb": self.draft_weights,
                "target_kv_gb": self.target_kv, "draft_kv_gb": self.draft_kv, "reserve_gb": self.reserve,
                "used_gb": self.used, "budget_gb": self.budget, "memory_gb": self.memory,
                "gpu_memory_utilization": self.utilization, "kv_tokens": self.kv_tokens, "fits": self.fits,
                "longest_kv_tokens": self.longest_tokens, "text": self.text()}


def batched_tokens(profile) -> int:
    """vLLM's default max_num_batched_tokens for `vllm serve` on this device."""
    large = profile.memory_gb >= 70 and "a100" not in profile.name.lower()
    return BATCHED_TOKENS_LARGE if large else BATCHED_TOKENS_SMALL


def activation_reserve_gb(profile, arch: Architecture, tp: int, dtype: str) -> float:
    """The estimated peak of vLLM's start-up dummy forward on one GPU, plus the fixed part (module docstring)."""
    widths = ACTIVATION_WIDTHS_SHARED + ACTIVATION_WIDTHS_SHARDED / tp
    activations = batched_tokens(profile) * arch.hidden * widths * activation_bytes(dtype)
    logits = SAMPLER_ROWS * arch.vocab_rows * 4.0
    return (activations + logits) / 1e9 + FIXED_RESERVE_GB


def kv_tokens(max_model_len: int, batch: int, context_tokens: int) -> int:
    """KV tokens to hold: one sequence of max_model_len, or the planned batch × context if more; whole blocks."""
    tokens = max(max_model_len, batch * context_tokens, 1)
    return math.ceil(tokens / KV_BLOCK_TOKENS) * KV_BLOCK_TOKENS


def per_gpu(profile, target: Architecture, tp: int, dtype: str, tokens: int, draft: Architecture | None = None,
            draft_tp: int = 1, utilization: float = GPU_MEMORY_UTILIZATION) -> GpuMemory:
    """The worst GPU's memory at target TP ``tp`` (and the draft at ``draft_tp``) for ``tokens`` KV tokens."""
    weight_bytes, kv_bytes = BYTES_PER_PARAM[dtype], activation_bytes(dtype)
    target_kv = target.kv_bytes_per_token(kv_bytes) * kv_share(target, tp)
    draft_kv = draft.kv_bytes_per_token(kv_bytes) * kv_share(draft, draft_tp) if draft else 0.0
    return GpuMemory(
        target_weights=target.params_total * weight_bytes / tp / 1e9,
        draft_weights=draft.params_total * weight_bytes / draft_tp / 1e9 if draft else 0.0,
        target_kv=target_kv * tokens / 1e9, draft_kv=draft_kv * tokens / 1e9,
        reserve=activation_reserve_gb(profile, target, tp, dtype), memory=float(profile.memory_gb),
        utilization=utilization, kv_tokens=tokens, kv_bytes_per_token=target_kv + draft_kv)
