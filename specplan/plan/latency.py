"""The latency model: how long one forward step, a prompt's prefill and an all-reduce take, and the memory one GPU
holds, for a model of a given architecture on a hardware profile (docs/theory.md §5, with check values).

Every profile kind answers the same two questions, ``profile.step_s(...)`` and ``profile.prefill_s(...)`` (the
protocol in ``plan/profile_kinds.py``); the formulas behind them are here:

- roofline (datasheet) profiles: a step streams its weights and KV cache share and does 2·P·k FLOPs per GPU; it
  takes the longer of the two, plus a fixed per-step and a per-layer overhead (kernel launches, framework; every
  GPU runs every layer), plus two all-reduces per layer at tensor parallelism N > 1 (Megatron-style sharding, as
  vLLM, SGLang and TensorRT-LLM do it). One all-reduce of B bytes over N GPUs costs, on a ring,
  latency + 2·(N − 1)/N · B / bandwidth, with B = new tokens · width · activation bytes.
- measured profiles: t = step + layer·L(P) + P·(per_param + per_param_token·k + multi_token(k)) + layer_token·L(P)·k,
  coefficients fitted by ``specplan profile`` on one device, k·batch new tokens charged as one stream of that many.
"""

from specplan.plan.architecture import Architecture
from specplan.plan.shapes import DEFAULT_ASPECT_RATIO, layers_exact

BYTES_PER_PARAM = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
# Tokens in the KV cache at each decode step, where nobody says otherwise (plan's --context-tokens).
DEFAULT_CONTEXT_TOKENS = 1024


def activation_bytes(dtype: str) -> float:
    """Activations and the KV cache stay in 16 bits for 16-bit and quantized weights, 32 bits for fp32/tf32."""
    return 4.0 if BYTES_PER_PARAM[dtype] >= 4 else 2.0


def kv_share(arch: Architecture, tp: int) -> float:
    """The share of the KV cache one GPU holds: 1/N of the KV heads, at least one head."""
    if not arch.kv_heads:
        return 1.0 / tp
    return max(1.0 / tp, 1.0 / arch.kv_heads)


def all_reduce_s(profile, arch: Architecture, new_tokens: int, tp: int, dtype: str) -> float:
    """Seconds of the 2 all-reduces per layer of one step (0 at TP 1); see the module docstring."""
    if tp == 1:
        return 0.0
    payload = new_tokens * arch.hidden * activation_bytes(dtype)
    bandwidth = profile.interconnect_bandwidth_gb_s * 1e9
    one = profile.interconnect_latency_us * 1e-6 + 2.0 * (tp - 1) / tp * payload / bandwidth
    return 2.0 * arch.layers * one


def memory_per_gpu_gb(arch: Architecture, tp: int, dtype: str, context_tokens: int, batch: int) -> float:
    """Weights (every expert) and KV cache one GPU holds at TP ``tp``."""
    weights = arch.params_total * BYTES_PER_PARAM[dtype] / tp
    kv = arch.kv_bytes_per_token(activation_bytes(dtype)) * context_tokens * batch * kv_share(arch, tp)
    return (weights + kv) / 1e9


def roofline_s(profile, memory_bytes: float, flops: float, layers: float, dtype: str) -> float:
    """Overheads plus the longer of streaming ``memory_bytes`` and computing ``flops`` on a roofline profile."""
    memory_s = memory_bytes / (profile.memory_bandwidth_gb_s * 1e9 * profile.bandwidth_efficiency)
    compute_s = flops / (profile.peak_tflops[dtype] * 1e12 * profile.compute_efficiency)
    overhead_s = (profile.step_overhead_us + layers * profile.layer_overhead_us) * 1e-6
    return overhead_s + max(memory_s, compute_s)


def roofline_step_s(profile, arch: Architecture, tokens: int, batch: int, dtype: str, context_tokens: int,
                    tp: int) -> float:
    """A roofline profile's step of ``batch`` sequences with ``tokens`` new tokens each at TP ``tp`` (checked)."""
    new_tokens = tokens * batch
    weights = arch.streamed_params(new_tokens) * BYTES_PER_PARAM[dtype] / tp
    kv = arch.kv_bytes_per_token(activation_bytes(dtype)) * context_tokens * batch * kv_share(arch, tp)
    flops = 2.0 * arch.matmul_params * new_tokens / tp
    return roofline_s(profile, weights + kv, flops, arch.layers, dtype) + all_reduce_s(profile, arch, new_tokens, tp,
                                                                                      dtype)


def measured_latency_terms(params: float, new_tokens: int, aspect_ratio: float = DEFAULT_ASPECT_RATIO,
                           table_entries: int = 1) -> tuple:
    """The terms that ``MeasuredCoefficients.vector()`` multiplies: t = Σ coefficient · term. The model is linear
    in its coefficients, so ``specplan profile`` fits them by least squares on these terms. L = layers_exact(params)
    is the shape rule's real-valued layer count; the multi-token table has ``table_entries`` entries (k = 2..K)."""
    layers = layers_exact(params, aspect_ratio)
    multi_token = [0.0] * table_entries
    if new_tokens > 1 and table_entries:
        multi_token[min(new_tokens - 2, table_entries - 1)] = params
    return (1.0, layers, params, params * new_tokens, layers * new_tokens, *multi_token)


def measured_step_s(coefficients, params: float, new_tokens: int, aspect_ratio: float) -> float:
    """A measured profile's step with ``new_tokens`` tokens in flight: Σ coefficient · term."""
    terms = measured_latency_terms(params, new_tokens, aspect_ratio, len(coefficients.multi_token_table))
    return sum(coefficient * term for coefficient, term in zip(coefficients.vector(), terms))


def step_time_s(profile, arch: Architecture, tokens: int, batch: int, dtype: str | None, context_tokens: int,
                tp: int = 1, aspect_ratio: float | None = None) -> float:
    """Seconds for one forward step of ``batch`` sequences with ``tokens`` new tokens each, at tensor parallelism
    ``tp``, on any profile kind. A measured profile takes the active parameter count at ``aspect_ratio`` (its own
    shape rule when None)."""
    return profile.step_s(arch, tokens, batch, dtype, context_tokens, tp, aspect_ratio)


def prefill_time_s(profile, arch: Architecture, tokens: int, batch: int, dtype: str | None, tp: int = 1,
                   aspect_ratio: float | None = None) -> float:
    """Seconds to prefill ``batch`` prompts of ``tokens`` tokens on any profile kind."""
    return profile.prefill_s(arch, tokens, batch, dtype, tp, aspect_ratio)
