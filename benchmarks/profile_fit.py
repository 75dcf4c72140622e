"""How long `specplan profile` takes and how well its fitted latency model reproduces the measurement.

    python benchmarks/profile_fit.py                              # 3 runs of --device cpu --sizes 2M,8M,32M
    python benchmarks/profile_fit.py --runs 5 --sizes 2M,8M,32M --extra "--threads 1"

Each run is the real CLI (a subprocess, what a user types) writing a profile YAML. Printed per run: wall time, the
fit's worst and RMS relative error over all points (the issue's check: every point within 15%, under 2 minutes),
and a held-out-size error: the model refitted without one size predicts that size's points, which is what `plan`
does when it extrapolates to sizes nobody measured. Timings are noisy on a shared machine; compare runs made side
by side in one invocation.
"""

import argparse
import math
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from specplan.measure import latency_profile
from specplan.plan.hardware import MeasuredProfile
from specplan.measure.random_models import ModelShape


def timings_of(document: dict) -> list:
    return [latency_profile.StepTiming(
        model=ModelShape(r["model"], r["params"], r["layers"], r["width"], r["vocab_size"]),
        new_tokens=r["new_tokens"], median_s=r["median_s"], p10_s=r["p10_s"], p90_s=r["p90_s"], samples=r["samples"])
        for r in document["measurements"]]


def held_out_errors(timings: list, aspect_ratio: float) -> dict:
    """{model label: worst relative error on its points when the fit is made without them}."""
    labels = list(dict.fromkeys(t.model.label for t in timings))
    worst = {}
    for label in labels:
        rest = [t for t in timings if t.model.label != label]
        if len({t.model.label for t in rest}) < 2:
            continue
        fitted = MeasuredProfile(name="held-out", dtype="fp32",
                                 coefficients=profile_fit.fit_latency(rest, aspect_ratio).coefficients,
                                 aspect_ratio=aspect_ratio)
        worst[label] = max(abs(fitted.step_time_s(t.model.params, t.new_tokens) / t.median_s - 1)
                           for t in timings if t.model.label == label)
    return worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--sizes", default="2M,8M,32M")
    p.add_argument("--device", default="cpu")
    p.add_argument("--extra", default="", help="more `specplan profile` options, e.g. \"--threads 1\"")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(1, args.runs + 1):
            path = Path(folder) / f"run{run}.yaml"
            command = ["specplan", "profile", "--device", args.device, "--sizes", args.sizes, "-o", str(path),
                       *shlex.split(args.extra)]
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            wall_s = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"profile_fit: {shlex.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
            document = yaml.safe_load(path.read_text())
            held_out = held_out_errors(timings_of(document), document["aspect_ratio"])
            errors = " ".join(f"{r['error']:+.1%}" for r in document["measurements"])
            rows.append((wall_s, document["fit"]["max_abs_error"], document["fit"]["rms_error"]))
            print(f"run {run}: {wall_s:.1f} s, fit worst {rows[-1][1]:.1%}, rms {rows[-1][2]:.1%}; held-out size "
                  f"worst: " + ", ".join(f"{label} {e:.1%}" for label, e in held_out.items()), flush=True)
            print(f"  per point (model order, k = 1..K): {errors}", flush=True)
    walls, worsts, rmss = zip(*rows)
    print(f"{len(rows)} runs of `specplan profile --device {args.device} --sizes {args.sizes} {args.extra}`: "
          f"wall {min(walls):.1f}-{max(walls):.1f} s (target < 120 s), fit worst {min(worsts):.1%}-{max(worsts):.1%} "
          f"(target ≤ 15%), rms {math.fsum(rmss) / len(rmss):.1%} on average; "
          f"{sum(w <= 0.15 for w in worsts)}/{len(rows)} runs within 15% at every point")


if __name__ == "__main__":
    main()
