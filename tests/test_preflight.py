"""``bench`` pre-flight: what the configs and checkpoints can be told from before (or while) weights load, each
refusal one line on stderr and exit 2: not a causal LM, a run longer than the model's positions, a checkpoint
without the model's weights. And ``profile``'s ladder: a valid attention shape at every size."""

import shutil

import pytest
from typer.testing import CliRunner

from bench_fixtures import one_thread, tiny_folders
from specplan.cli import app

torch = pytest.importorskip("torch")


def _bench(*args):
    with one_thread():
        return CliRunner().invoke(app, ["bench", "--device", "cpu", "--num-prompts", "1", "--gamma", "2",
                                        "--max-new-tokens", "4", "--latency-samples", "2", "--latency-context", "8",
                                        *args])


def _one_line_refusal(result, *phrases):
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert "\n" not in message and "Traceback" not in message
    for phrase in phrases:
        assert phrase in message, message


def _config_folder(tmp_path, config):
    folder = tmp_path / config.model_type
    config.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("config_class, words", [("BertConfig", "an encoder model"),
                                                 ("T5Config", "an encoder-decoder model")])
def test_a_draft_that_is_not_a_causal_lm_is_refused_before_loading(tmp_path, config_class, words):
    import transformers

    folder = _config_folder(tmp_path, getattr(transformers, config_class)())
    _one_line_refusal(_bench("--target", tiny_folders()["target"], "--draft", folder), "--draft", words,
                      "decoder-only causal LM")


def test_a_run_longer_than_the_positions_is_refused_saying_by_how_much():
    folders = tiny_folders()  # max_position_embeddings 1024
    result = _bench("--target", folders["target"], "--draft", folders["draft"], "--max-new-tokens", "1100")
    _one_line_refusal(result, "+ --max-new-tokens 1100 + γ 2", "max_position_embeddings (1024) by ")
    over = int(result.output.split(" by ")[1].split(";")[0])
    assert over > 1100 + 2 - 1024  # the prompt's tokens count too
    _one_line_refusal(_bench("--target", folders["target"], "--draft", folders["draft"], "--latency-context",
                             "1030"), "--latency-context 1030 + the longest timed step (3 tokens)", "by 9")


def test_a_checkpoint_without_the_model_weights_is_refused(tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "empty-weights"
    shutil.copytree(tiny_folders()["draft"], folder)
    (folder / "model.safetensors").unlink()
    save_file({"unrelated.weight": torch.zeros(2, 2)}, str(folder / "model.safetensors"))
    _one_line_refusal(_bench("--target", tiny_folders()["target"], "--draft", str(folder)),
                      "--draft", "holds 0 of the model's", "would be random")


@pytest.mark.parametrize("size", [2e6, 8e6, 20e6, 32e6, 80e6, 100e6, 300e6, 400e6, 1.2e9, 1.6e9, 5e9, 20e9, 80e9])
def test_every_ladder_size_has_a_valid_attention_shape(size):
    """The default ladder, the README's examples and the sizes between: KV heads divide query heads, head dim 64,
    and a one-layer model of the shape runs a forward pass (on the meta device: shapes only, nothing timed)."""
    from transformers import AutoModelForCausalLM

    from specplan.measure.latency_profile import LADDER_PARAMS
    from specplan.measure.random_models import ladder_config

    assert set(LADDER_PARAMS) <= {2e6, 8e6, 20e6, 32e6, 80e6, 100e6, 300e6, 400e6, 1.2e9, 1.6e9, 5e9, 20e9, 80e9}
    config = ladder_config(size)
    assert config.num_attention_heads % config.num_key_value_heads == 0
    assert config.num_attention_heads * config.head_dim == config.hidden_size and config.head_dim == 64
    config.num_hidden_layers = 1
    with torch.device("meta"):
        logits = AutoModelForCausalLM.from_config(config)(input_ids=torch.zeros(1, 3, dtype=torch.long)).logits
    assert logits.shape == (1, 3, config.vocab_size)


def test_kv_heads_are_the_nearest_divisor():
    from specplan.measure.random_models import kv_heads_for

    assert [kv_heads_for(h) for h in (8, 13, 16, 21, 32, 64)] == [1, 1, 2, 3, 4, 8]
