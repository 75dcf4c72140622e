"""``bench`` pre-flight: what the configs and checkpoints can be told from before (or while) weights load, each
refusal one line on stderr and exit 2: not a causal LM, a run longer than the model's positions, a checkpoint
without the model's weights."""

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
                             "1030"), "--context-tokens 1030 + the longest timed step (3 tokens)", "by 9")


def test_a_checkpoint_without_the_model_weights_is_refused(tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "empty-weights"
    shutil.copytree(tiny_folders()["draft"], folder)
    (folder / "model.safetensors").unlink()
    save_file({"unrelated.weight": torch.zeros(2, 2)}, str(folder / "model.safetensors"))
    _one_line_refusal(_bench("--target", tiny_folders()["target"], "--draft", str(folder)),
                      "--draft", "holds 0 of the model's", "would be random")


def test_profile_refuses_a_model_that_is_not_a_causal_lm(tmp_path):
    from transformers import BertConfig

    folder = _config_folder(tmp_path, BertConfig())
    result = CliRunner().invoke(app, ["profile", "--model", folder, "--device", "cpu", "-o", str(tmp_path / "p.yaml")])
    _one_line_refusal(result, "--model", "is a bert model, an encoder model")
