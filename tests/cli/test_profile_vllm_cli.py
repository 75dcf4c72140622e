"""`specplan profile --engine vllm`: bad values are one line and exit 2, before vLLM or any model starts (the run
itself: tests/measure/test_profile_vllm.py, with vLLM)."""

import importlib.util

import pytest
from typer.testing import CliRunner

from specplan.cli import app

pytest.importorskip("torch")
pytest.importorskip("transformers")

V = ["profile", "--engine", "vllm", "--device", "cpu"]
CASES = [
    (["profile", "--engine", "tensorrt"], "--engine 'tensorrt'"),
    (["profile", "--batch-sizes", "1,2", "--device", "cpu"], "--batch-sizes '1,2' goes with --engine vllm"),
    ([*V, "--batch-sizes", "0"], "--batch-sizes entry '0'"),
    ([*V, "--batch-sizes", "2,x"], "--batch-sizes entry 'x'"),
    ([*V, "--batch-sizes", ","], "--batch-sizes ','"),
    ([*V, "--max-tokens", "1"], "--max-tokens 1"),
    ([*V, "--repeats", "0"], "--repeats 0"),
    ([*V, "--sizes", "1M,zz"], "zz"),
]


def _one_line_error(args: list) -> str:
    result = CliRunner().invoke(app, args)
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("[")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("args,needle", CASES, ids=[" ".join(c[0][1:])[-50:] for c in CASES])
def test_bad_value_is_one_line_and_exit_2(args, needle):
    assert needle in _one_line_error(args)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_without_vllm_one_line_with_the_install_hint(tmp_path):
    line = _one_line_error([*V, "--sizes", "0.3M,1M", "-o", str(tmp_path / "p.yaml")])
    assert "--engine vllm needs vLLM" in line and "pip install" in line
    assert not (tmp_path / "p.yaml").exists()


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM installed")
def test_one_size_is_refused_before_any_engine_starts(tmp_path):
    line = _one_line_error([*V, "--sizes", "1M", "-o", str(tmp_path / "p.yaml")])
    assert "two or more model sizes" in line
