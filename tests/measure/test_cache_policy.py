"""The cache policy (specplan.measure.engines.cache) and the one step timer (specplan.measure.timing.StepTimer):
a timed step leaves the cache exactly as it found it, for every cache kind of the architecture matrix."""

import pytest

from architectures import FAMILIES, WINDOW, matrix_tokenizer, tiny_config
from bench_fixtures import one_thread

torch = pytest.importorskip("torch")
SLIDING = [f for f, (_, _, kind) in FAMILIES.items() if kind in ("sliding", "hybrid sliding", "chunked")]


def _model(family: str, layers: int = 2):
    from transformers import AutoModelForCausalLM

    tokenizer = matrix_tokenizer()
    special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
               "pad_token_id": tokenizer.pad_token_id}
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(tiny_config(family, layers, len(tokenizer), special)).eval(), \
        len(tokenizer)


def _ids(vocab: int, n: int):
    return torch.randint(vocab, (1, n), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_timed_step_leaves_the_cache_as_it_found_it(family):
    """After steps of 4, 1, 3 tokens past a context longer than the window, the next token's logits equal those
    of a fresh cache prefilled with the same context."""
    from specplan.measure.engines.cache import new_cache
    from specplan.measure.engines.step import forward
    from specplan.measure.timing import StepTimer

    with one_thread():
        model, vocab = _model(family)
        context, steps = _ids(vocab, 3 * WINDOW), _ids(vocab, 4)
        timer = StepTimer(model, context, steps, "cpu", vocab)
        for k in (4, 1, 3):
            assert timer.time(k) > 0
        after = forward(model, steps[:, :1], timer.cache, 1, vocab)
        fresh_cache = new_cache(model)
        forward(model, context, fresh_cache, 1, vocab)
        fresh = forward(model, steps[:, :1], fresh_cache, 1, vocab)
    torch.testing.assert_close(after, fresh, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", SLIDING)
def test_sliding_layers_roll_back_past_the_window_only_with_the_policy(family):
    """A plain DynamicCache cannot drop entries once its sliding layers pass the window (transformers raises);
    the policy's cache can, and ends with the window's entries."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicSlidingWindowLayer

    from specplan.measure.engines.cache import drop_last, new_cache
    from specplan.measure.engines.step import forward

    with one_thread():
        model, vocab = _model(family)
        plain, policy = DynamicCache(config=model.config), new_cache(model)
        assert any(isinstance(layer, DynamicSlidingWindowLayer) for layer in policy.layers)
        for cache in (plain, policy):
            forward(model, _ids(vocab, 2 * WINDOW), cache, 1, vocab)
        with pytest.raises(RuntimeError, match="sliding window"):
            plain.crop(-2)
        drop_last(policy, 2)
    assert policy.get_seq_length() == 2 * WINDOW - 2
    sliding = [layer for layer in policy.layers if isinstance(layer, DynamicSlidingWindowLayer)]
    assert all(layer.keys.shape[-2] == WINDOW - 1 for layer in sliding)  # trimmed back to the window


@pytest.mark.parametrize("family", ["qwen3_next", "mamba2"])
def test_recurrent_rollback_replays_from_the_committed_state(family):
    """drop_last on a recurrent cache gives the state of the kept prefix (equal to a cache that never saw the
    dropped tokens); cropping key/value entries alone would leave the state advanced (the guard)."""
    from specplan.measure.engines.cache import _drop_entries, drop_last, new_cache
    from specplan.measure.engines.step import forward

    with one_thread():
        model, vocab = _model(family)
        context, step = _ids(vocab, 12), _ids(vocab, 4)
        results = {}
        for name, rollback in (("policy", drop_last), ("entries only", _drop_entries), ("reference", None)):
            cache = new_cache(model)
            forward(model, context, cache, 1, vocab)
            if rollback is None:
                forward(model, step[:, :1], cache, 1, vocab)  # only the kept token
            else:
                forward(model, step, cache, 4, vocab)
                rollback(cache, 3)
            results[name] = forward(model, step[:, 1:2], cache, 1, vocab)
    torch.testing.assert_close(results["policy"], results["reference"], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(results["entries only"], results["reference"], atol=1e-4)


def test_check_rollback_names_the_architecture():
    from specplan.errors import SpecplanError
    from specplan.measure.engines.cache import check_rollback

    config = _model("qwen3_next")[0].config
    with pytest.raises(SpecplanError, match="qwen3_next model .*linear_attention: transformers' assisted .*ar,sd"):
        check_rollback(config, "target", "hf")
    check_rollback(config, "target", "sd")  # replayed: no error
    with pytest.raises(SpecplanError, match="mamba model .*several tokens"):
        check_rollback(_model("mamba")[0].config, "draft", "sd")
    check_rollback(_model("mistral")[0].config, "target", "hf")  # sliding windows roll back: no error


# Cache layer types specplan's sd refuses in pre-flight (check_rollback), as opposed to types it does not know yet.
REFUSED_LAYER_TYPES = {"hybrid_sliding", "indexed_attention"}


def test_every_cache_layer_type_of_this_transformers_is_known():
    """A transformers upgrade that adds a cache layer type fails here, not as a refusal of some user's model: each
    type is rolled back (ROLLBACK_LAYER_TYPES) or refused on purpose."""
    from transformers.cache_utils import DYNAMIC_LAYER_TYPE_MAPPING

    from specplan.measure.engines.cache import ROLLBACK_LAYER_TYPES

    assert set(DYNAMIC_LAYER_TYPE_MAPPING) - REFUSED_LAYER_TYPES <= set(ROLLBACK_LAYER_TYPES)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_model_fills_the_cache_it_is_given_under_the_name_its_forward_declares(family):
    """The cache goes in under a name the forward declares (a name it does not, e.g. ``past_key_values`` for a
    transformers 5.24 Mamba, vanishes into ``**kwargs`` and the model decodes without its context), without a
    deprecated alias's FutureWarning, and comes back as the very object given."""
    import inspect
    import warnings

    from specplan.measure.engines.cache import new_cache
    from specplan.measure.engines.step import cache_argument

    model, vocab = _model(family)
    name = cache_argument(model)
    assert name in inspect.signature(type(model).forward).parameters
    cache = new_cache(model)
    with one_thread(), warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("error", FutureWarning)
        out = model(input_ids=_ids(vocab, 5), **{name: cache}, use_cache=True, logits_to_keep=1)
    assert any(value is cache for value in out.values())
