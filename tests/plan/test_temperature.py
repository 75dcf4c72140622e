"""Temperature and the engine's acceptance rule in plan: the fitted adjustment (Leviathan et al. 2023 Table 3), the
rule --emit vllm implies, --draft-sample-method in the emitted config, and --alpha-from reading a hand-written
acceptance record (the format of `specplan acceptance`, docs/records.md)."""

import json
import math

import pytest
from typer.testing import CliRunner

from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.plan import acceptance_record, temperature

LLAMA_70B, LLAMA_1B = "meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.2-1B-Instruct"


def plan(*args) -> dict:
    result = CliRunner().invoke(app, ["plan", "--json", "--profile", "h100-sxm", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_fit_is_the_geometric_mean_of_the_published_ratios():
    ratios = [0.89 / 0.88, 0.62 / 0.75, 0.68 / 0.80, 0.71 / 0.82, 0.53 / 0.65, 0.55 / 0.73, 0.56 / 0.74,
              0.57 / 0.61, 0.71 / 0.71, 0.74 / 0.75]
    assert temperature.RATIO_AT_T1 == pytest.approx(math.prod(ratios) ** (1 / len(ratios)))
    assert temperature.RATIO_AT_T1 == pytest.approx(0.875, abs=5e-4)
    # T5-XXL / T5-small on EnDe: 0.75 greedy → 0.656 predicted at T 1, published 0.62
    assert temperature.adjust(0.75, 1.0) == pytest.approx(0.75 * temperature.RATIO_AT_T1)
    assert temperature.adjust(0.75, 0.0) == 0.75


def test_plan_adjusts_the_law_but_not_a_given_alpha():
    greedy, sampled = plan("--target-params", "7B"), plan("--target-params", "7B", "--temperature", "1")
    assert sampled["inputs"]["temperature"] == 1.0
    law_greedy = {c["draft_params"]: c["alpha"] for c in greedy["candidates"]}
    for c in sampled["candidates"]:
        assert c["alpha"] == pytest.approx(law_greedy[c["draft_params"]] * temperature.RATIO_AT_T1)
    assert "adjusted to T 1" in sampled["recommendation"]["alpha_source"]
    given = plan("--target-params", "7B", "--draft-params", "100M", "--alpha", "0.7", "--temperature", "1")
    assert given["recommendation"]["alpha"] == 0.7


def test_the_rule_emit_vllm_implies_and_the_config_it_writes():
    data = plan("--target", LLAMA_70B, "--emit", "vllm", "--temperature", "0.8")
    assert data["inputs"]["acceptance_rule"] == "argmax_draft"
    assert "draft_sample_method" not in data["emit"]["text"]
    assert any("argmax" in n for n in data["emit"]["notes"])
    assert "upper bound under argmax drafting" in data["recommendation"]["alpha_source"]
    data = plan("--target", LLAMA_70B, "--emit", "vllm", "--temperature", "0.8", "--draft-sample-method",
                "probabilistic")
    assert data["inputs"]["acceptance_rule"] == "lossless"
    assert '"draft_sample_method": "probabilistic"' in data["emit"]["text"]
    assert plan("--target", LLAMA_70B)["inputs"]["acceptance_rule"] == "lossless"
    assert plan("--target", LLAMA_70B, "--emit", "sglang")["inputs"]["acceptance_rule"] == "lossless"


RECORD = {
    "kind": "acceptance", "run_id": "abc", "pair": {"target": LLAMA_70B, "draft": LLAMA_1B},
    "settings": {"temperatures": [0.0, 0.8]},
    "results": [
        {"temperature": 0.0, "rule": "greedy", "alpha": 0.81, "tokens_per_round": {"1": 1.81, "2": 2.46}},
        {"temperature": 0.8, "rule": "lossless", "alpha": 0.72, "tokens_per_round": {"1": 1.72}},
        {"temperature": 0.8, "rule": "argmax_draft", "alpha": 0.55, "tokens_per_round": {"1": 1.55}},
    ],
}


def write(tmp_path, record=RECORD, lines=True):
    path = tmp_path / "acceptance.jsonl"
    header = {"kind": "header", "schema_version": 1}
    path.write_text("\n".join(json.dumps(r) for r in (header, record)) + "\n" if lines else json.dumps(record))
    return str(path)


def test_the_record_reader_picks_the_rule_at_the_nearest_temperature(tmp_path):
    path = write(tmp_path)
    given, pair, notes = acceptance_record.given_alpha(path, 0.8, "argmax_draft")
    assert given.alpha == 0.55 and pair["draft"] == LLAMA_1B and not notes
    assert "T 0.8, argmax_draft" in given.source
    assert acceptance_record.given_alpha(path, 0.8, "lossless")[0].alpha == 0.72
    assert acceptance_record.given_alpha(path, 0.0, "argmax_draft")[0].alpha == 0.81  # greedy serves both rules
    given, _, notes = acceptance_record.given_alpha(path, 1.0, "lossless")
    assert given.alpha == 0.72 and "nearest, T 0.8" in notes[0]
    assert acceptance_record.given_alpha(write(tmp_path, lines=False), 0.8, "lossless")[0].alpha == 0.72


def test_alpha_from_in_plan(tmp_path):
    path = write(tmp_path)
    data = plan("--target", LLAMA_70B, "--draft", LLAMA_1B, "--alpha-from", path, "--temperature", "0.8",
                "--emit", "vllm")
    row = next(c for c in data["checkpoints"] if c["name"] == LLAMA_1B)
    assert row["alpha"] == 0.55 and row["alpha_source"].startswith("acceptance record acceptance.jsonl (T 0.8")


@pytest.mark.parametrize("record, message", [
    ({"kind": "run", "results": []}, "no acceptance record"),
    ({**RECORD, "results": [{"temperature": 0.8, "rule": "lossless", "alpha": 1.5}]}, "finite alpha"),
    ({**RECORD, "results": [{"temperature": 0.8, "rule": "lossless", "alpha": 0.7}]}, "no result for the argmax"),
])
def test_bad_records_are_one_line(tmp_path, record, message):
    path = write(tmp_path, record)
    with pytest.raises(SpecplanError, match=message):
        acceptance_record.given_alpha(path, 0.8, "argmax_draft")
    result = CliRunner().invoke(app, ["plan", "--target", LLAMA_70B, "--draft", LLAMA_1B, "--alpha-from", path,
                                      "--temperature", "0.8", "--acceptance-rule", "argmax_draft"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--temperature", "-1"], "--temperature"),
    (["--temperature", "3"], "--temperature"),
    (["--acceptance-rule", "typical"], "--acceptance-rule"),
    (["--draft-sample-method", "topk"], "--draft-sample-method"),
    (["--acceptance-rule", "lossless", "--draft-sample-method", "greedy"], "contradicts"),
    (["--alpha-from", "/nonexistent/acceptance.jsonl", "--draft", LLAMA_1B], "--alpha-from"),
])
def test_bad_values_are_one_line(args, message):
    result = CliRunner().invoke(app, ["plan", "--target", LLAMA_70B, *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_fit_figures_docs_theory_states():
    errors = sorted(abs(math.log(temperature.adjust(g, 1.0) / s)) for g, s in temperature.LEVIATHAN_TABLE_3.values())
    raw = sorted(abs(math.log(g / s)) for g, s in temperature.LEVIATHAN_TABLE_3.values())
    assert (errors[4] + errors[5]) / 2 == pytest.approx(0.095, abs=5e-4)
    assert (raw[4] + raw[5]) / 2 == pytest.approx(0.15, abs=5e-3)
    assert temperature.adjust(0.75, 1.0) == pytest.approx(0.656, abs=5e-4)
