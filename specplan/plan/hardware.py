"""Hardware profile files: the YAML schema of each profile kind, its validation, and finding a profile by bundled
name or path. The profile kinds and their protocol: ``plan/profile_kinds.py``; the latency model: ``plan/latency.py``
(docs/theory.md §5). A profile is read once per command: ``load_profile`` at the command's edge.
"""

from dataclasses import MISSING, fields
from importlib import resources
from pathlib import Path

from specplan.checks import is_finite_number, load_yaml, number_in, read_text_file, shown
from specplan.errors import SpecplanError
from specplan.plan.architecture import RULE_KV_FRACTION
from specplan.plan.latency import BYTES_PER_PARAM, DEFAULT_CONTEXT_TOKENS, measured_latency_terms  # noqa: F401
from specplan.plan.profile_kinds import MeasuredCoefficients, MeasuredProfile, Profile, RooflineProfile  # noqa: F401
from specplan.plan.shapes import DEFAULT_ASPECT_RATIO

# Grouped-query attention in the shape rule: KV heads as a share of query heads (``profile`` builds its models so).
KV_HEAD_FRACTION = RULE_KV_FRACTION

# A measured coefficient is seconds (per step, layer or parameter): anything near this is a broken file.
MAX_COEFFICIENT_S = 1000.0

# How a measured profile's steps were timed: transformers' eager forward, or the compiled engine's steps.
PROFILE_ENGINES = ("eager", "compiled", "vllm")  # vllm: plan/vllm_profile.py
# Physically meaningful ranges of a roofline profile's numbers (docs/plan.md, "Ranges and checked inputs"): wide enough for any
# device from a phone to the largest accelerator, narrow enough that no finite value reaches a degenerate plan.
# key -> (low, high, low end open)
ROOFLINE_RANGES = {
    "memory_gb": (0.1, 1e6, False),
    "memory_bandwidth_gb_s": (1.0, 1e5, False),
    "peak_tflops": (1e-3, 1e5, False),
    "bandwidth_efficiency": (0.01, 1.0, False),
    "compute_efficiency": (0.01, 1.0, False),
    "step_overhead_us": (0.0, 1e6, False),  # 0–1 s
    "layer_overhead_us": (0.0, 1e6, False),
    "interconnect_bandwidth_gb_s": (0.1, 1e5, False),
    "interconnect_latency_us": (0.0, 1e6, False),
}
MEASURED_ASPECT_RATIO = (1.0, 1e5)  # width per layer, the range plan's --aspect-ratio takes

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
    "engine": (str, False),  # eager (absent: a file from before) | compiled
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
    "compile": (dict, False),  # `profile --compile`: how the steps were compiled and what it cost (not timed)
    "loop": (dict, False),  # step_overhead_s, round_overhead_s: the decode loop's own terms (plan uses them)
    "prefill": (dict, False),  # per_param_token_s: a prompt's prefill cost (plan uses it with --prompt-tokens)
    "cold_step": (dict, False),  # measurements: [{params, extra_s}]: a draft's first step per round (plan uses it)
}


def check_mapping(data: dict, schema: dict, where: str) -> None:
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


def _in_range(value, where: str, key: str, shown_key: str) -> float:
    low, high, low_open = ROOFLINE_RANGES[key]
    return number_in(value, f"{where}: {shown_key}", low, high, low_open=low_open)


def profile_from_dict(data, where: str) -> Profile:
    """Validate a profile mapping (as read from YAML) and build the profile it describes."""
    if not isinstance(data, dict):
        raise SpecplanError(f"{where}: a profile must be a YAML mapping, got {type(data).__name__}")
    kind = data.get("kind", "roofline")
    if kind == "measured" and data.get("engine") == "vllm":  # vLLM's own step tables, no fitted curve
        from specplan.plan.vllm_profile import vllm_profile_from_dict

        return vllm_profile_from_dict(data, where)
    if kind == "measured":
        return _measured_from_dict(data, where)
    if kind != "roofline":
        raise SpecplanError(f"{where}: unknown profile kind {kind!r} (expected roofline or measured)")
    check_mapping(data, _ROOFLINE_SCHEMA, where)
    peak = {}
    for dtype, value in data["peak_tflops"].items():
        if dtype not in BYTES_PER_PARAM:
            raise SpecplanError(f"{where}: peak_tflops has unknown dtype {dtype!r} (known: {', '.join(BYTES_PER_PARAM)})")
        peak[dtype] = _in_range(value, where, "peak_tflops", f"peak_tflops.{dtype}")
    if data["dtype"] not in peak:
        raise SpecplanError(f"{where}: dtype {data['dtype']!r} has no entry in peak_tflops")
    if ("interconnect_bandwidth_gb_s" in data) != ("interconnect_latency_us" in data):
        raise SpecplanError(f"{where}: interconnect_bandwidth_gb_s and interconnect_latency_us go together")
    for key in ROOFLINE_RANGES:
        if key in data and key != "peak_tflops":
            _in_range(data[key], where, key, key)
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
    check_mapping(data, _MEASURED_SCHEMA, where)
    coefficients = {k: [_yaml11_number(x) for x in v] if isinstance(v, list) else _yaml11_number(v)
                    for k, v in data["coefficients"].items()}
    schema = {f.name: (_NUMBER, f.default is MISSING) for f in fields(MeasuredCoefficients)}
    schema["multi_token_per_param_s"] = ((*_NUMBER, list), False)  # a number, or a table for k = 2..K
    check_mapping(coefficients, schema, f"{where}: coefficients")
    for key, value in coefficients.items():
        for item in value if isinstance(value, list) else [value]:
            if not (is_finite_number(item) and 0 <= item < MAX_COEFFICIENT_S):
                raise SpecplanError(f"{where}: coefficients.{key} must be a finite number ≥ 0, got {shown(item)} "
                                    f"(seconds, below {MAX_COEFFICIENT_S:g})")
    if not any(coefficients.get(k) for k in ("step_overhead_s", "layer_overhead_s", "per_param_s")):
        raise SpecplanError(f"{where}: coefficients step_overhead_s, layer_overhead_s and per_param_s are all zero: "
                            "a decode step would take no time; re-run `specplan profile`")
    _check_fit(data.get("fit"), where)
    _check_measurements(data.get("measurements"), where)
    known = {"name", "kind", "dtype", "engine", "coefficients", "aspect_ratio", "description"}
    engine = data.get("engine", "eager")
    if engine not in PROFILE_ENGINES:
        raise SpecplanError(f"{where}: engine {shown(engine)} must be one of {', '.join(PROFILE_ENGINES)}")
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
        aspect_ratio=number_in(data.get("aspect_ratio", DEFAULT_ASPECT_RATIO), f"{where}: aspect_ratio",
                               *MEASURED_ASPECT_RATIO),
        description=data.get("description", ""),
        engine=engine,
        extra={k: v for k, v in data.items() if k not in known},
        loop_step_overhead_s=loop_terms["step_overhead_s"],
        round_overhead_s=loop_terms["round_overhead_s"],
    )


def _check_fit(fit, where: str) -> None:
    """``fit``'s figures plan reads: ``leave_one_out`` a list of {params > 0, max_abs_error ≥ 0}."""
    entries = (fit or {}).get("leave_one_out", [])
    if not isinstance(entries, list):
        raise SpecplanError(f"{where}: fit.leave_one_out must be a list of {{params, max_abs_error}}, got "
                            f"{shown(entries)}")
    for entry in entries:
        ok = isinstance(entry, dict) and is_finite_number(entry.get("params")) and entry["params"] > 0 and \
            is_finite_number(entry.get("max_abs_error")) and entry["max_abs_error"] >= 0
        if not ok:
            raise SpecplanError(f"{where}: each fit.leave_one_out entry needs params > 0 and max_abs_error ≥ 0, "
                                f"got {shown(entry)}")


def _check_measurements(rows, where: str) -> None:
    """``measurements``' sizes (plan reads the measured range from them): each row a mapping whose params, if
    given, is a positive finite number."""
    for row in rows or []:
        params = row.get("params") if isinstance(row, dict) else None
        if not isinstance(row, dict) or (params is not None and not (is_finite_number(params) and params > 0)):
            raise SpecplanError(f"{where}: each measurements row must be a mapping with params > 0, got {shown(row)}")


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
        data = _read_yaml(text, f"profile file {name_or_path!r}")
        profile = profile_from_dict(data, name_or_path)
        _check_sizes_measured(data.get("measurements"), name_or_path)
        return profile
    wanted = name_or_path.lower()
    for file in bundled_profile_files():
        if file.name.removesuffix(".yaml").lower() == wanted:
            return profile_from_dict(_read_yaml(file.read_text(), file.name), file.name)
    names = ", ".join(f.name.removesuffix(".yaml") for f in bundled_profile_files())
    raise SpecplanError(f"unknown profile {name_or_path!r} (bundled: {names}; or give a path to a YAML file)")


def bundled_profiles() -> list:
    return [profile_from_dict(_read_yaml(f.read_text(), f.name), f.name) for f in bundled_profile_files()]
