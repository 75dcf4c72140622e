"""The decoding engines on tiny seeded random LLaMAs loaded from real folders: greedy speculative output equals
greedy target output, an identical draft accepts everything, and both KV caches track the committed tokens."""

from importlib import resources
from pathlib import Path

import pytest
import torch

from bench_fixtures import load, one_thread, tiny_folders
from specplan.measure.engines.ar import decode_ar
from specplan.measure.engines.hf import decode_hf
from specplan.measure.engines.probs import Sampling
from specplan.measure.engines.sd import decode_sd

NEW_TOKENS = 16
GREEDY = Sampling()


@pytest.fixture(scope="module")
def pairs():
    folders = tiny_folders()
    with one_thread():
        yield {"random": load(folders["target"], folders["draft"]),
               "identical": load(folders["target"], folders["target"])}


def _prompt(pair, text: str = "def add(a, b):\n    return"):
    return pair.tokenizer(text, return_tensors="pt").input_ids


def _gen():
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize("draft", ["random", "identical"])
@pytest.mark.parametrize("gamma", [1, 3, 5])
def test_greedy_speculative_output_equals_greedy_target_output(pairs, draft, gamma):
    pair = pairs[draft]
    ids = _prompt(pair)
    ar = decode_ar(pair.target, ids, NEW_TOKENS, GREEDY, _gen(), pair.vocab_tokens)
    sd = decode_sd(pair.target, pair.draft, ids, gamma, NEW_TOKENS, GREEDY, _gen(), pair.vocab_tokens)
    hf = decode_hf(pair.target, pair.draft, ids, gamma, NEW_TOKENS, GREEDY, seed=0)
    assert len(ar.output_ids) == NEW_TOKENS
    assert sd.output_ids == ar.output_ids
    assert hf.output_ids == ar.output_ids
    assert 1 + sum(j + 1 for j in sd.accepted) == NEW_TOKENS  # the prefill token, then j_s + 1 per round


def test_random_draft_is_mostly_rejected(pairs):
    """Guards against a loop that accepts without checking: a random draft rarely agrees with the target."""
    pair = pairs["random"]
    sd = decode_sd(pair.target, pair.draft, _prompt(pair), 4, NEW_TOKENS, GREEDY, _gen(), pair.vocab_tokens)
    assert sum(sd.accepted) < sum(sd.drafted) / 2


@pytest.mark.parametrize("gamma", [2, 4])
def test_identical_draft_accepts_everything(pairs, gamma):
    pair = pairs["identical"]
    ids = _prompt(pair)
    sd = decode_sd(pair.target, pair.draft, ids, gamma, NEW_TOKENS, GREEDY, _gen(), pair.vocab_tokens)
    hf = decode_hf(pair.target, pair.draft, ids, gamma, NEW_TOKENS, GREEDY, seed=0)
    assert sd.accepted == sd.drafted and hf.accepted == hf.drafted
    assert all(k == gamma for k in sd.drafted[:-1])  # only the last round is shortened to fit max_new_tokens
    full = [j + 1 for j, k in zip(sd.accepted, sd.drafted) if k == gamma]
    assert full and all(length == gamma + 1 for length in full)  # acceptance length γ + 1


@pytest.mark.parametrize("draft", ["random", "identical"])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_both_caches_hold_the_committed_prefix_after_every_round(pairs, draft, temperature):
    pair = pairs[draft]
    ids = _prompt(pair)
    prompt_tokens, seen = ids.shape[1], []

    def check(target_cache, draft_cache, emitted, pending):
        committed = prompt_tokens + emitted
        seen.append((target_cache.get_seq_length(), draft_cache.get_seq_length(), committed, pending))

    decode_sd(pair.target, pair.draft, ids, 3, NEW_TOKENS, Sampling(temperature=temperature), _gen(),
              pair.vocab_tokens, on_round=check)
    assert seen
    for target_len, draft_len, committed, pending in seen:
        assert target_len == committed - 1  # all but the last committed token, which the next pass feeds
        assert draft_len == committed - pending and pending in (1, 2)  # + its own last draft after a full accept


def test_sampled_runs_are_reproducible_with_the_seed(pairs):
    pair = pairs["random"]
    ids, sampling = _prompt(pair), Sampling(temperature=1.0, top_p=0.9)
    runs = [decode_sd(pair.target, pair.draft, ids, 3, NEW_TOKENS, sampling, torch.Generator().manual_seed(s),
                      pair.vocab_tokens).output_ids for s in (5, 5, 6)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


TOY = Path(str(resources.files("specplan") / "assets"))


@pytest.fixture(scope="module")
def toy_pair():
    """The embedded trained pair: its draft agrees with the target often but not always, so rounds end in every
    way (rejection at each position, full acceptance) and both cache rollbacks run."""
    with one_thread():
        yield load(str(TOY / "toy-target"), str(TOY / "toy-draft"))


@pytest.mark.parametrize("gamma", [1, 2, 4, 8])
def test_greedy_fast_path_matches_the_one_hot_rule(pairs, toy_pair, gamma):
    """Compared argmaxes give the same tokens and the same per-round counts as the general rule on one-hot p, q."""
    reference = Sampling(one_hot_reference=True)
    cases = [(toy_pair, "def fib(n):\n    if n < 2:\n        return n\n    return"), (pairs["random"], "x = [")]
    for pair, text in cases:
        ids = _prompt(pair, text)
        fast = decode_sd(pair.target, pair.draft, ids, gamma, 48, GREEDY, _gen(), pair.vocab_tokens)
        slow = decode_sd(pair.target, pair.draft, ids, gamma, 48, reference, _gen(), pair.vocab_tokens)
        assert fast == slow
        assert decode_ar(pair.target, ids, 48, GREEDY, _gen(), pair.vocab_tokens).output_ids == fast.output_ids
    toy_rounds = decode_sd(toy_pair.target, toy_pair.draft, _prompt(toy_pair, cases[0][1]), gamma, 48, GREEDY, _gen(),
                           toy_pair.vocab_tokens)
    assert 0 < sum(toy_rounds.accepted) < sum(toy_rounds.drafted)  # both outcomes were exercised


def test_round_clock_times_every_round_on_cpu(toy_pair):
    """Every round is timed on cpu; its parts are within the round and the rounds within the decode."""
    import time

    from specplan.measure.engines.round_clock import RoundClock

    clock = RoundClock("cpu")
    start = time.perf_counter()
    decoded = decode_sd(toy_pair.target, toy_pair.draft, _prompt(toy_pair), 4, 32, GREEDY, _gen(),
                        toy_pair.vocab_tokens, clock=clock)
    wall = time.perf_counter() - start
    r = clock.record
    assert r["rounds"] == list(range(len(decoded.drafted))) and r["drafted"] == decoded.drafted
    assert all(0 < d + v < t for d, v, t in zip(r["draft_s"], r["verify_s"], r["round_s"]))
    assert r["prefill_s"] > 0 and r["prefill_s"] + sum(r["round_s"]) < wall
