"""Every command with its defaults, as a new user first types it (a subprocess, stdout a pipe, in an empty folder):
the light ones bare; ``bench`` and ``profile`` with every default that decides whether the run fits kept (prompts,
new tokens, γ, engines, context) and only the counts that just repeat work cut, so the suite stays quick. A command
that needs an argument says so in one line on stderr and exits 2, never a traceback."""

import inspect
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import typer

from specplan.cli import app

REPO = Path(__file__).resolve().parents[2]
NEEDS_AN_ARGUMENT = {"plan": "--target", "report": "RECORDS", "calibrate": "RECORDS"}
RUNS_BARE = {"profiles": "h100-sxm", "models": "Llama"}
# bench / profile: the defaults, less repetition (one prompt; the largest default γ alone; fewer timed samples)
MEASURES = {"bench": ["--num-prompts", "1", "--gamma", "8", "--latency-samples", "2", "--threads", "1"],
            "profile": ["--sizes", "0.3M", "--repeats", "2", "--warmup", "1", "--threads", "1"],
            "acceptance": ["--num-prompts", "2", "--bootstrap", "50"]}


def _specplan(cwd: Path, *args: str, timeout: int = 900):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "specplan", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def _defaults(command) -> dict:
    return {name: p.default for name, p in inspect.signature(command).parameters.items()}


def test_bare_specplan_prints_its_help_once(tmp_path):
    result = _specplan(tmp_path)
    assert result.returncode == 0 and result.stdout.count("Usage") == 1 and not result.stderr


def test_every_listed_command_is_run_here():
    listed = set(typer.main.get_command(app).commands)
    assert listed == {*NEEDS_AN_ARGUMENT, *RUNS_BARE, *MEASURES}


@pytest.mark.parametrize("command", sorted(NEEDS_AN_ARGUMENT))
def test_a_command_that_needs_an_argument_says_so_in_one_line(tmp_path, command):
    result = _specplan(tmp_path, command)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and NEEDS_AN_ARGUMENT[command] in result.stderr
    assert "Traceback" not in result.stderr and not result.stdout
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("command", sorted(RUNS_BARE))
def test_a_listing_command_runs_bare(tmp_path, command):
    result = _specplan(tmp_path, command)
    assert result.returncode == 0, result.stderr
    assert RUNS_BARE[command] in result.stdout and "Traceback" not in result.stderr


def test_the_embedded_pair_fits_every_default_bench_run():
    """Each embedded prompt + the default --max-new-tokens + the largest default γ, and the default latency
    context + the longest timed step, fit the toy target's positions (the check bench's pre-flight makes)."""
    from transformers import AutoConfig, AutoTokenizer

    from specplan.cli.bench import bench
    from specplan.measure.bench.config import BenchConfig, latency_context
    from specplan.measure.loading import default_pair, default_pair_texts

    defaults = _defaults(bench)
    gamma = max(int(g) for g in defaults["gamma"].split(","))
    target = default_pair()[0].location
    positions = AutoConfig.from_pretrained(target).max_position_embeddings
    tokenizer = AutoTokenizer.from_pretrained(target)
    prompts = [json.loads(line)["prompt"] for line in Path(default_pair_texts()[0]).read_text().splitlines()]
    assert len(prompts) >= defaults["num_prompts"]
    longest = max(len(tokenizer(p).input_ids) for p in prompts)
    assert longest + defaults["max_new_tokens"] + gamma <= positions
    assert defaults["latency_context"] is None  # plan's default context, cut to the target's positions:
    config, note = latency_context(BenchConfig(*default_pair()), positions)
    assert config.latency_context_tokens + gamma + 1 == positions and "cut to the target's 256 positions" in note[0]


def test_bench_with_its_defaults_on_the_embedded_pair(tmp_path):
    pytest.importorskip("torch")
    result = _specplan(tmp_path, "bench", *MEASURES["bench"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Exactness" in result.stdout and "Traceback" not in result.stderr
    assert "FutureWarning" not in result.stderr and "is deprecated" not in result.stderr  # transformers' own calls


def test_profile_with_its_defaults(tmp_path):
    pytest.importorskip("torch")
    result = _specplan(tmp_path, "profile", *MEASURES["profile"])
    assert result.returncode == 0, result.stderr[-3000:]
    written = list(tmp_path.glob("*.yaml"))
    assert len(written) == 1 and f"wrote {written[0].name}" in result.stderr
    assert "FutureWarning" not in result.stderr and "is deprecated" not in result.stderr


def test_acceptance_with_its_defaults_on_the_embedded_pair(tmp_path):
    pytest.importorskip("torch")
    result = _specplan(tmp_path, "acceptance", *MEASURES["acceptance"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "lossless" in result.stdout and "Traceback" not in result.stderr
    assert "FutureWarning" not in result.stderr and "is deprecated" not in result.stderr
