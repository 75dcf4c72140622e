"""``bench`` gives the same records for the same inputs: the embedded pair (greedy, every transformers engine,
perplexity) and a tiny random pair (sampled, so the seeds matter) against records saved under tests/golden/.

Timings, timestamps, run ids and the environment are left out of the comparison; paths are reduced to their
file names (the golden files were written from another checkout). Floats are compared to 6 significant digits.
Regenerate with ``SPECPLAN_WRITE_GOLDEN=1 pytest tests/measure/test_bench_golden.py`` after a deliberate change.
"""

import json
import os
from pathlib import Path

import pytest

from bench_fixtures import cli_text, invoke, tiny_folders
from specplan.records import read_records

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
TIMING_FIELDS = {"created", "run_id", "environment", "wall_time_s", "round_times", "median_s", "p10_s", "p90_s"}
PATH_SETTINGS = ("prompts", "perplexity_text")
COMMON = ["--gamma", "1,2", "--num-prompts", "2", "--max-new-tokens", "16", "--latency-samples", "3",
          "--threads", "1"]
CASES = {
    "bench_embedded": ["--engines", "ar,sd,hf", "--perplexity", *COMMON],
    "bench_tiny_sampled": ["--engines", "ar,sd,hf", "--temperature", "0.9", "--top-p", "0.95", "--seed", "7",
                           "--latency-context", "16", *COMMON],
}


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def comparable(record: dict) -> dict:
    """A record without what changes from run to run (times, ids, machine), paths by file name."""
    out = {k: v for k, v in record.items() if k not in TIMING_FIELDS}
    settings = dict(out["settings"])
    for key in PATH_SETTINGS:
        if isinstance(settings.get(key), str) and settings[key] != "builtin":
            settings[key] = Path(settings[key]).name
    out["settings"] = settings
    out["pair"] = {role: Path(name).name for role, name in out["pair"].items()}
    if out.get("kind") == "perplexity" and out.get("text") != "builtin":  # the held-out text's path, by file name
        out["text"] = Path(out["text"]).name
    return _rounded(out)


def _bench(name: str, output: Path) -> list:
    pair = [] if name == "bench_embedded" else ["--target", tiny_folders()["target"],
                                                "--draft", tiny_folders()["draft"]]
    result = invoke(["bench", *pair, *CASES[name], "--output", str(output)])
    assert result.exit_code == 0, cli_text(result)
    return [comparable(r) for r in read_records([output]).records]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bench_records_match_the_golden_file(name, tmp_path):
    records = _bench(name, tmp_path / f"{name}.jsonl")
    golden = GOLDEN / f"{name}.jsonl"
    if os.environ.get("SPECPLAN_WRITE_GOLDEN"):
        golden.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records), encoding="utf-8")
    expected = [json.loads(line) for line in golden.read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(expected)
    for got, want in zip(records, expected):
        assert got == want
