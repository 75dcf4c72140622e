"""`specplan profile` end to end on this CPU: real random-weight models, real timed steps, the file fed to `plan`.
Tiny models and few repeats keep it quick; assertions are about structure and consistency, not speed."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from specplan.measure import devices
from specplan.measure import latency_profile
from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.plan.hardware import load_profile

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

QUICK = ["--device", "cpu", "--max-tokens", "3", "--repeats", "3", "--warmup", "1", "--context", "32",
         "--threads", "1"]


def _profile(tmp_path, *args, loop=False):
    """``--no-loop`` unless ``loop``: the synthetic speculative round is checked once, in the first test."""
    path = tmp_path / "measured.yaml"
    result = CliRunner().invoke(app, ["profile", *QUICK, "-o", str(path), *args, *([] if loop else ["--no-loop"])])
    return result, path


def test_profile_writes_a_file_that_plan_uses(tmp_path):
    result, path = _profile(tmp_path, "--sizes", "0.3M,2M", "--name", "tiny-cpu", "--json", loop=True)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # --json: the same document on stdout, the tables on stderr
    assert yaml.safe_load(path.read_text()) == document
    rows = document["measurements"]
    assert [(r["model"], r["new_tokens"]) for r in rows] == [(m, k) for m in ("300K", "2M") for k in (1, 2, 3)]
    for row in rows:
        assert 0 < row["p10_s"] <= row["median_s"] <= row["p90_s"] and row["samples"] == 3
    assert document["dtype"] == "fp32" and document["context_tokens"] == 32 and document["partial"] is False
    assert document["environment"]["torch"] == str(torch.__version__)

    profile = load_profile(str(path))
    for row in rows:  # the errors in the file are those of the model plan evaluates
        assert profile.step_time_s(row["params"], row["new_tokens"]) == pytest.approx(row["predicted_s"])

    # Each model's prefill of the 32-token context and its cold step (after a cache flush) were timed too.
    prefill, cold = document["prefill"], document["cold_step"]
    assert prefill["tokens"] == 32 and [r["model"] for r in prefill["measurements"]] == ["300K", "2M"]
    assert prefill["per_param_token_s"] >= 0 and all(r["median_s"] > 0 for r in prefill["measurements"])
    warm = {r["params"]: r["median_s"] for r in rows if r["new_tokens"] == 1}
    for row in cold["measurements"]:
        assert row["warm_s"] == warm[row["params"]] and row["extra_s"] == max(0.0, row["cold_s"] - row["warm_s"])
    for row in prefill["measurements"]:  # the prefill errors in the file are those of the model plan evaluates
        assert profile.prefill_time_s(row["params"], 32) == pytest.approx(row["predicted_s"])

    plan = CliRunner().invoke(app, ["plan", "--target-params", "1B", "--profile", str(path), "--json"])
    assert plan.exit_code == 0, plan.output
    rec = json.loads(plan.stdout)["recommendation"]
    step = profile.loop_step_overhead_s  # ℓ: a step inside a decode loop costs this beyond the isolated step
    measured_c = (profile.step_time_s(rec["draft_params"], 1) + step) / (profile.step_time_s(1e9, 1) + step)
    assert rec["cost_ratio"] == pytest.approx(measured_c, rel=1e-6)  # c from the measurement, not N/M


def test_the_synthetic_round_terms_follow_from_its_measurements(tmp_path):
    """The loop terms are the documented differences of what the synthetic round measured (real models)."""
    result, path = _profile(tmp_path, "--sizes", "0.3M,1M", loop=True)
    assert result.exit_code == 0, result.output
    loop = yaml.safe_load(path.read_text())["loop"]
    m = loop["measured"]
    assert m["rounds"] > 0 and all(m[k] > 0 for k in m)
    assert "300K draft and target" in loop["method"]
    step = max(0.0, ((m["ar_step_s"] - m["target_step_s"]) + (m["draft_step_in_loop_s"] - m["draft_step_s"])) / 2)
    assert loop["step_overhead_s"] == pytest.approx(step, abs=1e-12)
    rest = m["round_rest_s"] + m["verify_in_loop_s"] - m["verify_step_s"] - step
    assert loop["round_overhead_s"] == pytest.approx(max(0.0, rest), abs=1e-12)
    profile = load_profile(str(path))
    assert (profile.loop_step_overhead_s, profile.round_overhead_s) == (loop["step_overhead_s"],
                                                                         loop["round_overhead_s"])


def test_ladder_models_have_the_parameter_count_the_file_records(tmp_path):
    from specplan.measure.random_models import build_random_llama, count_params

    model = build_random_llama(2e6, torch.float32, "cpu")
    result, path = _profile(tmp_path, "--sizes", "0.3M,2M", "--max-tokens", "1")  # plan refuses a one-size fit
    assert result.exit_code == 0, result.output
    row = yaml.safe_load(path.read_text())["measurements"][1]
    assert row["params"] == count_params(model)
    assert (row["layers"], row["width"]) == (model.config.num_hidden_layers, model.config.hidden_size)
    # Tied embeddings: the output projection is the embedding matrix, counted once.
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    # --max-tokens 1 times decode steps only: the file says so, and plan knows every γ is extrapolated.
    assert yaml.safe_load(path.read_text())["coefficients"]["multi_token_per_param_s"] == []
    assert load_profile(str(path)).measured_tokens == 1


def test_model_option_times_a_real_architecture_from_its_config_alone(tmp_path):
    from transformers import LlamaConfig

    folder = tmp_path / "my-draft"
    LlamaConfig(vocab_size=1000, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1).save_pretrained(folder)
    assert [p.name for p in folder.iterdir()] == ["config.json"]  # no weights, no tokenizer
    expected_params = 1000 * 128 * 2 + 2 * (2 * 128 * 128 + 2 * 128 * 64 + 3 * 128 * 256 + 2 * 128) + 128
    result, path = _profile(tmp_path, "--sizes", "0.3M", "--model", str(folder))
    assert result.exit_code == 0, result.output
    rows = yaml.safe_load(path.read_text())["measurements"]
    mine = [r for r in rows if r["model"] == str(folder)]
    assert len(mine) == 3 and mine[0]["params"] == expected_params and mine[0]["vocab_size"] == 1000
    # --model without --sizes times the given architectures alone, not the default ladder as well.
    other = tmp_path / "my-other-draft"
    LlamaConfig(vocab_size=1000, hidden_size=192, intermediate_size=384, num_hidden_layers=3,
                num_attention_heads=3, num_key_value_heads=1).save_pretrained(other)
    result, path = _profile(tmp_path, "--model", str(folder), "--model", str(other))
    assert result.exit_code == 0, result.output
    assert {r["model"] for r in yaml.safe_load(path.read_text())["measurements"]} == {str(folder), str(other)}


def test_model_without_a_config_is_a_one_line_error(tmp_path):
    result, _ = _profile(tmp_path, "--sizes", "0.3M", "--model", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert result.output == f"error: --model {str(tmp_path / 'nowhere')!r}: no such folder\n"
    (tmp_path / "empty").mkdir()
    result, _ = _profile(tmp_path, "--sizes", "0.3M", "--model", str(tmp_path / "empty"))
    assert result.exit_code == 2
    assert result.output.startswith("error: --model") and result.output.count("\n") == 1


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_unavailable_device_is_a_one_line_error(tmp_path, device):
    if devices._available(device):
        pytest.skip(f"{device} is available here")
    result, path = _profile(tmp_path, "--sizes", "0.3M", "--device", device)
    assert result.exit_code == 2
    assert result.output == f"error: --device '{device}' is not available on this machine (torch sees no {device} device)\n"
    assert not path.exists()


@pytest.mark.parametrize("args, bad", [(["--device", "tpu"], "'tpu'"), (["--sizes", "20M,lots"], "'lots'"),
                                       (["--dtype", "int4"], "'int4'"), (["--max-tokens", "0"], "--max-tokens 0")])
def test_bad_values_are_named_in_one_line(tmp_path, args, bad):
    result = CliRunner().invoke(app, ["profile", "--sizes", "0.3M", *args, "-o", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2 and bad in result.output and result.output.count("\n") == 1


def test_a_size_that_does_not_fit_is_skipped_and_the_rest_kept(tmp_path):
    # 10B parameters in fp32 (40 GB) on this CPU: refused with a message; the small model is still measured.
    if devices.memory_bytes("cpu") > 0.9 * 40e9:
        pytest.skip("this machine has room for 10B fp32 parameters")
    result, path = _profile(tmp_path, "--sizes", "0.3M,10B")
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(path.read_text())
    assert {r["model"] for r in document["measurements"]} == {"300K"}
    assert len(document["skipped"]) == 1 and document["skipped"][0].startswith("10B: out of memory on cpu")
    assert "skipped 10B: out of memory" in " ".join(result.stderr.split())


def test_out_of_memory_errors_are_recognised():
    with pytest.raises(RuntimeError) as caught:
        torch.empty(10**15)  # 4 PB: the CPU allocator refuses at once
    assert devices.is_out_of_memory(caught.value)
    assert not devices.is_out_of_memory(RuntimeError("shape mismatch"))


def _interrupt_at_sync(monkeypatch, after: int) -> None:
    """Ctrl-C at the device synchronisation after the first ``after`` ones, where a real KeyboardInterrupt lands
    between steps (every step synchronises twice)."""
    calls = {"n": 0}
    real_synchronize = devices.synchronize

    def synchronize(device):
        calls["n"] += 1
        if calls["n"] > after:
            raise KeyboardInterrupt
        real_synchronize(device)

    monkeypatch.setattr(devices, "synchronize", synchronize)


def test_ctrl_c_writes_what_was_measured_marked_partial(tmp_path, monkeypatch):
    # The two models are timed side by side; each repeat is, per model, a cold step, 3 untimed steps, then
    # k = 1, 2, 3 (14 syncs), and a timed repeat also starts with a prefill (16). The warm-up repeat takes 28; then
    # 300K's first timed repeat (16); Ctrl-C lands after 2M's prefill, cold step, untimed steps and k = 1 step.
    # Everything timed is written, marked partial.
    _interrupt_at_sync(monkeypatch, after=28 + 16 + 12)
    result, path = _profile(tmp_path, "--sizes", "0.3M,2M")
    assert result.exit_code == 130, result.output
    document = yaml.safe_load(path.read_text())
    assert document["partial"] is True
    assert [(r["model"], r["new_tokens"], r["samples"]) for r in document["measurements"]] == [
        ("300K", 1, 1), ("300K", 2, 1), ("300K", 3, 1), ("2M", 1, 1)]
    assert load_profile(str(path)).kind == "measured"


def test_ctrl_c_before_any_timed_step_writes_nothing(tmp_path, monkeypatch):
    _interrupt_at_sync(monkeypatch, after=5)  # inside the warm-up repeat
    result, path = _profile(tmp_path, "--sizes", "0.3M,2M")
    assert result.exit_code == 130 and not path.exists()
    assert "no profile written" in result.stderr


def test_measure_rejects_bad_settings_before_building_anything():
    with pytest.raises(SpecplanError, match="--repeats 0"):
        latency_profile.jobs_for([3e5], [], latency_profile.ProfileSettings(device="cpu", dtype="fp32", repeats=0))


def test_loop_terms_are_skipped_when_two_models_do_not_fit(tmp_path, monkeypatch):
    """One "300K" ladder model (721K parameters with its embeddings, 2.9 MB in fp32) fits a 6 MB device; a draft and
    a target of it do not fit in half of it: the profile is written without loop terms and says why (on a real
    machine the OOM killer would end the run instead)."""
    monkeypatch.setattr(devices, "memory_bytes", lambda device: 6_000_000)
    result, path = _profile(tmp_path, "--sizes", "0.3M", loop=True)
    assert result.exit_code == 0, result.output
    assert "no loop terms: two 300K models do not fit" in " ".join(result.output.split())
    assert "loop" not in yaml.safe_load(path.read_text())
