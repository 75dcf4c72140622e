"""The architecture matrix: tiny random models of the families people run (tests/architectures.py), built from
transformers' config classes and saved as real folders, through ``bench`` and ``profile`` as a user runs them.

Per family: greedy ``sd`` and ``hf`` equal ``ar`` (γ = 1 and 3, the sliding windows smaller than prompt + output,
so rollback past the window is exercised), sampled runs complete, and ``profile --model FOLDER`` times it.
Recurrent / linear-attention families run ``sd`` (state replay) and are refused for ``hf`` in one line (transformers
refuses them); Mamba-1 families are refused for ``sd`` too (no multi-token step on a warm state).
"""

import functools
import json
import shutil
import tempfile
import atexit
from pathlib import Path

import pytest
from typer.testing import CliRunner

from architectures import FAMILIES, WINDOW, matrix_tokenizer, save_tiny
from bench_fixtures import load, one_thread
from specplan.cli import app

torch = pytest.importorskip("torch")

PROMPT = "def add(a, b):\n    return a + b\n"  # 31 byte tokens: prompt + output pass every WINDOW
NEW_TOKENS = 12
BENCH = ["--gamma", "1,3", "--max-new-tokens", str(NEW_TOKENS), "--num-prompts", "1", "--latency-samples", "2",
         "--latency-context", "16", "--threads", "1", "--device", "cpu"]
RECURRENT = [f for f, (_, _, kind) in FAMILIES.items() if kind == "recurrent"]
ATTENTION = [f for f in FAMILIES if f not in RECURRENT]
SINGLE_TOKEN = ["mamba", "falcon_mamba"]  # transformers' Mamba-1 forward: one token at a time on a warm state
SPECULATIVE = [f for f in FAMILIES if f not in SINGLE_TOKEN]


def _engines(family: str) -> tuple:
    return ("sd", "hf") if family in ATTENTION else ("sd",) if family in SPECULATIVE else ()


@functools.lru_cache(maxsize=None)
def folders() -> dict:
    """(family, role) -> folder: a 2-layer target and a 1-layer draft per family (2 for recurrent and conv ones,
    whose first layer alone has no attention), plus a padded-vocabulary target."""
    root = Path(tempfile.mkdtemp(prefix="specplan-arch-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    tokenizer = matrix_tokenizer()
    made = {}
    with one_thread():
        for family, (_, _, kind) in FAMILIES.items():
            made[family, "target"] = save_tiny(root / f"{family}-target", family, 2, 0, tokenizer)
            made[family, "draft"] = save_tiny(root / f"{family}-draft", family,
                                              2 if kind in ("recurrent", "conv") else 1, 1, tokenizer)
        made["padded", "target"] = save_tiny(root / "padded-target", "qwen2", 2, 0, tokenizer, vocab_rows=320)
    (root / "prompt.txt").write_text(PROMPT.replace("\n", "\\n") + "\n")
    made["prompts"] = str(root / "prompt.txt")
    return made


def _bench(tmp_path, target: str, draft: str, *args):
    out = tmp_path / "runs.jsonl"
    with one_thread():
        result = CliRunner().invoke(app, ["bench", "--target", target, "--draft", draft, "--prompts",
                                          folders()["prompts"], "--output", str(out), *BENCH, *args])
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return result, records


def _assert_exact(result, records, engines=("sd", "hf")):
    assert result.exit_code == 0, result.output
    runs = [r for r in records if r["kind"] == "run"]
    assert {r["engine"] for r in runs} == {"ar", *engines}
    assert runs[0]["prompt_tokens"] + NEW_TOKENS > WINDOW
    for r in runs:
        assert r["new_tokens"] == NEW_TOKENS
        if r["engine"] != "ar":
            assert r["exact"] is True, (r["engine"], r["gamma"], r["first_divergence"], r["divergence_margin"])
    assert {r["model"] for r in records if r["kind"] == "latency"} == {"target", "draft"}


@pytest.mark.parametrize("family", SPECULATIVE)
def test_greedy_sd_and_hf_equal_ar(tmp_path, family):
    engines = _engines(family)
    result, records = _bench(tmp_path, folders()[family, "target"], folders()[family, "draft"], "--engines",
                             ",".join(("ar", *engines)))
    _assert_exact(result, records, engines)


@pytest.mark.parametrize("family", SPECULATIVE)
def test_sampled_runs_complete(family):
    from specplan.measure.engines.hf import decode_hf
    from specplan.measure.engines.probs import Sampling
    from specplan.measure.engines.sd import decode_sd

    sampling = Sampling(temperature=0.8, top_p=0.9)
    with one_thread():
        pair = load(folders()[family, "target"], folders()[family, "draft"])
        ids = pair.tokenizer(PROMPT, return_tensors="pt").input_ids
        outputs = [decode_sd(pair.target, pair.draft, ids, 3, NEW_TOKENS, sampling,
                             torch.Generator().manual_seed(0), pair.vocab_tokens).output_ids]
        if "hf" in _engines(family):
            outputs.append(decode_hf(pair.target, pair.draft, ids, 3, NEW_TOKENS, sampling, seed=0).output_ids)
    for output in outputs:
        assert len(output) == NEW_TOKENS and all(0 <= t < pair.vocab_tokens for t in output)


@pytest.mark.parametrize("family", RECURRENT)
def test_recurrent_models_are_refused_where_unsupported_in_one_line_and_run_ar(tmp_path, family):
    target, draft = folders()[family, "target"], folders()[family, "draft"]
    refused = {"hf": "recurrent / linear-attention states"}
    if family in SINGLE_TOKEN:
        refused["sd"] = "cannot continue a cached state with several tokens"
    for engine, reason in refused.items():
        result, records = _bench(tmp_path, target, draft, "--engines", f"ar,{engine}")
        assert result.exit_code == 2 and not records
        message = result.output.strip()
        assert "\n" not in message and "Traceback" not in message
        assert family in message and "ForCausalLM" in message and reason in message and f"--engines {engine}:" in message
    result, records = _bench(tmp_path, target, draft, "--engines", "ar")
    assert result.exit_code == 0, result.output
    assert [r["new_tokens"] for r in records if r["kind"] == "run"] == [NEW_TOKENS]


def _profile(tmp_path, family: str, *args):
    with one_thread():
        result = CliRunner().invoke(app, ["profile", "--model", folders()[family, "target"], "--device", "cpu",
                                          "--context", "16", "--max-tokens", "3", "--repeats", "2", "--warmup", "1",
                                          "--threads", "1", "--json", "-o", str(tmp_path / "measured.yaml"), *args])
    assert result.exit_code == 0, result.output
    return result, json.loads(result.stdout)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_profile_times_the_architecture(tmp_path, family):
    _, document = _profile(tmp_path, family, "--no-loop")  # the loop round: the test below
    rows = document["measurements"]
    assert [r["new_tokens"] for r in rows] == [1, 2, 3] and all(r["median_s"] > 0 for r in rows)
    assert rows[0]["layers"] == 2


@pytest.mark.parametrize("family", ["mistral", "qwen3_next", "mamba"])
def test_profile_loop_round_runs_where_sd_does(tmp_path, family):
    """The synthetic speculative round runs sd on the architecture: a sliding window and a recurrent model get
    loop terms; a Mamba-1 model (no sd) is said to have none, and the profile is still written."""
    result, document = _profile(tmp_path, family)
    if family in SINGLE_TOKEN:
        assert "no loop terms" in result.output and not document.get("loop")
    else:
        assert document["loop"]["step_overhead_s"] >= 0 and document["loop"]["round_overhead_s"] >= 0


def test_cross_family_pair_sharing_a_tokenizer_is_exact(tmp_path):
    """A Qwen2-architecture target with a Llama-architecture draft, one tokenizer."""
    _assert_exact(*_bench(tmp_path, folders()["qwen2", "target"], folders()["llama", "draft"]))


def test_padded_vocabulary_pair_runs_hf_on_transformers_same_tokenizer_path(tmp_path):
    """Target with 320 embedding rows, draft with 260, one 260-token tokenizer (as Qwen2.5 7B vs 0.5B)."""
    result, records = _bench(tmp_path, folders()["padded", "target"], folders()["qwen2", "draft"])
    _assert_exact(result, records)
    assert "padding, harmless" in result.output
    assert {r["hf_generator"] for r in records if r.get("engine") == "hf"} == {"AssistedCandidateGenerator"}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_ar_with_its_cache_equals_greedy_without_one(family):
    """The baseline itself: ``ar``'s cached decode equals re-running the whole sequence for every token (a model
    that ignored the cache it was given, as Mamba did with ``past_key_values``, decodes without context)."""
    from specplan.measure.engines.ar import decode_ar
    from specplan.measure.engines.probs import Sampling

    with one_thread():
        pair = load(folders()[family, "target"], folders()[family, "draft"])
        ids = pair.tokenizer(PROMPT, return_tensors="pt").input_ids
        ar = decode_ar(pair.target, ids, 6, Sampling(), torch.Generator(), pair.vocab_tokens)
        reference = []
        with torch.inference_mode():
            for _ in range(6):
                logits = pair.target(input_ids=ids, use_cache=False).logits[0, -1, :pair.vocab_tokens]
                reference.append(int(logits.argmax()))
                ids = torch.cat([ids, torch.tensor([[reference[-1]]])], dim=1)
    assert ar.output_ids == reference
