"""report's acceptance check (``report/acceptance_check.py``) on hand-made records: each engine's rule chosen from
its settings and the temperature, the measured tokens per round set beside the acceptance record's, and a gap
flagged only beyond the intervals (with what the engine record says about vLLM's CPU sampling)."""

import json

import pytest
from typer.testing import CliRunner

from report_records import BASE, write
from specplan.cli import app
from specplan.report.acceptance_check import checks, engine_rule
from specplan.report.aggregate import aggregate

T = 0.8


def _vllm(method, accepted, prompt, cpu=None):
    settings = {**BASE["settings"], "temperature": T, "engines": ["vllm"],
                "vllm": {} if method is None else {"draft_sample_method": method}}
    return {**BASE, "settings": settings, "kind": "run", "engine": "vllm", "gamma": 2, "prompt_index": prompt,
            "repeat": 0, "new_tokens": 1 + sum(j + 1 for j in accepted), "wall_time_s": 1.0,
            "output_ids": [0] * (1 + sum(j + 1 for j in accepted)), "batch_size": 1, "wave": prompt,
            "request_index": prompt, "rounds": {"drafted": [2] * len(accepted), "accepted": accepted}}


def _acceptance(argmax=(1.9, 1.85, 1.95), lossless=(2.4, 2.35, 2.45)):
    results = [{"temperature": T, "rule": rule, "alpha": 0.5, "tokens_per_round": {"2": e},
                "tokens_per_round_interval": {"2": [low, high]}}
               for rule, (e, low, high) in (("argmax_draft", argmax), ("lossless", lossless))]
    return {**BASE, "run_id": "acc", "kind": "acceptance", "settings": {"temperatures": [T], "top_p": 1.0},
            "results": results}


# two prompts of four rounds at γ 2 (accepted j per round); E = Σ (j + 1) / rounds
NEAR_ARGMAX = ([1, 1, 0, 2], [1, 0, 1, 1])  # E = (2+2+1+3 + 2+1+2+2)/8 = 1.875
NEAR_LOSSLESS = ([2, 1, 2, 1], [1, 2, 1, 1])  # E = (3+2+3+2 + 2+3+2+2)/8 = 2.375


@pytest.mark.parametrize("engine, temperature, settings, rule", [
    ("vllm", 0.8, {}, "argmax_draft"), ("vllm", 0.8, {"vllm": {"draft_sample_method": "greedy"}}, "argmax_draft"),
    ("vllm", 0.8, {"vllm": {"draft_sample_method": "probabilistic"}}, "lossless"),
    ("vllm", 0.0, {}, "greedy"), ("sd", 1.0, {}, "lossless"), ("hf", 0.5, {}, "lossless"), ("sd", 0.0, {}, "greedy"),
])
def test_each_engine_runs_its_rule(engine, temperature, settings, rule):
    assert engine_rule(engine, temperature, settings) == rule


@pytest.mark.parametrize("method, runs, expected_rule, flagged", [
    (None, NEAR_ARGMAX, "argmax_draft", False),  # vLLM's default: argmax drafting, measured within
    ("greedy", NEAR_LOSSLESS, "argmax_draft", True),  # accepting far more than argmax drafting predicts
    ("probabilistic", NEAR_LOSSLESS, "lossless", False),
    ("probabilistic", NEAR_ARGMAX, "lossless", True),
])
def test_measured_acceptance_is_set_beside_the_engines_rule_and_flagged_beyond_the_intervals(method, runs,
                                                                                             expected_rule, flagged):
    records = [_vllm(method, accepted, p) for p, accepted in enumerate(runs)] + [_acceptance()]
    rows = aggregate(records)
    [found] = checks(rows, records)
    assert found.rule == expected_rule and found.temperature == T and found.record_run_id == "acc"
    by_rule = {"argmax_draft": 1.9, "lossless": 2.4}
    assert found.predicted == by_rule[expected_rule]
    assert found.interval == pytest.approx((by_rule[expected_rule] - 0.05, by_rule[expected_rule] + 0.05))
    assert found.measured == pytest.approx(1.875 if runs is NEAR_ARGMAX else 2.375)
    assert found.rate(found.measured) == pytest.approx((found.measured - 1) / 2)
    assert found.flagged is flagged


def test_no_check_without_a_matching_record_and_a_note_when_the_cpu_stand_in_was_left_wrong(tmp_path):
    runs = [_vllm(None, accepted, p) for p, accepted in enumerate(([0, 0, 0, 0], [0, 0, 1, 0]))]
    other_pair = {**_acceptance(), "pair": {"target": "X", "draft": "Y"}}
    assert checks(aggregate(runs), runs + [other_pair]) == []
    other_temperature = {**_acceptance(), "results": [{**r, "temperature": 1.0} for r in _acceptance()["results"]]}
    assert checks(aggregate(runs), runs + [other_temperature]) == []
    engine = {**BASE, "kind": "engine", "engine": "vllm", "gamma": 2, "cpu_sampling": "bug-kept"}
    path = write(tmp_path / "runs.jsonl", runs + [engine, _acceptance()])
    result = CliRunner().invoke(app, ["report", str(path), "--format", "json", "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    [found] = report["acceptance_check"]
    assert found["flagged"] is True and found["rule"] == "argmax_draft" and "left unrepaired" in found["note"]
    assert found["measured_draft_acceptance_rate"] == pytest.approx((9 / 8 - 1) / 2)
    assert any(n.startswith("acceptance: vllm γ 2 B 1 at T 0.8: measured DAR 0.062") and "gap beyond" in n
               for n in report["notes"])
