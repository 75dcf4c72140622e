"""Tiny seeded random-initialised LLaMA models and a byte-level tokenizer, saved as real model folders so tests
load them through the same path users take (``specplan.measure.loading``). No hub, no network."""

import atexit
import contextlib
import functools
import shutil
import tempfile
from pathlib import Path

import pytest

BYTE_SPECIALS = ("<s>", "</s>", "<pad>")


def byte_tokenizer(extra_tokens: tuple = ()):
    """A byte-level tokenizer: the 256 byte symbols, no merges, then <s> </s> <pad> (+ ``extra_tokens``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet + list(extra_tokens))}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def save_tiny_llama(folder: Path, seed: int, hidden: int = 64, layers: int = 2, vocab_rows: int | None = None,
                    tokenizer=None, heads: int = 4) -> Path:
    """A random LLaMA (seeded) and its tokenizer saved with save_pretrained (safetensors) into ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tokenizer or byte_tokenizer()
    config = LlamaConfig(vocab_size=vocab_rows or len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=2,
                         max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # larger logits than the default init, so argmax near-ties are rare
        model.lm_head.weight.mul_(20.0)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@functools.lru_cache(maxsize=None)
def tiny_folders() -> dict:
    """Model folders shared by the bench tests (built once per test process, removed at exit): a target, a
    random draft, and a draft whose tokenizer has two extra tokens (a real mismatch)."""
    root = Path(tempfile.mkdtemp(prefix="specplan-bench-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return {
        "target": str(save_tiny_llama(root / "target", seed=0, hidden=64, layers=2)),
        "draft": str(save_tiny_llama(root / "draft", seed=1, hidden=32, layers=1)),
        "other_tokenizer": str(save_tiny_llama(root / "other", seed=2, hidden=32, layers=1,
                                               tokenizer=byte_tokenizer(extra_tokens=("<a>", "<b>")))),
    }


@functools.lru_cache(maxsize=None)
def vllm_folders() -> dict:
    """A tiny random target and draft that vLLM's CPU attention accepts (head size 32, its smallest)."""
    root = Path(tempfile.mkdtemp(prefix="specplan-vllm-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return {"target": str(save_tiny_llama(root / "target", seed=0, hidden=128, layers=2, heads=4)),
            "draft": str(save_tiny_llama(root / "draft", seed=1, hidden=64, layers=1, heads=2))}


def load(target: str, draft: str):
    """The pair through the user's path (``specplan.measure.loading.load_pair``), on the CPU in fp32."""
    from specplan.measure.loading import load_pair, model_source

    return load_pair(model_source("--target", target), model_source("--draft", draft), "cpu", "fp32")


@contextlib.contextmanager
def one_thread():
    """Tiny models gain nothing from threads, and the test machine is shared: one torch thread, restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def invoke(args: list):
    """``specplan ARGS`` in-process, one torch thread."""
    from typer.testing import CliRunner

    from specplan.cli import app

    with one_thread():
        return CliRunner().invoke(app, args)


def cli_text(result) -> str:
    """stdout and stderr once each (click 8.5's CliRunner already mixes stderr into ``output``)."""
    try:
        stderr = result.stderr
    except ValueError:  # older click: stderr not captured separately
        stderr = ""
    return result.output if stderr in result.output else result.output + stderr


@pytest.fixture(scope="session")
def vllm_required() -> None:
    """vLLM's offline engine, or skip the test: a user's test run without vLLM still passes. Not in CI (CI set),
    where .ci/run's second environment installs vLLM's CPU build and selects these tests (``-m vllm``): there a
    missing or broken vLLM fails them. A fixture, not a module-level check, so that collecting the marked modules
    where they are deselected (the main run, ``-m "not vllm"``) neither skips nor fails. Session-scoped, so it runs
    before the modules' own engine fixtures."""
    import os

    try:
        from vllm import LLM  # noqa: F401  (plain `import vllm` is lazy and hides a broken install)
    except Exception as exc:  # ImportError, or torchvision's operator error from a mismatched build
        if os.environ.get("CI"):
            raise
        pytest.skip(f"vLLM is not usable here ({type(exc).__name__}); install it as .ci/run does")
