"""The speedup decomposed into the loop's own terms (report.decompose): by hand on made-up records, and on the
records of a real bench run on tiny models, where fed its measured components it gives the measured speedup."""

import pytest

from bench_fixtures import one_thread, tiny_folders
from report_records import records
from specplan.measure.loading import model_source
from specplan.measure.bench import BenchConfig, run_bench
from specplan.plan import theory
from specplan.report.aggregate import aggregate
from specplan.report.build import build, render
from specplan.report.decompose import LoopTerms, first_step_split, loop_terms
from specplan.report.predict import predict


def _timed(sd: dict, draft_s: float, verify_s: float, round_s: float, prefill_s: float = 0.05) -> dict:
    """``sd`` with every round timed: each round's draft steps take draft_s per drafted token."""
    drafted = sd["rounds"]["drafted"]
    return {**sd, "round_times": {"every": 1, "prefill_s": prefill_s, "rounds": list(range(len(drafted))),
                                  "drafted": drafted,
                                  "draft_s": [draft_s * k for k in drafted], "verify_s": [verify_s] * len(drafted),
                                  "round_s": [draft_s * k + verify_s + round_s for k in drafted]}}


def test_terms_by_hand():
    """γ = 3 rows of report_records: AR 4 s for 18 tokens; sd 1.5 s, 6 rounds, 18 drafts, 18 tokens."""
    rows = records()
    ar = {r["prompt_index"]: r for r in rows if r.get("engine") == "ar"}
    sd = [_timed(r, 0.02, 0.1, 0.01) for r in rows if r.get("engine") == "sd" and r["gamma"] == 3]
    terms = loop_terms([(ar[r["prompt_index"]], r) for r in sd])
    t_ar = 4.0 / 18
    assert terms.ar_s_per_token == pytest.approx(t_ar)
    assert (terms.rounds, terms.drafted, terms.tokens, terms.seconds) == (6, 18, 18, 1.5)
    assert terms.c_loop == pytest.approx(0.02 / t_ar) and terms.v_loop == pytest.approx(0.1 / t_ar)
    assert terms.prefill_s == pytest.approx(0.1)  # two runs, 0.05 s each
    assert terms.overhead_s == pytest.approx((1.5 - 0.1 - 0.02 * 18 - 0.1 * 6) / 6)  # the rest of the wall time
    assert terms.o_round == pytest.approx(terms.overhead_s / t_ar)
    assert terms.f_round == pytest.approx(0.1 / 6 / t_ar)
    assert terms.pooled_speedup == pytest.approx(t_ar / (1.5 / 18))
    assert terms.measured_terms_speedup() == pytest.approx(terms.pooled_speedup, rel=1e-12)
    alpha = 0.8
    assert terms.predicted_speedup(alpha, 3) == pytest.approx(
        theory.expected_tokens_per_round(alpha, 3) * t_ar / (3 * 0.02 + 0.1 + terms.overhead_s + 0.1 / 6))


def test_runs_without_round_times_have_no_terms():
    assert all(row.loop is None for row in aggregate(records()))


@pytest.fixture(scope="module")
def bench_records():
    folders = tiny_folders()
    config = BenchConfig(model_source("--target", folders["target"]), model_source("--draft", folders["target"]),
                         engines=("ar", "sd"), gammas=(1, 3), max_new_tokens=24, num_prompts=2, latency_samples=3,
                         latency_context_tokens=16, threads=1)
    with one_thread():
        return run_bench(config).records


def test_real_run_adds_up(bench_records):
    """Fed its measured tokens and drafts per round, the decomposition reproduces the measured (pooled) speedup,
    and the loop's parts never exceed the wall time."""
    runs = [r for r in bench_records if r["kind"] == "run"]
    assert all(len(r["round_times"]["rounds"]) == len(r["rounds"]["drafted"]) for r in runs if r["engine"] == "sd")
    rows = aggregate(bench_records)
    assert {r.gamma for r in rows} == {1, 3}
    ar_s = sum(r["wall_time_s"] for r in runs if r["engine"] == "ar") / sum(r["new_tokens"] for r in runs
                                                                             if r["engine"] == "ar")
    for row in rows:
        sd = [r for r in runs if r["engine"] == "sd" and r["gamma"] == row.gamma]
        measured = ar_s / (sum(r["wall_time_s"] for r in sd) / sum(r["new_tokens"] for r in sd))
        assert row.loop.pooled_speedup == pytest.approx(measured, rel=1e-12)
        assert row.loop.measured_terms_speedup() == pytest.approx(measured, rel=1e-9)
        assert row.loop.overhead_s > 0 and row.loop.c_loop > 0 and row.loop.v_loop > 0 and row.loop.prefill_s > 0
        timed = sum(sum(r["round_times"]["round_s"]) + r["round_times"]["prefill_s"] for r in sd)
        assert timed <= row.loop.seconds  # the clock's parts lie within the decodes' wall time
        prediction = predict([row])[0]
        # identical draft: α̂ = 1, so E(α̂, γ) = γ + 1, and only the shortened last round differs from γ
        assert prediction.loop_speedup == pytest.approx(row.loop.speedup(row.gamma + 1, row.gamma))


def test_report_shows_where_the_time_goes(bench_records, tmp_path):
    import json

    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps({**r, "schema_version": 1}) + "\n" for r in bench_records))
    report = build([path], detail=True)
    text = render(report, "table", width=220)
    assert "Where the time goes" in text and "c_loop" in text
    assert "first draft step of a round +" in " ".join(text.split())  # rows at γ 1 and 3: the split is fitted
    loop = json.loads(render(report, "json"))["predictions"][0]["loop"]
    assert loop["predicted_speedup"] > 0 and loop["c_loop"] > 0 and loop["rounds"] > 0


def test_first_step_split_recovers_the_first_and_the_later_draft_steps():
    """Rows whose round's draft time is x + d·γ AR tokens (x the first step's extra): the line over γ gives both."""
    x, d, ar_s, rounds = 0.15, 0.08, 2e-3, 40

    def row(gamma):
        return LoopTerms(ar_s_per_token=ar_s, draft_step_s=(x + d * gamma) / gamma * ar_s, verify_s=3e-3,
                         rounds=rounds, drafted=gamma * rounds, tokens=100, seconds=1.0)

    assert first_step_split([row(g) for g in (1, 2, 4, 8)]) == (pytest.approx(x), pytest.approx(d))
    assert first_step_split([row(4), row(4)]) is None
