"""Time and peak memory of refusing the heaviest bad inputs (each used to hang or exhaust memory): each runs as
its own ``python -m specplan`` process and must end in one error line and exit code 2.

    python benchmarks/refusals.py          # prints one row per input: exit code, wall seconds, peak RSS MB

Peak memory is the child's maximum resident set size (``resource.getrusage(RUSAGE_CHILDREN)``, one child at a
time). Wall time includes the interpreter's start-up and specplan's imports (~0.3 s; bench/profile import torch).
"""

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from bad_inputs import ALIAS_BOMB  # noqa: E402


def cases(folder: Path) -> list:
    (folder / "bomb.yaml").write_text(ALIAS_BOMB)
    (folder / "huge-prompt.txt").write_text("x" * 5_000_000 + "\n")  # one 5 MB line
    plan = ["plan", "--target-params", "70B"]
    bench = ["bench", "--num-prompts", "1", "--max-new-tokens", "2", "--gamma", "1", "--latency-samples", "2"]
    return [
        ("plan --gamma-max 2000000", [*plan, "--gamma-max", "2000000"]),
        ("plan --draft-tokens 1", [*plan, "--draft-tokens", "1"]),
        ("plan --profile alias bomb (1.3 KB)", [*plan, "--profile", str(folder / "bomb.yaml")]),
        ("plan --alpha-law alias bomb (1.3 KB)", [*plan, "--alpha-law", str(folder / "bomb.yaml")]),
        ("plan --context-tokens 1e14", [*plan, "--context-tokens", "100000000000000"]),
        ("bench --repeats 300000000", [*bench, "--repeats", "300000000"]),
        ("bench --prompts one 5 MB line", [*bench, "--prompts", str(folder / "huge-prompt.txt")]),
        ("bench --latency-context 10000000", [*bench, "--latency-context", "10000000"]),
        ("profile --context 10000000", ["profile", "--device", "cpu", "--sizes", "1M", "--context", "10000000"]),
        ("profile --repeats 300000000", ["profile", "--device", "cpu", "--sizes", "1M", "--repeats", "300000000"]),
    ]


def measure(args: list) -> tuple:
    """(exit code, wall seconds, peak RSS MB, stderr) of one child process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run([sys.executable, "-m", "specplan", *args], capture_output=True, text=True, env=env,
                            timeout=600)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return result.returncode, seconds, max(peak_kb, before) / 1024, result.stderr.strip()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        rows = []
        for name, args in cases(Path(folder)):
            code, seconds, peak_mb, stderr = measure(args)
            rows.append((name, code, seconds, peak_mb, stderr.count("\n") + 1))
            print(f"{name:40s} exit {code}  {seconds:6.2f} s  peak RSS ≤ {peak_mb:7.0f} MB  "
                  f"{rows[-1][4]} line(s): {stderr[:110]}")
        worst_time = max(rows, key=lambda r: r[2])
        print(f"worst time: {worst_time[0]} {worst_time[2]:.2f} s; peak RSS of all children ≤ "
              f"{max(r[3] for r in rows):.0f} MB (RUSAGE_CHILDREN is a running maximum)")


if __name__ == "__main__":
    main()
