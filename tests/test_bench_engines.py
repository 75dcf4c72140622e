"""The decoding engines on tiny seeded random LLaMAs loaded from real folders: greedy speculative output equals
greedy target output, an identical draft accepts everything, and both KV caches track the committed tokens."""

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
