"""``bench --engines vllm`` on the embedded toy pair: one bench run (vLLM alone and with the draft at γ = 3, batch
sizes 1 and 2, beside transformers' ar) shared by the module, so vLLM starts two engines here in all.

vLLM runs for real (its CPU build, in-process engine on a CPU); nothing about decoding is mocked.
"""

import json
import math

import pytest
from bench_fixtures import cli_text as _text
from bench_fixtures import invoke
from specplan.records import read_records

from bench_fixtures import vllm_required  # noqa: F401  (the fixture, by name)

# Selected by `pytest -m vllm` (.ci/run's vLLM environment), deselected by default (pyproject addopts).
pytestmark = [pytest.mark.vllm, pytest.mark.usefixtures("vllm_required")]

GAMMA, BATCHES, PROMPTS, TOKENS = 3, (1, 2), 3, 16
KV = ["--vllm-arg", f"kv_cache_memory_bytes={256 * 2**20}"]  # the machine is shared: a small KV cache


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vllm") / "runs.jsonl"
    result = invoke([
        "bench", "--engines", "ar,vllm", "--gamma", str(GAMMA), "--batch-size", ",".join(map(str, BATCHES)),
        "--num-prompts", str(PROMPTS), "--max-new-tokens", str(TOKENS), "--threads", "1", "--output", str(out), *KV])
    assert result.exit_code == 0, _text(result)
    return out, result, read_records([out]).records


def _vllm_runs(records, gamma="any"):
    return [r for r in records if r["kind"] == "run" and r["engine"] == "vllm" and (gamma == "any" or
                                                                                  r["gamma"] == gamma)]


def test_every_batch_size_decodes_each_prompt_equally_often_in_whole_waves(bench_run):
    _, _, records = bench_run
    for gamma in (None, GAMMA):
        runs = _vllm_runs(records, gamma)
        for size in BATCHES:
            at = [r for r in runs if r["batch_size"] == size]
            assert len(at) == math.lcm(PROMPTS, size)  # lcm(N, B) requests: the same prompt mix at every B
            assert sorted(r["prompt_index"] for r in at) == sorted(list(range(PROMPTS)) * (len(at) // PROMPTS))
            for wave in {r["wave"] for r in at}:  # a wave: B requests timed together, so one wall time
                members = [r for r in at if r["wave"] == wave]
                assert len(members) == size and len({r["wall_time_s"] for r in members}) == 1
            assert all(r["new_tokens"] == len(r["output_ids"]) == TOKENS for r in at)


def test_greedy_vllm_with_speculation_equals_vllm_without(bench_run):
    _, _, records = bench_run
    baseline = {(r["batch_size"], r["request_index"]): r["output_ids"] for r in _vllm_runs(records, None)}
    speculative = _vllm_runs(records, GAMMA)
    assert speculative and all(r["exact"] is True and r["first_divergence"] is None for r in speculative)
    assert all(r["output_ids"] == baseline[(r["batch_size"], r["request_index"])] for r in speculative)


def test_per_round_counts_add_up_to_the_tokens_generated(bench_run):
    """The first token comes from the prefill; each round emits j + 1. vLLM does not shorten the last round, so it
    may overshoot max tokens by at most that round's accepted drafts (the surplus is cut off)."""
    _, _, records = bench_run
    for r in _vllm_runs(records, GAMMA):
        drafted, accepted = r["rounds"]["drafted"], r["rounds"]["accepted"]
        assert drafted and all(k == GAMMA for k in drafted) and all(0 <= j <= k for k, j in zip(drafted, accepted))
        emitted = 1 + sum(j + 1 for j in accepted)
        assert 0 <= emitted - r["new_tokens"] <= accepted[-1]
        assert 1 + sum(j + 1 for j in accepted[:-1]) < r["new_tokens"]  # the last round was needed


def test_per_request_counts_match_vllms_engine_wide_counters(bench_run):
    _, _, records = bench_run
    engines = {r["gamma"]: r for r in records if r["kind"] == "engine"}
    assert set(engines) == {None, GAMMA}
    assert all(e["startup_s"] > 0 and e["warmup_s"] > 0 for e in engines.values())
    spec = engines[GAMMA]
    runs = _vllm_runs(records, GAMMA)
    assert spec["counters_match"] is True
    assert spec["engine_counters"]["rounds"] == sum(len(r["rounds"]["drafted"]) for r in runs)
    assert spec["engine_counters"]["accepted"] == sum(sum(r["rounds"]["accepted"]) for r in runs) > 0
    assert sum(spec["engine_counters"]["accepted_per_position"]) == spec["engine_counters"]["accepted"]
    assert spec["engine_args"]["speculative_config"] == {
        "method": "draft_model", "model": spec["engine_args"]["speculative_config"]["model"],
        "num_speculative_tokens": GAMMA, "draft_tensor_parallel_size": 1}  # bench's default: the draft on one device
    assert spec["engine_args"]["per_request_spec_decode_metrics"] == "detailed"
    assert spec["engine_args"]["max_num_seqs"] == max(BATCHES)


def test_settings_record_the_scale_out_and_cpu_settings(bench_run):
    _, _, records = bench_run
    settings, environment = records[0]["settings"], records[0]["environment"]
    assert settings["batch_sizes"] == list(BATCHES) and settings["engines"] == ["ar", "vllm"]
    vllm = settings["vllm"]
    assert vllm["tensor_parallel_size"] == 1 and vllm["draft_tensor_parallel_size"] == 1  # as plan assumes
    assert vllm["vllm_args"] == {"kv_cache_memory_bytes": 256 * 2**20} and vllm["max_num_seqs"] == max(BATCHES)
    assert vllm["environment"]["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert environment["vllm"].startswith("0.")


def test_bench_summary_shows_batch_sizes_and_says_ar_does_not_batch(bench_run):
    _, result, _ = bench_run
    text = _text(result)
    assert "By batch size" in text
    assert "ar decode one sequence at a time: they ran at batch size 1" in text
    assert "vllm without speculation vs transformers ar" in text


def test_records_go_through_report_with_one_row_per_batch_size(bench_run, tmp_path):
    out, _, records = bench_run
    result = invoke(["report", str(out), "--format", "json", "--output", str(tmp_path / "r.json")])
    assert result.exit_code == 0, _text(result)
    report = json.loads((tmp_path / "r.json").read_text())
    rows = [r for r in report["rows"] if r["engine"] == "vllm"]
    assert sorted(r["batch_size"] for r in rows) == list(BATCHES) and all(r["gamma"] == GAMMA for r in rows)
    for row in rows:
        runs = [r for r in _vllm_runs(records, GAMMA) if r["batch_size"] == row["batch_size"]]
        drafted = sum(sum(r["rounds"]["drafted"]) for r in runs)
        accepted = sum(sum(r["rounds"]["accepted"]) for r in runs)
        assert row["metrics"]["draft_acceptance_rate"]["value"] == pytest.approx(accepted / drafted)
        assert row["exact_share"] == 1.0 and row["metrics"]["speedup"]["value"] > 0
        assert row["paired_runs"] == len({r["wave"] for r in runs})  # one pair per wave, not per request
    (family,) = report["by_batch"]
    assert [p["batch_size"] for p in family["points"]] == list(BATCHES)
    plot = tmp_path / "report.png"
    assert invoke(["report", str(out), "--plot", str(plot)]).exit_code == 0
    assert plot.stat().st_size > 10_000
