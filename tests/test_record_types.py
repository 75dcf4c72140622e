"""Typed records (specplan/record_types.py): every field type- and range-checked on read, vLLM's included; each
bad record is one line naming file:line, the field and the value, exit 2 (issue 25's record cases); a record
round-trips through parse_record and to_dict; report's cost does not grow with a number inside a record."""

import json
import os
import time

import pytest
from typer.testing import CliRunner

import report_records as hand
from specplan.cli import app
from specplan.records import RunRecord, parse_record, read_records, step_quantiles


def _vllm(**change):
    """The every_kind records with the first speculative vLLM run (its line number returned) changed."""
    records = hand.every_kind()
    index = next(i for i, r in enumerate(records) if r.get("engine") == "vllm" and r["gamma"] is not None)
    records[index] = {**records[index], **change}
    return records, index + 1


def _timed_sd(**change):
    records = hand.every_kind()
    index = next(i for i, r in enumerate(records) if "round_times" in r)
    records[index] = {**records[index], **change}
    return records, index + 1


CASES = {
    "batch_size str": (lambda: _vllm(batch_size="4"), "batch_size '4'"),
    "batch_size list": (lambda: _vllm(batch_size=[1]), "batch_size [1]"),
    "batch_size negative": (lambda: _vllm(batch_size=-4), "batch_size -4"),
    "batch_size zero": (lambda: _vllm(batch_size=0), "batch_size 0"),
    "batch_size float": (lambda: _vllm(batch_size=4.0), "batch_size 4.0"),
    "batch_size bool": (lambda: _vllm(batch_size=True), "batch_size True"),
    "batch_size inf": (lambda: _vllm(batch_size=float("inf")), "batch_size inf"),
    "wave list": (lambda: _vllm(wave=[0]), "wave [0]"),
    "wave negative": (lambda: _vllm(wave=-1), "wave -1"),
    "request_index str": (lambda: _vllm(request_index="a"), "request_index 'a'"),
    "round_times without rounds": (lambda: _timed_sd(rounds=None), "round_times"),
    "round_times, rounds missing": (lambda: ([{k: v for k, v in r.items() if k != "rounds"} if "round_times" in r
                                              else r for r in hand.every_kind()],
                                             next(i for i, r in enumerate(hand.every_kind()) if "round_times" in r)
                                             + 1), "round_times"),
    "empty rounds with round_times": (lambda: _timed_sd(rounds={"drafted": [], "accepted": []}), "round_times"),
    "cross_engine exact no": (lambda: _cross(exact="no"), "cross_engine.exact 'no'"),
    "cross_engine a list": (lambda: _cross_value([True]), "cross_engine [True]"),
    "five million drafted": (lambda: _vllm(rounds={"drafted": [5_000_000, 2], "accepted": [5, 0]}),
                             "rounds.drafted 5000000"),
    "gamma beyond bench's": (lambda: _vllm(gamma=10**9), "gamma 1000000000"),
    "wave without batch_size": (lambda: _vllm(batch_size=None), "wave 0 needs a batch_size"),
}


def _cross(**change):
    records = hand.every_kind()
    index = next(i for i, r in enumerate(records) if "cross_engine" in r)
    records[index] = {**records[index], "cross_engine": {**records[index]["cross_engine"], **change}}
    return records, index + 1


def _cross_value(value):
    records = hand.every_kind()
    index = next(i for i, r in enumerate(records) if "cross_engine" in r)
    records[index] = {**records[index], "cross_engine": value}
    return records, index + 1


def _write(path, records):
    # 1e400 is what a JSON writer spells infinity as a number; Python's json writes Infinity, which json reads too
    path.write_text("".join(json.dumps(r).replace("Infinity", "1e400") + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_record_field_is_one_line_naming_file_line_field_and_value(tmp_path, case):
    build, fragment = CASES[case]
    records, line = build()
    path = _write(tmp_path / "runs.jsonl", records)
    for command in (["report", str(path)], ["calibrate", str(path)]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, (case, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.output, result.output
        assert f"{path}:{line}:" in lines[0] and fragment in lines[0], lines[0]


def test_every_kind_round_trips_through_its_typed_record():
    for data in hand.every_kind():
        record = parse_record(data)
        assert record.to_dict() == data
        assert parse_record(record.to_dict()) == record


def test_vllm_fields_are_attributes(tmp_path):
    path = hand.write(tmp_path / "runs.jsonl", hand.every_kind())
    runs = [r for r in read_records([path]).typed if isinstance(r, RunRecord) and r.engine == "vllm"]
    assert {r.batch_size for r in runs} == {1, 4} and {r.wave for r in runs} == {0, 1}
    assert sum(r.cross_engine is not None and r.cross_engine.exact is True for r in runs) == 5


def test_reports_cost_is_bounded_by_the_records_size(tmp_path):
    """A round may draft up to the run's new tokens (hf's adaptive draft): a long run with a large round costs
    report time in proportion to its rounds and tokens, never a number beyond them."""
    records = hand.every_kind()
    big = next(r for r in records if r.get("engine") == "hf")
    big.update(new_tokens=20_000, output_ids=list(range(20_000)), rounds={"drafted": [20_000], "accepted": [5]})
    path = hand.write(tmp_path / "runs.jsonl", records)
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["report", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 30


def test_step_quantiles_is_numpys_linear_percentile():
    np = pytest.importorskip("numpy")
    times = [0.5, 0.1, 0.3, 0.9, 0.2, 0.7, 0.4]
    assert step_quantiles(times) == pytest.approx(tuple(np.percentile(times, [10, 50, 90])))
    assert step_quantiles([0.25]) == (0.25, 0.25, 0.25)


@pytest.mark.parametrize("extra", [["--format", "csv", "-o", "{r}"], ["--baseline", "{b}", "-o", "{b}"],
                                   ["--plot", "{r}"], ["-o", "{link}"]])
def test_report_never_writes_over_one_of_its_inputs(tmp_path, extra):
    records = hand.write(tmp_path / "R.jsonl", hand.records())
    base = hand.write(tmp_path / "B.jsonl", hand.records())
    (tmp_path / "link.jsonl").symlink_to(records)
    before = records.read_bytes(), base.read_bytes()
    args = [a.format(r=records, b=base, link=tmp_path / "link.jsonl") for a in extra]
    result = CliRunner().invoke(app, ["report", str(records), *args])
    assert result.exit_code == 2 and "would destroy that input" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (records.read_bytes(), base.read_bytes()) == before


def test_calibrate_never_writes_over_its_records(tmp_path):
    records = hand.write(tmp_path / "R.jsonl", hand.every_kind())
    before = records.read_bytes()
    result = CliRunner().invoke(app, ["calibrate", str(records), "-o", str(records)])
    assert result.exit_code == 2 and "would destroy that input" in result.output, result.output
    assert records.read_bytes() == before


_EVERY = hand.every_kind()
_NESTED = {"rounds": ("drafted", "accepted"), "round_times": ("rounds", "drafted", "draft_s", "verify_s", "round_s",
                                                              "prefill_s", "every"),
           "cross_engine": ("reference", "exact", "first_divergence"), "pair": ("target", "draft")}


def _mutations():
    """(record index, field or field.sub-field, any JSON value): every field of every record kind, vLLM's and
    the nested objects' included."""
    from hypothesis import strategies as st

    scalar = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
    value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                         max_leaves=6)
    index = st.integers(0, len(_EVERY) - 1)
    key = index.flatmap(lambda i: st.sampled_from(sorted(
        set(_EVERY[i]) | {f"{k}.{s}" for k, subs in _NESTED.items() if isinstance(_EVERY[i].get(k), dict)
                          for s in subs} | {"batch_size", "wave", "request_index", "cross_engine"})).map(
        lambda k: (i, k)))
    return st.tuples(key, value)


def test_any_field_of_any_record_is_read_or_refused_in_one_line(tmp_path):
    """Hypothesis: one field of one record of every_kind set to any JSON value; report reads it or refuses it in
    one line (exit 2), never a traceback, never a non-finite number in its JSON."""
    pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(_mutations())
    def check(mutation):
        (index, key), value = mutation
        records = [dict(r) for r in _EVERY]
        if "." in key:
            outer, inner = key.split(".")
            records[index][outer] = {**records[index][outer], inner: value}
        else:
            records[index][key] = value
        path = tmp_path / "r.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        result = CliRunner().invoke(app, ["report", str(path), "--format", "json", "--min-speedup", "1"])
        assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
        assert result.exit_code in (0, 1, 2), result.output
        if result.exit_code == 2:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
        else:
            json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"non-finite {name} in JSON"))

    check()


def test_a_run_timed_at_a_subnormal_number_of_seconds_reports_without_overflow(tmp_path):
    """Found by the fuzz above: wall_time_s 2.2e-311 made the speedup's exp overflow (a traceback)."""
    records = hand.every_kind()
    next(r for r in records if r.get("engine") == "sd")["wall_time_s"] = 2.225073858507e-311
    path = hand.write(tmp_path / "r.jsonl", records)
    for fmt in ("json", "table"):
        result = CliRunner().invoke(app, ["report", str(path), "--format", fmt, "--min-speedup", "1"])
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.exit_code in (0, 1), result.output


def test_write_whole_writes_a_device_in_place_and_never_replaces_it(tmp_path):
    """Outputs go through a temporary file and a rename, except a device or pipe: renaming over /dev/full would
    replace the device with a regular file (as root)."""
    import stat

    from specplan.errors import SpecplanError
    from specplan.records import write_whole

    target = write_whole(tmp_path / "out" / "report.md", "whole\n", "--output")
    assert target.read_text() == "whole\n" and not [p for p in target.parent.iterdir() if p.name.startswith(".")]
    with pytest.raises(SpecplanError, match="No space left"):
        write_whole("/dev/full", "text", "--output")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
