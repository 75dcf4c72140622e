"""``bench --compile`` (specplan.measure.engines.compiled_engine): the compiled ``ar`` and ``sd`` behind the engine
interface, on the embedded pair end to end, and the refusals before any weights load.

The end-to-end test compiles with torch.compile's ``eager`` backend (dynamo captures the same single graphs per
shape as inductor, without generating kernels: seconds instead of minutes on a shared CPU); the inductor engine
itself is checked in tests/measure/test_compiled.py.
"""

import json
from pathlib import Path

import pytest

from architectures import matrix_tokenizer, save_tiny
from bench_fixtures import cli_text, invoke

pytest.importorskip("torch")

from specplan.measure.engines import compiled_engine, registry  # noqa: E402

SMALL = ["--num-prompts", "1", "--max-new-tokens", "16", "--gamma", "2", "--latency-samples", "3",
         "--latency-context", "16", "--threads", "1"]


def _records(path: Path) -> list:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.compile
def test_bench_compile_on_the_embedded_pair_records_the_compile_apart_and_equals_eager_ar(tmp_path, monkeypatch):
    monkeypatch.setattr(compiled_engine, "BACKEND", "eager")
    compiled_out, eager_out = tmp_path / "compiled.jsonl", tmp_path / "eager.jsonl"
    result = invoke(["bench", "--engines", "ar,sd", "--compile", *SMALL, "--output", str(compiled_out)])
    assert result.exit_code == 0, cli_text(result)
    eager = invoke(["bench", "--engines", "ar", *SMALL, "--output", str(eager_out)])
    assert eager.exit_code == 0, cli_text(eager)
    records = _records(compiled_out)
    engines = [r for r in records if r["kind"] == "engine"]
    runs = {r["engine"]: r for r in records if r["kind"] == "run"}
    assert len(engines) == 1 and records[0] is engines[0]  # prepared before the first timed run
    prepared = engines[0]
    assert prepared["engine"] == "compiled" and prepared["compile"]["mode"] == "eager"
    assert set(prepared["compile"]["compile_s"]) == {"target prefill", "target 1", "target 3", "draft prefill",
                                                      "draft 1"}
    assert prepared["startup_s"] == pytest.approx(sum(prepared["compile"]["compile_s"].values()))
    assert prepared["warmup_s"] > 0 and prepared["compile"]["late_compiles"] == []
    assert set(runs) == {"ar", "sd"}
    for run in runs.values():
        assert run["settings"]["compile"] is True and run["settings"]["compile_mode"] == "eager"
        assert run["settings"]["compiled_engines"] == ["ar", "sd"]
        assert run["wall_time_s"] < prepared["startup_s"]  # the compile time is not inside the timed runs
    assert runs["sd"]["exact"] is True and runs["sd"]["rounds"]["drafted"]
    eager_ar = next(r for r in _records(eager_out) if r["kind"] == "run")
    assert "compile" not in eager_ar["settings"]  # an eager run's settings are as before (older files resume)
    assert runs["ar"]["output_ids"] == runs["sd"]["output_ids"] == eager_ar["output_ids"]


@pytest.mark.parametrize("family", ["opt", "jamba"])
def test_an_architecture_the_compiled_engine_refuses_is_one_line_before_weights_load(tmp_path, family):
    """OPT (does not compile as one graph) and Jamba (recurrent layers) run eagerly under ar and sd, so the refusal
    is --compile's own; the weights are removed, so a refusal after loading would read differently."""
    tokenizer = matrix_tokenizer()
    folders = [save_tiny(tmp_path / role, family, layers, seed, tokenizer)
               for role, layers, seed in (("t", 2, 0), ("d", 1, 1))]
    for folder in folders:
        for weights in Path(folder).glob("*.safetensors"):
            weights.unlink()
    args = ["bench", "--target", folders[0], "--draft", folders[1], "--engines", "ar,sd", *SMALL]
    refused = invoke([*args, "--compile"])
    message = cli_text(refused).strip()
    assert refused.exit_code == 2 and "\n" not in message and "Traceback" not in message
    assert message.startswith("error: --compile (ar, target):") and family in message and "drop --compile" in message, message
    eager = invoke(args)
    assert eager.exit_code == 2 and "--compile" not in cli_text(eager)  # eager gets past the pre-flight


def test_compile_swaps_in_the_compiled_ar_and_sd_only():
    for name in ("ar", "sd"):
        engine = registry.for_run(name, compile=True)
        assert engine is compiled_engine.VARIANTS[name] and engine.name == name
        assert engine.speculative == registry.get(name).speculative and registry.for_run(name) is registry.get(name)
    assert registry.for_run("hf", compile=True) is registry.get("hf")
    assert registry.for_run("vllm", compile=True) is registry.get("vllm")


def _measured(**extra) -> dict:
    return {"name": "m", "kind": "measured", "dtype": "fp32", **extra,
            "coefficients": {"step_overhead_s": 1e-4, "layer_overhead_s": 1e-5, "per_param_s": 1e-12,
                             "per_param_token_s": 0.0},
            "measurements": [{"params": p, "new_tokens": 1} for p in (1e6, 4e6)]}


def test_a_measured_profile_says_which_engine_timed_it_and_old_files_read_as_eager():
    from specplan.errors import SpecplanError
    from specplan.plan import hardware

    assert hardware.profile_from_dict(_measured(), "old.yaml").engine == "eager"
    assert hardware.profile_from_dict(_measured(engine="compiled"), "c.yaml").engine == "compiled"
    assert hardware.load_profile("h100-sxm").engine is None  # a datasheet: no engine measured
    with pytest.raises(SpecplanError, match="engine 'graphs' must be one of eager, compiled"):
        hardware.profile_from_dict(_measured(engine="graphs"), "bad.yaml")
