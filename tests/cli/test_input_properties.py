"""Property tests: any number, string or JSON value in plan's options, a profile, a law file or a record gives
either a valid result or one line and exit 2: never a traceback, never a non-finite number printed."""

import json
import math
import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import report_records as hand
from bad_inputs import _h100, _measured
from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.plan.hardware import load_profile
from specplan.plan.scaling import parse_alpha_law

# SPECPLAN_EXAMPLES=600 for a deeper search than the suite's quick one.
SETTINGS = settings(max_examples=int(os.environ.get("SPECPLAN_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

any_float = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
any_number = st.one_of(any_float, st.integers(min_value=-(10**30), max_value=10**30))
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), any_number, st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)
# an option's text: numbers as Python prints them, numbers with unit suffixes, or any short string
option_text = st.one_of(any_number.map(str), st.builds(lambda n, s: f"{n}{s}", any_float, st.sampled_from("kMBT")),
                        st.text(max_size=12).filter(lambda t: not t.startswith("-")))


def _reject_constant(name):
    raise AssertionError(f"non-finite number {name} in JSON output")


def _one_line_or_valid_json(result) -> None:
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    else:
        json.loads(result.stdout, parse_constant=_reject_constant)


PLAN_OPTIONS = ["--target-params", "--target-tokens", "--draft-tokens", "--draft-params", "--aspect-ratio",
                "--gamma-max", "--batch-size", "--context-tokens", "--alpha", "--tensor-parallel",
                "--draft-tensor-parallel"]


@SETTINGS
@given(option=st.sampled_from(PLAN_OPTIONS), value=option_text, flops=st.booleans())
def test_plan_numeric_options(option, value, flops):
    args = ["plan", "--json", "--target-params", "7B", option, value]
    if option == "--alpha":
        args += ["--draft-params", "100M"]
    args += ["--cost-model", "flops"] if flops else []
    _one_line_or_valid_json(CliRunner().invoke(app, args))


@SETTINGS
@given(a=any_float, b=any_float, c=any_float)
def test_plan_alpha_law_coefficients(a, b, c):
    _one_line_or_valid_json(CliRunner().invoke(app, ["plan", "--json", "--target-params", "7B", "--alpha-law",
                                                     f"{a},{b},{c}"]))


def _law_or_error(path: str):
    try:
        law = parse_alpha_law(path)
    except SpecplanError as exc:
        assert "\n" not in str(exc)
        return None
    assert all(math.isfinite(v) for v in (law.a, law.b, law.c))
    return law


@SETTINGS
@given(values=st.fixed_dictionaries({"a": json_value, "b": json_value, "c": json_value}))
def test_law_file_reader(tmp_path, values):
    path = tmp_path / "law.yaml"
    path.write_text(yaml.safe_dump(values))
    _law_or_error(str(path))


@SETTINGS
@given(text=st.text(max_size=200))
def test_law_file_of_any_text(tmp_path, text):
    path = tmp_path / "law.yaml"
    path.write_text(text)
    _law_or_error(str(path))


def _profile_or_error(path: str) -> None:
    try:
        profile = load_profile(path)
    except SpecplanError as exc:
        assert "\n" not in str(exc)
        return
    for params in (1e6, 7e9, 1e15):
        seconds = profile.step_time_s(params, 1)
        assert math.isfinite(seconds) and seconds > 0, (params, seconds)


@SETTINGS
@given(key=st.sampled_from(sorted(_h100())), value=json_value)
def test_roofline_profile_reader(tmp_path, key, value):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({**_h100(), key: value}))
    _profile_or_error(str(path))


@SETTINGS
@given(key=st.sampled_from(["step_overhead_s", "layer_overhead_s", "per_param_s", "per_param_token_s",
                            "layer_token_s", "multi_token_per_param_s"]), value=json_value)
def test_measured_profile_reader(tmp_path, key, value):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(_measured(**{key: value})))
    _profile_or_error(str(path))


RECORD_FIELDS = ["kind", "pair", "settings", "engine", "gamma", "prompt_index", "repeat", "new_tokens",
                 "wall_time_s", "rounds", "exact", "first_divergence", "divergence_margin", "prompt_category",
                 "schema_version", "run_id", "model", "median_s", "p10_s", "context_tokens", "samples", "output_ids"]


@SETTINGS
@given(index=st.integers(0, len(hand.RUNS) + len(hand.LATENCIES) - 1), key=st.sampled_from(RECORD_FIELDS),
       value=json_value, fmt=st.sampled_from(["json", "csv", "md"]))
def test_records_reader_and_report(tmp_path, index, key, value, fmt):
    items = hand.records()
    items[index] = {**items[index], key: value}
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in items))  # NaN/Infinity written as JSON allows
    result = CliRunner().invoke(app, ["report", str(path), "--format", fmt, "--min-speedup", "1"])
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    elif fmt == "json":
        json.loads(result.stdout, parse_constant=_reject_constant)
    else:
        assert "inf" not in result.stdout.lower().replace("info", "") and "nan" not in result.stdout.lower()


@SETTINGS
@given(value=json_value)
def test_perplexity_records_for_calibrate(tmp_path, value):
    from bad_inputs import calibration_records

    items = calibration_records()
    items[1] = {**items[1], "perplexity": value}
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    result = CliRunner().invoke(app, ["calibrate", str(path), "--json"])
    _one_line_or_valid_json(result)
