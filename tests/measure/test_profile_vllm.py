"""`specplan profile --engine vllm` end to end on vLLM's CPU build: a tiny ladder (two random-weight sizes, batch
1 and 2, γ 1), the written profile read by plan. Three vLLM engines start; assertions are about structure and
consistency (plan reproduces the measured round), not speed."""

import json

import pytest
import yaml

from bench_fixtures import invoke
from specplan.plan.hardware import load_profile
from specplan.plan.vllm_profile import VllmProfile

from bench_fixtures import vllm_required  # noqa: F401  (the fixture, by name)

# Selected by `pytest -m vllm` (.ci/run's vLLM environment), deselected by default (pyproject addopts).
pytestmark = [pytest.mark.vllm, pytest.mark.usefixtures("vllm_required")]

QUICK = ["profile", "--engine", "vllm", "--device", "cpu", "--sizes", "0.3M,2M", "--context-tokens", "32",
         "--max-tokens", "2", "--batch-sizes", "1,2", "--repeats", "1"]


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    path = tmp_path_factory.mktemp("vllm-profile") / "vllm.yaml"
    result = invoke([*QUICK, "--name", "tiny-vllm", "-o", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return path, json.loads(result.stdout)


def test_the_profile_holds_vllm_steps_and_rejected_rounds(measured):
    path, document = measured
    assert yaml.safe_load(path.read_text()) == document
    assert document["engine"] == "vllm" and document["kind"] == "measured" and document["batch_sizes"] == [1, 2]
    sizes = sorted({r["params"] for r in document["batch_decode"]})
    assert len(sizes) == 2
    pairs = [(p, b) for p in sizes for b in (1, 2)]
    assert sorted((r["params"], r["batch"]) for r in document["batch_decode"]) == pairs
    assert sorted((r["params"], r["tokens"]) for r in document["verify"]) == [(p, k) for p in sizes for k in (1, 2)]
    for row in document["batch_decode"] + document["verify"]:
        assert 0 < row["step_s"] < 10
    assert sorted((r["params"], r["batch"]) for r in document["prefill"]) == pairs
    assert all(r["tokens"] == 32 and 0 < r["prefill_s"] < 10 for r in document["prefill"])
    rounds = document["rounds"]
    assert [(r["draft_params"], r["target_params"], r["gamma"], r["batch"]) for r in rounds] == \
        [(sizes[0], sizes[1], 1, 1), (sizes[0], sizes[1], 1, 2)]
    for r in rounds:  # vLLM's own counters: every round drafted γ, the random draft (own seed, untied head) rejected
        assert r["rounds"] > 0 and r["drafted"] == r["rounds"] * r["gamma"] and 0 < r["round_s"] < 10
        assert r["acceptance"] == r["accepted"] / r["drafted"] <= 0.05


def test_plan_reads_it_and_reproduces_the_measured_round(measured):
    path, document = measured
    profile = load_profile(str(path))
    assert isinstance(profile, VllmProfile)
    target, draft = max(profile.decode), min(profile.decode)
    result = invoke(["plan", "--target-params", str(int(target)), "--draft-params", str(int(draft)), "--alpha", "0.6",
                     "--gamma", "1", "--gamma-max", "1", "--profile", str(path), "--json"])
    assert result.exit_code == 0, result.output
    at = json.loads(result.stdout)["at_gamma"]
    decode = next(r["step_s"] for r in document["batch_decode"] if r["params"] == target and r["batch"] == 1)
    round_s = next(r["round_s"] for r in document["rounds"] if r["batch"] == 1)
    assert at["expected_tokens_per_round"] == pytest.approx(1.6)
    assert at["speedup"] == pytest.approx(1.6 * decode / max(round_s, decode))  # E · t_AR / R, R ≥ one step
