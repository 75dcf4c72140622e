"""Acceptance as engines print it (τ@γ, draft acceptance rate@γ) converted to α, --alpha paired with --draft,
--gamma, and the acceptance's origin in the row and in JSON ``alpha_source``."""

import json

import pytest
from typer.testing import CliRunner

from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.plan import given_acceptance as ga

LLAMA_70B, LLAMA_1B, LLAMA_3B = ("meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.2-1B-Instruct",
                                 "meta-llama/Llama-3.2-3B-Instruct")


def plan(*args) -> dict:
    result = CliRunner().invoke(app, ["plan", "--json", "--profile", "h100-sxm", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("alpha, gamma", [(0.5, 1), (0.8, 4), (0.9, 8), (0.3, 3)])
def test_conversions_round_trip(alpha, gamma):
    tau = (1 - alpha ** (gamma + 1)) / (1 - alpha)  # AL(γ), bonus token included
    assert ga.acceptance_length(alpha, gamma) == pytest.approx(tau)
    assert ga.alpha_from_acceptance_length(tau, gamma) == pytest.approx(alpha, abs=1e-10)
    rate = (tau - 1) / gamma  # DAR(γ)
    assert ga.draft_acceptance_rate(alpha, gamma) == pytest.approx(rate)
    assert ga.alpha_from_draft_acceptance_rate(rate, gamma) == pytest.approx(alpha, abs=1e-10)


def test_hand_values():
    # τ = 1 + α at γ 1: τ 1.6 is α 0.6; at γ 2, τ = 1 + α + α² = 1.75 at α 0.5; DAR 0.375 at γ 2 is that τ
    assert ga.alpha_from_acceptance_length(1.6, 1) == pytest.approx(0.6)
    assert ga.alpha_from_acceptance_length(1.75, 2) == pytest.approx(0.5)
    assert ga.alpha_from_draft_acceptance_rate(0.375, 2) == pytest.approx(0.5)


@pytest.mark.parametrize("call", [lambda: ga.alpha_from_acceptance_length(5.0, 4),
                                  lambda: ga.alpha_from_acceptance_length(1.0, 4),
                                  lambda: ga.alpha_from_draft_acceptance_rate(0.0, 4),
                                  lambda: ga.parse_at("3.2", "--acceptance-length"),
                                  lambda: ga.parse_at("3.2@0", "--acceptance-length"),
                                  lambda: ga.parse_at("a@4", "--acceptance-length")])
def test_bad_conversions_are_errors(call):
    with pytest.raises(SpecplanError):
        call()


def test_alpha_pairs_with_draft_in_order():
    data = plan("--target", LLAMA_70B, "--draft", LLAMA_1B, "--draft", LLAMA_3B, "--alpha", "0.9", "--alpha", "0.5")
    rows = {c["name"]: c for c in data["checkpoints"]}
    assert rows[LLAMA_1B]["alpha"] == 0.9 and rows[LLAMA_1B]["alpha_source"] == "measured, --alpha"
    assert rows[LLAMA_3B]["alpha"] == 0.5 and rows[LLAMA_3B]["alpha_source"] == "measured, --alpha"
    law = rows["meta-llama/Llama-3.1-8B-Instruct"]
    assert law["alpha_source"].startswith("family offset:")  # no α given for it: the llama3 family's offset


def test_acceptance_length_and_rate_become_alpha_with_their_source():
    data = plan("--target", LLAMA_70B, "--draft", LLAMA_1B, "--acceptance-length", "3.85@4")
    row = next(c for c in data["checkpoints"] if c["name"] == LLAMA_1B)
    assert row["alpha"] == pytest.approx(ga.alpha_from_acceptance_length(3.85, 4))
    assert row["alpha_source"] == "from --acceptance-length 3.85@4"
    data = plan("--target-params", "7B", "--draft-params", "100M", "--draft-acceptance-rate", "0.5@4")
    assert data["recommendation"]["alpha"] == pytest.approx(ga.alpha_from_acceptance_length(3.0, 4))
    assert data["recommendation"]["alpha_source"] == "from --draft-acceptance-rate 0.5@4"


def test_gamma_gives_the_speedup_there_and_the_best_beside_it():
    data = plan("--target", LLAMA_70B, "--draft", LLAMA_1B, "--alpha", "0.8", "--gamma", "2")
    fixed = data["at_gamma"]
    rec = data["recommendation"]
    assert fixed["gamma"] == 2 and fixed["speedup"] == rec["speedup_by_gamma"][1]
    assert fixed["best_gamma"] == rec["gamma"] and fixed["best_speedup"] == rec["speedup"]
    row = next(c for c in data["checkpoints"] if c["name"] == LLAMA_1B)
    assert row["at_gamma"]["expected_tokens_per_round"] == pytest.approx(1 + 0.8 + 0.64)
    assert row["at_gamma"]["speedup"] <= row["speedup"] and row["at_gamma"]["best_gamma"] == row["gamma"]
    assert plan("--target", LLAMA_70B)["at_gamma"] is None


@pytest.mark.parametrize("args, message", [
    (["--gamma", "0"], "--gamma"),
    (["--gamma", "33"], "--gamma"),
    (["--draft", LLAMA_1B, "--acceptance-length", "6@4"], "--acceptance-length 6@4"),
    (["--draft", LLAMA_1B, "--acceptance-length", "3.2"], "FIGURE@GAMMA"),
    (["--draft", LLAMA_1B, "--draft-acceptance-rate", "1.5@4"], "--draft-acceptance-rate 1.5@4"),
    (["--draft", LLAMA_1B, "--alpha", "0.5", "--acceptance-length", "2@2"], "one way"),
    (["--draft", LLAMA_1B, "--alpha", "0.5", "--alpha", "0.6"], "at most one per draft"),
    (["--acceptance-length", "2@2"], "--draft-params (or --draft)"),
    (["--draft", LLAMA_1B, "--draft-params", "1B", "--alpha", "0.5", "--alpha", "0.6"], "--alpha is given 2 times"),
])
def test_bad_values_are_one_line(args, message):
    result = CliRunner().invoke(app, ["plan", "--target", LLAMA_70B, *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
