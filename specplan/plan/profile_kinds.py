"""The two kinds of hardware profile behind one protocol, :class:`Profile`: every kind carries every attribute
(a figure the kind does not have is None or 0, stated below), and answers ``step_s`` and ``prefill_s`` with the
formulas of ``plan/latency.py``.

- ``roofline`` (the bundled datasheet profiles in ``profiles/``): memory, bandwidth, peak FLOPs, efficiencies,
  per-step and per-layer overheads and, for tensor parallelism, interconnect figures.
- ``measured`` (written by ``specplan profile``): latency coefficients fitted to timings on one device, and the
  decode loop's own terms (ℓ per step, o per round, a draft's cold first step, the prefill cost).

Reading and validating the YAML files: ``plan/hardware.py``.
"""

from dataclasses import dataclass, field
from typing import Protocol

from specplan.errors import SpecplanError
from specplan.plan import latency
from specplan.plan.architecture import Architecture, rule_architecture
from specplan.plan.latency import DEFAULT_CONTEXT_TOKENS
from specplan.plan.shapes import DEFAULT_ASPECT_RATIO


class Profile(Protocol):
    """What the planner reads from a profile, whatever its kind."""

    name: str
    kind: str
    dtype: str
    memory_gb: float | None  # None: no memory figure (measured), so no fit check and no choice of TP
    interconnect: str
    interconnect_bandwidth_gb_s: float | None  # None: tensor parallelism cannot be modelled
    interconnect_latency_us: float | None
    loop_step_overhead_s: float  # ℓ: a forward step's extra cost inside a decode loop (0: not measured)
    round_overhead_s: float  # o: a speculative round's cost beyond its forward steps (0: not measured)
    prefill_per_param_token_s: float | None  # q of the prefill model (None: not measured)
    measured_tokens: int | None  # K: the largest step measured (None: not a measured table)
    measured_params: tuple | None  # (smallest, largest) size measured (None: nothing measured)
    engine: str | None  # how the steps were timed: "eager" | "compiled" (CUDA graphs on CUDA); None: not measured

    @property
    def dtypes(self) -> tuple: ...

    def check_dtype(self, dtype: str | None) -> str: ...

    def step_s(self, arch: Architecture, tokens: int, batch: int, dtype: str | None, context_tokens: int, tp: int,
               aspect_ratio: float | None) -> float: ...

    def prefill_s(self, arch: Architecture, tokens: int, batch: int, dtype: str | None, tp: int,
                  aspect_ratio: float | None) -> float: ...

    def cold_step_extra_s(self, params: float) -> float: ...

    def leave_one_out_error(self, params: float) -> float | None: ...

    def key_figures(self) -> dict: ...


@dataclass(frozen=True)
class RooflineProfile:
    """A device described by datasheet figures (latency model: ``plan/latency.py``)."""

    name: str
    description: str
    dtype: str
    memory_gb: float
    memory_bandwidth_gb_s: float
    peak_tflops: dict
    bandwidth_efficiency: float
    compute_efficiency: float
    step_overhead_us: float
    layer_overhead_us: float
    sources: str
    kind: str = "roofline"
    # Tensor parallelism: per-GPU, per-direction bandwidth and the latency of one all-reduce.
    interconnect: str = ""
    interconnect_bandwidth_gb_s: float | None = None
    interconnect_latency_us: float | None = None

    # A datasheet has no decode-loop, prefill or per-size measurements.
    loop_step_overhead_s = 0.0
    round_overhead_s = 0.0
    prefill_per_param_token_s = None
    measured_tokens = None
    measured_params = None
    engine = None

    @property
    def dtypes(self) -> tuple:
        return tuple(self.peak_tflops)

    def step_s(self, arch: Architecture, tokens: int, batch: int, dtype: str | None, context_tokens: int, tp: int,
               aspect_ratio: float | None = None) -> float:
        dtype = self.check_dtype(dtype)
        if tp > 1 and not self.interconnect_bandwidth_gb_s:
            raise SpecplanError(f"profile {self.name!r} has no interconnect figures (interconnect_bandwidth_gb_s, "
                                f"interconnect_latency_us): tensor parallelism {tp} cannot be modelled on it")
        return latency.roofline_step_s(self, arch, tokens, batch, dtype, context_tokens, tp)

    def prefill_s(self, arch: Architecture, tokens: int, batch: int, dtype: str | None, tp: int,
                  aspect_ratio: float | None = None) -> float:
        """One step of ``tokens`` new tokens (compute-bound once the prompt is long), its KV cache read counted
        at the prompt's length."""
        return self.step_s(arch, tokens, batch, dtype, tokens, tp, aspect_ratio)

    def step_time_s(self, params: float, tokens: int, batch: int = 1, dtype: str | None = None,
                    context_tokens: int = DEFAULT_CONTEXT_TOKENS, aspect_ratio: float = DEFAULT_ASPECT_RATIO) -> float:
        """Seconds for one step of a shape-rule model of ``params`` parameters on one device."""
        return self.step_s(rule_architecture(params, aspect_ratio), tokens, batch, dtype, context_tokens, 1)

    def cold_step_extra_s(self, params: float) -> float:
        """0: a datasheet profile's per-step overheads stand for a draft's first step of a round too."""
        return 0.0

    def leave_one_out_error(self, params: float) -> None:
        return None

    def check_dtype(self, dtype: str | None) -> str:
        dtype = dtype or self.dtype
        if dtype not in self.peak_tflops:
            raise SpecplanError(
                f"--dtype {dtype!r} is not in profile {self.name!r} (it has {', '.join(self.peak_tflops)})"
            )
        return dtype

    def key_figures(self) -> dict:
        return {
            "dtype": self.dtype,
            "memory_gb": self.memory_gb,
            "bandwidth_gb_s": self.memory_bandwidth_gb_s,
            "peak_tflops": self.peak_tflops[self.dtype],
            "step_overhead_us": self.step_overhead_us,
            "layer_overhead_us": self.layer_overhead_us,
            "interconnect_gb_s": self.interconnect_bandwidth_gb_s,
        }


@dataclass(frozen=True)
class MeasuredCoefficients:
    """Fitted latency terms of a measured profile, all in seconds and non-negative."""

    step_overhead_s: float
    layer_overhead_s: float
    per_param_s: float
    per_param_token_s: float
    layer_token_s: float = 0.0
    # Extra cost per parameter of a step with k > 1 new tokens over a 1-token step: matrix-matrix kernels (and a
    # causal mask) replace the matrix-vector path of a decode step. One number: the same extra for every k > 1.
    # A table (m_2, m_3, ..., m_K): the extra of each k measured, m_K held beyond K (an empty table: only k = 1 was
    # measured, no extra is known). CPU BLAS kernels pick their blocking by the number of rows, so there a 3-token
    # step can cost more than a 5-token one (a measured table keeps that; a smooth curve cannot).
    multi_token_per_param_s: float | tuple = 0.0

    @property
    def multi_token_table(self) -> tuple:
        """``multi_token_per_param_s`` as a table of one or more entries (a number is a table of one)."""
        value = self.multi_token_per_param_s
        return tuple(value) if isinstance(value, (tuple, list)) else (value,)

    def vector(self) -> tuple:
        """The coefficients in the order of :func:`latency.measured_latency_terms`' terms."""
        return (self.step_overhead_s, self.layer_overhead_s, self.per_param_s, self.per_param_token_s,
                self.layer_token_s, *self.multi_token_table)

    @classmethod
    def from_vector(cls, values) -> "MeasuredCoefficients":
        """The inverse of :meth:`vector`: five named coefficients, then the multi-token table."""
        step, layer, per_param, per_param_token, layer_token, *table = (float(v) for v in values)
        return cls(step, layer, per_param, per_param_token, layer_token, tuple(table))


@dataclass(frozen=True)
class MeasuredProfile:
    """A device described by latencies measured with ``specplan profile`` and a fitted latency model."""

    name: str
    dtype: str
    coefficients: MeasuredCoefficients
    aspect_ratio: float = DEFAULT_ASPECT_RATIO
    description: str = ""
    extra: dict = field(default_factory=dict)  # measurements, errors, environment: kept, not used by plan
    kind: str = "measured"
    # The decode loop's own terms (``loop`` in the file, from profile's synthetic speculative round): ℓ per
    # forward step inside a loop, o per speculative round beyond its forward steps. 0 where not measured.
    loop_step_overhead_s: float = 0.0
    round_overhead_s: float = 0.0
    # ``prefill.per_param_token_s`` q: a prompt of P tokens costs t(N, 1) + q·N·(P − 1); None where not measured.
    prefill_per_param_token_s: float | None = None
    # ``cold_step``: (params, extra seconds) per measured size, the cost of a decode step right after a cache flush
    # beyond the warm one (a draft's first step of each round).
    cold_step_extra: tuple = ()
    # ``engine``: the steps timed eagerly (transformers' forward, host work per step included) or compiled (a
    # static cache and torch.compile'd steps, as a serving engine runs them); a file without it is eager.
    engine: str = "eager"

    # One device, no datasheet: no memory figure to choose a tensor parallelism by, no interconnect.
    memory_gb = None
    interconnect = ""
    interconnect_bandwidth_gb_s = None
    interconnect_latency_us = None

    @property
    def dtypes(self) -> tuple:
        return (self.dtype,)

    def step_s(self, arch: Architecture, tokens: int, batch: int, dtype: str | None, context_tokens: int, tp: int,
               aspect_ratio: float | None = None) -> float:
        self._check_one_device(tp)
        return self.step_time_s(arch.params_active, tokens, batch, dtype, context_tokens, aspect_ratio)

    def prefill_s(self, arch: Architecture, tokens: int, batch: int, dtype: str | None, tp: int,
                  aspect_ratio: float | None = None) -> float:
        self._check_one_device(tp)
        return self.prefill_time_s(arch.params_active, tokens * batch, dtype, aspect_ratio)

    def _check_one_device(self, tp: int) -> None:
        if tp != 1:
            raise SpecplanError(f"profile {self.name!r} was measured on one device: tensor parallelism {tp} needs a "
                                "roofline profile with interconnect figures")

    def step_time_s(self, params: float, tokens: int, batch: int = 1, dtype: str | None = None,
                    context_tokens: int = DEFAULT_CONTEXT_TOKENS, aspect_ratio: float | None = None) -> float:
        """Seconds for one forward step; ``tokens·batch`` new tokens are charged as one stream of that many.
        The fit was made at the profile's own context length and shape rule (``context_tokens`` is ignored)."""
        self.check_dtype(dtype)
        return latency.measured_step_s(self.coefficients, params, tokens * batch, aspect_ratio or self.aspect_ratio)

    def prefill_time_s(self, params: float, tokens: int, dtype: str | None = None,
                       aspect_ratio: float | None = None) -> float:
        """Seconds to prefill a prompt of ``tokens`` tokens: t(N, 1) + q·N·(tokens − 1) with the measured q, else the
        step model's own extrapolation to a step of that many tokens."""
        if self.prefill_per_param_token_s is None:
            return self.step_time_s(params, tokens, dtype=dtype, aspect_ratio=aspect_ratio)
        return self.step_time_s(params, 1, dtype=dtype, aspect_ratio=aspect_ratio) \
            + self.prefill_per_param_token_s * params * max(tokens - 1, 0)

    def cold_step_extra_s(self, params: float) -> float:
        """Extra seconds of a draft's first step in a round (its weights evicted by the target's pass): the measured
        extras interpolated in log size, the nearest measured size's held outside their range; 0 if not measured."""
        if not self.cold_step_extra:
            return 0.0
        import numpy as np

        sizes, extras = zip(*sorted(self.cold_step_extra))
        return float(np.interp(np.log(params), np.log(sizes), extras))

    @property
    def measured_tokens(self) -> int | None:
        """K of a per-k table: the largest step measured (1 for an empty table); beyond it the last entry holds."""
        table = self.coefficients.multi_token_per_param_s
        return len(table) + 1 if isinstance(table, (tuple, list)) else None

    @property
    def measured_params(self) -> tuple | None:
        """(smallest, largest) model size in the profile's measured table; None when the file has no table."""
        sizes = [row.get("params") for row in self.extra.get("measurements") or [] if isinstance(row, dict)]
        sizes = [float(p) for p in sizes if isinstance(p, (int, float)) and not isinstance(p, bool) and p > 0]
        return (min(sizes), max(sizes)) if sizes else None

    def leave_one_out_error(self, params: float) -> float | None:
        """The fit's largest relative error on the size ``params`` when that size was left out of the fit
        (``fit.leave_one_out`` written by ``specplan profile``); None where unknown."""
        entries = (self.extra.get("fit") or {}).get("leave_one_out") or []
        for entry in entries:
            if isinstance(entry, dict) and entry.get("params") == params:
                error = entry.get("max_abs_error")
                return float(error) if isinstance(error, (int, float)) and not isinstance(error, bool) else None
        return None

    def check_dtype(self, dtype: str | None) -> str:
        if dtype not in (None, self.dtype):
            raise SpecplanError(f"--dtype {dtype!r}: profile {self.name!r} was measured in {self.dtype}")
        return self.dtype

    def key_figures(self) -> dict:
        return {
            "dtype": self.dtype,
            "step_overhead_us": self.coefficients.step_overhead_s * 1e6,
            "layer_overhead_us": self.coefficients.layer_overhead_s * 1e6,
        }
