"""Tensor parallelism in the latency model: sharded streaming, the all-reduce term, TP chosen when the target does
not fit, and the rules for valid TPs."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.plan import catalog, latency, parallel, planner
from specplan.plan.architecture import rule_architecture
from specplan.plan.hardware import load_profile

H100 = load_profile("h100-sxm")
LLAMA_70B = catalog.find("meta-llama/Llama-3.1-70B-Instruct").info().architecture


@pytest.mark.parametrize("params, tokens, batch", [(70e9, 1, 1), (1e9, 5, 8), (20e6, 1, 256), (8e9, 9, 64)])
def test_shape_rule_at_tp_1_is_exactly_the_profile_step_time(params, tokens, batch):
    arch = rule_architecture(params)
    assert latency.step_time_s(H100, arch, tokens, batch, None, 1024) == pytest.approx(
        H100.step_time_s(params, tokens, batch), rel=1e-12)


def test_70b_on_tp_4_target_step_falls_and_c_rises():
    def plan(tp):
        return planner.make_plan(planner.PlanInputs(target_params=LLAMA_70B.params_total, target_model=LLAMA_70B,
                                                    tensor_parallel=tp, draft_params=(1e9,)))
    one, four = plan(1), plan(4)
    assert four.tensor_parallel["target_step_s"] < 0.35 * one.tensor_parallel["target_step_s"]
    c_one = next(c.cost_ratio for c in one.candidates if c.draft_params == 1e9)
    c_four = next(c.cost_ratio for c in four.candidates if c.draft_params == 1e9)
    assert c_four > 2.5 * c_one  # the draft (TP 1) did not get faster; the target did
    assert four.tensor_parallel["all_reduce_s"] > 0 and one.tensor_parallel["all_reduce_s"] == 0


def test_all_reduce_grows_with_layers_and_tokens():
    deep = rule_architecture(70e9)
    twice = type(deep)(**{**deep.__dict__, "layers": 2 * deep.layers})
    assert latency.all_reduce_s(H100, twice, 1, 4, "bf16") == pytest.approx(
        2 * latency.all_reduce_s(H100, deep, 1, 4, "bf16"))
    assert latency.all_reduce_s(H100, deep, 4096, 4, "bf16") > latency.all_reduce_s(H100, deep, 1, 4, "bf16")
    # Latency plus ring bandwidth: 2 per layer, each the profile's latency + 2·(N−1)/N · bytes / 450 GB/s.
    one = H100.interconnect_latency_us * 1e-6 + 2 * 3 / 4 * (8192 * 2) / 450e9
    assert latency.all_reduce_s(H100, LLAMA_70B, 1, 4, "bf16") == pytest.approx(2 * 80 * one)


def test_kv_heads_are_replicated_beyond_their_count():
    assert latency.kv_share(LLAMA_70B, 4) == 0.25
    assert latency.kv_share(LLAMA_70B, 16) == 1 / 8  # 8 KV heads over 16 GPUs: one head each


@pytest.mark.parametrize("target, profile, expected", [
    ("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", 1),
    ("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", 4),  # vLLM's arithmetic: KV of one 131,072-token sequence
    ("meta-llama/Llama-3.1-70B-Instruct", "h200", 2),
    ("meta-llama/Llama-3.1-405B-Instruct", "h100-sxm", 16),
    ("Qwen/Qwen3-32B", "l40s", 4),  # at 2 the draft (TP 1) and its 40,960-token KV no longer fit
])
def test_the_smallest_fitting_tp_is_chosen_and_said(target, profile, expected):
    result = CliRunner().invoke(app, ["plan", "--target", target, "--profile", profile, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tensor_parallel"]["target"] == expected
    said = [n for n in data["notes"] if "does not fit one" in n]
    assert len(said) == (expected > 1)
    assert data["tensor_parallel"]["memory_per_gpu_gb"] <= 0.9 * load_profile(profile).memory_gb


def test_given_tp_that_does_not_fit_is_noted():
    plan = planner.make_plan(planner.PlanInputs(target_params=LLAMA_70B.params_total, target_model=LLAMA_70B,
                                                tensor_parallel=1))
    assert any("does not fit 1 × h100-sxm" in note for note in plan.notes)


def test_measured_profiles_stay_one_device(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"name": "m", "kind": "measured", "dtype": "fp32", "coefficients": {
        "step_overhead_s": 1e-3, "layer_overhead_s": 1e-5, "per_param_s": 1e-12, "per_param_token_s": 0.0}}))
    assert planner.make_plan(planner.PlanInputs(target_params=1e9, profile=str(path))).inputs.tensor_parallel == 1
    with pytest.raises(SpecplanError, match="measured on one device"):
        planner.make_plan(planner.PlanInputs(target_params=1e9, profile=str(path), tensor_parallel=2))


def test_interconnect_keys_go_together(tmp_path):
    data = yaml.safe_load((Path(__file__).parents[2] / "profiles" / "h100-sxm.yaml").read_text())
    del data["interconnect_latency_us"]
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecplanError, match="go together"):
        load_profile(str(path))


def test_bundled_gpu_profiles_carry_interconnect_figures_with_sources():
    for name in ("h100-sxm", "h200", "a100-80gb-sxm", "l40s", "rtx-4090"):
        profile = load_profile(name)
        assert profile.interconnect_bandwidth_gb_s > 0 and profile.interconnect_latency_us > 0
        assert ("NVLink" if name in ("h100-sxm", "h200", "a100-80gb-sxm") else "PCIe") in profile.sources
    assert load_profile("cpu-generic").interconnect_bandwidth_gb_s is None
