"""``specplan calibrate``: the least-squares fit, records → points, and the CLI (synthetic records from known laws)."""

import json
import sys

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from specplan.report import metrics
from specplan.report.calibrate import Point, fit_acceptance_law, points_from_records
from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.records import RecordWriter

TRUE_A, TRUE_B, TRUE_C = -0.021, 0.034, 0.71
ROUNDS = 20_000  # α̂ quantised to 1/ROUNDS: recovery to ~1e-4


def law(x: float, y: float) -> float:
    return TRUE_A * x + TRUE_B * y + TRUE_C


def exact_rounds(alpha: float, rounds: int = ROUNDS) -> dict:
    """γ = 1 rounds whose i.i.d. estimate is round(α·rounds)/rounds: every round examines exactly one draft."""
    accepted = round(alpha * rounds)
    return {"drafted": [1] * rounds, "accepted": [1] * accepted + [0] * (rounds - accepted)}


def iid_rounds(alpha: float, gamma: int, rounds: int, rng: np.random.Generator) -> dict:
    """Rounds simulated under the i.i.d. model: accept each draft with probability α until the first rejection."""
    accepted = []
    for _ in range(rounds):
        j = 0
        while j < gamma and rng.random() < alpha:
            j += 1
        accepted.append(j)
    return {"drafted": [gamma] * rounds, "accepted": accepted}


def write_records(path, pairs, temperature=0.0, rounds_for=exact_rounds, split_runs=2):
    """bench-shaped records (docs/records.md): per pair, `split_runs` sd run records sharing the rounds, an ar run
    (ignored by calibrate) and one perplexity record per model."""
    with RecordWriter(path) as writer:
        for target, draft, x, y in pairs:
            common = {"run_id": "r1", "created": "2026-01-01T00:00:00Z", "pair": {"target": target, "draft": draft},
                      "settings": {"temperature": temperature}, "environment": {}}
            rounds = rounds_for(law(x, y))
            half = len(rounds["drafted"]) // split_runs
            for i in range(split_runs):
                part = {k: v[i * half:(i + 1) * half] for k, v in rounds.items()}
                writer.write({**common, "kind": "run", "engine": "sd", "gamma": 1, "prompt_index": i, "repeat": 0,
                              "rounds": part, "new_tokens": 10, "wall_time_s": 0.1})
            writer.write({**common, "kind": "run", "engine": "ar", "gamma": None, "prompt_index": 0, "repeat": 0,
                          "new_tokens": 10, "wall_time_s": 0.2})
            for model, ppl in (("target", y), ("draft", x)):
                writer.write({**common, "kind": "perplexity", "model": model, "perplexity": ppl, "tokens": 1000,
                              "text": "builtin"})


# three targets × three drafts; draft perplexities vary within and across targets (not collinear with y)
LADDER = [(f"t{i}", f"d{j}", x, y) for i, (y, xs) in enumerate(((3.0, (8.0, 14.0, 20.0)), (4.5, (10.0, 13.0, 21.0)),
                                                               (6.0, (9.0, 16.0, 24.0))))
          for j, x in enumerate(xs)]


def run_cli(*args):
    result = CliRunner().invoke(app, list(args))
    return result, result.output + (getattr(result, "stderr", "") if not result.output else "")


# ---------------------------------------------------------------- the fit


def test_fit_recovers_exact_coefficients_from_noiseless_points():
    points = [Point(t, d, x, y, law(x, y)) for t, d, x, y in LADDER]
    fit = fit_acceptance_law(points)
    assert (fit.a, fit.b, fit.c) == pytest.approx((TRUE_A, TRUE_B, TRUE_C), abs=1e-9)
    assert fit.b_identifiable and fit.r2 == pytest.approx(1.0) and fit.rmse < 1e-9


def test_one_target_fits_a_family_offset_and_marks_b_not_identifiable():
    y = 4.0
    points = [Point("t", f"d{x}", x, y, law(x, y)) for x in (6.0, 9.0, 15.0, 22.0)]
    fit = fit_acceptance_law(points)
    assert not fit.b_identifiable and fit.b == 0.0
    assert fit.a == pytest.approx(TRUE_A) and fit.c == pytest.approx(TRUE_B * y + TRUE_C)
    assert "b" not in fit.std_errors


def test_residuals_and_r2_of_a_noisy_fit():
    rng = np.random.default_rng(0)
    points = [Point(t, d, x, y, law(x, y) + rng.normal(0, 0.01)) for t, d, x, y in LADDER]
    fit = fit_acceptance_law(points)
    assert 0.5 < fit.r2 < 1.0
    assert sum(fit.residuals) == pytest.approx(0.0, abs=1e-9)  # OLS with an intercept: residuals sum to zero
    assert [p.alpha - f for p, f in zip(points, fit.fitted)] == pytest.approx(list(fit.residuals))


@pytest.mark.parametrize("points, message", [
    ([Point("t", "d", 5.0, 3.0, 0.5), Point("t", "e", 7.0, 3.0, 0.4)], "too few points"),
    ([Point("t", f"d{i}", 5.0 + i, 3.0 + i % 2, 0.5) for i in range(3)], "too few points"),
    ([Point("t", f"d{i}", 5.0, 3.0, 0.5 - 0.01 * i) for i in range(5)], "every draft perplexity is 5"),
    ([Point(f"t{i}", "d", 5.0 + i, 3.0 + 2 * i, 0.5) for i in range(5)], "collinear"),
])
def test_too_few_or_degenerate_points_are_clear_errors(points, message):
    with pytest.raises(SpecplanError, match=message):
        fit_acceptance_law(points)


# ---------------------------------------------------------------- records → points


def test_points_pool_all_sd_rounds_of_a_pair(tmp_path):
    path = tmp_path / "r.jsonl"
    write_records(path, LADDER[:1], split_runs=4)
    from specplan.records import read_records

    (point,) = points_from_records(read_records([path]).records)
    rounds = exact_rounds(law(LADDER[0][2], LADDER[0][3]))
    assert point.rounds == ROUNDS
    assert point.alpha == pytest.approx(metrics.alpha_iid(rounds["drafted"], rounds["accepted"]))
    assert (point.draft_ppl, point.target_ppl) == (LADDER[0][2], LADDER[0][3])


def test_mixed_temperatures_need_a_choice(tmp_path):
    write_records(tmp_path / "a.jsonl", LADDER, temperature=0.0)
    write_records(tmp_path / "b.jsonl", LADDER, temperature=1.0)
    from specplan.records import read_records

    records = read_records([tmp_path / "a.jsonl", tmp_path / "b.jsonl"]).records
    with pytest.raises(SpecplanError, match="mix temperatures"):
        points_from_records(records)
    assert len(points_from_records(records, temperature=1.0)) == len(LADDER)


# ---------------------------------------------------------------- the command


def test_cli_recovers_known_coefficients_from_records(tmp_path):
    records = tmp_path / "runs.jsonl"
    write_records(records, LADDER)
    result, output = run_cli("calibrate", str(records), "--json")
    assert result.exit_code == 0, output
    fitted = json.loads(result.stdout)["coefficients"]
    assert (fitted["a"], fitted["b"], fitted["c"]) == pytest.approx((TRUE_A, TRUE_B, TRUE_C), abs=2e-3)


def test_cli_recovers_alpha_from_simulated_iid_rounds(tmp_path):
    """Rounds drawn under the i.i.d. model at γ = 4: α̂ (maximum likelihood) lands near the law's α, so the fitted
    coefficients land near the true ones (seeded, tolerance from ~3000 examined drafts per pair)."""
    rng = np.random.default_rng(1)
    records = tmp_path / "runs.jsonl"
    write_records(records, LADDER, rounds_for=lambda a: iid_rounds(a, 4, 1500, rng))
    result, output = run_cli("calibrate", str(records), "--json")
    assert result.exit_code == 0, output
    data = json.loads(result.stdout)
    assert max(abs(p["alpha_measured"] - law(p["draft_ppl"], p["target_ppl"])) for p in data["points"]) < 0.03
    assert data["coefficients"]["a"] == pytest.approx(TRUE_A, abs=0.005)
    assert data["fit"]["r2"] > 0.9


def test_cli_prints_the_fit_and_writes_a_file_plan_reads(tmp_path):
    records, law_file = tmp_path / "runs.jsonl", tmp_path / "law.yaml"
    write_records(records, LADDER)
    result, output = run_cli("calibrate", str(records), "--output", str(law_file))
    assert result.exit_code == 0, output
    assert "R²" in output and "residual" in output and str(law_file) in output
    written = yaml.safe_load(law_file.read_text())
    assert written["coefficients"]["a"] == pytest.approx(TRUE_A, abs=2e-3)
    assert len(written["points"]) == len(LADDER) and "r2" in written["fit"]

    planned, plan_output = run_cli("plan", "--target-params", "7B", "--alpha-law", str(law_file), "--json")
    assert planned.exit_code == 0, plan_output
    used = json.loads(planned.stdout)["inputs"]["alpha_law"]
    assert (used["a"], used["b"], used["c"]) == pytest.approx(
        tuple(written["coefficients"][k] for k in "abc"), rel=1e-12)
    assert used["source"] == str(law_file)


def test_cli_single_target_family_writes_b_zero(tmp_path):
    records = tmp_path / "runs.jsonl"
    write_records(records, [("t", f"d{x}", x, 5.0) for x in (6.0, 10.0, 13.0, 19.0)])
    result, output = run_cli("calibrate", str(records), "--json")
    assert result.exit_code == 0, output
    data = json.loads(result.stdout)
    assert data["b_identifiable"] is False and data["coefficients"]["b"] == 0.0
    assert data["coefficients"]["c"] == pytest.approx(TRUE_B * 5.0 + TRUE_C, abs=2e-3)


def test_cli_too_few_points_is_one_line_exit_2(tmp_path):
    records = tmp_path / "runs.jsonl"
    write_records(records, LADDER[:2])
    result, output = run_cli("calibrate", str(records))
    assert result.exit_code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: too few points"), output
    assert "Traceback" not in output


def test_cli_records_without_sd_runs_or_missing_file_are_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result, output = run_cli("calibrate", str(empty))
    assert result.exit_code == 2 and "no 'sd' run records" in output
    result, output = run_cli("calibrate", str(tmp_path / "missing.jsonl"))
    assert result.exit_code == 2 and "does not exist" in output


def test_calibrate_does_not_import_torch(tmp_path):
    records = tmp_path / "runs.jsonl"
    write_records(records, LADDER)
    import subprocess

    code = ("import sys; from typer.testing import CliRunner; from specplan.cli import app; "
            f"r = CliRunner().invoke(app, ['calibrate', {str(records)!r}, '--json']); "
            "assert r.exit_code == 0, r.output; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
