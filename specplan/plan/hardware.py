"""Hardware profiles and the latency model: how long one forward step of a P-parameter model takes for k new tokens.

The formulas, with check values, are in docs/theory.md §5.

Two kinds of profile, both YAML files that ``plan --profile NAME|PATH`` accepts:

- ``roofline`` (the bundled datasheet profiles in ``profiles/``): a step streams the weights and the KV cache from
  memory and does 2·P·k·batch FLOPs; it takes the longer of the two, plus a fixed per-step overhead and a per-layer
  overhead (kernel launches, framework). The overheads are why a small draft is not proportionally cheaper.
- ``measured`` (written by ``specplan profile``): the same terms with coefficients fitted to timings on the user's
  machine: t = step + layer·L(P) + P·(per_param + per_param_token·k + multi_token_per_param(k)) + layer_token·L(P)·k,
  with k·batch new tokens charged as one stream of that many (see :func:`measured_latency_terms`).
"""

from dataclasses import MISSING, dataclass, field, fields
from importlib import resources
from pathlib import Path


from specplan.checks import is_finite_number, load_yaml, read_text_file, shown
from specplan.errors import SpecplanError
from specplan.plan.shapes import DEFAULT_ASPECT_RATIO, layers_exact

BYTES_PER_PARAM = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
# Grouped-query attention: KV heads as a share of query heads (LLaMA-3-70B: 8 of 64). Part of the shape rule.
KV_HEAD_FRACTION = 0.125
DEFAULT_CONTEXT_TOKENS = 1024


def _kv_bytes(params: float, context_tokens: int, batch: int, dtype: str, aspect_ratio: float) -> float:
    """Bytes of KV cache read per step: K and V, every layer, every cached token (KV kept in 16 bits, or 32)."""
    layers = layers_exact(params, aspect_ratio)
    elem_bytes = 4.0 if BYTES_PER_PARAM[dtype] >= 4 else 2.0
    return 2.0 * layers * (aspect_ratio * layers) * KV_HEAD_FRACTION * context_tokens * batch * elem_bytes


@dataclass(frozen=True)
class RooflineProfile:
    """A device described by datasheet figures (see the module docstring for the latency model)."""

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
    # Tensor parallelism (plan/parallel.py): per-GPU, per-direction bandwidth and the latency of one all-reduce.
    interconnect: str = ""
    interconnect_bandwidth_gb_s: float | None = None
    interconnect_latency_us: float | None = None

    def step_time_s(
        self,
        params: float,
        tokens: int,
        batch: int = 1,
        dtype: str | None = None,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        aspect_ratio: float = DEFAULT_ASPECT_RATIO,
    ) -> float:
        """Seconds for one forward step of ``batch`` sequences, each with ``tokens`` new tokens."""
        dtype = self.check_dtype(dtype)
        memory_bytes = params * BYTES_PER_PARAM[dtype] + _kv_bytes(params, context_tokens, batch, dtype, aspect_ratio)
        return self.roofline_s(memory_bytes, 2.0 * params * tokens * batch, layers_exact(params, aspect_ratio), dtype)

    def roofline_s(self, memory_bytes: float, flops: float, layers: float, dtype: str) -> float:
        """Overheads plus the longer of streaming ``memory_bytes`` and computing ``flops`` on this device."""
        memory_s = memory_bytes / (self.memory_bandwidth_gb_s * 1e9 * self.bandwidth_efficiency)
        compute_s = flops / (self.peak_tflops[dtype] * 1e12 * self.compute_efficiency)
        overhead_s = (self.step_overhead_us + layers * self.layer_overhead_us) * 1e-6
        return overhead_s + max(memory_s, compute_s)

    def cold_step_extra_s(self, params: float) -> float:
        """0: a datasheet profile's per-step overheads stand for a draft's first step of a round too."""
        return 0.0

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
    # measured, no extra is known). CPU BLAS kernels pick their
    # blocking by the number of rows, so there a 3-token step can cost more than a 5-token one (a measured table
    # keeps that; a smooth curve cannot).
    multi_token_per_param_s: float | tuple = 0.0

    @property
    def multi_token_table(self) -> tuple:
        """``multi_token_per_param_s`` as a table of one or more entries (a number is a table of one)."""
        value = self.multi_token_per_param_s
        return tuple(value) if isinstance(value, (tuple, list)) else (value,)

    def vector(self) -> tuple:
        """The coefficients in the order of :func:`measured_latency_terms`' terms."""
        return (self.step_overhead_s, self.layer_overhead_s, self.per_param_s, self.per_param_token_s,
                self.layer_token_s, *self.multi_token_table)

    @classmethod
    def from_vector(cls, values) -> "MeasuredCoefficients":
        """The inverse of :meth:`vector`: five named coefficients, then the multi-token table."""
        step, layer, per_param, per_param_token, layer_token, *table = (float(v) for v in values)
        return cls(step, layer, per_param, per_param_token, layer_token, tuple(table))


def measured_latency_terms(params: float, new_tokens: int, aspect_ratio: float = DEFAULT_ASPECT_RATIO,
                           table_entries: int = 1) -> tuple:
    """The terms that :meth:`MeasuredCoefficients.vector` multiplies: t = Σ coefficient · term. The model is linear
    in its coefficients, so ``specplan profile`` fits them by least squares on these terms. L = layers_exact(params)
    is the shape rule's real-valued layer count; the multi-token table has ``table_entries`` entries (k = 2..K)."""
    layers = layers_exact(params, aspect_ratio)
    multi_token = [0.0] * table_entries
    if new_tokens > 1 and table_entries:
        multi_token[min(new_tokens - 2, table_entries - 1)] = params
    return (1.0, layers, params, params * new_tokens, layers * new_tokens, *multi_token)


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

    def step_time_s(
        self,
        params: float,
        tokens: int,
        batch: int = 1,
        dtype: str | None = None,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        aspect_ratio: float | None = None,
    ) -> float:
        """Seconds for one forward step; ``tokens·batch`` new tokens are charged as one stream of that many.
        The fit was made at the profile's own context length and shape rule (``context_tokens`` is ignored)."""
        self.check_dtype(dtype)
        coefficients = self.coefficients.vector()
        terms = measured_latency_terms(params, tokens * batch, aspect_ratio or self.aspect_ratio,
                                       len(self.coefficients.multi_token_table))
        return sum(coefficient * term for coefficient, term in zip(coefficients, terms))

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


Profile = RooflineProfile | MeasuredProfile

# A measured coefficient is seconds (per step, layer or parameter): anything near this is a broken file.
MAX_COEFFICIENT_S = 1000.0

# key -> (accepted types, required)
_NUMBER = (int, float)
_ROOFLINE_SCHEMA = {
    "name": (str, True),
    "description": (str, True),
    "kind": (str, False),
    "dtype": (str, True),
    "memory_gb": (_NUMBER, True),
    "memory_bandwidth_gb_s": (_NUMBER, True),
    "peak_tflops": (dict, True),
    "bandwidth_efficiency": (_NUMBER, True),
    "compute_efficiency": (_NUMBER, True),
    "step_overhead_us": (_NUMBER, True),
    "layer_overhead_us": (_NUMBER, True),
    "sources": (str, True),
    "interconnect": (str, False),
    "interconnect_bandwidth_gb_s": (_NUMBER, False),
    "interconnect_latency_us": (_NUMBER, False),
}
_MEASURED_SCHEMA = {
    "name": (str, True),
    "kind": (str, True),
    "dtype": (str, True),
    "coefficients": (dict, True),
    "aspect_ratio": (_NUMBER, False),
    "description": (str, False),
    # Written by `specplan profile` for people to read; plan does not use them.
    "device": (str, False),
    "context_tokens": (int, False),
    "max_tokens": (int, False),
    "partial": (bool, False),
    "settings": (dict, False),
    "measurements": (list, False),
    "skipped": (list, False),
    "fit": (dict, False),
    "environment": (dict, False),
    "created": (str, False),
    "loop": (dict, False),  # step_overhead_s, round_overhead_s: the decode loop's own terms (plan uses them)
    "prefill": (dict, False),  # per_param_token_s: a prompt's prefill cost (plan uses it with --prompt-tokens)
    "cold_step": (dict, False),  # measurements: [{params, extra_s}]: a draft's first step per round (plan uses it)
}


def _check_mapping(data: dict, schema: dict, where: str) -> None:
    """Missing keys, unknown keys and wrong types, each reported with the key and the bad value."""
    for key in data:
        if key not in schema:
            raise SpecplanError(f"{where}: unknown key {key!r} (expected: {', '.join(schema)})")
    for key, (types, required) in schema.items():
        if key not in data:
            if required:
                raise SpecplanError(f"{where}: missing key {key!r}")
            continue
        value = data[key]
        if isinstance(value, bool) and types is not bool:
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            raise SpecplanError(f"{where}: key {key!r} has the wrong type ({value!r})")


def _positive(value, where: str, key: str) -> float:
    if not (is_finite_number(value) and value > 0):
        raise SpecplanError(f"{where}: {key} must be a positive number (finite), got {shown(value)}")
    return float(value)


def profile_from_dict(data, where: str) -> Profile:
    """Validate a profile mapping (as read from YAML) and build the profile it describes."""
    if not isinstance(data, dict):
        raise SpecplanError(f"{where}: a profile must be a YAML mapping, got {type(data).__name__}")
    kind = data.get("kind", "roofline")
    if kind == "measured":
        return _measured_from_dict(data, where)
    if kind != "roofline":
        raise SpecplanError(f"{where}: unknown profile kind {kind!r} (expected roofline or measured)")
    _check_mapping(data, _ROOFLINE_SCHEMA, where)
    peak = {}
    for dtype, value in data["peak_tflops"].items():
        if dtype not in BYTES_PER_PARAM:
            raise SpecplanError(f"{where}: peak_tflops has unknown dtype {dtype!r} (known: {', '.join(BYTES_PER_PARAM)})")
        peak[dtype] = _positive(value, where, f"peak_tflops.{dtype}")
    if data["dtype"] not in peak:
        raise SpecplanError(f"{where}: dtype {data['dtype']!r} has no entry in peak_tflops")
    for key in ("bandwidth_efficiency", "compute_efficiency"):
        if not (is_finite_number(data[key]) and 0 < data[key] <= 1):
            raise SpecplanError(f"{where}: {key} must be in (0, 1], got {shown(data[key])}")
    for key in ("memory_gb", "memory_bandwidth_gb_s"):
        _positive(data[key], where, key)
    if ("interconnect_bandwidth_gb_s" in data) != ("interconnect_latency_us" in data):
        raise SpecplanError(f"{where}: interconnect_bandwidth_gb_s and interconnect_latency_us go together")
    if "interconnect_bandwidth_gb_s" in data:
        _positive(data["interconnect_bandwidth_gb_s"], where, "interconnect_bandwidth_gb_s")
        if not data["interconnect_latency_us"] >= 0:
            raise SpecplanError(f"{where}: interconnect_latency_us must not be negative, got {data['interconnect_latency_us']!r}")
    for key in ("step_overhead_us", "layer_overhead_us"):
        if not (is_finite_number(data[key]) and data[key] >= 0):
            raise SpecplanError(f"{where}: {key} must be a finite number ≥ 0, got {shown(data[key])}")
    values = {f.name: data[f.name] for f in fields(RooflineProfile) if f.name in data}
    values["peak_tflops"] = peak
    return RooflineProfile(**values)


def _yaml11_number(value):
    """YAML 1.1 (PyYAML) reads ``2e-3``, without a dot, as a string; take such a string as the number it spells."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _measured_from_dict(data: dict, where: str) -> MeasuredProfile:
    _check_mapping(data, _MEASURED_SCHEMA, where)
    coefficients = {k: [_yaml11_number(x) for x in v] if isinstance(v, list) else _yaml11_number(v)
                    for k, v in data["coefficients"].items()}
    schema = {f.name: (_NUMBER, f.default is MISSING) for f in fields(MeasuredCoefficients)}
    schema["multi_token_per_param_s"] = ((*_NUMBER, list), False)  # a number, or a table for k = 2..K
    _check_mapping(coefficients, schema, f"{where}: coefficients")
    for key, value in coefficients.items():
        for item in value if isinstance(value, list) else [value]:
            if not (is_finite_number(item) and 0 <= item < MAX_COEFFICIENT_S):
                raise SpecplanError(f"{where}: coefficients.{key} must be a finite number ≥ 0, got {shown(item)} "
                                    f"(seconds, below {MAX_COEFFICIENT_S:g})")
    if not any(coefficients.get(k) for k in ("step_overhead_s", "layer_overhead_s", "per_param_s")):
        raise SpecplanError(f"{where}: coefficients step_overhead_s, layer_overhead_s and per_param_s are all zero: "
                            "a decode step would take no time; re-run `specplan profile`")
    known = {"name", "kind", "dtype", "coefficients", "aspect_ratio", "description"}
    loop = data.get("loop") or {}
    loop_terms = {}
    for key in ("step_overhead_s", "round_overhead_s"):
        value = _yaml11_number(loop.get(key, 0.0))
        if isinstance(value, bool) or not isinstance(value, _NUMBER) or not 0 <= value < float("inf"):
            raise SpecplanError(f"{where}: loop.{key} must be a finite number ≥ 0, got {value!r}")
        loop_terms[key] = float(value)
    return MeasuredProfile(
        prefill_per_param_token_s=_prefill_coefficient(data.get("prefill"), where),
        cold_step_extra=_cold_step_extra(data.get("cold_step"), where),
        name=data["name"],
        dtype=data["dtype"],
        coefficients=MeasuredCoefficients(**{k: tuple(map(float, v)) if isinstance(v, list) else float(v)
                                             for k, v in coefficients.items()}),
        aspect_ratio=_positive(data.get("aspect_ratio", DEFAULT_ASPECT_RATIO), where, "aspect_ratio"),
        description=data.get("description", ""),
        extra={k: v for k, v in data.items() if k not in known},
        loop_step_overhead_s=loop_terms["step_overhead_s"],
        round_overhead_s=loop_terms["round_overhead_s"],
    )


def _prefill_coefficient(prefill, where: str) -> float | None:
    if prefill is None:
        return None
    value = _yaml11_number(prefill.get("per_param_token_s"))
    if not (is_finite_number(value) and 0 <= value < MAX_COEFFICIENT_S):
        raise SpecplanError(f"{where}: prefill.per_param_token_s must be a finite number ≥ 0, got {shown(value)}")
    return float(value)


def _cold_step_extra(cold, where: str) -> tuple:
    if cold is None:
        return ()
    rows = cold.get("measurements")
    if not isinstance(rows, list):
        raise SpecplanError(f"{where}: cold_step.measurements must be a list, got {shown(rows)}")
    out = []
    for row in rows:
        params = _yaml11_number(row.get("params")) if isinstance(row, dict) else None
        extra = _yaml11_number(row.get("extra_s")) if isinstance(row, dict) else None
        if not (is_finite_number(params) and params > 0 and is_finite_number(extra) and 0 <= extra < MAX_COEFFICIENT_S):
            raise SpecplanError(f"{where}: each cold_step measurement needs params > 0 and extra_s ≥ 0 (seconds), "
                                f"got {shown(row)}")
        out.append((float(params), float(extra)))
    return tuple(out)


def one_size_measured(rows) -> bool:
    """Whether a measured profile's table (``measurements``) holds a single model size."""
    return isinstance(rows, list) and len({r.get("params") for r in rows if isinstance(r, dict)}) == 1


def _check_sizes_measured(rows, where: str) -> None:
    """A fit made from one model size cannot tell the per-parameter cost from the fixed overheads: plan would
    extrapolate it to every other size with no evidence. Refused (profiles without a measurements table pass)."""
    if one_size_measured(rows):
        raise SpecplanError(f"{where}: fitted from one model size only ({shown(rows[0].get('params'))} parameters), so it "
                            "cannot extrapolate to other sizes; re-run `specplan profile` with two or more --sizes")


def bundled_profile_files() -> list:
    """The YAML files shipped in ``profiles/`` (installed as the package ``specplan.profiles``)."""
    folder = resources.files("specplan.profiles")
    return sorted((p for p in folder.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)


def _read_yaml(text: str, where: str):
    return load_yaml(text, where)


def load_profile(name_or_path: str) -> Profile:
    """A bundled profile by name (case-insensitive, e.g. ``h100-sxm``) or a profile YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        text = read_text_file(path, "profile file")
        profile = profile_from_dict(_read_yaml(text, f"profile file {name_or_path!r}"), name_or_path)
        if isinstance(profile, MeasuredProfile):
            _check_sizes_measured(profile.extra.get("measurements"), name_or_path)
        return profile
    wanted = name_or_path.lower()
    for file in bundled_profile_files():
        if file.name.removesuffix(".yaml").lower() == wanted:
            return profile_from_dict(_read_yaml(file.read_text(), file.name), file.name)
    names = ", ".join(f.name.removesuffix(".yaml") for f in bundled_profile_files())
    raise SpecplanError(f"unknown profile {name_or_path!r} (bundled: {names}; or give a path to a YAML file)")


def bundled_profiles() -> list:
    return [profile_from_dict(_read_yaml(f.read_text(), f.name), f.name) for f in bundled_profile_files()]
