"""The bundled GPU profiles' latency terms are the fit to the published step times: refitting from the table gives
the bundled numbers, the fit meets issue 23's goals, and profiles without rows share the H100 fit."""

import math

import pytest

from benchmark_scripts import load_benchmark
from specplan.plan import step_time_fit
from specplan.plan.hardware import load_profile
from specplan.plan.published_step_times import published_rows

ROWS = published_rows()


@pytest.mark.parametrize("name", ["a100-80gb-sxm", "h100-sxm"])
def test_refitting_from_the_table_gives_the_bundled_terms(name):
    bundled = load_profile(name)
    refit = step_time_fit.fit_profile(bundled, ROWS)
    assert refit.bandwidth_efficiency == pytest.approx(bundled.bandwidth_efficiency, abs=0.005)
    for key in ("step_overhead_us", "layer_overhead_us", "interconnect_latency_us"):
        assert getattr(refit, key) == pytest.approx(getattr(bundled, key), abs=1.0), key


def test_the_fit_starts_anywhere_and_lands_on_the_same_terms():
    from dataclasses import replace

    bundled = load_profile("h100-sxm")
    elsewhere = replace(bundled, bandwidth_efficiency=0.6, step_overhead_us=100.0, layer_overhead_us=1.0,
                        interconnect_latency_us=30.0)
    refit = step_time_fit.fit_profile(elsewhere, ROWS)
    assert refit.layer_overhead_us == pytest.approx(bundled.layer_overhead_us, abs=1.0)
    assert refit.step_overhead_us == pytest.approx(bundled.step_overhead_us, abs=10.0)


def test_the_fit_meets_the_goals():
    result = load_benchmark("step_time_fit").table(ROWS)
    assert result["median_abs_log_all"] <= 0.10 and result["median_abs_log_fitted"] <= 0.05
    assert len(result["ratios"]) == 2
    for ratio in result["ratios"].values():
        assert ratio["within_tolerance"] and ratio["predicted"] == pytest.approx(ratio["published"], rel=0.2)


def test_every_fitted_row_is_within_ten_percent():
    for row in ROWS:
        if row.fitted:
            fit = step_time_fit.row_fits(load_profile(row.profile), [row])[0]
            assert abs(fit.log_ratio) < 0.1, row.id


def test_a_ratio_is_the_draft_step_over_the_target_step_each_at_its_tp():
    h100 = load_profile("h100-sxm")
    pair = next(r for r in ROWS if "llama-3-70b" in r.id)
    c = step_time_fit.predict(h100, pair)
    assert c == pytest.approx(step_time_fit.step_ms(h100, pair, draft=True) / step_time_fit.step_ms(h100, pair))
    # At TP 1 the draft skips its all-reduces but streams 4x its shard: dearer here.
    from dataclasses import replace
    assert step_time_fit.predict(h100, replace(pair, draft_tp=1)) > c


def test_a_profile_without_rows_comes_back_unchanged_and_the_others_share_the_h100_terms():
    cpu = load_profile("cpu-generic")
    assert step_time_fit.fit_profile(cpu, ROWS) is cpu
    h100 = load_profile("h100-sxm")
    for name in ("h200", "l40s", "rtx-4090"):
        other = load_profile(name)
        for key in ("bandwidth_efficiency", "step_overhead_us", "layer_overhead_us"):
            assert getattr(other, key) == getattr(h100, key), (name, key)
        assert "SHARED with h100-sxm's fit" in other.sources
    assert "FITTED" in h100.sources and "FITTED" in load_profile("a100-80gb-sxm").sources


def test_the_median_reads_step_rows_only():
    fits = [step_time_fit.RowFit("a", "step", 1.0, math.e ** 0.1), step_time_fit.RowFit("b", "step", 1.0, 1.0),
            step_time_fit.RowFit("c", "ratio", 0.5, 0.05)]
    assert step_time_fit.median_abs_log(fits) == pytest.approx(0.05)


def test_the_benchmark_prints_every_row_and_both_ratios(capsys):
    module = load_benchmark("step_time_fit")
    assert module.main(["--refit"]) == 0
    out = capsys.readouterr().out
    assert all(row.id in out for row in ROWS)
    assert out.count("within 20%") == 2 and "median |log(predicted/published)|" in out
    assert "h100-sxm: bandwidth_efficiency 0.978 (refit 0.978)" in out


@pytest.mark.parametrize("held_out", [r.id for r in ROWS if r.kind == "ratio"])
def test_each_ratio_is_predicted_within_20_percent_when_left_out_of_the_fit(held_out):
    """Fitted from the old estimates (0.8, 500 µs, 10 µs, 10 µs) on every H100 row but one ratio, the fit still
    predicts that ratio within the issue's 20%: the other rows pin it, not only the row itself."""
    from dataclasses import replace

    start = replace(load_profile("h100-sxm"), bandwidth_efficiency=0.8, step_overhead_us=500.0, layer_overhead_us=10.0,
                    interconnect_latency_us=10.0)
    row = next(r for r in ROWS if r.id == held_out)
    refit = step_time_fit.fit_profile(start, [r for r in ROWS if r.id != held_out])
    assert step_time_fit.predict(refit, row) == pytest.approx(row.value, rel=0.2)
    assert step_time_fit.predict(start, row) < 0.8 * row.value  # the old estimates priced the draft too cheap
