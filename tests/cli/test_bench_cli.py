"""``specplan bench`` end to end on tiny model folders: records, resume after an interruption, bad input."""

import json
import subprocess
import sys

import pytest

from bench_fixtures import cli_text as _text
from bench_fixtures import invoke as _invoke
from bench_fixtures import one_thread, tiny_folders
from specplan.measure import bench as sweep
from specplan.errors import SpecplanError
from specplan.measure.loading import check_vocab_rows, model_source
from specplan.records import RecordWriter, read_records

RUN_KEYS = {"schema_version", "kind", "run_id", "created", "pair", "settings", "environment", "engine", "gamma",
            "prompt_index", "prompt_category", "repeat", "prompt_tokens", "new_tokens", "wall_time_s", "output_ids"}
SMALL = ["--num-prompts", "2", "--max-new-tokens", "8", "--gamma", "1,2", "--latency-samples", "3",
         "--latency-context", "16", "--threads", "1"]


def test_bench_end_to_end_writes_records_and_prints_the_summary(tmp_path):
    folders, out = tiny_folders(), tmp_path / "runs.jsonl"
    result = _invoke(["bench", "--target", folders["target"], "--draft", folders["draft"], "--output", str(out),
                      "--perplexity", *SMALL])
    assert result.exit_code == 0, _text(result)
    assert "Speed" in result.output and "Acceptance" in result.output
    records = read_records([out]).records
    runs = [r for r in records if r["kind"] == "run"]
    assert len(runs) == 2 * (1 + 2 * 2)  # per prompt: ar, then sd and hf at γ = 1, 2
    assert len({r["run_id"] for r in records}) == 1
    for r in runs:
        assert RUN_KEYS <= set(r) and r["new_tokens"] == len(r["output_ids"]) == 8 and r["wall_time_s"] > 0
        if r["engine"] != "ar":
            assert r["exact"] is True and r["first_divergence"] is None  # greedy: identical to AR
            assert all(j <= k <= r["gamma"] for k, j in zip(r["rounds"]["drafted"], r["rounds"]["accepted"]))
    assert {(r["model"], r["new_tokens"]) for r in records if r["kind"] == "latency"} == \
        {("target", 1), ("target", 2), ("target", 3), ("draft", 1)}
    perplexities = {r["model"]: r for r in records if r["kind"] == "perplexity"}
    assert set(perplexities) == {"target", "draft"}
    assert all(r["perplexity"] > 1 and r["tokens"] > 500 and r["text"] == "builtin" for r in perplexities.values())
    assert runs[0]["settings"]["gammas"] == [1, 2] and runs[0]["environment"]["torch"]


def test_interrupted_run_keeps_its_records_and_resume_completes_it(tmp_path):
    folders, out = tiny_folders(), tmp_path / "runs.jsonl"
    config = sweep.BenchConfig(model_source("--target", folders["target"]),
                                   model_source("--draft", folders["draft"]), engines=("ar", "sd"), gammas=(1, 2),
                                   num_prompts=2, max_new_tokens=8, latency_samples=3, latency_context_tokens=16,
                                   threads=1)

    def write_then_stop(record, label, writer, kept=[]):
        writer.write(record)
        kept.append(record)
        if len(kept) == 4:
            raise KeyboardInterrupt

    with RecordWriter(out) as writer, pytest.raises(KeyboardInterrupt), one_thread():
        sweep.run_bench(config, on_record=lambda r, label: write_then_stop(r, label, writer))
    before = out.read_text().splitlines()
    assert len(before) == 4
    with out.open("a") as file:
        file.write('{"schema_version": 1, "kind": "ru')  # a crash in the middle of a line
    result = _invoke(["bench", "--target", folders["target"], "--draft", folders["draft"], "--engines", "ar,sd",
                      "--output", str(out), "--resume", *SMALL])
    assert result.exit_code == 0, _text(result)
    after = out.read_text().splitlines()
    assert after[:4] == before  # finished records kept as they were
    records = read_records([out]).records  # and the cut line is gone
    keys = [sweep.task_key(r) for r in records]
    assert sorted(keys, key=str) == sorted((t.key for t in sweep.plan_tasks(config, 2)), key=str)
    assert len({r["run_id"] for r in records}) == 1
    sd = [r for r in records if r.get("engine") == "sd"]
    assert sd and all(r["exact"] is True for r in sd)  # resumed SD runs compared with AR runs from the file


def test_resume_refuses_different_settings(tmp_path):
    folders, out = tiny_folders(), tmp_path / "runs.jsonl"
    args = ["bench", "--target", folders["target"], "--draft", folders["draft"], "--engines", "ar",
            "--output", str(out), *SMALL]
    assert _invoke(args).exit_code == 0
    result = _invoke([*args[:-2], "--max-new-tokens", "4", "--resume"])
    assert result.exit_code == 2 and "max_new_tokens" in _text(result)


def _bad_inputs():
    folders = tiny_folders()
    pair = ["--target", folders["target"], "--draft", folders["draft"]]
    cases = {
        "missing folder": (["--target", "/nonexistent/model", "--draft", folders["draft"]], "/nonexistent/model"),
        "unreadable prompts": ([*pair, "--prompts", "/nonexistent/prompts.txt"], "/nonexistent/prompts.txt"),
        "gamma below 1": ([*pair, "--gamma", "0,2"], "--gamma"),
        "gamma not a number": ([*pair, "--gamma", "two"], "--gamma"),
        "mismatched tokenizers": (["--target", folders["target"], "--draft", folders["other_tokenizer"]],
                                  "tokenizers differ"),
        "unknown device": ([*pair, "--device", "tpu"], "--device 'tpu'"),
        "unknown dtype": ([*pair, "--dtype", "fp64"], "--dtype 'fp64'"),
        "resume without output": ([*pair, "--resume"], "--output"),
        "only one model": (["--target", folders["target"]], "--draft"),
        "unknown engine": ([*pair, "--engines", "ar,tgi"], "--engines"),
    }
    import torch

    if not torch.cuda.is_available():
        cases["unavailable device"] = ([*pair, "--device", "cuda"], "--device 'cuda' is not available")
    return cases


@pytest.mark.parametrize("name", list(_bad_inputs()))
def test_bad_input_is_one_line_and_exit_2(name, tmp_path):
    args, needle = _bad_inputs()[name]
    output = [] if name == "resume without output" else ["--output", str(tmp_path / "o.jsonl")]
    result = _invoke(["bench", *SMALL, *args, *output])  # the case's options come last and win
    text = _text(result).strip()
    assert result.exit_code == 2, text
    assert text.startswith("error:") and len(text.splitlines()) == 1 and needle in text
    assert "Traceback" not in text


def test_missing_default_pair_is_a_clear_error(monkeypatch):
    from specplan.measure import loading

    monkeypatch.setattr(loading, "DEFAULT_PAIR_FOLDERS", ("no-such-target", "no-such-draft"))
    result = _invoke(["bench", *SMALL])
    assert result.exit_code == 2 and "embedded default pair is not installed" in _text(result)


def test_embedding_padding_is_allowed_and_explained_but_a_larger_tokenizer_is_not():
    checked = check_vocab_rows(152064, 151936, 151646)  # Qwen2 72B vs 1.5B rows, one tokenizer
    assert checked.vocab_tokens == 151936 and "padding" in checked.notes[0]
    assert check_vocab_rows(259, 259, 259).notes == ()
    with pytest.raises(SpecplanError, match="151936"):
        check_vocab_rows(152064, 151936, 152000)


def test_prompts_files(tmp_path):
    from specplan.measure.prompts import load_prompts

    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(json.dumps({"prompt": "a", "category": "code"}) + "\n\n" + json.dumps({"prompt": "b"}) + "\n")
    assert [(p.text, p.category) for p in load_prompts(str(jsonl), 5)] == [("a", "code"), ("b", "default")]
    txt = tmp_path / "p.txt"
    txt.write_text("first\n\nsecond\nthird\n")
    assert [p.text for p in load_prompts(str(txt), 2)] == ["first", "second"]
    assert {p.category for p in load_prompts(None, 4)} == {"code", "chat", "summarisation", "reasoning"}
    jsonl.write_text('{"text": "no prompt field"}\n')
    with pytest.raises(SpecplanError, match="p.jsonl:1"):
        load_prompts(str(jsonl), 1)


def test_cli_import_does_not_load_torch():
    code = "import sys, specplan.cli; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sampled_bench_runs_every_engine_and_skips_exactness(tmp_path):
    folders, out = tiny_folders(), tmp_path / "runs.jsonl"
    result = _invoke(["bench", "--target", folders["target"], "--draft", folders["draft"], "--output", str(out),
                      *SMALL, "--num-prompts", "1", "--gamma", "2", "--temperature", "1.0", "--top-p", "0.9"])
    assert result.exit_code == 0, _text(result)
    runs = [r for r in read_records([out]).records if r["kind"] == "run"]
    assert sorted(r["engine"] for r in runs) == ["ar", "hf", "sd"]
    assert all("exact" not in r and len(r["output_ids"]) == 8 for r in runs)
    assert all(r["settings"]["temperature"] == 1.0 and r["settings"]["top_p"] == 0.9 for r in runs)


def test_a_bench_that_fails_before_its_first_record_leaves_no_file(tmp_path):
    folders, out = tiny_folders(), tmp_path / "runs.jsonl"
    result = _invoke(["bench", "--target", folders["target"], "--draft", folders["draft"], "--output", str(out),
                      "--prompts", str(tmp_path / "missing.txt"), *SMALL])
    assert result.exit_code == 2, _text(result)
    assert "missing.txt" in result.stderr and result.stderr.count("\n") == 1
    assert not out.exists()
