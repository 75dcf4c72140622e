"""The toy-model training library (specplan/measure/toy_training.py) and the shipped embedded pair (specplan/assets/toy-*)."""

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from specplan.measure import toy_training
from specplan.measure.random_models import count_params

ASSETS = Path(str(resources.files("specplan") / "assets"))
TEXT = "def f(x):\n    return x * 2  # é, 日本語, emoji 🐍, tab\t, NUL \x00 and DEL \x7f\n"


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the CI machine is shared
    yield
    torch.set_num_threads(before)


def tiny_corpus() -> np.ndarray:
    """A few KB of this package's own source, as bytes: real text, small enough for seconds of toy_training."""
    source = b"".join(p.read_bytes() for p in sorted(Path(toy_training.__file__).parent.glob("*.py"))[:4])
    return np.frombuffer(source[:20_000], dtype=np.uint8).astype(np.uint16)


def tiny_model(seed: int = 0, params: float = 60e3):
    return toy_training.build_model(toy_training.ModelSpec("tiny", params), max_positions=128, seed=seed)


# ---------------------------------------------------------------- tokenizer and corpus


def test_tokenizer_ids_are_bytes_and_round_trip(tmp_path):
    from transformers import AutoTokenizer

    tokenizer = toy_training.build_tokenizer()
    ids = tokenizer.encode(TEXT)
    assert ids == toy_training.encode_bytes(TEXT) == list(TEXT.encode("utf-8"))
    assert tokenizer.decode(ids) == TEXT
    assert len(tokenizer) == toy_training.VOCAB_SIZE and tokenizer.eos_token_id == toy_training.EOS_ID
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded.encode(TEXT) == ids and reloaded.decode(ids) == TEXT


def test_corpus_split_is_by_file_and_deterministic(tmp_path):
    for i in range(40):
        (tmp_path / f"m{i}.py").write_text(f"x = {i}\n")
    (tmp_path / "site-packages").mkdir()
    (tmp_path / "site-packages" / "pkg.py").write_text("installed = True\n")
    corpus = toy_training.load_corpus(tmp_path, heldout_fraction=0.25)
    assert corpus.train_files + corpus.heldout_files == 40  # site-packages excluded
    held = {f"m{i}.py" for i in range(40) if toy_training.is_heldout(f"m{i}.py", 0.25)}
    assert len(held) == corpus.heldout_files and 0 < len(held) < 40
    assert bytes(corpus.heldout_ids[corpus.heldout_ids < 256].astype(np.uint8)).count(b"x = ") == len(held)
    again = toy_training.load_corpus(tmp_path, heldout_fraction=0.25)
    assert np.array_equal(corpus.heldout_ids, again.heldout_ids)
    assert np.array_equal(corpus.train_ids, again.train_ids)


def test_data_order_is_a_function_of_seed_and_step():
    settings = toy_training.TrainSettings(steps=10, batch_size=4, seq_tokens=16, seed=3)
    assert np.array_equal(toy_training.batch_starts(1000, settings, 5), toy_training.batch_starts(1000, settings, 5))
    assert not np.array_equal(toy_training.batch_starts(1000, settings, 5), toy_training.batch_starts(1000, settings, 6))


def test_model_follows_the_shape_rule():
    from specplan.plan.shapes import shape_for_params

    model = toy_training.build_model(toy_training.ModelSpec("m", 1e6), max_positions=64, seed=0)
    shape = shape_for_params(1e6)
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (shape.layers, shape.width)
    assert 0.7e6 < count_params(model) < 1.3e6


# ---------------------------------------------------------------- training and distillation


def test_a_few_steps_reduce_the_loss():
    ids = tiny_corpus()
    model = tiny_model()
    before = toy_training.perplexity(model, ids, seq_tokens=32, max_windows=16)
    settings = toy_training.TrainSettings(steps=40, batch_size=8, seq_tokens=32, lr=3e-3, warmup_steps=5)
    log = toy_training.train(model, ids, settings, log_every=10)
    after = toy_training.perplexity(model, ids, seq_tokens=32, max_windows=16)
    assert after < 0.5 * before  # random init ≈ 257; a few steps learn the byte frequencies at least
    assert log.losses[-1][1][0] < log.losses[0][1][0]


def test_distillation_moves_the_draft_towards_the_teacher():
    ids = tiny_corpus()
    teacher = tiny_model(seed=1, params=120e3)
    toy_training.train(teacher, ids, toy_training.TrainSettings(steps=30, batch_size=8, seq_tokens=32, lr=3e-3,
                                                        warmup_steps=5))
    draft = tiny_model(seed=2)
    before = toy_training.greedy_agreement(teacher, draft, ids, seq_tokens=32, max_windows=8)
    settings = toy_training.TrainSettings(steps=30, batch_size=8, seq_tokens=32, lr=3e-3, warmup_steps=5, kd_weight=1.0)
    toy_training.train(draft, ids, settings, teacher=teacher)
    after = toy_training.greedy_agreement(teacher, draft, ids, seq_tokens=32, max_windows=8)
    assert after > before + 0.2


def test_float16_storage_loads_as_float32_with_the_same_perplexity(tmp_path):
    import torch

    ids = tiny_corpus()
    model = tiny_model()
    toy_training.train(model, ids, toy_training.TrainSettings(steps=10, batch_size=4, seq_tokens=32, warmup_steps=2))
    toy_training.save_model(model, toy_training.build_tokenizer(), tmp_path, storage_dtype="float16")
    reloaded = toy_training.load_model(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "float32"
    from safetensors import safe_open

    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        assert f.get_tensor(next(iter(f.keys()))).dtype == torch.float16
    assert next(reloaded.parameters()).dtype == torch.float32
    ppl, ppl_reloaded = (toy_training.perplexity(m, ids, 32, 8) for m in (model, reloaded))
    assert ppl_reloaded == pytest.approx(ppl, rel=0.01)


# ---------------------------------------------------------------- the shipped pair


shipped = pytest.mark.skipif(not (ASSETS / "toy-pair.json").is_file(), reason="embedded pair not shipped yet")


@shipped
def test_shipped_pair_has_documented_sizes_and_fits_the_budget():
    info = json.loads((ASSETS / "toy-pair.json").read_text())
    total_bytes = sum(p.stat().st_size for folder in ("toy-target", "toy-draft") for p in (ASSETS / folder).iterdir())
    assert total_bytes <= 25e6
    for role in ("target", "draft"):
        folder = ASSETS / f"toy-{role}"
        model = toy_training.load_model(folder)
        documented = info["models"][info["shipped"][role]]
        assert count_params(model) == documented["params"]
        assert model.config.num_hidden_layers == documented["layers"]
        assert json.loads((folder / "config.json").read_text())["dtype"] == "float32"
    target_params = info["models"][info["shipped"]["target"]]["params"]
    draft_params = info["models"][info["shipped"]["draft"]]["params"]
    assert target_params > 8e6 and draft_params < target_params / 5


@shipped
def test_shipped_pair_shares_the_byte_tokenizer_and_predicts_python():
    from transformers import AutoTokenizer

    target_tok, draft_tok = (AutoTokenizer.from_pretrained(ASSETS / f"toy-{r}") for r in ("target", "draft"))
    assert target_tok.get_vocab() == draft_tok.get_vocab()
    assert target_tok.encode(TEXT) == toy_training.encode_bytes(TEXT)
    target = toy_training.load_model(ASSETS / "toy-target")
    code = np.array(toy_training.encode_bytes("import os\nimport sys\n\n\ndef main():\n    return 0\n" * 6), np.uint16)
    assert toy_training.perplexity(target, code, seq_tokens=64, max_windows=4) < 4.0  # random init ≈ 257


@shipped
def test_shipped_draft_agrees_with_the_target_far_more_than_a_random_draft():
    """Teacher-forced greedy agreement on held-out code (a proxy of greedy α; bench measures the real one)."""
    from transformers import AutoConfig, LlamaForCausalLM
    import torch

    snippet = Path(toy_training.__file__).read_text()[:3000]  # our own source: never in the stdlib training set
    ids = np.array(toy_training.encode_bytes(snippet), dtype=np.uint16)
    target, draft = (toy_training.load_model(ASSETS / f"toy-{r}") for r in ("target", "draft"))
    torch.manual_seed(0)
    random_draft = LlamaForCausalLM(AutoConfig.from_pretrained(ASSETS / "toy-draft")).float().eval()
    trained = toy_training.greedy_agreement(target, draft, ids, seq_tokens=128, max_windows=8)
    random = toy_training.greedy_agreement(target, random_draft, ids, seq_tokens=128, max_windows=8)
    assert trained > 0.6 and random < 0.1, (trained, random)
