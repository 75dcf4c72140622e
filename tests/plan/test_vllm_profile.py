"""The ``engine: vllm`` profile (plan/vllm_profile.py) as plan reads it: a synthetic profile with known step and
round costs gives the speedup computed by hand, and its bad values are one-line errors."""

import copy
import json

import pytest
import yaml
from typer.testing import CliRunner

from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.plan.hardware import profile_from_dict
from specplan.plan.vllm_profile import VllmProfile

M, N = 10_000_000, 1_000_000
# Milliseconds: target decode 10 (B=1) and 16 (B=4); draft 2 and 3; a 3-token pass of the target 12; rounds at γ 2.
SYNTHETIC = {
    "name": "syn-vllm", "kind": "measured", "engine": "vllm", "dtype": "fp32",
    "batch_decode": [{"params": M, "batch": 1, "step_s": 0.010}, {"params": M, "batch": 4, "step_s": 0.016},
                     {"params": N, "batch": 1, "step_s": 0.002}, {"params": N, "batch": 4, "step_s": 0.003}],
    "verify": [{"params": M, "tokens": 1, "step_s": 0.010}, {"params": M, "tokens": 3, "step_s": 0.012},
               {"params": N, "tokens": 1, "step_s": 0.002}, {"params": N, "tokens": 3, "step_s": 0.0024}],
    "rounds": [{"target_params": M, "draft_params": N, "gamma": 2, "batch": 1, "round_s": 0.020},
               {"target_params": M, "draft_params": N, "gamma": 2, "batch": 4, "round_s": 0.030}],
}


def _plan(tmp_path, batch: int, profile: dict = SYNTHETIC, alpha: float = 0.8) -> dict:
    path = tmp_path / "vllm.yaml"
    path.write_text(yaml.safe_dump(profile))
    result = CliRunner().invoke(app, ["plan", "--target-params", str(M), "--draft-params", str(N), "--alpha",
                                      str(alpha), "--profile", str(path), "--gamma", "2", "--gamma-max", "2",
                                      "--batch-size", str(batch), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["at_gamma"]


@pytest.mark.parametrize("batch,ar_s,round_s", [(1, 0.010, 0.020), (4, 0.016, 0.030)])
def test_plan_reproduces_the_measured_round_by_hand(tmp_path, batch, ar_s, round_s):
    # α 0.8, γ 2: E = 1 + 0.8 + 0.64 = 2.44 tokens per round; the round costs what was measured, an AR token the
    # measured decode step at that batch: speedup = E · t_AR(B) / R(γ, B).
    at = _plan(tmp_path, batch)
    assert at["expected_tokens_per_round"] == pytest.approx(2.44)
    assert at["speedup"] == pytest.approx(2.44 * ar_s / round_s)  # 1.22 at B = 1, 1.3013 at B = 4


def test_the_round_overhead_is_what_the_tables_leave_out():
    profile = profile_from_dict(copy.deepcopy(SYNTHETIC), "syn")
    assert isinstance(profile, VllmProfile) and profile.engine == "vllm"
    # B = 1: o = 20 − 2·2 − 12 = 4 ms; B = 4: the verification reads batch_decode at 3·4 = 12 tokens, the line
    # through (1, 10) and (4, 16) extended: 32 ms, so o = 30 − 2·3 − 32 = −8 ms (negative: allowed, R stays 30).
    assert profile.round_overhead_at(2, 1) == pytest.approx(0.004)
    assert profile.tokens_s(M, 3, 4) == pytest.approx(0.032)
    assert profile.round_overhead_at(2, 4) == pytest.approx(-0.008)
    assert profile.round_overhead_at(2, 2) == pytest.approx(0.004 - 0.012 / 3, abs=1e-12)  # linear in B
    assert profile.round_overhead_at(1, 1) == profile.round_overhead_at(2, 1)  # the nearest measured γ


def test_a_round_never_costs_less_than_a_target_decode_step(tmp_path):
    cheap = copy.deepcopy(SYNTHETIC)
    cheap["rounds"][0]["round_s"] = 0.001  # noise: below the target's own 10 ms decode step
    at = _plan(tmp_path, 1, cheap, alpha=0.99)
    assert at["speedup"] <= at["expected_tokens_per_round"] + 1e-9  # at most E tokens per target step
    assert at["speedup"] == pytest.approx(at["expected_tokens_per_round"] * 0.010 / 0.010)


def test_sizes_between_the_measured_ones_interpolate_log_log():
    profile = profile_from_dict(copy.deepcopy(SYNTHETIC), "syn")
    between = profile.tokens_s((M * N) ** 0.5, 1, 1)
    assert between == pytest.approx((0.010 * 0.002) ** 0.5)


@pytest.mark.parametrize("change,needle", [
    (lambda d: d["rounds"].clear(), "rounds is empty"),
    (lambda d: d["batch_decode"][0].update(step_s=-1.0), "batch_decode.step_s"),
    (lambda d: d["batch_decode"][0].update(step_s=float("nan")), "batch_decode.step_s"),
    (lambda d: d["rounds"][0].update(gamma=0), "rounds.gamma"),
    (lambda d: d["verify"][0].update(tokens=True), "verify.tokens"),
    (lambda d: d.update(extra_key=1), "unknown key 'extra_key'"),
    (lambda d: d.pop("verify"), "missing key 'verify'"),
    (lambda d: [d["batch_decode"].pop(), d["batch_decode"].pop(), d["verify"].pop(), d["verify"].pop()],
     "one model size"),
    (lambda d: d["batch_decode"].pop(0), "no batch-1 step"),
])
def test_bad_values_are_one_line_errors(change, needle):
    data = copy.deepcopy(SYNTHETIC)
    change(data)
    with pytest.raises(SpecplanError, match=needle) as error:
        profile_from_dict(data, "syn.yaml")
    assert "\n" not in str(error.value)


def test_per_request_speedup_charges_the_measured_prefills(tmp_path):
    # prefill of 100 tokens: target 50 ms, draft 10 ms; --prompt-tokens 50 scales them to 25 and 5 ms, in target
    # steps p_M = 2.5 and p_N = 0.5; n = 21 new tokens, the first from the target's prefill, R = 2 target steps:
    # S = (p_M + n − 1) / (p_M + p_N + (n − 1)·R/E) (docs/theory.md §5).
    data = copy.deepcopy(SYNTHETIC)
    data["prefill"] = [{"params": M, "batch": 1, "tokens": 100, "prefill_s": 0.050},
                       {"params": N, "batch": 1, "tokens": 100, "prefill_s": 0.010}]
    path = tmp_path / "vllm.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["plan", "--target-params", str(M), "--draft-params", str(N), "--alpha", "0.8",
                                      "--profile", str(path), "--gamma", "2", "--gamma-max", "2", "--prompt-tokens",
                                      "50", "--new-tokens", "21", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["at_gamma"]["speedup"] == pytest.approx((2.5 + 20) / (2.5 + 0.5 + 20 * 2 / 2.44))
    assert not any("no prefill measurement" in note for note in plan["notes"])
