"""``report``'s numbers on hand-made records (tests/report_records.py), each expected value worked out by hand."""

import math

import pytest

import report_records as hand
from specplan.report.aggregate import aggregate
from specplan.report.gate import Thresholds, check, parse_fraction
from specplan.errors import SpecplanError
from specplan.report.predict import PlanPrior, compare_gammas, predict

# The t quantile for 95% with 1 degree of freedom (two pairs), from a t table.
T_975_1 = 12.706204736


def rows_by_gamma(records, by_category=False):
    return {(r.gamma, r.category): r for r in aggregate(records, by_category)}


def test_acceptance_metrics_at_gamma_3_by_hand():
    row = rows_by_gamma(hand.records())[(3, None)]
    # accepted 3,1,0,2,3,3 of 3 each: 6 rounds, Σj = 12, Σk = 18.
    assert (row.target, row.draft, row.engine, row.runs, row.rounds) == ("T", "D", "sd", 2, 6)
    assert row.acceptance_length == pytest.approx(12 / 6 + 1)  # 3.0
    assert row.mean_accepted == pytest.approx(2.0)
    assert row.draft_acceptance_rate == pytest.approx(12 / 18)
    # examined: 3 (all accepted), 2, 1, 3, 3, 3 = 15 → α̂ = 12/15.
    assert row.alpha_iid == pytest.approx(0.8)
    assert (row.accepted_drafts, row.examined_drafts) == (12, 15)
    # pos_i = #(j ≥ i)/6: 5, 4, 3 rounds; cond_i = #(j ≥ i)/#(j ≥ i−1): 5/6, 4/5, 3/4.
    assert row.per_position_unconditional == pytest.approx((5 / 6, 4 / 6, 3 / 6))
    assert row.per_position_conditional == pytest.approx((5 / 6, 4 / 5, 3 / 4))


def test_speed_metrics_at_gamma_3_by_hand():
    row = rows_by_gamma(hand.records())[(3, None)]
    assert row.tokens_per_s == pytest.approx((10 + 8) / (1.0 + 0.5))  # 12
    assert row.ar_tokens_per_s == pytest.approx((10 + 8) / (2.0 + 2.0))  # 4.5
    # paired ratios 0.2/0.1 = 2 and 0.25/0.0625 = 4: geometric mean √8; logs ln2, 2ln2, s = ln2/√2.
    assert row.paired_runs == 2
    assert row.speedup.value == pytest.approx(math.sqrt(8))
    half = T_975_1 * (math.log(2) / math.sqrt(2)) / math.sqrt(2)
    assert row.speedup.low == pytest.approx(math.exp(1.5 * math.log(2) - half))
    assert row.speedup.high == pytest.approx(math.exp(1.5 * math.log(2) + half))
    assert row.cost_ratio == pytest.approx(0.01 / 0.1)
    assert row.verify_cost_ratio == pytest.approx(0.13 / 0.1)  # target(γ+1 = 4) / target(1)
    assert (row.exact_share, row.checked_runs, row.diverged_runs) == (0.5, 2, 1)
    assert row.max_divergence_margin == pytest.approx(0.003)


def test_gamma_1_row_by_hand():
    row = rows_by_gamma(hand.records())[(1, None)]
    # accepted 1,0,1,1,1,0,1,1,1,1 of 1 each: Σj = 8 over 10 rounds, each round examined 1 draft.
    assert row.rounds == 10
    assert row.acceptance_length == pytest.approx(1.8)
    assert row.mean_accepted == pytest.approx(0.8)
    assert row.draft_acceptance_rate == pytest.approx(0.8)
    assert row.alpha_iid == pytest.approx(0.8)
    assert row.per_position_unconditional == pytest.approx((0.8,))
    assert row.per_position_conditional == pytest.approx((0.8,))
    assert row.tokens_per_s == pytest.approx(18 / 2.0)
    # both pairs give exactly 2×: a zero-width interval.
    assert (row.speedup.value, row.speedup.low, row.speedup.high) == pytest.approx((2.0, 2.0, 2.0))
    assert row.verify_cost_ratio == pytest.approx(0.11 / 0.1)
    assert (row.exact_share, row.max_divergence_margin) == (1.0, None)


def test_by_category_splits_the_prompts():
    rows = rows_by_gamma(hand.records(), by_category=True)
    assert set(rows) == {(1, "code"), (1, "chat"), (3, "code"), (3, "chat")}
    code, chat = rows[(3, "code")], rows[(3, "chat")]
    assert code.acceptance_length == pytest.approx((3 + 1 + 0 + 2) / 4 + 1)  # 2.5
    assert chat.acceptance_length == pytest.approx(4.0) and chat.alpha_iid == pytest.approx(1.0)
    # one pair each: a point estimate without an interval.
    assert (code.speedup.value, code.speedup.low) == (pytest.approx(2.0), None)
    assert chat.speedup.value == pytest.approx(4.0)
    assert (code.exact_share, chat.exact_share) == (1.0, 0.0)


def test_sdsl_fit_recovers_alpha_where_every_gamma_agrees():
    # AL(1) = 1 + α = 1.5 and AL(3) = 1 + α + α² + α³ = 1.875 both hold for α = 0.5.
    records = [hand.run_record(0, "sd", 1, [1, 1], [1, 0], 3, 1.0, None),
               hand.run_record(0, "sd", 3, [3] * 8, [3, 0, 1, 0, 1, 0, 2, 0], 15, 1.0, None)]
    rows = aggregate(records)
    assert [r.acceptance_length for r in rows] == pytest.approx([1.5, 1.875])
    assert all(r.alpha_sdsl_fit == pytest.approx(0.5, abs=1e-6) for r in rows)
    # without AR runs there is no speedup; without latency records no c; without greedy runs no exactness.
    assert all(r.speedup is None and r.cost_ratio is None and r.exact_share is None for r in rows)


def test_sdsl_fit_is_the_least_squares_minimum():
    fit = aggregate(hand.records())[0].alpha_sdsl_fit
    # AL(1) = 1.8 and AL(3) = 3.0: minimise (α − 0.8)² + (α + α² + α³ − 2)²; its derivative vanishes at the fit,
    # and at α = 0.81 it is still negative (2·0.01 − 2·0.002459·4.5883 = −0.00257), so the fit lies just above.
    derivative = 2 * (fit - 0.8) + 2 * (fit + fit ** 2 + fit ** 3 - 2) * (1 + 2 * fit + 3 * fit ** 2)
    assert abs(derivative) < 1e-6
    assert 0.81 < fit < 0.8105


def test_sdsl_fit_needs_two_gammas():
    one_gamma = [r for r in hand.records() if r.get("gamma") in (None, 3)]
    assert aggregate(one_gamma)[0].alpha_sdsl_fit is None


def test_adaptive_drafts_count_positions_beyond_gamma():
    # hf's schedule may draft more than its initial γ: positions follow the rounds. Positions 3 and 4 were
    # offered only in the second round (k = 4), which accepted 3: pos_3 = 1/1, pos_4 = 0/1.
    rows = aggregate([hand.run_record(0, "hf", 2, [2, 4], [2, 3], 7, 1.0, None)])
    assert rows[0].per_position_unconditional == pytest.approx((1.0, 1.0, 1.0, 0.0))


def test_predicted_speedup_from_measured_alpha_c_and_verify_cost():
    rows = aggregate(hand.records())
    by_gamma = {p.row.gamma: p for p in predict(rows)}
    # γ = 3: E = (1 − 0.8⁴)/0.2 = 2.952; S = 2.952 / (3·0.1 + 1.3) = 1.845.
    assert by_gamma[3].predicted_speedup == pytest.approx(2.952 / 1.6)
    assert by_gamma[3].gap == pytest.approx(math.sqrt(8) / (2.952 / 1.6) - 1)
    # γ = 1: E = 1.8; S = 1.8 / (0.1 + 1.1) = 1.5; measured 2 → gap +1/3.
    assert by_gamma[1].predicted_speedup == pytest.approx(1.5)
    assert by_gamma[1].gap == pytest.approx(1 / 3)
    assert not by_gamma[1].verify_assumed and by_gamma[1].prior_speedup is None


def test_prediction_needs_c_and_assumes_one_target_step_without_verify_latency():
    assert predict(aggregate(hand.records(latencies=False))) == []
    records = hand.records(latencies=False) + [hand.latency_record("target", 1, 0.1),
                                               hand.latency_record("draft", 1, 0.01)]
    by_gamma = {p.row.gamma: p for p in predict(aggregate(records))}
    assert by_gamma[1].verify_assumed
    assert by_gamma[1].predicted_speedup == pytest.approx(1.8 / (0.1 + 1.0))


def test_plan_prior_speedup_at_each_row():
    prior = PlanPrior(alpha=0.7, cost_ratio=0.05, verify_cost_ratio=1.0, gamma=4, speedup=2.3)
    by_gamma = {p.row.gamma: p for p in predict(aggregate(hand.records()), prior)}
    # γ = 3: (1 − 0.7⁴)/0.3 / (3·0.05 + 1) = 2.533 / 1.15.
    assert by_gamma[3].prior_speedup == pytest.approx((1 - 0.7 ** 4) / 0.3 / 1.15)
    assert by_gamma[1].prior_speedup == pytest.approx(1.7 / 1.05)


def test_gamma_choice_matches_measurement_when_verification_is_cheap():
    [choice] = compare_gammas(aggregate(hand.records()))
    # pooled α̂ = (12 + 8)/(15 + 10) = 0.8; v(2) interpolated to 1.2:
    # S(1) = 1.8/1.2 = 1.5, S(2) = 2.44/1.4 = 1.743, S(3) = 2.952/1.6 = 1.845 → γ = 3; measured best γ = 3 (√8).
    assert choice.alpha == pytest.approx(0.8)
    assert (choice.planned_gamma, choice.best_gamma) == (3, 3)
    assert choice.planned_speedup == pytest.approx(1.845)
    assert choice.best_speedup == pytest.approx(math.sqrt(8))


def test_gamma_choice_shrinks_when_verification_is_expensive():
    records = [r for r in hand.records() if not (r["kind"] == "latency" and r["new_tokens"] == 4)]
    records.append(hand.latency_record("target", 4, 0.25))  # v(3) = 2.5, v(2) interpolated to 1.8
    [choice] = compare_gammas(aggregate(records))
    # S(1) = 1.5, S(2) = 2.44 / 2.0 = 1.22, S(3) = 2.952 / 2.8 = 1.054 → γ = 1, while γ = 3 measured best.
    assert (choice.planned_gamma, choice.planned_speedup) == (1, pytest.approx(1.5))
    assert choice.best_gamma == 3


def test_gate_thresholds_fail_the_rows_below_them():
    rows = aggregate(hand.records())
    assert check(rows, Thresholds(min_speedup=1.9, min_acceptance_length=1.5, min_acceptance_rate=0.6)) == []
    failures = check(rows, Thresholds(min_speedup=2.5, min_acceptance_length=2.0, min_acceptance_rate=0.7,
                                      require_exact=True))
    found = {(f.row.gamma, f.metric) for f in failures}
    # γ = 1: speedup 2 < 2.5, AL 1.8 < 2; γ = 3: DAR 0.667 < 0.7, one of two outputs differs.
    assert found == {(1, "speedup"), (1, "acceptance length"), (3, "draft acceptance rate"), (3, "exact share")}
    line = next(f.line for f in failures if f.metric == "speedup")
    assert line == "FAIL pair T ← D, engine sd, γ 1: speedup 2, required >= 2.5"


def test_require_exact_fails_rows_without_greedy_runs():
    failures = check(aggregate(hand.records(greedy=False)), Thresholds(require_exact=True))
    assert [(f.row.gamma, f.measured) for f in failures] == [(1, None), (3, None)]
    assert "no data" in failures[0].line


def test_baseline_regression_on_speedup_only_when_acceptance_is_unchanged():
    old = aggregate(hand.records())
    slower = aggregate(hand.records(sd_time_scale=1.04))  # every speedup 1/1.04 ≈ 3.8% lower
    assert check(slower, Thresholds(max_regression=0.05), old) == []
    failures = check(slower, Thresholds(max_regression=0.03), old)
    assert {(f.row.gamma, f.metric) for f in failures} == {(1, "speedup"), (3, "speedup")}
    assert failures[0].measured == pytest.approx(2 / 1.04)
    assert "baseline 2 − 3%" in failures[0].line
    # a faster run never fails against a slower baseline.
    assert check(old, Thresholds(max_regression=0.0), slower) == []


def test_baseline_regression_on_acceptance_length():
    old = aggregate(hand.records())
    worse = [dict(r) for r in hand.records()]
    for r in worse:
        if r.get("gamma") == 1 and r["prompt_index"] == 1:
            r["rounds"] = {"drafted": [1] * 4, "accepted": [0, 0, 1, 1]}  # AL 1.8 → 1.6
    failures = check(aggregate(worse), Thresholds(max_regression=0.05), old)
    assert [(f.row.gamma, f.metric) for f in failures] == [(1, "acceptance length")]
    assert failures[0].measured == pytest.approx(1.6)


@pytest.mark.parametrize("text, value", [("5%", 0.05), ("0.05", 0.05), (" 12.5% ", 0.125), ("0", 0.0)])
def test_parse_fraction(text, value):
    assert parse_fraction(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "5%%", "150%", "-1%"])
def test_parse_fraction_rejects(text):
    with pytest.raises(SpecplanError, match="--max-regression"):
        parse_fraction(text)
