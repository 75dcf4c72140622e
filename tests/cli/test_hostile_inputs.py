"""A fuzz corpus of issue 25's hostile inputs on the newer surfaces, kept so the classes stay closed: names that
look like markup or hold control characters, unbounded reads, absurd profile numbers, outputs that are inputs,
and the resume file's line accounting and lock. Each: one line, exit 2, no traceback, inputs byte-identical.
(Model configs: tests/plan/test_model_config.py.)"""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import report_records as hand
from bad_inputs import _h100, _measured
from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.records import (complete_last_line, read_records, resumable_records, set_aside_bad_lines,
                              sole_writer)

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "specplan" / "assets"


def _invoke(args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _one_line_exit_2(result, *expected):
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


# --- names are data ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["m[/]x", "x[bold]y", "l[link=x]k", "a[/dim]b"])
def test_markup_in_a_draft_folder_prints_verbatim(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir(parents=True)
    shutil.copy(TOY / "toy-draft" / "config.json", folder / "config.json")
    result = _invoke(["plan", "--target", TOY / "toy-target", "--draft", folder])
    assert result.exit_code == 0, result.output
    assert name.split("/")[-1] in result.stdout


@pytest.mark.parametrize("name", ["a\nline: 99", "tab\there", "cr\rx", "nul\x00"])
def test_control_characters_in_a_name_are_refused(name):
    _one_line_exit_2(_invoke(["plan", "--target", name]), "control character")


def test_an_empty_target_is_one_line():
    _one_line_exit_2(_invoke(["plan", "--target", ""]), "is empty")


def test_one_draft_folder_spelled_three_ways_ranks_once(tmp_path):
    folder = tmp_path / "d"
    shutil.copytree(TOY / "toy-draft", folder)
    spellings = [str(folder), f"{folder}/", f"{folder}/./"]
    args = ["plan", "--json", "--target", TOY / "toy-target"]
    for spelling in spellings:
        args += ["--draft", spelling]
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    ranked = [c for c in json.loads(result.stdout)["checkpoints"] if c.get("given")]
    assert len(ranked) == 1, ranked


def test_markdown_cells_keep_one_row_per_line():
    from specplan.report.formats import _md

    assert _md("a\nb|c") == "a\\nb\\|c"


# --- unbounded reads --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["plan", "--target-params", "7B", "--profile", "/dev/zero"], "/dev/zero"),
    (["report", "--plan", "/dev/zero", "{records}"], "/dev/zero"),
])
def test_a_device_that_never_ends_is_one_line(tmp_path, args, expected):
    records = hand.write(tmp_path / "r.jsonl", hand.records())
    _one_line_exit_2(_invoke([a.format(records=records) for a in args]), expected)


@pytest.mark.parametrize("option", ["--prompts", "--perplexity-text"])
def test_bench_text_inputs_from_a_device_are_one_line(tmp_path, option):
    from specplan.checks import read_text_file
    with pytest.raises(SpecplanError, match="NUL bytes|more than"):
        read_text_file("/dev/zero", option)


def test_a_non_utf8_file_is_one_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes(b"name: \xff\n")
    _one_line_exit_2(_invoke(["plan", "--target-params", "7B", "--profile", path]), "not UTF-8")


# --- profiles: finite but absurd numbers ------------------------------------------------------------------------

ROOFLINE_EDITS = [
    ("interconnect_latency_us", float("inf")), ("layer_overhead_us", 1e307), ("memory_bandwidth_gb_s", 1e-320),
    ("bandwidth_efficiency", 1e-320), ("compute_efficiency", 1e-320), ("step_overhead_us", 1e7),
    ("memory_bandwidth_gb_s", 1e9), ("memory_gb", 1e-9),
]


@pytest.mark.parametrize("key, value", ROOFLINE_EDITS)
def test_absurd_roofline_numbers_are_one_line(tmp_path, key, value):
    data = _h100()
    data[key] = value
    if key.startswith("interconnect"):
        data.setdefault("interconnect_bandwidth_gb_s", 900.0)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    _one_line_exit_2(_invoke(["plan", "--target-params", "7B", "--profile", path]), key)


@pytest.mark.parametrize("peak", [1e-320, 1e9])
def test_absurd_peak_is_one_line(tmp_path, peak):
    data = _h100()
    data["peak_tflops"] = {k: peak for k in data["peak_tflops"]}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    _one_line_exit_2(_invoke(["plan", "--target-params", "7B", "--profile", path]), "peak_tflops")


@pytest.mark.parametrize("fit", [{"leave_one_out": 5}, {"leave_one_out": [5]}, {"leave_one_out": [{"params": "x"}]}])
def test_a_measured_profiles_fit_is_checked(tmp_path, fit):
    data = _measured()
    data["fit"] = {**data["fit"], **fit}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    _one_line_exit_2(_invoke(["plan", "--target-params", "7B", "--profile", path]), "leave_one_out")


# --- outputs never overwrite inputs -----------------------------------------------------------------------------

def test_profile_refuses_an_existing_records_file_and_its_models_config(tmp_path):
    runs = hand.write(tmp_path / "runs.jsonl", hand.records())
    model = tmp_path / "M"
    shutil.copytree(TOY / "toy-target", model)
    before = runs.read_bytes(), (model / "config.json").read_bytes()
    _one_line_exit_2(_invoke(["profile", "--sizes", "1M,2M", "-o", runs]), "not a profile")
    _one_line_exit_2(_invoke(["profile", "--model", model, "-o", model / "config.json"]), "is the input")
    _one_line_exit_2(_invoke(["profile", "--sizes", "1M,2M", "-o", "/dev/full"]), "not a regular file")
    assert (runs.read_bytes(), (model / "config.json").read_bytes()) == before


def test_bench_refuses_its_prompts_as_output(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "hello"}\n')
    before = prompts.read_bytes()
    _one_line_exit_2(_invoke(["bench", "--prompts", prompts, "-o", prompts]), "is the input")
    assert prompts.read_bytes() == before


# --- resume: line accounting, repair said aloud, lock -----------------------------------------------------------

def _lines(items) -> list:
    return [json.dumps(r, ensure_ascii=False) for r in items]


def test_a_raw_u2028_in_a_record_is_one_line_and_garbage_alone_is_set_aside(tmp_path):
    items = hand.records()
    items[0] = {**items[0], "pair": {**items[0]["pair"], "target": "T\u2028x"}}
    lines = _lines(items)
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines[:2] + ["garbage{"] + lines[2:]) + "\n", encoding="utf-8")
    notes = set_aside_bad_lines(str(path))
    assert len(notes) == 1 and ":3:" in notes[0], notes
    assert (tmp_path / "r.jsonl.bad-lines").read_bytes() == b"garbage{\n"
    assert len(read_records([path]).records) == len(items)


def test_a_non_utf8_middle_line_is_set_aside_like_other_bad_lines(tmp_path):
    lines = [line.encode() for line in _lines(hand.records())]
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n".join(lines[:1] + [b"\xff\xfe bad"] + lines[1:]) + b"\n")
    notes = set_aside_bad_lines(str(path))
    assert len(notes) == 1 and "not UTF-8" in notes[0], notes
    assert len(read_records([path]).records) == len(lines)


def test_a_valid_last_record_without_its_newline_is_kept_and_said(tmp_path):
    lines = _lines(hand.records())
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline
    note = complete_last_line(str(path))
    assert note and "kept" in note
    assert len(resumable_records(str(path))) == len(lines)
    path.write_text("\n".join(lines) + "\n" + lines[0][:20], encoding="utf-8")
    assert "dropped" in complete_last_line(str(path))
    assert path.read_text(encoding="utf-8") == "\n".join(lines) + "\n"


def test_a_second_writer_is_refused_unless_it_appends(tmp_path):
    path = tmp_path / "r.jsonl"
    with sole_writer(path):
        with pytest.raises(SpecplanError, match="another bench"):
            with sole_writer(path):
                pass
        with sole_writer(path, append=True):
            pass
    with sole_writer(path):  # released at the end of the run
        pass


def test_the_min_target_message_tells_the_true_bound():
    _one_line_exit_2(_invoke(["plan", "--target-params", "2e6"]), "more than 2M")
