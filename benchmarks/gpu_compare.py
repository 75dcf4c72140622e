"""Step latencies a bundled (datasheet) GPU profile predicts beside those `specplan profile` measured (eager, and
compiled with `profile --compile`: static cache + CUDA graphs), and `plan` with each profile side by side. Used by
benchmarks/gpu_check.sh; runs anywhere (no GPU, no torch).

    python benchmarks/gpu_compare.py --measured out/gpu_check/measured.yaml \
        [--compiled out/gpu_check/measured-compiled.yaml] --bundled h200 [--plan-dir DIR]
"""

import argparse
import json
import statistics
from pathlib import Path

import yaml

from specplan.plan.architecture import rule_architecture
from specplan.plan.hardware import load_profile
from specplan.plan.latency import prefill_time_s


def step_table(measured_file: str, bundled_name: str) -> list[dict]:
    """One row per measured (model, k): measured median, the measured fit's and the bundled profile's prediction."""
    data = yaml.safe_load(Path(measured_file).read_text())
    bundled, fitted = load_profile(bundled_name), load_profile(measured_file)
    context, dtype = data["context_tokens"], data["dtype"]
    rows = []
    for m in data["measurements"]:
        predicted = bundled.step_time_s(m["params"], m["new_tokens"], dtype=dtype, context_tokens=context)
        rows.append({"model": m["model"], "params": m["params"], "layers": m["layers"], "k": m["new_tokens"],
                     "measured_ms": 1e3 * m["median_s"], "fit_ms": 1e3 * fitted.step_time_s(m["params"], m["new_tokens"]),
                     "bundled_ms": 1e3 * predicted, "bundled_over_measured": predicted / m["median_s"]})
    return rows


def print_steps(rows: list[dict], title: str) -> None:
    print(f"\n{title}")
    print(f"{'model':>8} {'params':>12} {'L':>3} {'k':>2} {'measured ms':>12} {'fit ms':>9} {'bundled ms':>11} "
          f"{'bundled/measured':>17}")
    for r in rows:
        print(f"{r['model']:>8} {r['params']:>12,} {r['layers']:>3} {r['k']:>2} {r['measured_ms']:>12.3f} "
              f"{r['fit_ms']:>9.3f} {r['bundled_ms']:>11.3f} {r['bundled_over_measured']:>17.2f}")
    ratios = [r["bundled_over_measured"] for r in rows]
    print(f"bundled/measured: median {statistics.median(ratios):.2f}, range {min(ratios):.2f}–{max(ratios):.2f} "
          f"over {len(rows)} steps")


def print_prefill_and_cold(measured_file: str, bundled_name: str) -> None:
    """Each model's measured prefill of the context beside the measured fit's and the bundled profile's, and its
    decode step right after a cache flush beside the warm one (the draft's first step of a round)."""
    data = yaml.safe_load(Path(measured_file).read_text())
    bundled, fitted = load_profile(bundled_name), load_profile(measured_file)
    prefill = data.get("prefill")
    if prefill:
        tokens = prefill["tokens"]
        print(f"\nprefill of {tokens} tokens (fresh cache): measured, measured fit, bundled {bundled.name}")
        for m in prefill["measurements"]:
            modelled = prefill_time_s(bundled, rule_architecture(m["params"]), tokens, 1, data["dtype"])
            print(f"{m['model']:>8} {m['params']:>12,} {1e3 * m['median_s']:>10.3f} ms "
                  f"{1e3 * fitted.prefill_time_s(m['params'], tokens):>10.3f} ms {1e3 * modelled:>10.3f} ms")
    for m in (data.get("cold_step") or {}).get("measurements", []):
        print(f"cold step {m['model']:>8}: {1e3 * m['cold_s']:.3f} ms after a cache flush, {1e3 * m['warm_s']:.3f} ms "
              f"warm (+{1e3 * m['extra_s']:.3f} ms a round for a draft of this size)")


def print_side_by_side(eager_rows: list[dict], compiled_rows: list[dict], compiled_file: str) -> None:
    """Per (model, k) timed by both: eager and compiled medians, the bundled prediction, and their ratios; then
    what compiling cost (kept apart from the timings)."""
    compiled = {(r["model"], r["k"]): r for r in compiled_rows}
    both = [(e, compiled[(e["model"], e["k"])]) for e in eager_rows if (e["model"], e["k"]) in compiled]
    print(f"\neager vs compiled steps\n{'model':>8} {'k':>2} {'eager ms':>9} {'compiled ms':>12} {'bundled ms':>11} "
          f"{'eager/compiled':>15} {'compiled/bundled':>17}")
    for e, c in both:
        print(f"{e['model']:>8} {e['k']:>2} {e['measured_ms']:>9.3f} {c['measured_ms']:>12.3f} {c['bundled_ms']:>11.3f} "
              f"{e['measured_ms'] / c['measured_ms']:>15.2f} {c['measured_ms'] / c['bundled_ms']:>17.2f}")
    section = yaml.safe_load(Path(compiled_file).read_text()).get("compile") or {}
    for label, m in (section.get("models") or {}).items():
        print(f"compile {label}: {m['total_compile_s']:.1f} s ({m['graphs']} graphs), warm-up {m['warmup_s']:.1f} s, "
              f"{m['late_compiles']} timed steps compiled")
    if section:
        print(f"compiled with {section['mode']} ({section['backend']}), CUDA graphs {section['cuda_graphs']}, "
              f"{section['cudagraph_skips']} graphs run without one")


def print_plans(plan_dir: Path) -> None:
    """plan --json outputs named plan__<profile>__<target>.json, side by side per target."""
    print(f"\n{'target':>8} {'profile':>9} {'draft N*':>10} {'γ':>3} {'c':>7} {'verify':>7} {'α':>6} {'speedup':>8}")
    for path in sorted(plan_dir.glob("plan__*__*.json"), key=lambda p: (float(p.stem.split("__")[2]), p.stem)):
        _, profile, target = path.stem.split("__")
        if not path.read_text().strip():
            print(f"{target:>8} {profile:>9}  (plan wrote nothing: see summary.txt)")
            continue
        r = json.loads(path.read_text())["recommendation"]
        print(f"{target:>8} {profile:>9} {r['draft_params'] / 1e6:>9.1f}M {r['gamma']:>3} {r['cost_ratio']:>7.4f} "
              f"{r['verify_cost_ratio']:>7.3f} {r['alpha']:>6.3f} {r['speedup']:>7.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measured", help="profile YAML written by `specplan profile` (eager steps)")
    parser.add_argument("--compiled", help="profile YAML written by `specplan profile --compile`")
    parser.add_argument("--bundled", default="h200", help="bundled profile to compare with (default h200)")
    parser.add_argument("--plan-dir", help="folder holding plan__<profile>__<target>.json files to tabulate")
    args = parser.parse_args()
    if not (args.measured or args.compiled):
        parser.error("give --measured, --compiled or both")
    tables = {}
    for name, path in (("eager", args.measured), ("compiled", args.compiled)):
        if path:
            tables[name] = step_table(path, args.bundled)
            print_steps(tables[name], f"{name} steps ({path}) against bundled {args.bundled}")
            print_prefill_and_cold(path, args.bundled)
    if len(tables) == 2:
        print_side_by_side(tables["eager"], tables["compiled"], args.compiled)
    if args.plan_dir:
        print_plans(Path(args.plan_dir))


if __name__ == "__main__":
    main()
