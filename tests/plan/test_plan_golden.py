"""`specplan plan --json` for a dozen varied inputs stays what it was: each case's output is kept in
tests/golden/plan/<case>.json and compared value by value (floats to 1e-9 relative).

The profiles are frozen copies in tests/golden/plan/ (bundled profiles' figures may be revised; the plan's
arithmetic must not move with them). Regenerate on purpose with SPECPLAN_REGEN_GOLDEN=1 and say why.
"""

import json
import math
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from specplan.cli import app

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "plan"
H100, A100, MEASURED = (str(GOLDEN / name) for name in ("h100-sxm.yaml", "a100-80gb-sxm.yaml", "measured-h200.yaml"))
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"

CASES = {
    "size_70b": ["--target-params", "70B", "--profile", H100],
    "size_8b_batch64": ["--target-params", "8B", "--batch-size", "64", "--profile", H100],
    "size_70b_flops": ["--target-params", "70B", "--cost-model", "flops"],
    "size_13b_request": ["--target-params", "13B", "--prompt-tokens", "2000", "--new-tokens", "200",
                         "--profile", H100],
    "size_7b_measured": ["--target-params", "7B", "--profile", MEASURED],
    "size_7b_alpha": ["--target-params", "7B", "--draft-params", "100M", "--draft-params", "500M",
                      "--alpha", "0.6", "--alpha", "0.7", "--profile", H100],
    "llama70b": ["--target", LLAMA_70B, "--profile", H100],
    "llama70b_a100_tp8": ["--target", LLAMA_70B, "--profile", A100, "--tensor-parallel", "8"],
    "llama70b_batch2048": ["--target", LLAMA_70B, "--profile", H100, "--batch-size", "2048"],
    "llama70b_drafts": ["--target", LLAMA_70B, "--profile", H100, "--draft", "Qwen/Qwen2.5-0.5B-Instruct",
                        "--draft", "meta-llama/Llama-3.2-3B-Instruct", "--draft-tensor-parallel", "2",
                        "--context-tokens", "4096"],
    "qwen3_moe": ["--target", "Qwen/Qwen3-30B-A3B", "--profile", H100],
    "emit_vllm": ["--target", LLAMA_70B, "--profile", H100, "--emit", "vllm", "--batch-size", "8"],
    "emit_sglang": ["--target", LLAMA_70B, "--profile", H100, "--emit", "sglang"],
    "emit_trtllm": ["--target", LLAMA_70B, "--profile", H100, "--emit", "trtllm"],
    "emit_llamacpp": ["--target", LLAMA_70B, "--profile", H100, "--emit", "llamacpp"],
    "emit_hf": ["--target", "meta-llama/Llama-3.1-8B-Instruct", "--profile", H100, "--emit", "hf"],
}


def plan_json(args: list) -> dict:
    result = CliRunner().invoke(app, ["plan", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def relative(data, root: str):
    """Paths of the frozen profiles written relative to the golden folder (the checkout's location varies)."""
    if isinstance(data, dict):
        return {k: relative(v, root) for k, v in data.items()}
    if isinstance(data, list):
        return [relative(v, root) for v in data]
    return data.replace(root, "<golden>") if isinstance(data, str) else data


def assert_same(got, want, where="$"):
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), f"{where}: keys {sorted(got)} vs {sorted(want)}"
        for key in want:
            assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(got, bool) and isinstance(got, (int, float)):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-300), f"{where}: {got!r} vs {want!r}"
    else:
        assert got == want, f"{where}: {got!r} vs {want!r}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_json_matches_golden(case, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    got = relative(plan_json(CASES[case]), str(GOLDEN))
    path = GOLDEN / f"{case}.json"
    if os.environ.get("SPECPLAN_REGEN_GOLDEN"):
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert_same(got, json.loads(path.read_text(encoding="utf-8")))
