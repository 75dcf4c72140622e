"""``specplan report`` end to end on hand-made record files: every format, gate exit codes, bad input, no torch."""

import csv
import io
import json
import math
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import report_records as hand
from specplan.cli import app
from specplan.report.metrics import FORMULAS

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["report", *map(str, args)])


@pytest.fixture
def records_file(tmp_path):
    return hand.write(tmp_path / "run.jsonl", hand.records())


def test_table_shows_every_section_with_hand_values(records_file):
    result = invoke(records_file, "--detail")
    assert result.exit_code == 0, result.output
    out = result.stdout
    default = invoke(records_file).stdout  # one predicted speedup per row: the other predictions need --detail
    assert "Predicted vs measured" in default and "Lookahead" not in default and "--detail adds" in default
    for title in ("specplan report — T ← D", "Acceptance", "Speed", "Exactness", "Per-position acceptance",
                  "Predicted vs measured", "Lookahead: plan's choice vs best measured"):
        assert title in out
    assert "3.00" in out and "0.667" in out and "0.800" in out  # AL, DAR, α̂ at γ = 3
    assert f"{math.sqrt(8):.2f}×" in out  # paired speedup at γ = 3
    assert "1/2" in out and "0.003" in out  # exactness: one of two outputs identical, margin 0.003
    assert "Gate" not in out  # no gate option given


def test_sections_without_data_are_left_out(tmp_path):
    path = hand.write(tmp_path / "sampled.jsonl", hand.records(greedy=False, latencies=False))
    result = invoke(path, "--format", "md")
    assert result.exit_code == 0, result.output
    assert "Exactness" not in result.stdout and "Predicted vs measured" not in result.stdout
    assert "| engine | γ | tok/s | AR tok/s | speedup (95% CI) | n |" in result.stdout  # no c, verify columns
    assert "predicted vs measured needs c" in result.stderr
    assert "Exactness" not in invoke(path).stdout  # nor in the rich table


def test_markdown_is_github_tables(records_file):
    result = invoke(records_file, "--format", "md")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "## specplan report — T ← D"
    header = lines.index("| engine | γ | runs | rounds | AL | E[j] | DAR | α̂ | α̂ fit |")
    assert lines[header + 1] == "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    assert lines[header + 3] == "| sd | 3 | 2 | 6 | 3.00 | 2.00 | 0.667 | 0.800 | 0.810 |"  # fit: see test_report_metrics
    assert "### Exactness" in lines


def test_csv_has_raw_values(records_file):
    result = invoke(records_file, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {int(r["gamma"]): r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert float(rows[3]["acceptance_length"]) == pytest.approx(3.0)
    assert float(rows[3]["draft_acceptance_rate"]) == pytest.approx(12 / 18)
    assert float(rows[3]["speedup"]) == pytest.approx(math.sqrt(8))
    assert float(rows[3]["cond_2"]) == pytest.approx(4 / 5)
    assert float(rows[1]["pos_1"]) == pytest.approx(0.8) and rows[1]["pos_2"] == ""
    assert rows[1]["max_divergence_margin"] == ""


def test_json_names_the_formula_beside_each_metric(records_file):
    result = invoke(records_file, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    row = next(r for r in data["rows"] if r["gamma"] == 3)
    for name, metric in row["metrics"].items():
        assert metric["formula"] == FORMULAS[name]
    assert row["metrics"]["alpha_iid"]["value"] == pytest.approx(0.8)
    assert row["metrics"]["per_position_unconditional"]["value"] == pytest.approx([5 / 6, 4 / 6, 3 / 6])
    assert row["metrics"]["speedup"]["value"] == pytest.approx(math.sqrt(8))
    prediction = next(p for p in data["predictions"] if p["gamma"] == 3)
    assert prediction["predicted_speedup"] == pytest.approx(2.952 / 1.6)
    assert data["gamma_choice"][0]["planned_gamma"] == 3
    assert data["gate"] == {"checked": False, "passed": True, "failures": []}


def test_output_file_and_by_category(records_file, tmp_path):
    out = tmp_path / "summary.md"
    result = invoke(records_file, "--by", "category", "--format", "md", "--output", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    text = out.read_text()
    assert "| sd | 3 | chat | 1 | 2 | 4.00 |" in text and "| sd | 3 | code | 1 | 4 | 2.50 |" in text


def test_several_pairs_name_the_pair_on_each_line(tmp_path):
    other = [{**r, "pair": {"target": "T", "draft": "D2"}} for r in hand.records()]
    path = hand.write(tmp_path / "two.jsonl", hand.records() + other)
    result = invoke(path, "--format", "md")
    assert result.exit_code == 0, result.output
    assert "## specplan report — 2 pairs" in result.stdout
    assert "| T ← D | sd | 3 | 2 | 6 | 3.00 |" in result.stdout
    assert "| T ← D2 | sd | 3 | 2 | 6 | 3.00 |" in result.stdout


def test_table_to_a_file_is_plain_text(records_file, tmp_path):
    out = tmp_path / "report.txt"
    assert invoke(records_file, "--output", out).exit_code == 0
    text = out.read_text()
    assert "specplan report — T ← D" in text and "\x1b[" not in text


def test_gate_passes_with_exit_0(records_file):
    result = invoke(records_file, "--min-speedup", "1.9", "--min-acceptance-length", "1.5",
                    "--min-acceptance-rate", "0.6")
    assert result.exit_code == 0, result.output
    assert "PASS" in result.stdout and "FAIL" not in result.output


def test_gate_failures_exit_1_one_line_each(records_file):
    result = invoke(records_file, "--min-speedup", "2.5", "--require-exact", "--engine", "sd")
    assert result.exit_code == 1
    failures = [line for line in result.stderr.splitlines() if line.startswith("FAIL")]
    assert failures == ["FAIL pair T ← D, engine sd, γ 1: speedup 2, required >= 2.5",
                        "FAIL pair T ← D, engine sd, γ 3: exact share 0.5, required = 1 (every greedy output "
                        "identical to AR)"]


def test_by_default_the_gate_checks_sd_at_its_best_gamma(records_file):
    """Naming no engine or γ gates sd at its best measured γ (3: 2.83×), not γ 1 nor transformers' hf."""
    result = invoke(records_file, "--min-speedup", "2.5", "--require-exact")
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("FAIL")] == [
        "FAIL pair T ← D, engine sd, γ 3: exact share 0.5, required = 1 (every greedy output identical to AR)"]
    assert invoke(records_file, "--min-speedup", "2.5").exit_code == 0


def test_baseline_regression_exit_codes(tmp_path):
    old = hand.write(tmp_path / "old.jsonl", hand.records())
    new = hand.write(tmp_path / "new.jsonl", hand.records(sd_time_scale=1.04))  # ~3.8% slower
    assert invoke(new, "--baseline", old, "--max-regression", "5%").exit_code == 0
    assert invoke(new, "--baseline", old).exit_code == 0  # 5% by default
    result = invoke(new, "--baseline", old, "--max-regression", "0.03", "--engine", "sd")
    assert result.exit_code == 1
    assert [line.split(":")[0] for line in result.stderr.splitlines() if line.startswith("FAIL")] == [
        "FAIL pair T ← D, engine sd, γ 1", "FAIL pair T ← D, engine sd, γ 3"]


def test_plan_json_adds_the_a_priori_column(records_file, tmp_path):
    planned = runner.invoke(app, ["plan", "--target-params", "8B", "--cost-model", "flops", "--json"])
    assert planned.exit_code == 0, planned.output
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(planned.stdout)
    result = invoke(records_file, "--plan", plan_file, "--format", "json", "--compare-any-plan")
    assert result.exit_code == 0, result.output
    rec = json.loads(planned.stdout)["recommendation"]
    prediction = next(p for p in json.loads(result.stdout)["predictions"] if p["gamma"] == 1)
    a, c = rec["alpha"], rec["cost_ratio"]  # flops cost model: verification is one target step
    assert prediction["plan_prior_speedup"] == pytest.approx((1 + a) / (c + 1))
    assert "| plan a-priori |" in invoke(records_file, "--plan", plan_file, "--format", "md", "--compare-any-plan",
                                        "--detail").stdout
    # an 8B plan beside the records of T ← D is refused in one line unless asked for
    one_line_error(invoke(records_file, "--plan", plan_file), "was not made for these records",
                   "plans a target by size", "--compare-any-plan")


def one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_file(tmp_path):
    one_line_error(invoke(tmp_path / "nope.jsonl"), "nope.jsonl", "does not exist")


def test_truncated_line_names_the_line_and_skip_bad_lines_uses_the_rest(tmp_path, records_file):
    text = records_file.read_text().splitlines()
    text[3] = text[3][:40]  # a line cut off mid-record, as after a crash
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(text) + "\n")
    one_line_error(invoke(broken), f"{broken}:4:", "truncated")
    result = invoke(broken, "--skip-bad-lines", "--format", "json")
    assert result.exit_code == 0, result.output
    assert f"note: skipped {broken}:4:" in result.stderr
    # line 4 was γ = 3, prompt 1: γ = 3 now holds prompt 0 only (accepted 3, 1, 0, 2 → AL 2.5).
    row = next(r for r in json.loads(result.stdout)["rows"] if r["gamma"] == 3)
    assert row["metrics"]["acceptance_length"]["value"] == pytest.approx(2.5)


@pytest.mark.parametrize("field, value, fragment", [
    ("rounds", {"drafted": [3, 3], "accepted": [3, 4]}, "accept more drafts than were drafted"),
    ("rounds", {"drafted": [3, 3], "accepted": [3]}, "equally long lists"),
    ("wall_time_s", "fast", "wall_time_s 'fast'"),
    ("new_tokens", -8, "new_tokens -8"),
])
def test_wrongly_typed_fields_name_the_line(tmp_path, field, value, fragment):
    records = hand.records()
    records[3][field] = value  # line 4: γ = 3, prompt 1
    path = hand.write(tmp_path / "odd.jsonl", records)
    one_line_error(invoke(path), f"{path}:4:", fragment)
    assert invoke(path, "--skip-bad-lines").exit_code == 0


def test_newer_schema_is_refused_even_with_skip_bad_lines(tmp_path):
    records = hand.records()
    records[2]["schema_version"] = 2
    path = hand.write(tmp_path / "future.jsonl", records)
    one_line_error(invoke(path), f"{path}:3:", "schema_version 2")
    one_line_error(invoke(path, "--skip-bad-lines"), "schema_version 2")


@pytest.mark.parametrize("args, fragment", [
    (["--min-speedup", "abc"], "--min-speedup"),
    (["--min-acceptance-length", "2x"], "--min-acceptance-length"),
    (["--min-acceptance-rate", "high"], "--min-acceptance-rate"),
    (["--min-acceptance-rate", "70"], "--min-acceptance-rate"),
    (["--min-speedup", "-1"], "--min-speedup"),
    (["--max-regression", "5%"], "needs --baseline"),
    (["--format", "xml"], "--format"),
])
def test_bad_gate_values_are_one_line_errors(records_file, args, fragment):
    one_line_error(invoke(records_file, *args), fragment)


def test_bad_max_regression_and_plan(records_file, tmp_path):
    one_line_error(invoke(records_file, "--baseline", records_file, "--max-regression", "lots"), "'lots'")
    one_line_error(invoke(records_file, "--plan", tmp_path / "missing.json"), "missing.json")
    (tmp_path / "notplan.json").write_text('{"inputs": {}}')
    one_line_error(invoke(records_file, "--plan", tmp_path / "notplan.json"), "recommendation")


def test_no_sd_records_is_an_error(tmp_path):
    path = hand.write(tmp_path / "ar.jsonl", [r for r in hand.records() if r.get("engine") != "sd"])
    one_line_error(invoke(path), "no sd or hf run records")


def test_plot_is_written(records_file, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "report.png"
    result = invoke(records_file, "--plot", png, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_plot_without_matplotlib_is_a_one_line_error(records_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    one_line_error(invoke(records_file, "--plot", tmp_path / "x.png"), "matplotlib")


def test_report_never_imports_torch(records_file, tmp_path):
    code = (
        "import sys, specplan\n"
        "from typer.testing import CliRunner\n"
        "from specplan.cli import app\n"
        f"r = CliRunner().invoke(app, ['report', {str(records_file)!r}, '--format', 'json', '--min-speedup', '1'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_gate_says_when_a_row_has_too_few_runs_and_min_runs_fails_it(records_file):
    result = invoke(records_file, "--min-speedup", "1.5", "--engine", "sd")
    assert result.exit_code == 0, result.output
    assert "sd γ 3 has 2 paired run(s), interval [0.03, 231.22]: too few to trust" in result.stderr
    failed = invoke(records_file, "--min-speedup", "1.5", "--engine", "sd", "--min-runs", "3")
    assert failed.exit_code == 1
    assert "FAIL pair T ← D, engine sd, γ 3: paired runs 2, required >= 3 (too few for its interval)" in failed.stderr
    assert "too few to trust" not in failed.stderr  # the failure says it; no note beside it
    one_line_error(invoke(records_file, "--min-runs", "0"), "--min-runs 0")


def test_a_plan_for_another_target_or_hardware_is_refused_in_one_line(records_file, tmp_path):
    plan = {"inputs": {"target_name": "meta-llama/Llama-3.1-8B", "profile": "h100-sxm", "batch_size": 1},
            "recommendation": {"alpha": 0.7, "cost_ratio": 0.05, "gamma": 3, "speedup": 2.0}}
    other = tmp_path / "plan.json"
    other.write_text(json.dumps(plan))
    one_line_error(invoke(records_file, "--plan", other), "its target is meta-llama/Llama-3.1-8B", "T")
    same_target = tmp_path / "same.json"
    same_target.write_text(json.dumps({**plan, "inputs": {**plan["inputs"], "target_name": "T"}}))
    one_line_error(invoke(records_file, "--plan", same_target), "hardware h100-sxm")  # records ran on a cpu
    assert invoke(records_file, "--plan", other, "--compare-any-plan").exit_code == 0
    cpu = tmp_path / "cpu.json"
    cpu.write_text(json.dumps({**plan, "inputs": {**plan["inputs"], "target_name": "T", "profile": "cpu-generic"}}))
    result = invoke(records_file, "--plan", cpu)
    assert result.exit_code == 0, result.output
    assert "plan a-priori" in result.stdout  # the one prediction shown with a plan
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps({**plan, "inputs": [1]}))
    one_line_error(invoke(records_file, "--plan", listed), "inputs must be an object")
