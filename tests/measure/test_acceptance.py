"""``specplan acceptance``: the three rules on hand-computed distributions, chunked scoring, a real run of the
command on the embedded pair (its greedy E(γ) equal to the sd loop's measured tokens per round on the same
prompts), a matrix family, and bad values (one line, exit 2)."""

import json
import math

import pytest
from typer.testing import CliRunner

from bench_fixtures import one_thread
from specplan.cli import app

torch = pytest.importorskip("torch")

from specplan.measure import acceptance as acc  # noqa: E402

P = [0.5, 0.3, 0.2]
Q = [0.2, 0.5, 0.3]


def _logits(probs):
    return torch.tensor(probs).log().view(1, -1)


def test_rules_on_hand_computed_distributions():
    columns = [(1.0, acc.LOSSLESS), (1.0, acc.ARGMAX_DRAFT), (0.0, acc.GREEDY), (0.5, acc.LOSSLESS),
               (0.5, acc.ARGMAX_DRAFT)]
    got = acc.rule_columns(_logits(P), _logits(Q), columns, 1.0)[0][0].tolist()
    assert got[0] == pytest.approx(0.2 + 0.3 + 0.2)  # Σ min(p, q)
    assert got[1] == pytest.approx(0.3)  # p(argmax q) = p(token 1)
    assert got[2] == 0.0  # argmax p = 0 ≠ argmax q = 1
    p2 = [x * x / sum(y * y for y in P) for x in P]  # temperature 0.5: p^2 renormalised
    q2 = [x * x / sum(y * y for y in Q) for x in Q]
    assert got[3] == pytest.approx(sum(min(a, b) for a, b in zip(p2, q2)), rel=1e-5)
    assert got[4] == pytest.approx(p2[1], rel=1e-5)
    same = acc.rule_columns(_logits(P), _logits(P), [(0.0, acc.GREEDY), (1.0, acc.LOSSLESS)], 1.0)[0][0].tolist()
    assert same == pytest.approx([1.0, 1.0])
    # top-p 0.6 keeps p's tokens 0 and 1 (0.5 + 0.3 ≥ 0.6): p' = (5/8, 3/8, 0); q keeps tokens 1, 2: (0, 5/8, 3/8)
    top = acc.rule_columns(_logits(P), _logits(Q), [(1.0, acc.LOSSLESS), (1.0, acc.ARGMAX_DRAFT)], 0.6)[0][0]
    assert top.tolist() == pytest.approx([3 / 8, 3 / 8], rel=1e-5)


def test_series_at_zero_is_the_greedy_rule_only():
    assert acc.series((0.0, 0.8)) == [(0.0, "greedy"), (0.8, "lossless"), (0.8, "argmax_draft")]


def test_chunks_stay_within_the_budget_for_large_vocabularies():
    for vocab in (256, 32_000, 128_256, 262_144):
        chunk = acc.chunk_positions(vocab)
        assert chunk >= 1 and chunk * vocab * 4 * acc._TENSORS_PER_CHUNK <= max(acc.LOGITS_BUDGET_BYTES,
                                                                                vocab * 4 * acc._TENSORS_PER_CHUNK)
    assert acc.chunk_positions(128_256) < 2048  # a 2K-token text is scored in several chunks


def _embedded(prompts: int, tokens: int):
    from specplan.measure.loading import default_pair, default_pair_texts, load_pair
    from specplan.measure.prompts import load_prompts

    target, draft = default_pair()
    pair = load_pair(target, draft, "cpu", "fp32")
    return pair, load_prompts(default_pair_texts()[0], prompts)


def test_chunked_scoring_equals_one_pass_and_greedy_matches_the_loop():
    from specplan.measure.engines.ar import decode_ar
    from specplan.measure.engines.probs import Sampling
    from specplan.measure.engines.sd import decode_sd
    from specplan.plan.acceptance_math import expected_rounds

    columns = acc.series((0.0, 1.0))
    with one_thread():
        pair, prompts = _embedded(2, 20)
        for prompt in prompts:
            ids = pair.tokenizer(prompt.text, return_tensors="pt").input_ids
            text = decode_ar(pair.target, ids, 20, Sampling(), torch.Generator(), pair.vocab_tokens).output_ids
            whole, given = acc.position_acceptance(pair.target, pair.draft, ids, text, columns, 1.0,
                                                   pair.vocab_tokens, 4096)
            chunked = acc.position_acceptance(pair.target, pair.draft, ids, text, columns, 1.0, pair.vocab_tokens, 3)
            assert whole.shape == given.shape == (19, 3)
            assert chunked[0] == pytest.approx(whole, abs=1e-5) and chunked[1] == pytest.approx(given, abs=1e-5)
            assert (given[:, 0] == whole[:, 0]).all()  # the greedy rule: the same given the greedy text
            # the target's greedy text is its argmax: the greedy column needs only the draft's pass
            alone = acc.position_acceptance(None, pair.draft, ids, text, columns[:1], 1.0, pair.vocab_tokens, 3,
                                            greedy_text=True)  # no target at all
            assert (alone[0][:, 0] == whole[:, 0]).all() and (alone[1][:, 0] == whole[:, 0]).all()
            for gamma in (1, 3):
                run = decode_sd(pair.target, pair.draft, ids, gamma, 20, Sampling(), torch.Generator(),
                                pair.vocab_tokens)
                assert run.output_ids == text
                assert expected_rounds(whole[:, 0], gamma) == pytest.approx(len(run.accepted))


def _invoke(args):
    with one_thread():
        return CliRunner().invoke(app, ["acceptance", *args])


def test_a_real_run_on_the_embedded_pair(tmp_path):
    out = tmp_path / "acc.jsonl"
    result = _invoke(["--num-prompts", "2", "--max-new-tokens", "16", "--temperature", "0,0.8", "--device", "cpu",
                      "--bootstrap", "50", "--json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert [(r["temperature"], r["rule"]) for r in view["results"]] == [
        (0.0, "greedy"), (0.8, "lossless"), (0.8, "argmax_draft")]
    for r in view["results"]:
        assert 0 <= r["alpha"] <= 1 and r["alpha_interval"][0] <= r["alpha"] <= r["alpha_interval"][1]
        assert set(r["tokens_per_round"]) == {str(g) for g in range(1, 9)}
        for g, e in r["tokens_per_round"].items():
            assert 1 <= e <= int(g) + 1 and math.isfinite(e)
            low, high = r["tokens_per_round_interval"][g]
            assert low <= e <= high
    assert view["peak_memory_bytes"] > 0
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["kind"] == "acceptance" and record["schema_version"] == 1
    assert record["pair"] == {"target": "specplan/toy-target", "draft": "specplan/toy-draft"}
    texts = record["prompts"][0]["continuation_ids"]  # one text per temperature, sampled at it
    assert len(record["prompts"]) == 2 and set(texts) == {"0.0", "0.8"} and len(texts["0.8"]) == 16
    from specplan.records import read_records

    assert read_records([out]).records[0]["results"][0]["rule"] == "greedy"


@pytest.mark.parametrize("args, names", [
    (["--temperature", "hot"], "--temperature"),
    (["--temperature", "-1"], "--temperature"),
    (["--top-p", "0"], "--top-p"),
    (["--max-new-tokens", "1"], "--max-new-tokens"),
    (["--num-prompts", "0"], "--num-prompts"),
    (["--target", "/nonexistent/folder"], "--target"),
    (["--append"], "--append"),
    (["--continuation", "beam"], "--continuation"),
    (["--continuations", "/nonexistent/runs.jsonl"], "--continuations"),
])
def test_bad_values_are_one_line_exit_2(args, names):
    result = _invoke(args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], result.output


MATRIX = ["llama", "gemma2", "llama4", "qwen3_next", "mamba"]  # full, hybrid sliding, chunked, recurrent, Mamba-1


@pytest.mark.parametrize("family", MATRIX)
def test_matrix_families_score_in_chunks_and_match_the_loop(family, tmp_path):
    """A random pair of the architecture matrix (tests/architectures.py): chunked scoring equals one pass (the
    windows are smaller than prompt + text), and greedy rounds equal sd's where sd runs."""
    from architectures import FAMILIES, matrix_tokenizer, save_tiny
    from specplan.measure.acceptance_run import pass_chunk
    from specplan.measure.engines.ar import decode_ar
    from specplan.measure.engines.cache import SINGLE_TOKEN_MODEL_TYPES
    from specplan.measure.engines.probs import Sampling
    from specplan.measure.engines.sd import decode_sd
    from specplan.measure.loading import ModelSource, load_pair
    from specplan.plan.acceptance_math import expected_rounds

    kind = FAMILIES[family][2]
    tokenizer = matrix_tokenizer()
    with one_thread():
        target = save_tiny(tmp_path / "t", family, 2, 0, tokenizer)
        draft = save_tiny(tmp_path / "d", family, 2 if kind in ("recurrent", "conv") else 1, 1, tokenizer)
        pair = load_pair(ModelSource("t", target), ModelSource("d", draft), "cpu", "fp32")
        ids = pair.tokenizer("def add(a, b):\n    return a + b\n", return_tensors="pt").input_ids
        text = decode_ar(pair.target, ids, 12, Sampling(), torch.Generator(), pair.vocab_tokens).output_ids
        columns = acc.series((0.0, 1.0))
        chunk = pass_chunk(pair.target, pair.draft)
        whole, given = acc.position_acceptance(pair.target, pair.draft, ids, text, columns, 1.0, pair.vocab_tokens,
                                               chunk)
        assert whole.shape == given.shape == (11, 3)
        assert ((whole >= 0) & (whole <= 1 + 1e-6)).all() and ((given >= 0) & (given <= 1 + 1e-6)).all()
        if family in SINGLE_TOKEN_MODEL_TYPES:
            assert chunk == 1
            return
        chunked = acc.position_acceptance(pair.target, pair.draft, ids, text, columns, 1.0, pair.vocab_tokens, 3)
        assert chunked[0] == pytest.approx(whole, abs=1e-4) and chunked[1] == pytest.approx(given, abs=1e-4)
        run = decode_sd(pair.target, pair.draft, ids, 3, 12, Sampling(), torch.Generator(), pair.vocab_tokens)
        assert run.output_ids == text
        assert expected_rounds(whole[:, 0], 3) == pytest.approx(len(run.accepted))


def test_batched_greedy_continuations_equal_the_ar_loop():
    """All prompts continued in one left-padded batch give, greedy, the tokens ``ar`` gives prompt by prompt."""
    from specplan.measure.continuations import batchable, continue_prompts
    from specplan.measure.engines.ar import decode_ar
    from specplan.measure.engines.probs import Sampling

    with one_thread():
        pair, prompts = _embedded(3, 12)
        ids = [pair.tokenizer(p.text, return_tensors="pt").input_ids for p in prompts]
        ids = [x[:, 9 * n:] for n, x in enumerate(ids)]  # the embedded prompts share one length: cut them apart
        assert batchable(pair.target) and len({i.shape[1] for i in ids}) > 1  # real padding
        # a checkpoint's own generation defaults (as hub configs ship them) must not reach the continuations
        for key, value in {"repetition_penalty": 1.5, "no_repeat_ngram_size": 2, "min_p": 0.2, "top_k": 3}.items():
            setattr(pair.target.generation_config, key, value)
        batched = continue_prompts(pair.target, ids, 12, 0.0, 1.0, 0, pair.vocab_tokens, 0)
        for prompt_ids, text in zip(ids, batched):
            alone = decode_ar(pair.target, prompt_ids, 12, Sampling(), torch.Generator(), pair.vocab_tokens)
            assert text == alone.output_ids
        sampled = continue_prompts(pair.target, ids, 12, 1.0, 0.9, 0, pair.vocab_tokens, 0)
        assert [len(t) for t in sampled] == [12, 12, 12]
        from transformers import GenerationConfig

        neutral = pair.target.generation_config = GenerationConfig()  # the same seed without the odd defaults
        assert continue_prompts(pair.target, ids, 12, 1.0, 0.9, 0, pair.vocab_tokens, 0) == sampled
        assert pair.target.generation_config is neutral  # the model's own config is back in place


def test_continuations_read_from_records_give_the_same_results(tmp_path):
    """``--continuations``: the texts of an earlier acceptance record, or bench's ``ar`` runs (the golden bench
    file of the embedded pair, greedy, 16 tokens), give the results of decoding them; ``phase_seconds`` names
    each phase. A file without the temperature, or with other prompts, is one line, exit 2."""
    from pathlib import Path

    common = ["--num-prompts", "2", "--max-new-tokens", "16", "--device", "cpu", "--bootstrap", "50", "--json"]
    out = tmp_path / "acc.jsonl"
    first = _invoke([*common, "--temperature", "0,1", "-o", str(out)])
    assert first.exit_code == 0, first.output
    first = json.loads(first.stdout)
    assert set(first["phase_seconds"]) == {"load", "continuations", "teacher_forced", "rules", "rounds"}
    assert all(v >= 0 for v in first["phase_seconds"].values())
    again = json.loads(_invoke([*common, "--temperature", "0,1", "--continuations", str(out)]).stdout)
    assert again["results"] == first["results"]
    golden = tmp_path / "bench.jsonl"  # the golden without its times: give each run one
    lines = (Path(__file__).resolve().parents[1] / "golden" / "bench_embedded.jsonl").read_text().splitlines()
    golden.write_text("".join(json.dumps({**json.loads(x), "wall_time_s": 0.1}) + "\n" for x in lines
                              if json.loads(x)["kind"] == "run"))
    from_bench = _invoke([*common, "--temperature", "0", "--continuations", str(golden), "-o",
                          str(tmp_path / "b.jsonl")])
    assert from_bench.exit_code == 0, from_bench.output
    assert json.loads(from_bench.stdout)["results"][0] == first["results"][0]  # bench's ar text = the greedy text
    missing = _invoke([*common, "--temperature", "0.5", "--continuations", str(golden)])
    assert missing.exit_code == 2 and "--continuations" in missing.output and "0.5" in missing.output
    assert len(missing.output.strip().splitlines()) == 1
    other = tmp_path / "other.txt"
    other.write_text("a short prompt\nanother one\n")
    mismatched = _invoke([*common, "--temperature", "0", "--prompts", str(other), "--continuations", str(golden)])
    assert mismatched.exit_code == 2 and "other prompts" in mismatched.output, mismatched.output


def test_the_benchmarks_pooled_gap_and_its_interval():
    """benchmarks/acceptance_vs_loop.py: per-prompt tokens and rounds pooled over runs and records, the gap of
    the pooled tokens per round, and a bootstrap interval that holds it (and is a point where nothing varies)."""
    import numpy as np

    from benchmark_scripts import load_benchmark

    bench = load_benchmark("acceptance_vs_loop")
    runs = [{"kind": "run", "engine": "sd", "gamma": 2, "prompt_index": i % 2,
             "rounds": {"drafted": [2, 2, 1], "accepted": [a, 0, 1]}} for i, a in enumerate((2, 1, 2, 1))]
    runs.append({"kind": "run", "engine": "ar", "gamma": None, "prompt_index": 0})
    tokens, rounds, dar = bench.measured_rounds(runs, "sd", 2, 2)
    assert tokens.tolist() == [(3 + 1 + 2) * 2, (2 + 1 + 2) * 2] and rounds.tolist() == [6, 6]
    assert dar == pytest.approx((3 + 2 + 3 + 2) / 20)
    result = {"temperature": 1.0, "rule": "lossless", "prompt_rounds": {"2": [3.0, 3.0]}}
    records = [{"results": [result], "settings": {"max_new_tokens": 7}}] * 2
    predicted = bench.predicted_rounds(records, 1.0, "lossless", 2)
    assert predicted[0].tolist() == [12.0, 12.0] and predicted[1].tolist() == [6.0, 6.0]
    gap, low, high = bench.paired_gap(predicted, (tokens, rounds))
    assert gap == pytest.approx(24 / 12 / (22 / 12) - 1) and low <= gap <= high and low < high
    same = bench.paired_gap((tokens, rounds), (tokens, rounds))
    assert same == pytest.approx((0.0, 0.0, 0.0))
