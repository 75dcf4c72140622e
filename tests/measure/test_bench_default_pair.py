"""`specplan bench` with no --target/--draft runs the embedded trained pair: exact and well above a random pair."""

import json
import shutil
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from specplan.report import metrics
from specplan.cli import app

ASSETS = Path(str(resources.files("specplan") / "assets"))
pytestmark = pytest.mark.skipif(not (ASSETS / "toy-target" / "config.json").is_file(),
                                reason="embedded pair not shipped")
ARGS = ["--engines", "ar,sd", "--gamma", "4", "--num-prompts", "3", "--max-new-tokens", "32", "--threads", "1",
        "--latency-samples", "2"]


def _bench(tmp_path, name, *extra):
    output = tmp_path / f"{name}.jsonl"
    result = CliRunner().invoke(app, ["bench", *ARGS, "--output", str(output), *extra])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in output.read_text().splitlines()]


def _alpha(records):
    sd = [r for r in records if r["kind"] == "run" and r["engine"] == "sd"]
    drafted = [k for r in sd for k in r["rounds"]["drafted"]]
    accepted = [j for r in sd for j in r["rounds"]["accepted"]]
    return sd, metrics.alpha_iid(drafted, accepted)


def _random_copy(source: Path, folder: Path, seed: int) -> Path:
    """The same architecture and tokenizer with freshly initialised weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    shutil.copytree(source, folder)
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder)).save_pretrained(folder)
    return folder


def test_embedded_pair_is_exact_and_accepts_far_more_than_a_random_pair(tmp_path):
    records = _bench(tmp_path, "embedded")
    sd, alpha = _alpha(records)
    assert sd and all(r["exact"] for r in sd)  # greedy SD output equals the target's on every prompt
    assert sd[0]["pair"] == {"target": "specplan/toy-target", "draft": "specplan/toy-draft"}
    assert sd[0]["settings"]["prompts"].endswith("toy-prompts.jsonl")  # held-out Python, what the pair knows
    assert alpha > 0.6

    target = _random_copy(ASSETS / "toy-target", tmp_path / "random-target", seed=1)
    draft = _random_copy(ASSETS / "toy-draft", tmp_path / "random-draft", seed=2)
    random_records = _bench(tmp_path, "random", "--target", str(target), "--draft", str(draft),
                            "--prompts", str(ASSETS / "toy-prompts.jsonl"))
    random_sd, random_alpha = _alpha(random_records)
    assert all(r["exact"] for r in random_sd)
    assert random_alpha < 0.2 < alpha - 0.4
