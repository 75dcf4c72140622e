"""Broken model folders for the hardening tests, built once per test process from the tiny models of
tests/bench_fixtures.py: truncated and garbage safetensors, a pickle checkpoint, a tokenizer without EOS,
an unreadable config.json and an encoder-decoder architecture."""

import atexit
import functools
import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path

from bench_fixtures import byte_tokenizer, save_tiny_llama, tiny_folders


class RunsCommand:
    """A pickle payload that runs a shell command when loaded by an unrestricted unpickler."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@functools.lru_cache(maxsize=None)
def bad_model_folders() -> str:
    import torch
    from safetensors.torch import load_file

    root = Path(tempfile.mkdtemp(prefix="specplan-bad-models-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    good = Path(tiny_folders()["target"])
    shutil.copytree(tiny_folders()["draft"], root / "draft")
    for name in ("truncated", "garbage", "pickle", "brokenconfig"):
        shutil.copytree(good, root / name)
    weights = (good / "model.safetensors").read_bytes()
    (root / "truncated" / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    (root / "garbage" / "model.safetensors").write_bytes(b"\x00garbage" * 1000)
    torch.save(load_file(good / "model.safetensors"), root / "pickle" / "pytorch_model.bin")
    (root / "pickle" / "model.safetensors").unlink()
    shutil.copytree(root / "pickle", root / "evilpickle")
    with (root / "evilpickle" / "pytorch_model.bin").open("wb") as file:  # unpickling it would run a command
        pickle.dump(RunsCommand(f"touch {root / 'PWNED'}"), file)
    (root / "brokenconfig" / "config.json").write_text("{not json")
    for name, special in (("noeos", "eos_token"), ("nopad", "pad_token")):
        tokenizer = byte_tokenizer()
        setattr(tokenizer, special, None)
        save_tiny_llama(root / name, seed=3, hidden=32, layers=1, tokenizer=tokenizer)
    config = json.loads((good / "config.json").read_text())
    (root / "encdec").mkdir()
    (root / "encdec" / "config.json").write_text(json.dumps(
        {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "vocab_size": 259, "d_model": 32,
         "d_ff": 64, "num_layers": 1, "num_heads": 2, "d_kv": 16, "is_encoder_decoder": True,
         "torch_dtype": config.get("torch_dtype", "float32")}))
    return str(root)
