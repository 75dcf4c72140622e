"""The planner against the paper's check values and the hardware model's expected directions."""

import dataclasses
import math

import pytest

from specplan.plan import planner
from theory_helpers import tokens_per_flop
from specplan.errors import SpecplanError
from specplan.plan.scaling import AlphaLaw, perplexity, pooled_rule_draft_params

LLAMA3_70B = 70_553_706_496


def flops_plan(**kw):
    return planner.make_plan(planner.PlanInputs(target_params=LLAMA3_70B, target_tokens=15e12, draft_tokens=2.4e12,
                                                cost_model="flops", **kw))


def test_flops_cost_model_reproduces_the_papers_llama3_70b_numbers():
    rec = flops_plan().recommendation
    # docs/theory.md §4: N* ≈ 290.18M, α ≈ 0.657, γ* ≈ 10, speedup ≈ 2.76×, T* ≈ 1.957e-11 tokens/FLOP.
    assert rec.draft_params == pytest.approx(290.18e6, rel=0.005)
    assert rec.alpha == pytest.approx(0.657, abs=0.002)
    assert rec.gamma == 10 and rec.gamma_real == pytest.approx(10, abs=0.2)
    assert rec.speedup == pytest.approx(2.76, abs=0.01)
    assert tokens_per_flop(rec.alpha, rec.gamma_real, LLAMA3_70B, rec.draft_params) == pytest.approx(
        1.957e-11, rel=0.002)
    assert rec.cost_ratio == pytest.approx(rec.draft_params / LLAMA3_70B)


def test_flat_band_is_wide_and_an_8b_draft_loses_about_a_third():
    plan = flops_plan(draft_params=(8e9,))
    low, high = plan.flat_band
    # docs/theory.md §4: every draft from ~100M to ~1B is within ~5%; the 3% band is a bit narrower.
    assert 80e6 < low < 150e6 and 600e6 < high < 1.2e9
    assert low <= plan.recommendation.draft_params <= high
    eight_b = next(c for c in plan.candidates if c.draft_params == 8e9)
    assert eight_b.speedup / plan.recommendation.speedup == pytest.approx(0.65, abs=0.06)


def test_pooled_rule_and_perplexity_law():
    assert pooled_rule_draft_params(70e9) == pytest.approx(2.71e-3 * 70e9 + 8.71e7)
    # The law's ingredients at the check value give the paper's α ≈ 0.657.
    alpha = AlphaLaw().acceptance(perplexity(290.18e6, 2.4e12), perplexity(LLAMA3_70B, 15e12))
    assert alpha == pytest.approx(0.657, abs=0.002)


def test_hardware_overheads_move_n_star_down_for_a_70b_target():
    flops = planner.make_plan(planner.PlanInputs(target_params=70e9, cost_model="flops")).recommendation
    hardware = planner.make_plan(planner.PlanInputs(target_params=70e9, profile="h100-sxm",
                                                    tensor_parallel=1)).recommendation
    # One device streaming the whole target (TP 1, as the paper's c = N/M assumes). The fitted per-step and per-layer
    # terms make every draft dearer than N/M (c ≥ 2x N/M), and the per-layer term grows with the draft's depth, so a
    # larger draft's marginal cost exceeds 1/M: N* moves down by ≥ 5%, and the predicted speedup falls.
    assert hardware.draft_params < 0.95 * flops.draft_params
    assert hardware.cost_ratio > 2 * hardware.draft_params / 70e9
    assert hardware.speedup < flops.speedup


def test_large_batch_makes_verification_compute_bound_and_speculation_pay_much_less():
    single = planner.make_plan(planner.PlanInputs(target_params=70e9, tensor_parallel=1)).recommendation
    batched_inputs = planner.PlanInputs(target_params=70e9, batch_size=256, tensor_parallel=1)
    batched = planner.make_plan(batched_inputs).recommendation
    assert single.verify_cost_ratio == pytest.approx(1.0)
    # The single-sequence plan's draft and γ at batch 256: verifying γ+1 tokens costs more than a decode step.
    same_pair = planner.evaluate_draft(batched_inputs, single.draft_params, gamma=single.gamma)
    assert same_pair.verify_cost_ratio > 1.2
    assert batched.speedup < 0.5 * single.speedup
    huge = planner.make_plan(planner.PlanInputs(target_params=70e9, batch_size=4096, tensor_parallel=1))
    assert not huge.pays and huge.recommendation.gamma == 0


def test_given_alpha_chooses_among_the_given_drafts():
    plan = planner.make_plan(planner.PlanInputs(target_params=7e9, draft_params=(100e6, 1e9), alpha=(0.7, 0.7)))
    assert {c.draft_params for c in plan.candidates} == {100e6, 1e9}
    assert all(c.alpha == 0.7 for c in plan.candidates)
    # Same acceptance, so the cheaper draft wins.
    assert plan.recommendation.draft_params == 100e6


def test_each_alpha_belongs_to_its_own_draft_by_order():
    law = planner.make_plan(planner.PlanInputs(target_params=7e9, draft_params=(1e9,))).candidates
    law_1b = next(c.alpha for c in law if c.draft_params == 1e9)
    paired = planner.make_plan(planner.PlanInputs(target_params=7e9, draft_params=(1e9, 100e6), alpha=(0.75, 0.5)))
    assert {c.draft_params: c.alpha for c in paired.candidates} == {1e9: 0.75, 100e6: 0.5}
    one = planner.make_plan(planner.PlanInputs(target_params=7e9, draft_params=(1e9, 100e6), alpha=0.75))
    alphas = {c.draft_params: c.alpha for c in one.candidates}
    assert alphas[1e9] == 0.75 and alphas[100e6] != 0.75  # never copied onto the other draft
    assert alphas[100e6] < law_1b  # the law's α for the smaller draft
    assert any("the SDSL law for 100M" in n for n in one.notes)
    with pytest.raises(SpecplanError, match="--alpha is given 2 times for 1 --draft-params"):
        planner.make_plan(planner.PlanInputs(target_params=7e9, draft_params=(1e9,), alpha=(0.7, 0.8)))


def test_pays_needs_the_margin():
    """A plan at 1.01× does not pay under the default 5% margin, and does with --min-speedup 1."""
    inputs = dict(target_params=7e9, draft_params=(1e9,), alpha=0.16, cost_model="flops")
    plan = planner.make_plan(planner.PlanInputs(**inputs))
    assert 1.0 < plan.recommendation.speedup < 1.05 and plan.recommendation.gamma >= 1
    assert not plan.pays and any("below the 1.05× margin" in n for n in plan.notes)
    assert planner.make_plan(planner.PlanInputs(**inputs, min_speedup=1.0)).pays
    with pytest.raises(SpecplanError, match="--min-speedup"):
        planner.make_plan(planner.PlanInputs(**inputs, min_speedup=0.9))


def test_alpha_law_coefficients_change_the_prediction():
    base = planner.make_plan(planner.PlanInputs(target_params=70e9, cost_model="flops")).recommendation
    better = planner.make_plan(planner.PlanInputs(target_params=70e9, cost_model="flops",
                                                  alpha_law=AlphaLaw(-0.0067, 0.012971, 0.742084))).recommendation
    assert better.alpha == pytest.approx(base.alpha + 0.1, abs=0.01)
    assert better.speedup > base.speedup and better.gamma > base.gamma


def test_gamma_max_caps_gamma():
    assert flops_plan(gamma_max=4).recommendation.gamma == 4


@pytest.mark.parametrize("kw, fragment", [
    (dict(draft_params=(80e9,)), "--draft-params"),
    (dict(alpha=1.0, draft_params=(1e9,)), "--alpha"),
    (dict(alpha=0.5), "--alpha needs --draft-params"),
    (dict(gamma_max=0), "--gamma-max"),
    (dict(batch_size=0), "--batch-size"),
    (dict(cost_model="magic"), "--cost-model"),
    (dict(profile="no-such-gpu"), "no-such-gpu"),
    (dict(dtype="int4"), "--dtype 'int4'"),
])
def test_bad_inputs_raise_one_line_errors(kw, fragment):
    with pytest.raises(SpecplanError) as info:
        planner.make_plan(planner.PlanInputs(target_params=70e9, **kw))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_json_has_the_stable_keys():
    data = flops_plan(draft_params=(1e9,)).to_json()
    assert {"inputs", "recommendation", "flat_band", "pooled_rule_draft_params", "candidates"} <= set(data)
    assert {"draft_params", "gamma", "gamma_real", "alpha", "expected_tokens_per_round", "speedup",
            "target_draft_ratio"} <= set(data["recommendation"])
    assert set(data["flat_band"]) == {"min_draft_params", "max_draft_params", "tolerance"}
    assert all({"draft_params", "alpha", "gamma", "speedup"} <= set(c) for c in data["candidates"])
    assert data["inputs"]["cost_model"] == "flops" and data["inputs"]["draft_params"] == [1e9]
    assert math.isclose(data["recommendation"]["target_draft_ratio"],
                        LLAMA3_70B / data["recommendation"]["draft_params"])


@pytest.mark.parametrize("text, value", [("70e9", 70e9), ("70B", 70e9), ("7.5b", 7.5e9), ("405M", 405e6),
                                         ("2k", 2e3), ("15T", 15e12), ("1.5G", 1.5e9), (" 12 ", 12.0)])
def test_parse_count(text, value):
    from specplan.units import parse_count

    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["", "abc", "70X", "1e", "nan", "inf", "-3", "0", "1e-400"])
def test_parse_count_rejects(text):
    from specplan.units import parse_count

    with pytest.raises(SpecplanError):
        parse_count(text)


def test_alpha_law_file_errors(tmp_path):
    from specplan.plan.scaling import parse_alpha_law

    path = tmp_path / "law.yaml"
    path.write_text("coefficients: {a: -0.005, b: 0.01, c: 0.7}\nr2: 0.9\n")
    assert parse_alpha_law(str(path)) == AlphaLaw(-0.005, 0.01, 0.7, source=str(path))
    path.write_text("a: -0.005\nb: x\nc: 0.7\n")
    with pytest.raises(SpecplanError, match="key 'b' must be a number"):
        parse_alpha_law(str(path))
    path.write_text("[1, 2, 3]\n")
    with pytest.raises(SpecplanError, match="must hold a mapping"):
        parse_alpha_law(str(path))


def test_gamma_band_holds_every_gamma_within_three_percent_of_the_best():
    rec = planner.make_plan(planner.PlanInputs(target_params=70e9)).recommendation
    low, high = rec.gamma_band
    assert low <= rec.gamma <= high
    for gamma, speedup in enumerate(rec.speedup_by_gamma, 1):
        assert (low <= gamma <= high) == (speedup >= 0.97 * rec.speedup)  # the curve is unimodal here
    assert dataclasses.replace(rec, gamma=0).gamma_band is None
