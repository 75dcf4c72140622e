"""plan/serving: each engine's dialect checked with that engine's own rules as far as they run offline, and the
inputs read once per command."""

import bisect
import json

import pytest
import yaml
from typer.testing import CliRunner

from specplan.cli import app
from specplan.plan import hardware, serving
from specplan.plan.serving import trtllm


def plan_json(*args):
    result = CliRunner().invoke(app, ["plan", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def first_batch_reading(schedule: dict, batch: int) -> int:
    """Older TensorRT-LLM drafters: a key is the first batch size of its range (bisect_right over the keys)."""
    keys = sorted(schedule)
    return schedule[keys[bisect.bisect_right(keys, batch) - 1]]


def last_batch_reading(schedule: dict, batch: int) -> int:
    """Current ``get_draft_len_for_batch_size``: a key is the last batch size of its range; 0 above the last key."""
    keys = sorted(schedule)
    i = bisect.bisect_left(keys, batch)
    return schedule[keys[i]] if i < len(keys) else 0


def plans_gamma(grid, batch: int) -> int:
    """Plan's γ at any batch size: the γ of the largest grid batch size at or below it, capped at batch 1's."""
    gamma = [g for b, g, *_ in grid if b <= batch][-1]
    return min(gamma, grid[0][1])


@pytest.mark.parametrize("grid", [
    [(1, 5, 0), (2, 5, 0), (4, 4, 0), (8, 4, 0), (16, 3, 0), (32, 1, 0), (64, 0, 0), (128, 0, 0)],
    [(1, 4, 0), (2, 4, 0), (4, 4, 0)],
    [(1, 3, 0), (2, 4, 0), (4, 2, 0), (8, 2, 0), (16, 1, 0)],  # γ rising with batch: capped at batch 1's
    [(1, 2, 0), (2, 0, 0), (4, 1, 0)],  # off at 2: stops there, even though 4 would pay again
])
def test_both_trtllm_schedule_readings_give_plans_gamma_at_every_batch(grid):
    schedule, last_paying = trtllm.draft_len_schedule(grid)
    assert schedule[1] == grid[0][1] and 0 not in schedule.values()
    off = next((b for b, g, _ in grid if g == 0), None)
    assert last_paying == (off - 1 if off else None) and max(schedule) == (last_paying or grid[-1][0])
    for batch in range(1, grid[-1][0] * 2):
        want = 0 if off and batch >= off else plans_gamma(grid, batch)
        first = 0 if last_paying and batch > last_paying else first_batch_reading(schedule, batch)
        last = 0 if last_paying and batch > last_paying else last_batch_reading(schedule, batch)
        if batch <= grid[-1][0]:
            assert first == last == want, batch


@pytest.mark.parametrize("args", [
    ["--target", "meta-llama/Llama-3.1-70B-Instruct"],
    ["--target", "Qwen/Qwen2.5-72B-Instruct", "--tensor-parallel-size", "4"],
    ["--target", "meta-llama/Llama-3.1-8B-Instruct", "--context-tokens", "8192"],
])
def test_emitted_trtllm_config_is_llm_api_and_reads_the_same_both_ways(args):
    emit = plan_json(*args, "--emit", "trtllm")["emit"]
    config = yaml.safe_load(emit["text"])
    assert set(config) <= {"disable_overlap_scheduler", "speculative_config", "kv_cache_config"}
    spec = config["speculative_config"]
    assert set(spec) <= {"decoding_type", "max_draft_len", "speculative_model", "draft_len_schedule",
                         "max_concurrency"}
    assert spec["decoding_type"] == "Draft_Target" and spec["max_draft_len"] == emit["gamma"]
    grid = [(row["batch_size"], row["gamma"]) for row in emit["gamma_by_batch"]]
    assert [b for b, _ in grid] == list(trtllm.SCHEDULE_BATCHES)
    schedule = spec.get("draft_len_schedule", {1: spec["max_draft_len"]})
    cap = spec.get("max_concurrency", grid[-1][0])
    off = next((b for b, g in grid if g == 0), None)
    for batch in range(1, grid[-1][0] + 1):
        want = 0 if off and batch >= off else plans_gamma(grid, batch)
        for reading in (first_batch_reading, last_batch_reading):
            got = 0 if batch > cap else (reading(schedule, batch) if "draft_len_schedule" in spec
                                         else spec["max_draft_len"])
            assert got == want, (reading.__name__, batch)


def test_sglang_takes_the_full_tp_flag_and_llamacpp_notes_the_older_spelling_completely():
    sglang = plan_json("--target", "Qwen/Qwen3-32B", "--tensor-parallel-size", "2", "--emit", "sglang")["emit"]
    words = sglang["text"].split()
    assert words[words.index("--tp-size") + 1] == "2" and "--tp" not in words
    llamacpp = plan_json("--target", "meta-llama/Llama-3.1-70B-Instruct", "--emit", "llamacpp")["emit"]
    older = next(n for n in llamacpp["notes"] if "builds before" in n)
    gamma = llamacpp["gamma"]
    assert "drop --spec-type draft-simple" in older and f"--draft-max {gamma} --draft-min 0" in older


def test_every_engine_is_one_module_with_one_interface():
    assert serving.ENGINES == ("vllm", "sglang", "trtllm", "llamacpp", "hf")
    for name, engine in serving.REGISTRY.items():
        assert engine.name == name and engine.title == serving.ENGINE_NAMES[name]
        assert callable(engine.compatibility) and callable(engine.configure)
        assert isinstance(engine.schedule_batches, tuple)


@pytest.mark.parametrize("args", [
    ["--target", "meta-llama/Llama-3.1-70B-Instruct", "--emit", "trtllm"],
    ["--target", "meta-llama/Llama-3.1-70B-Instruct", "--emit", "vllm", "--draft", "meta-llama/Llama-3.2-3B"],
    ["--target-params", "70B"],
])
def test_a_plan_reads_its_profile_once(args, monkeypatch):
    reads = []
    real = hardware.load_yaml
    monkeypatch.setattr(hardware, "load_yaml", lambda text, where: reads.append(where) or real(text, where))
    result = CliRunner().invoke(app, ["plan", *args])
    assert result.exit_code == 0, result.output
    assert len(reads) == 1, reads
