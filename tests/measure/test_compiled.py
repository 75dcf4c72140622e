"""The compiled engine (specplan.measure.engines.compiled): static cache + torch.compile steps.

Compilation is the cost here, so the tests compile few shapes of tiny models: the embedded pair with inductor
(the real engine: greedy equal to eager ``ar``, sampling lossless, compile time outside the timed decodes), three
families of the architecture matrix with ``aot_eager`` (the same single graphs, no kernel generation), the
refusals without any weights, and the transformers internals the static cache relies on, pinned in eager mode.
"""

from importlib import resources
from pathlib import Path

import pytest

from architectures import FAMILIES, matrix_tokenizer, save_tiny, tiny_config
from bench_fixtures import load, one_thread

torch = pytest.importorskip("torch")

from specplan.measure.engines import compiled  # noqa: E402
from specplan.measure.engines.ar import decode_ar  # noqa: E402
from specplan.measure.engines.cache_argument import cache_argument  # noqa: E402
from specplan.measure.engines.probs import Sampling, probabilities  # noqa: E402
from specplan.measure.engines.static_cache import (  # noqa: E402
    missing_internals, new_static_cache, position, rewind)

TOY = Path(str(resources.files("specplan") / "assets"))
GREEDY = Sampling()
TOY_PROMPT = "def fib(n):\n    if n < 2:\n        return n\n    return"
GAMMA = 2


def _gen(seed: int = 0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def toy():
    """The embedded pair, prepared once for γ 2 (inductor): 5 graphs, the module's main compile cost."""
    with one_thread():
        pair = load(str(TOY / "toy-target"), str(TOY / "toy-draft"))
        ids = pair.tokenizer(TOY_PROMPT, return_tensors="pt").input_ids
        report = compiled.prepare(pair.target, pair.draft, ids, 32, (GAMMA,), GREEDY, pair.vocab_tokens,
                                  max_prompt_tokens=64)  # positions 99
        yield pair, ids, report


def _graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


@pytest.mark.compile
def test_toy_pair_greedy_compiled_equals_eager_ar_and_compiles_nothing_while_timed(toy):
    pair, ids, report = toy
    assert report.mode == "default" and set(report.compile_s) == {
        "target prefill", "target 1", f"target {GAMMA + 1}", "draft prefill", "draft 1"}
    assert report.warmup_s > 0 and not report.late_compiles
    before = _graphs()
    with one_thread():
        import time

        start = time.perf_counter()
        c_ar = compiled.decode_ar(pair.target, ids, 32, GREEDY, _gen(), pair.vocab_tokens)
        c_sd = compiled.decode_sd(pair.target, pair.draft, ids, GAMMA, 32, GREEDY, _gen(), pair.vocab_tokens)
        timed = time.perf_counter() - start
        other = pair.tokenizer("import os\nimport sys\n", return_tensors="pt").input_ids  # another prompt length
        c_other = compiled.decode_sd(pair.target, pair.draft, other, GAMMA, 32, GREEDY, _gen(), pair.vocab_tokens)
        ar = decode_ar(pair.target, ids, 32, GREEDY, _gen(), pair.vocab_tokens).output_ids
        ar_other = decode_ar(pair.target, other, 32, GREEDY, _gen(), pair.vocab_tokens).output_ids
    assert c_ar.output_ids == ar and c_sd.output_ids == ar and c_other.output_ids == ar_other
    assert 1 + sum(j + 1 for j in c_sd.accepted) == 32 and 0 < sum(c_sd.accepted) < sum(c_sd.drafted)
    assert _graphs() == before and not compiled.compile_report(pair.target, pair.draft).late_compiles
    assert timed < report.total_compile_s / 5  # the compile time is in the report, not in the decodes


@pytest.mark.compile
def test_toy_pair_counts_and_caches_match_eager_sd(toy):
    """Same per-round counts as eager sd, and the caches hold the committed prefix after every round."""
    from specplan.measure.engines.sd import decode_sd

    pair, ids, _ = toy
    seen = []

    def check(target_cache, draft_cache, emitted, pending):
        seen.append((position(target_cache), position(draft_cache), ids.shape[1] + emitted, pending))

    with one_thread():
        eager = decode_sd(pair.target, pair.draft, ids, GAMMA, 32, GREEDY, _gen(), pair.vocab_tokens)
        fast = compiled.decode_sd(pair.target, pair.draft, ids, GAMMA, 32, GREEDY, _gen(), pair.vocab_tokens,
                                  on_round=check)
    assert fast == eager
    for target_len, draft_len, committed, pending in seen:
        assert target_len == committed - 1 and draft_len == committed - pending and pending in (1, 2)


@pytest.mark.compile
def test_toy_pair_sampled_compiled_sd_follows_the_target_distribution(toy):
    """The second emitted token of sampled compiled sd (round 1: γ drafts, verified) follows the target's own
    distribution p(t₁) = Σ p(t₀) p(t₁ | t₀), computed from eager forwards; chi-square over the likely tokens."""
    from scipy.stats import chisquare

    pair, ids, _ = toy
    sampling, runs = Sampling(temperature=1.0), 500
    text = "for i in range("
    ids = pair.tokenizer(text, return_tensors="pt").input_ids
    with one_thread(), torch.inference_mode():
        p0 = probabilities(pair.target(ids).logits[0, -1, :pair.vocab_tokens], sampling)
        expected = torch.zeros_like(p0)
        for t0 in torch.nonzero(p0 > 1e-4).flatten().tolist():
            seq = torch.cat([ids, torch.tensor([[t0]])], dim=1)
            expected += p0[t0] * probabilities(pair.target(seq).logits[0, -1, :pair.vocab_tokens], sampling)
        generator, counts = _gen(11), torch.zeros_like(p0)
        for _ in range(runs):
            out = compiled.decode_sd(pair.target, pair.draft, ids, GAMMA, 4, sampling, generator, pair.vocab_tokens)
            counts[out.output_ids[1]] += 1
    likely = expected * runs >= 5
    observed = torch.cat([counts[likely], counts[~likely].sum().view(1)])
    wanted = torch.cat([expected[likely], expected[~likely].sum().view(1)]) * runs
    wanted *= observed.sum() / wanted.sum()
    assert likely.sum() >= 3  # the test has a distribution to check, not one near-certain token
    assert chisquare(observed.numpy(), wanted.numpy()).pvalue > 1e-3, (observed, wanted)


MATRIX = ["qwen2", "mistral", "gemma2"]  # full attention; sliding window on every layer; hybrid sliding/full


@pytest.mark.compile
@pytest.mark.parametrize("family", MATRIX)
def test_matrix_family_compiled_greedy_equals_eager_ar(tmp_path, family):
    """Prompt + output exceed the window, so the sliding layers' masks (over the full static cache) are what
    keeps them exact; rejections (a random draft) and, for Mistral, full acceptances (draft = target) both roll
    back by position."""
    tokenizer = matrix_tokenizer()
    with one_thread():
        target = save_tiny(tmp_path / "t", family, 2, 0, tokenizer)
        draft = save_tiny(tmp_path / "d", family, 1, 1, tokenizer)
        pair = load(target, draft)
        ids = pair.tokenizer("def add(a, b):\n    return a + b\n", return_tensors="pt").input_ids
        compiled.prepare(pair.target, pair.draft, ids, 12, (GAMMA,), GREEDY, pair.vocab_tokens, backend="eager")
        ar = decode_ar(pair.target, ids, 12, GREEDY, _gen(), pair.vocab_tokens).output_ids
        c_ar = compiled.decode_ar(pair.target, ids, 12, GREEDY, _gen(), pair.vocab_tokens).output_ids
        c_sd = compiled.decode_sd(pair.target, pair.draft, ids, GAMMA, 12, GREEDY, _gen(), pair.vocab_tokens)
        # the target as its own draft (a second cache): every round fully accepted, past the window
        same = compiled.decode_sd(pair.target, pair.target, ids, GAMMA, 12, GREEDY, _gen(), pair.vocab_tokens) \
            if family == "mistral" else None
    assert ids.shape[1] + 12 > 8  # past the matrix's window
    assert c_ar == ar and c_sd.output_ids == ar and sum(c_sd.accepted) < sum(c_sd.drafted)
    if same is not None:
        assert same.output_ids == ar and same.accepted == same.drafted
    assert not compiled.compile_report(pair.target, pair.draft).late_compiles


@pytest.mark.parametrize("family", ["qwen3_next", "mamba", "lfm2", "jamba"])
def test_unsupported_cache_kind_is_refused_in_one_line_from_the_config(family):
    config = tiny_config(family, 2, 260, {})
    message = compiled.refuses(config)
    assert message and "\n" not in message and family in message and "use the eager engines" in message


@pytest.mark.parametrize("family", ["llama", "mistral", "gemma2", "gemma3", "qwen3"])
def test_supported_attention_families_are_not_refused(family):
    assert compiled.refuses(tiny_config(family, 2, 260, {})) is None


def test_a_transformers_without_the_tensor_write_position_is_refused_in_one_line(monkeypatch):
    from transformers import cache_utils

    class OldStaticLayer:  # a layer keeping its length as a Python int, as transformers 4.x did
        def __init__(self, max_cache_len, **kwargs):
            self.cumulative_length = 0

    monkeypatch.setattr(cache_utils, "StaticLayer", OldStaticLayer)
    message = compiled.refuses(tiny_config("llama", 2, 260, {}))
    assert message and "\n" not in message and "transformers" in message and "cumulative_length" in message


def test_the_static_cache_internals_hold_on_this_transformers(tmp_path):
    """What the compiled engine relies on, in eager mode (no compile): the write position is one 0-d tensor per
    layer that get_seq_length returns; moving it back drops tokens (the next step's logits equal a dynamic cache
    that never saw them); stale slots past it are never attended to. Fails on a transformers that changed this."""
    from transformers import DynamicCache

    assert missing_internals() is None
    with one_thread():
        pair = load(save_tiny(tmp_path / "t", "qwen2", 2, 0, matrix_tokenizer()),
                    save_tiny(tmp_path / "d", "qwen2", 1, 1, matrix_tokenizer()))
        model = pair.target
        cache = new_static_cache(model, 32)
        assert position(cache) == 0 and cache.get_seq_length() is cache.layers[0].cumulative_length
        name = cache_argument(model)  # the cache keyword this transformers declares (no deprecation warning)
        prompt, wrong, right = torch.tensor([[5, 6, 7, 8]]), torch.tensor([[9, 10, 11]]), torch.tensor([[12, 13]])
        with torch.inference_mode():
            model(input_ids=prompt, **{name: cache}, use_cache=True)
            model(input_ids=wrong, **{name: cache}, use_cache=True)
            rewind(cache, 3)
            assert position(cache) == 4
            static = model(input_ids=right, **{name: cache}, use_cache=True).logits
            dynamic = DynamicCache(config=model.config)
            model(input_ids=prompt, **{name: dynamic}, use_cache=True)
            reference = model(input_ids=right, **{name: dynamic}, use_cache=True).logits
    assert position(cache) == 6
    assert torch.allclose(static, reference, atol=1e-5)


def test_the_matrix_families_named_as_refused_are_the_non_attention_ones():
    """refuses() by cache kind: recurrent and conv families are refused, every attention family is not (apart
    from those listed in NOT_ONE_GRAPH, measured by benchmarks/compiled_architectures.py)."""
    for family, (_, _, kind) in FAMILIES.items():
        refused = compiled.refuses(tiny_config(family, 2, 260, {})) is not None
        expected = kind in ("recurrent", "conv") or family in compiled.NOT_ONE_GRAPH
        assert refused == expected, family
