"""`specplan profile --compile`: a compiled profile (``engine: compiled``) written, read by plan and told apart from
an eager one; its refusals in one line. Real random-weight models and real timed steps on this CPU; the graphs are
captured with dynamo's eager backend (the same single graph per shape as inductor, without generating kernels,
which takes minutes per graph on a shared CPU), so the figures are not a compiled engine's speed, only its data flow:
two graphs per model, none compiled inside a timed step, compile time recorded apart."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from architectures import tiny_config

from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.measure import compiled_profile
from specplan.measure.engines import compiled_steps
from specplan.plan.hardware import load_profile

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

QUICK = ["--device", "cpu", "--max-tokens", "3", "--repeats", "3", "--warmup", "1", "--context", "32",
         "--threads", "1"]


@pytest.fixture
def capture_only(monkeypatch):
    monkeypatch.setattr(compiled_steps, "BACKEND", "eager")
    torch._dynamo.reset()  # graphs of same-shaped models compiled earlier in this process would be reused


@pytest.mark.compile
def test_compiled_profile_is_written_read_by_plan_and_told_from_an_eager_one(tmp_path, capture_only):
    path = tmp_path / "compiled.yaml"
    result = CliRunner().invoke(app, ["profile", *QUICK, "--compile", "--sizes", "1M,2M", "-o", str(path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert yaml.safe_load(path.read_text()) == document
    assert document["engine"] == "compiled" and document["name"] == "measured-cpu-fp32-compiled"
    assert "loop" not in document  # the synthetic round is eager: no loop terms in a compiled profile
    rows = document["measurements"]
    assert [(r["model"], r["new_tokens"]) for r in rows] == [(m, k) for m in ("1M", "2M") for k in (1, 2, 3)]
    assert all(0 < r["p10_s"] <= r["median_s"] <= r["p90_s"] and r["samples"] == 3 for r in rows)

    section = document["compile"]  # compile time and warm-up apart, and no graph compiled inside a timed step
    assert section["backend"] == "eager" and section["late_compiles"] == 0
    for label in ("1M", "2M"):
        model = section["models"][label]
        assert model["graphs"] == 2  # the decode step, one graph for the prefill and k = 2..3
        assert sorted(model["compile_s"]) == ["k=1", "k=2", "k=3", "prefill"]
        assert model["total_compile_s"] > 0 and model["warmup_s"] > 0
    assert section["total_compile_s"] == pytest.approx(sum(m["total_compile_s"] for m in section["models"].values()))
    stderr = " ".join(result.stderr.split())
    assert "compiling 1M: decode step (k = 1)" in stderr and "compiling 2M: prefill of 32 tokens and verification" in stderr
    assert "compiled steps" in stderr and "compile (not timed)" in stderr

    profile = load_profile(str(path))
    assert profile.engine == "compiled"
    plan = CliRunner().invoke(app, ["plan", "--target-params", "1B", "--profile", str(path), "--json"])
    assert plan.exit_code == 0, plan.output
    assert json.loads(plan.stdout)["inputs"]["profile_engine"] == "compiled"
    shown = CliRunner().invoke(app, ["plan", "--target-params", "1B", "--profile", str(path)], env={"COLUMNS": "200"})
    assert "(measured, compiled steps)" in shown.stdout

    eager = dict(document, engine="eager")
    eager.pop("compile")
    (tmp_path / "eager.yaml").write_text(yaml.safe_dump(eager, sort_keys=False))
    plan = CliRunner().invoke(app, ["plan", "--target-params", "1B", "--profile", str(tmp_path / "eager.yaml"),
                                    "--json"])
    assert json.loads(plan.stdout)["inputs"]["profile_engine"] == "eager"


@pytest.mark.compile
def test_a_timed_step_that_compiles_is_counted(capture_only):
    """The count that keeps compile time out of the figures can fail: a step shape first met while timed."""
    from specplan.measure.random_models import build_from_config, ladder_config

    model = build_from_config(ladder_config(1e6, max_positions=64), torch.float32, "cpu", 0)
    ids = torch.randint(model.config.vocab_size, (1, 8))
    timer = compiled_steps.CompiledStepTimer(model, ids, ids[:, :2], "cpu", model.config.vocab_size)
    assert timer.report["graphs"] == 2 and timer.report["late_compiles"] == 0
    timer.time(1), timer.time(2), timer.time_prefill(ids)
    assert timer.report["late_compiles"] == 0
    torch._dynamo.reset()  # every graph dropped: the next timed step compiles its graph again
    timer.time(1)
    assert timer.report["late_compiles"] == 1


def test_an_architecture_the_compiled_steps_refuse_is_one_line_before_anything_is_built(tmp_path):
    folder = tmp_path / "jamba"
    tiny_config("jamba", 2, 64, {}).save_pretrained(folder)  # config only: jobs are read from it, nothing built
    result = CliRunner().invoke(app, ["profile", *QUICK, "--compile", "--model", str(folder),
                                      "-o", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"error: --compile ({folder}): a jamba model") and "drop --compile" in result.output
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.parametrize("args, bad", [(["--compile=yes"], "--compile"), (["--compile", "--max-tokens", "0"],
                                                                              "--max-tokens 0")])
def test_bad_values_under_compile_are_named_in_one_line(tmp_path, args, bad):
    result = CliRunner().invoke(app, ["profile", "--sizes", "1M", *args, "-o", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2 and bad in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.yaml").exists()


def test_compile_runs_on_cpu_and_cuda_only():
    for device in ("cpu", "cuda", "cuda:1"):
        compiled_profile.check_device(device)
    with pytest.raises(SpecplanError, match="^--compile on --device 'mps': the compiled steps run on cpu and cuda"):
        compiled_profile.check_device("mps")
