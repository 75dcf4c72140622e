"""`specplan plan` and `specplan profiles` through the command line, every option and every bad input."""

import json
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from specplan.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def plan_json(*args):
    result = run("plan", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_plan_for_70b_prints_summary_sensitivity_table_and_verdict():
    result = run("plan", "--target-params", "70e9")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("draft size N*", "target / draft M/N*", "acceptance α", "lookahead γ", "tokens per round E",
                 "expected speedup", "flat band", "pooled rule N*", "hardware, profile h100-sxm",
                 "Sensitivity", "50M", "8B", "Verdict: use a"):
        assert text in out, text


@pytest.mark.parametrize("text, value", [("70e9", 70e9), ("70B", 70e9), ("7.5b", 7.5e9), ("405M", 405e6),
                                         ("1.2T", 1.2e12), ("70553706496", 70553706496)])
def test_target_params_accepts_the_usual_spellings(text, value):
    assert plan_json("--target-params", text, "--cost-model", "flops")["inputs"]["target_params"] == value


def test_every_option_reaches_the_plan(tmp_path):
    law = tmp_path / "law.yaml"
    law.write_text(yaml.safe_dump({"a": -0.006, "b": 0.013, "c": 0.7, "r2": 0.9}))
    data = plan_json("--target-params", "70B", "--target-tokens", "10T", "--draft-tokens", "1T",
                     "--profile", "a100-80gb-sxm", "--cost-model", "hardware", "--dtype", "fp16",
                     "--batch-size", "4", "--context-tokens", "2048", "--aspect-ratio", "80",
                     "--draft-params", "1B", "--draft-params", "68M", "--alpha-law", str(law), "--gamma-max", "6")
    inputs = data["inputs"]
    assert inputs["target_tokens"] == 10e12 and inputs["draft_tokens"] == 1e12
    assert inputs["profile"] == "a100-80gb-sxm" and inputs["dtype"] == "fp16"
    assert inputs["batch_size"] == 4 and inputs["context_tokens"] == 2048 and inputs["aspect_ratio"] == 80
    assert inputs["draft_params"] == [1e9, 68e6]
    assert inputs["alpha_law"]["c"] == 0.7 and inputs["gamma_max"] == 6
    assert data["recommendation"]["gamma"] <= 6
    assert {1e9, 68e6} <= {c["draft_params"] for c in data["candidates"]}


def test_alpha_law_as_three_numbers_and_measured_alpha():
    law = plan_json("--target-params", "7B", "--cost-model", "flops", "--alpha-law", "-0.0067,0.012971,0.742084")
    default = plan_json("--target-params", "7B", "--cost-model", "flops")
    assert law["recommendation"]["alpha"] > default["recommendation"]["alpha"] + 0.05
    given = plan_json("--target-params", "7B", "--draft-params", "68M", "--alpha", "0.8")
    assert given["recommendation"]["alpha"] == 0.8 and given["recommendation"]["draft_params"] == 68e6


def test_flops_check_value_through_the_cli():
    data = plan_json("--cost-model", "flops", "--target-params", "70553706496", "--target-tokens", "15e12",
                     "--draft-tokens", "2.4e12")
    assert data["recommendation"]["draft_params"] == pytest.approx(290.18e6, rel=0.005)
    assert data["pooled_rule_draft_params"] == pytest.approx(2.71e-3 * 70553706496 + 8.71e7)
    assert data["flat_band"]["tolerance"] == 0.03


def test_does_not_pay_verdict_at_huge_batch():
    result = run("plan", "--target-params", "70e9", "--batch-size", "4096")
    assert result.exit_code == 0 and "does not pay" in result.stdout


def test_profile_file_through_the_cli(tmp_path):
    from pathlib import Path

    data = yaml.safe_load((Path(__file__).parents[2] / "profiles" / "h100-sxm.yaml").read_text())
    data.update(name="slow-launch", step_overhead_us=5000)
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(data))
    slow = plan_json("--target-params", "70B", "--profile", str(path))
    fast = plan_json("--target-params", "70B")
    assert slow["inputs"]["profile"] == "slow-launch"
    assert slow["recommendation"]["draft_params"] > fast["recommendation"]["draft_params"]


@pytest.mark.parametrize("args, fragment", [
    (["--target-params", "abc"], "'abc' is not a number"),
    (["--target-params", "0"], "'0' must be a positive number"),
    (["--target-params", "-70e9"], "'-70e9' must be a positive number"),
    (["--target-params", "70B", "--target-tokens", "lots"], "'lots' is not a number"),
    (["--target-params", "70B", "--draft-tokens", "0"], "'0' must be a positive number"),
    (["--target-params", "70B", "--draft-params", "80B"], "--draft-params 8e+10 must be positive and smaller"),
    (["--target-params", "70B", "--draft-params", "70B"], "must be positive and smaller"),
    (["--target-params", "70B", "--draft-params", "1B", "--alpha", "1.5"], "--alpha 1.5 must be in (0, 1)"),
    (["--target-params", "70B", "--draft-params", "1B", "--alpha", "0"], "--alpha 0.0 must be in (0, 1)"),
    (["--target-params", "70B", "--alpha", "0.5"], "--alpha needs --draft-params"),
    (["--target-params", "70B", "--acceptance-length", "3.2@4"], "--acceptance-length needs --draft-params"),
    (["--target-params", "70B", "--draft-acceptance-rate", "0.6@4"], "--draft-acceptance-rate needs --draft-params"),
    (["--target-params", "70B", "--profile", "tpu-v9"], "unknown profile 'tpu-v9'"),
    (["--target-params", "70B", "--profile", "missing.yaml"], "profile file 'missing.yaml' does not exist"),
    (["--target-params", "70B", "--cost-model", "magic"], "'magic' is not one of"),
    (["--target-params", "70B", "--gamma-max", "0"], "--gamma-max 0 must be at least 1"),
    (["--target-params", "70B", "--batch-size", "0"], "--batch-size 0 must be at least 1"),
    (["--target-params", "70B", "--dtype", "fp64"], "--dtype 'fp64' is not in profile"),
    (["--target-params", "70B", "--alpha-law", "1,2"], "--alpha-law '1,2' is neither A,B,C nor a readable file"),
    (["--target-params", "70B", "--alpha-law", "a,b,c"], "expected three numbers"),
    (["--target-params", "70B", "--gamma-max", "many"], "'many' is not a valid integer"),
    ([], "give the target as --target ID|FOLDER or as --target-params COUNT"),
    (["--target-params", "70B", "--target", "Qwen/Qwen3-32B"], "give the target as --target ID|FOLDER or as"),
    (["--target-params", "70B", "--tensor-parallel", "65"], "--tensor-parallel-size 65 must be an integer from 1 to 64"),
    (["--target-params", "70B", "--tensor-parallel", "0"], "--tensor-parallel-size 0 must be an integer from 1 to 64"),
    (["--target-params", "70B", "--draft-tensor-parallel", "128"], "--draft-tensor-parallel-size 128 must be"),
    (["--target", "meta-llama/Llama-3.1-70B", "--tensor-parallel", "3"],
     "--tensor-parallel-size 3 does not divide the target's 64 attention heads"),
    (["--target", "Qwen/Qwen2.5-14B", "--tensor-parallel", "5"],
     "--tensor-parallel-size 5 neither divides nor is a multiple of the target's 8 KV heads"),
    (["--target-params", "70B", "--tensor-parallel", "2", "--tensor-parallel-size", "2"],
     "--tensor-parallel-size is given twice"),
    (["--target-params", "70B", "--tensor-parallel", "2", "--profile", "cpu-generic"],
     "profile 'cpu-generic' has no interconnect figures"),
    (["--target-params", "70B", "--emit", "vllm"], "--emit vllm needs a real target"),
    (["--target-params", "70B", "--emit", "tgi"], "'tgi' is not one of"),
])
def test_bad_input_is_one_line_on_stderr_with_exit_2(args, fragment):
    result = run("plan", *args)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("engine, fragment", [("vllm", "vLLM accepts no ranked checkpoint that pays"),
                                              ("llamacpp", "llama.cpp accepts no ranked checkpoint")])
def test_emit_with_nothing_that_pays_on_the_engine_is_an_answer_not_an_error(engine, fragment):
    """Pythia's sizes differ in embedding rows: vLLM and llama.cpp take none of its drafts. That is the answer "do not
    speculate" (exit 0), not bad input; --require-pays makes it exit 1 for CI."""
    args = ["plan", "--target", "EleutherAI/pythia-12b", "--emit", engine]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "do not speculate" in result.stdout and fragment in result.stdout and result.stderr == ""
    data = json.loads(run(*args, "--json").stdout)
    assert data["emit"]["pays"] is False and data["emit"]["gamma"] == 0 and data["emit"]["draft"] is None
    assert fragment in data["emit"]["notes"][0]
    assert run(*args, "--require-pays").exit_code == 1
    assert run("plan", "--target", "EleutherAI/pythia-12b", "--emit", "sglang", "--require-pays").exit_code == 1
    assert run("plan", "--target", "EleutherAI/pythia-12b", "--emit", "hf", "--require-pays").exit_code == 0


def test_emit_at_a_batch_where_no_checkpoint_pays_agrees_with_the_box_and_the_verdict():
    # Qwen3-32B: its family's one published entry has no single γ, so its drafts keep the law's α (Llama-3.1-70B's
    # published Llama-3.2-1B acceptance, α 0.975, still pays 1.09× at batch 2048, where the pair does not fit)
    result = runner.invoke(app, ["plan", "--target", "Qwen/Qwen3-32B", "--batch-size", "2048",
                                 "--emit", "vllm"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "the target alone: speculation does not pay with any checkpoint here" in out
    assert "Verdict: speculation does not pay with any checkpoint here" in out and "# vLLM: do not speculate" in out
    assert "expected speedup" not in out  # the size optimum's speedup is labelled as such, not as the answer


def test_the_box_leads_with_the_checkpoint_to_deploy_and_matches_the_verdict():
    result = run("plan", "--target", "meta-llama/Llama-3.1-70B-Instruct", "--json")
    data = json.loads(result.stdout)
    best = data["checkpoints"][0]
    out = runner.invoke(app, ["plan", "--target", "meta-llama/Llama-3.1-70B-Instruct"], env={"COLUMNS": "200"}).stdout
    first_row = next(line for line in out.splitlines() if "│" in line)
    assert "deploy" in first_row and f"{best['name']} with γ = {best['gamma']}: {best['speedup']:.2f}×" in out
    assert f"Verdict: use {best['name']} with γ = {best['gamma']} for about {best['speedup']:.2f}×" in out
    assert "size optimum N*" in out and f"{data['recommendation']['speedup']:.2f}× if such a draft existed" in out


@pytest.mark.parametrize("content, fragment", [
    ({"name": "x", "description": "x"}, "missing key"),
    ("UNKNOWN", "unknown key 'turbo'"),
    ("WRONGTYPE", "'memory_gb' has the wrong type"),
])
def test_bad_profile_yaml_through_the_cli(tmp_path, content, fragment):
    from pathlib import Path

    data = yaml.safe_load((Path(__file__).parents[2] / "profiles" / "h100-sxm.yaml").read_text())
    if content == "UNKNOWN":
        data["turbo"] = True
    elif content == "WRONGTYPE":
        data["memory_gb"] = "eighty"
    else:
        data = content
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    result = run("plan", "--target-params", "70B", "--profile", str(path))
    assert result.exit_code == 2 and fragment in result.stderr and "Traceback" not in result.output


def test_profiles_lists_bundled_profiles_with_key_figures():
    result = run("profiles")
    assert result.exit_code == 0
    for name in ("h100-sxm", "a100-80gb-sxm", "h200", "l40s", "rtx-4090", "cpu-generic", "3350"):
        assert name in result.stdout


def test_help_explains_units_and_defaults():
    result = runner.invoke(app, ["plan", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    help_text = " ".join(result.stdout.split())  # plain help wraps at the terminal's width
    for text in ("70e9, 70B, 7.5b, 405M", "default 15T", "default 2.4T", "hardware", "flops", "repeatable",
                 "--tensor-parallel-size", "--draft-tensor-parallel-size", "--require-pays"):
        assert text in help_text, text
    assert "2400000000000" not in result.stdout  # counts in engineering form


def test_help_never_cuts_an_option_name_at_80_columns():
    """CI logs and pipes are 80 columns: every option of every command appears whole in its --help."""
    import click
    import typer

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        shown = runner.invoke(app, [name, "--help"], env={"COLUMNS": "80"}).stdout
        assert max(len(line) for line in shown.splitlines()) <= 80, name
        for p in command.params:
            if isinstance(p, click.Option) and not p.hidden:
                assert any(opt in shown.split() or f"{opt}," in shown.split() for opt in p.opts), (name, p.opts)


def test_vllm_option_names_and_the_short_aliases_mean_the_same():
    long = plan_json("--target", "meta-llama/Llama-3.1-70B", "--tensor-parallel-size", "4",
                     "--draft-tensor-parallel-size", "2")
    short = plan_json("--target", "meta-llama/Llama-3.1-70B", "--tensor-parallel", "4", "--draft-tensor-parallel", "2")
    assert long == short and long["tensor_parallel"]["target"] == 4 and long["tensor_parallel"]["draft"] == 2


def test_plan_does_not_import_torch_or_transformers():
    code = ("import sys\n"
            "from typer.testing import CliRunner\n"
            "from specplan.cli import app\n"
            "r = CliRunner().invoke(app, ['plan', '--target-params', '70e9'])\n"
            "assert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(app, ['plan', '--target-params', '70e9', '--json', '--cost-model', 'flops'])\n"
            "assert r.exit_code == 0, r.output\n"
            "for engine in ('vllm', 'sglang', 'trtllm', 'llamacpp', 'hf'):\n"
            "    r = CliRunner().invoke(app, ['plan', '--target', 'Qwen/Qwen3-32B', '--emit', engine])\n"
            "    assert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(app, ['models'])\n"
            "assert r.exit_code == 0, r.output\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_dash_m_specplan_works():
    out = subprocess.run([sys.executable, "-m", "specplan", "plan", "--target-params", "7B", "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["inputs"]["target_params"] == 7e9
    bad = subprocess.run([sys.executable, "-m", "specplan", "plan", "--target-params", "x"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1


def test_alpha_is_paired_with_each_draft_by_order():
    data = plan_json("--target-params", "8B", "--draft-params", "1.24B", "--alpha", "0.75",
                     "--draft-params", "0.5B", "--alpha", "0.6")
    assert {c["draft_params"]: c["alpha"] for c in data["candidates"]} == {1.24e9: 0.75, 0.5e9: 0.6}
    one = plan_json("--target-params", "8B", "--draft-params", "1.24B", "--draft-params", "0.5B", "--alpha", "0.75")
    alphas = {c["draft_params"]: c["alpha"] for c in one["candidates"]}
    assert alphas[1.24e9] == 0.75 and alphas[0.5e9] != 0.75
    result = run("plan", "--target-params", "8B", "--draft-params", "1B", "--alpha", "0.7", "--alpha", "0.8")
    assert result.exit_code == 2 and "--alpha is given 2 times for 1 --draft-params" in result.output


def test_verdict_with_a_single_candidate_does_not_print_an_empty_band():
    result = run("plan", "--target-params", "8B", "--draft-params", "1.24B", "--alpha", "0.75")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "from 1.24B to 1.24B" not in text and "no other given draft is within 3%" in text


def test_min_speedup_margin_decides_pays():
    args = ("--target-params", "7B", "--cost-model", "flops", "--draft-params", "1B", "--alpha", "0.16")
    assert plan_json(*args)["pays"] is False
    assert plan_json(*args, "--min-speedup", "1")["pays"] is True
    result = run("plan", *args)
    assert "below the 1.05× margin" in " ".join(result.stdout.split())
    bad = run("plan", *args, "--min-speedup", "0.5")
    assert bad.exit_code == 2 and "--min-speedup 0.5" in bad.output


def test_checkpoint_ids_wrap_at_80_columns_instead_of_being_cut():
    result = runner.invoke(app, ["plan", "--target", "meta-llama/Llama-3.1-70B-Instruct"], env={"COLUMNS": "80"})
    table = result.stdout[result.stdout.index("Checkpoints"):result.stdout.index("note:")]
    assert "…" not in table
    cells = "".join(line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│"))
    assert "Llama-3.2-1B-Instruct" in cells
