"""Inputs that used to give a wrong result with exit 0: each now ends in an error or says what it did."""

import json
import shutil

import pytest
import yaml
from typer.testing import CliRunner

import report_records as hand
from bad_inputs import _measured
from specplan.cli import app
from specplan.cli.bench import parse_list
from specplan.records import RecordWriter, check_output, read_records
from specplan.errors import SpecplanError


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# ------------------------------------------------------------------------------------------------ plan


@pytest.mark.parametrize("law", ["0,0,1.5", "0,0,1", "0,0.5,0.6"])
def test_a_law_giving_alpha_of_one_or_more_is_an_error_not_a_huge_speedup(law):
    result = invoke("plan", "--target-params", "70B", "--alpha-law", law)
    assert result.exit_code == 2 and "α must be in (0, 1)" in result.stderr
    assert "×" not in result.stdout


def test_a_law_giving_alpha_of_zero_everywhere_is_an_error():
    result = invoke("plan", "--target-params", "70B", "--alpha-law", "0,0,-0.2")
    assert result.exit_code == 2 and "α ≤ 0 for every draft size" in result.stderr


def test_alpha_is_labelled_by_its_source(tmp_path):
    law = tmp_path / "law.yaml"
    law.write_text(yaml.safe_dump({"coefficients": {"a": -0.005, "b": 0.01, "c": 0.7}}))
    labels = {"SDSL law": [], "law --alpha-law A,B,C": ["--alpha-law", "-0.005,0.01,0.7"],
              "calibrated law law.yaml": ["--alpha-law", str(law)],
              "measured, --alpha": ["--draft-params", "1B", "--alpha", "0.7"]}
    for label, extra in labels.items():
        result = CliRunner().invoke(app, ["plan", "--target-params", "70B", *extra], terminal_width=200)
        assert result.exit_code == 0, result.output
        assert f"({label})" in result.stdout, (label, result.stdout)


def test_infinite_profile_figures_are_errors(tmp_path):
    data = yaml.safe_load(open("profiles/h100-sxm.yaml"))
    for key in ("memory_bandwidth_gb_s", "memory_gb"):
        path = tmp_path / f"{key}.yaml"
        path.write_text(yaml.safe_dump({**data, key: float("inf")}))
        result = invoke("plan", "--target-params", "70B", "--profile", path)
        assert result.exit_code == 2 and key in result.stderr and "inf" in result.stderr


def test_plan_refuses_a_profile_fitted_from_one_size(tmp_path):
    one = _measured()
    one["measurements"] = [r for r in one["measurements"] if r["model"] == "20M"]
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(one))
    result = invoke("plan", "--target-params", "1B", "--profile", path)
    assert result.exit_code == 2 and "one model size" in result.stderr
    two = tmp_path / "two.yaml"
    two.write_text(yaml.safe_dump(_measured()))
    assert invoke("plan", "--target-params", "1B", "--profile", two).exit_code == 0


def test_profile_does_not_claim_zero_error_for_a_one_size_fit():
    from rich.console import Console

    from specplan.cli.profile import render

    document = _measured(multi_token_per_param_s=[1e-12, 2e-12, 3e-12])
    document["measurements"] = [r for r in document["measurements"] if r["model"] == "20M"]
    document.update(device="cpu", context_tokens=8, skipped=[], partial=False)
    console = Console(record=True, width=300)
    render(document, "p.yaml", console)
    text = console.export_text()
    assert "worst error 0" not in text and "0.0%" not in text
    assert "one model size measured" in text and "— (one size)" in text


def test_gamma_max_is_capped_so_the_search_stays_small():
    result = invoke("plan", "--target-params", "70B", "--gamma-max", "2000000")
    assert result.exit_code == 2 and "--gamma-max 2000000 must be at most 1024" in result.stderr
    assert invoke("plan", "--target-params", "70B", "--gamma-max", "1024").exit_code == 0


# --------------------------------------------------------------------------------------------- records


def test_output_onto_a_non_records_file_or_existing_records_is_refused(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("hello\n")
    with pytest.raises(SpecplanError, match="not a records file"):
        check_output(prompts, resume=True)
    runs = hand.write(tmp_path / "runs.jsonl", hand.records())
    with pytest.raises(SpecplanError, match="--append"):
        check_output(runs)
    check_output(runs, append=True)
    check_output(runs, resume=True)
    check_output(tmp_path / "new.jsonl")
    assert prompts.read_text() == "hello\n"  # never touched


def test_repeated_gamma_values_are_measured_once():
    assert parse_list("--gamma", "2,2,4,2", int) == (2, 4)


def test_record_writer_turns_a_full_disk_into_one_line():
    with RecordWriter("/dev/full") as writer, pytest.raises(SpecplanError, match="No space left"):
        writer.write(hand.records()[0])  # a valid record: the disk, not the schema, refuses it


# ---------------------------------------------------------------------------------------------- report


def _rows_json(*args):
    result = invoke("report", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def test_the_same_file_twice_or_duplicated_lines_are_not_counted_twice(tmp_path):
    once = hand.write(tmp_path / "once.jsonl", hand.records())
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_text(once.read_text() * 2)
    reference, _ = _rows_json(once)
    for args in ((once, once), (doubled,)):
        document, notes = _rows_json(*args)
        assert document["rows"] == reference["rows"]
        assert "duplicate record(s) or file(s) read once" in notes


def test_runs_with_different_settings_are_not_pooled(tmp_path):
    other = [{**r, "run_id": "run-b", "settings": {**r["settings"], "temperature": 0.7}} for r in hand.records()]
    path = hand.write(tmp_path / "mixed.jsonl", hand.records() + other)
    result = invoke("report", path)
    assert result.exit_code == 2 and "temperature 0.0 and 0.7" in result.stderr
    same = [{**r, "run_id": "run-b"} for r in hand.records()]
    assert invoke("report", hand.write(tmp_path / "two-runs.jsonl", hand.records() + same)).exit_code == 0


def test_zero_times_and_zero_tokens_are_noted_and_json_has_no_infinity(tmp_path):
    items = hand.records()
    items[2] = {**items[2], "wall_time_s": 0.0}
    items[3] = {**items[3], "new_tokens": 0, "output_ids": []}
    document, notes = _rows_json(hand.write(tmp_path / "zero.jsonl", items))
    assert "2 run record(s) with zero new tokens or zero wall time left out" in notes
    text = json.dumps(document)
    assert "Infinity" not in text and "NaN" not in text


def test_a_baseline_that_matches_nothing_or_is_empty_fails_the_gate(tmp_path):
    current = hand.write(tmp_path / "run.jsonl", hand.records())
    elsewhere = hand.write(tmp_path / "other.jsonl",
                           [{**r, "pair": {"target": "X", "draft": "Y"}} for r in hand.records()])
    result = invoke("report", current, "--baseline", elsewhere)
    assert result.exit_code == 1 and "nothing was compared" in result.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = invoke("report", current, "--baseline", empty)
    assert result.exit_code == 1 and "nothing was compared" in result.stderr
    assert invoke("report", current, "--baseline", current).exit_code == 0


def test_the_baseline_matches_models_not_path_spellings(tmp_path):
    current = hand.write(tmp_path / "run.jsonl",
                         [{**r, "pair": {"target": "./models/t/", "draft": "models/d"}} for r in hand.records()])
    old = hand.write(tmp_path / "old.jsonl",
                     [{**r, "pair": {"target": "models/t", "draft": "./models/d"}} for r in hand.records()])
    result = invoke("report", current, "--baseline", old)
    assert result.exit_code == 0, result.output
    assert "no baseline row" not in result.stderr


def test_the_gate_can_be_restricted_to_rows(tmp_path):
    path = hand.write(tmp_path / "run.jsonl", hand.records())
    # speedups: γ = 1 → 2×, γ = 3 → √(2·4) ≈ 2.83× (tests/report_records.py)
    assert invoke("report", path, "--min-speedup", "2.5").exit_code == 0  # by default: sd at its best γ (3)
    assert invoke("report", path, "--min-speedup", "2.5", "--gamma", "3").exit_code == 0
    assert invoke("report", path, "--min-speedup", "2.5", "--gamma", "best").exit_code == 0
    assert invoke("report", path, "--min-speedup", "2.5", "--gamma", "1").exit_code == 1
    assert invoke("report", path, "--min-speedup", "2.5", "--engine", "sd").exit_code == 1
    result = invoke("report", path, "--min-speedup", "1", "--gamma", "8")
    assert result.exit_code == 2 and "--gamma 8 matches no row" in result.stderr


def test_exact_must_be_a_boolean(tmp_path):
    items = hand.records()
    items[2] = {**items[2], "exact": "no"}
    result = invoke("report", hand.write(tmp_path / "r.jsonl", items), "--require-exact")
    assert result.exit_code == 2 and "exact 'no'" in result.stderr


def test_plot_is_written_exactly_where_asked(tmp_path):
    pytest.importorskip("matplotlib")
    path = hand.write(tmp_path / "run.jsonl", hand.records())
    result = invoke("report", path, "--plot", tmp_path / "plot")
    assert result.exit_code == 2 and ".png, .svg or .pdf" in result.stderr
    assert not (tmp_path / "plot.png").exists()
    target = tmp_path / "new" / "speedup.png"
    assert invoke("report", path, "--plot", target).exit_code == 0 and target.is_file()


def test_report_output_creates_its_folder(tmp_path):
    path = hand.write(tmp_path / "run.jsonl", hand.records())
    target = tmp_path / "deep" / "er" / "report.md"
    result = invoke("report", path, "--format", "md", "-o", target)
    assert result.exit_code == 0 and target.read_text().startswith("## specplan report")


# ---------------------------------------------------------------------------------------------- resume


def test_resume_moves_a_corrupt_middle_line_aside_and_the_file_reads(tmp_path):
    from specplan.records import resumable_records, set_aside_bad_lines

    items = hand.records()
    path = tmp_path / "runs.jsonl"
    lines = [json.dumps(r) for r in items]
    path.write_text("\n".join(lines[:3] + ['{"schema_version": 1, "kind": "run", "gam'] + lines[3:]) + "\n"
                    + '{"cut short')
    notes = set_aside_bad_lines(str(path))
    assert len(notes) == 1 and ":4:" in notes[0]
    assert (tmp_path / "runs.jsonl.bad-lines").read_text() == '{"schema_version": 1, "kind": "run", "gam\n'
    assert len(resumable_records(str(path))) == len(items)
    assert read_records([path]).records == items  # report reads the file again


def test_resume_refuses_a_changed_perplexity_text():
    from specplan.measure.loading import ModelSource
    from specplan.measure.bench import BenchConfig, effective_settings, resume_header

    pair = ModelSource("t", "t"), ModelSource("d", "d")
    first = effective_settings(BenchConfig(*pair, perplexity=True, perplexity_text="a.txt"), "cpu", "fp32", 1, 1)
    again = effective_settings(BenchConfig(*pair, perplexity=True, perplexity_text="b.txt"), "cpu", "fp32", 1, 1)
    existing = [{"pair": {"target": "t", "draft": "d"}, "settings": first, "run_id": "r"}]
    assert resume_header(existing, {"target": "t", "draft": "d"}, first) == "r"
    with pytest.raises(SpecplanError, match="perplexity_text"):
        resume_header(existing, {"target": "t", "draft": "d"}, again)


def test_a_bench_without_resume_or_append_leaves_an_existing_file_alone(tmp_path):
    runs = hand.write(tmp_path / "runs.jsonl", hand.records())
    before = runs.read_text()
    result = invoke("bench", "--output", runs, "--num-prompts", "1")
    assert result.exit_code == 2 and "--append" in result.stderr
    assert runs.read_text() == before
    copy = tmp_path / "copy.jsonl"
    shutil.copy(runs, copy)
    assert invoke("bench", "--output", copy, "--resume", "--append").exit_code == 2


@pytest.mark.parametrize("folder", ["noeos", "nopad"])
def test_hf_engine_runs_a_model_without_eos_or_pad_token(folder, tmp_path):
    pytest.importorskip("torch")
    from model_folders import bad_model_folders

    model = f"{bad_model_folders()}/{folder}"
    result = invoke("bench", "--target", model, "--draft", model, "--engines", "ar,hf", "--num-prompts", "1",
                    "--max-new-tokens", "4", "--gamma", "2", "--latency-samples", "2", "--context-tokens", "8",
                    "--threads", "1", "-o", tmp_path / "runs.jsonl")
    assert result.exit_code == 0, result.output
    runs = [r for r in read_records([tmp_path / "runs.jsonl"]).records if r.get("engine") == "hf"]
    assert runs and runs[0]["new_tokens"] == 4 and runs[0]["exact"] is True
