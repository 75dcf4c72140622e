"""Time `specplan plan --target-params 70e9` as a whole process against `python -c pass`, side by side.

Runs are interleaved (plan, baseline, plan, ...) so machine noise hits both alike. Target: plan under 0.5 s median.

    python benchmarks/plan_startup.py [--runs 21]
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def wall_time_s(command: list) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21, help="timed runs of each command (default 21)")
    args = parser.parse_args()
    script = shutil.which("specplan")
    plan = ([script] if script else [sys.executable, "-m", "specplan"]) + ["plan", "--target-params", "70e9"]
    baseline = [sys.executable, "-c", "pass"]
    wall_time_s(plan), wall_time_s(baseline)  # warm the file cache
    plan_s, baseline_s = [], []
    for _ in range(args.runs):
        plan_s.append(wall_time_s(plan))
        baseline_s.append(wall_time_s(baseline))
    p, b = statistics.median(plan_s), statistics.median(baseline_s)
    print(f"runs: {args.runs} each, interleaved")
    print(f"{'specplan plan --target-params 70e9':45s} median {p:.3f} s  (min {min(plan_s):.3f}, max {max(plan_s):.3f})")
    print(f"{'python -c pass':45s} median {b:.3f} s  (min {min(baseline_s):.3f}, max {max(baseline_s):.3f})")
    print(f"ratio plan / python: {p / b:.1f}x; plan minus interpreter start: {p - b:.3f} s")
    print(f"target: plan median < 0.5 s -> {'met' if p < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
