"""benchmarks/published_pairs.py: the table of published draft-model results loads, every row runs through plan,
and the acceptance conversions invert the formulas they come from."""

import math

import pytest

from benchmark_scripts import load_benchmark
from specplan.plan.theory import expected_tokens_per_round


@pytest.fixture(scope="module")
def published():
    return load_benchmark("published_pairs")


def test_the_table_has_at_least_twelve_sourced_rows(published):
    rows = published.ROWS
    assert len(rows) >= 12 and len({r.label for r in rows}) == len(rows)
    for row in rows:
        assert row.source and row.kind in ("paper", "engine")
        assert 0 < row.draft_params < row.target_params and row.batch >= 1 and row.speedup > 0
        assert row.gamma is None or row.gamma >= 1
        assert row.profile in published.INLINE_PROFILES or row.profile in ("h100-sxm", "rtx-4090", "a100-80gb-sxm",
                                                                           "h200", "l40s", "cpu-generic")
    assert sum(r.kind == "paper" for r in rows) >= 4 and sum(r.kind == "engine" for r in rows) >= 4


def test_every_row_runs_and_gets_a_prediction(published):
    checked = published.check_all()
    assert len(checked) == len(published.ROWS)
    for c in checked:
        assert 0 < c.alpha < 1 and math.isfinite(c.ratio) and c.predicted > 0
        if c.row.gamma is not None:
            assert c.gamma == c.row.gamma  # evaluated at the published γ
        if c.row.alpha is not None:
            assert c.alpha == c.row.alpha
    summary = published.summary(checked)
    assert summary["all rows"]["rows"] == len(checked) and summary["all rows"]["median_abs_log_ratio"] >= 0


def test_acceptance_conversions_invert_the_formulas(published):
    for alpha in (0.3, 0.7, 0.95):
        for gamma in (1, 3, 7):
            length = expected_tokens_per_round(alpha, gamma)
            assert published.alpha_from_acceptance_length(length, gamma) == pytest.approx(alpha, abs=1e-9)
            rate = (length - 1) / gamma
            assert published.alpha_from_draft_acceptance_rate(rate, gamma) == pytest.approx(alpha, abs=1e-9)


def test_a_row_evaluated_at_its_gamma_matches_the_speedup_formula(published, tmp_path):
    """plan's number for a row at a fixed γ is E(α, γ) / (γc + v) with plan's own c and v."""
    row = published.ROWS[0]
    c = published.check(row, tmp_path)
    from specplan.plan import planner

    inputs = planner.PlanInputs(target_params=row.target_params, profile=published.profile_path(row.profile, tmp_path),
                                dtype=row.dtype, draft_params=(row.draft_params,), alpha=row.alpha)
    cand = planner.evaluate_draft(inputs, row.draft_params, row.gamma)
    expected = expected_tokens_per_round(row.alpha, row.gamma) / (row.gamma * cand.cost_ratio + cand.verify_cost_ratio)
    assert c.predicted == pytest.approx(expected, rel=1e-12)


def test_law_and_alpha_given_modes_are_reported_apart(published):
    given, law = published.check_all(), published.check_all(mode="law")
    assert all(c.alpha_source == "SDSL law" for c in law)
    modes = published.mode_summaries(given, law)
    stated = [c for c in given if published.has_acceptance(c.row)]
    assert modes["alpha_given"]["all rows"]["rows"] == len(stated) >= 3
    assert modes["law"]["all rows"]["rows"] == len(published.ROWS)
    assert any(c.row.label.startswith("gpt-fast") for c in law)
    for group in modes.values():
        assert group["all rows"]["median_abs_log_ratio"] >= 0


def test_the_script_runs_from_another_folder_with_the_package_installed(tmp_path):
    """A checkout's script must not shadow the installed package (specplan.profiles lives only in the install)."""
    import subprocess
    import sys

    from benchmark_scripts import BENCHMARKS

    done = subprocess.run([sys.executable, str(BENCHMARKS / "published_pairs.py"), "--json"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "modes" in done.stdout


def test_plan_mode_leaves_each_rows_own_entries_out(published):
    """plan mode takes what plan would from the published table for the row's pair, the row's own measurement left
    out: another entry of the pair, the family's offset, else the law."""
    plan = {c.row.label: c for c in published.check_all(mode="plan")}
    small = plan["T5 EnDe greedy, small"]
    assert small.alpha_source == "entry" and small.alpha != 0.75  # T5-small's other EnDe entry (T 1), carried to T 0
    sglang = plan["SGLang STANDALONE 70B+1B"]
    assert sglang.alpha_source == "llama3 offset"  # its one entry left out: the llama.cpp 8B+1B entry's offset
    assert plan["gpt-fast 70B+7B int4"].alpha_source == "SDSL law"  # no family with entries
    modes = published.mode_summaries(published.check_all(), published.check_all(mode="law"), list(plan.values()))
    assert modes["plan"]["all rows"]["rows"] == len(published.ROWS)
