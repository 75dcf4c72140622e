"""benchmarks/close_the_loop.py: the side-by-side table from synthetic plan and bench results (no torch, no I/O)."""

import pytest

from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def loop():
    return load_benchmark("close_the_loop")


def row(name, params, ppl, alpha, law, plan_gamma, plan_speedup, measured):
    return {"name": name, "params": params, "ppl": ppl, "alpha_measured": alpha, "alpha_law": law,
            "plan_law": {"gamma": plan_gamma, "speedup": plan_speedup},
            "plan_measured": {"gamma": plan_gamma, "speedup": plan_speedup * 1.01},
            "per_gamma": {g: {"speedup": s, "low": s - 0.1, "high": s + 0.1} for g, s in measured.items()}}


LAW = {"a": -0.1, "c": 1.3, "r2": 0.9, "rmse": 0.01}


def test_best_gamma_and_draft_predicted_and_measured(loop):
    rows = [row("small", 250_000, 6.0, 0.70, 0.70, 2, 1.20, {1: 1.1, 2: 1.25, 4: 1.2}),
            row("mid", 1_000_000, 5.0, 0.80, 0.80, 4, 1.45, {1: 1.1, 2: 1.3, 4: 1.5, 8: 1.45}),
            row("large", 2_500_000, 4.8, 0.82, 0.82, 3, 1.30, {1: 1.05, 2: 1.2, 4: 1.6})]
    table = loop.build_table(rows, LAW)
    by_name = {r["name"]: r for r in table["rows"]}
    assert by_name["small"]["measured_gamma"] == 2 and by_name["small"]["measured_speedup"] == 1.25
    assert by_name["mid"]["measured_gamma"] == 4 and by_name["mid"]["measured_at_planned_gamma"] == 1.5
    assert by_name["large"]["measured_at_planned_gamma"] is None  # plan's γ = 3 was not in the sweep
    assert table["predicted_best"] == "mid" and table["measured_best"] == "large" and not table["agree"]
    md = table["markdown"]
    assert "| mid **(predicted best)** | 1,000,000 |" in md
    assert "| large **(measured best)** |" in md
    assert "1.60× [1.50, 1.70]" in md and "| — |" in md
    assert "α = -0.1000·ppl_draft +1.3000 (R² 0.900" in md
    assert "(disagree)" in md
    rows[1]["plan_law"]["gamma_band"] = [3, 6]
    assert "| 0.800 | 0.800 | 4 (3–6) | 1.45× |" in loop.build_table(rows, LAW)["markdown"]


def test_agreement_and_undefined_r2(loop):
    rows = [row("a", 1, 5.0, 0.5, 0.5, 0, 1.0, {1: 0.95}), row("b", 2, 4.0, 0.6, 0.6, 1, 1.1, {1: 1.05})]
    table = loop.build_table(rows, {**LAW, "r2": None})
    assert table["agree"] and table["predicted_best"] == "b"
    assert "| 0 (no SD) | 1.00× | 0 (no SD) / 1.01× |" in table["markdown"]  # plan's γ = 0: does not pay
    assert "R² undefined" in table["markdown"] and "(agree)" in table["markdown"]


def test_missing_ladder_says_how_to_make_it(loop, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        loop.read_ladder(tmp_path / "nowhere")
    assert "python benchmarks/train_toy_models.py --out" in str(exit_info.value)
