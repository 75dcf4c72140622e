"""vLLM with and without speculation, side by side, across batch sizes, on the embedded toy pair; the measured
batch size where speculation stops paying beside the one `plan` predicts from a profile of this same machine.

    flock /tmp/specplan-bench.lock python benchmarks/vllm_batch_sweep.py --out out/vllm-sweep

Steps (real specplan commands as subprocesses, what a user would type):
1. prompts: the embedded pair's held-out prompts, each cut to its last --prompt-bytes bytes, so prompt + new tokens
   fit the toy target's 256 positions (vLLM refuses longer; the `sd` loop would extrapolate).
2. bench: `--engines ar,sd,vllm --gamma 1,2,3,4 --batch-size 1,2,4,8,16,32`, greedy, one thread for ar/sd
   (vLLM's CPU build binds its own one OpenMP thread per physical core, one core reserved: one thread here).
3. profile: `specplan profile --model toy-target --model toy-draft` times k = 1..K new tokens on this CPU.
4. plan: for every B, `plan --target-params M --draft-params N --alpha α̂ --profile measured.yaml --batch-size B`
   with α̂ vLLM's own at batch 1; plan's speedup at each γ (its cost model at B) beside the measured one.
5. report: `specplan report --plan plan-B.json ... --format json` for the measured table.

The machine is shared: run it under flock, and read the figures as noisy (the script prints each interval).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET, DRAFT = "specplan/assets/toy-target", "specplan/assets/toy-draft"
SPECPLAN = [sys.executable, "-m", "specplan"]


def run(command: list, capture: bool = False) -> str:
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    result = subprocess.run(command, cwd=REPO, text=True, stdout=subprocess.PIPE if capture else None)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}")
    return result.stdout or ""


def cut_prompts(source: Path, dest: Path, count: int, keep_bytes: int) -> None:
    lines = [json.loads(line) for line in source.read_text().splitlines() if line.strip()][:count]
    dest.write_text("".join(json.dumps({"prompt": p["prompt"].encode()[-keep_bytes:].decode(errors="ignore"),
                                        "category": p.get("category", "code")}) + "\n" for p in lines))


def model_params(path: str) -> int:
    pair = json.loads((REPO / "specplan/assets/toy-pair.json").read_text())
    name = pair["shipped"]["target" if path == TARGET else "draft"]
    return int(pair["models"][name]["params"])


def plan_for_batch(batch: int, alpha: float, profile: Path, gamma_max: int, out: Path) -> dict:
    path = out / f"plan-{batch}.json"
    text = run([*SPECPLAN, "plan", "--target-params", str(model_params(TARGET)), "--draft-params",
                str(model_params(DRAFT)), "--alpha", f"{alpha:.6f}", "--profile", str(profile), "--batch-size",
                str(batch), "--gamma-max", str(gamma_max), "--context-tokens", "160", "--json"], capture=True)
    path.write_text(text)
    return json.loads(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out/vllm-sweep", help="folder for records, plans, profile and plot")
    parser.add_argument("--batch-sizes", default="1,2,4,8,16,32")
    parser.add_argument("--gammas", default="1,2,3,4")
    parser.add_argument("--num-prompts", type=int, default=8)
    parser.add_argument("--prompt-bytes", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--profile-max-tokens", type=int, default=160,
                        help="profile k = 1..K new tokens; plan charges B·(γ+1) tokens per verification at batch B, "
                             "so K should reach max B × (max γ + 1), or plan holds the cost of K beyond it")
    parser.add_argument("--skip-bench", action="store_true", help="reuse --out's runs.jsonl (profile and plan only)")
    parser.add_argument("--profile-repeats", type=int, default=5)
    parser.add_argument("--kv-cache-gib", type=float, default=1.0)
    args = parser.parse_args()
    out = (REPO / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    prompts, records = out / "prompts.jsonl", out / "runs.jsonl"
    cut_prompts(REPO / "specplan/assets/toy-prompts.jsonl", prompts, args.num_prompts, args.prompt_bytes)
    gammas = [int(g) for g in args.gammas.split(",")]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    if not args.skip_bench:
        records.unlink(missing_ok=True)
        bench(args, prompts, records)
    profile = out / "profile.yaml"
    run([*SPECPLAN, "profile", "--device", "cpu", "--threads", "1", "--model", TARGET, "--model", DRAFT,
         "--context", "160", "--max-tokens", str(args.profile_max_tokens), "--repeats", str(args.profile_repeats),
         "--name", "vllm-sweep-cpu", "-o", str(profile)])
    alpha_b1 = pooled_alpha(records)
    plans = {b: plan_for_batch(b, alpha_b1, profile, max(gammas), out) for b in batches}
    report = json.loads(run([*SPECPLAN, "report", str(records), "--format", "json",
                             *[o for b in batches for o in ("--plan", str(out / f"plan-{b}.json"))]], capture=True))
    run([*SPECPLAN, "report", str(records), "--plot", str(out / "report.png"), "--format", "md", "--output",
         str(out / "report.md"), *[o for b in batches for o in ("--plan", str(out / f"plan-{b}.json"))]])
    print(summary(report, plans, alpha_b1, batches))


def bench(args, prompts: Path, records: Path) -> None:
    run([*SPECPLAN, "bench", "--engines", "ar,sd,vllm", "--gamma", args.gammas, "--batch-size", args.batch_sizes,
         "--prompts", str(prompts), "--num-prompts", str(args.num_prompts), "--max-new-tokens",
         str(args.max_new_tokens), "--repeats", str(args.repeats), "--threads", "1", "--output", str(records),
         "--vllm-arg", f"kv_cache_memory_bytes={int(args.kv_cache_gib * 2**30)}"])


def pooled_alpha(records: Path) -> float:
    """α̂ of vLLM at batch 1, pooled over γ: Σ accepted / Σ examined drafts (the i.i.d. maximum likelihood)."""
    from specplan.records import read_records
    from specplan.report.metrics import alpha_iid

    runs = [r for r in read_records([records]).of_kind("run")
            if r["engine"] == "vllm" and r["gamma"] and r["batch_size"] == 1]
    return alpha_iid([k for r in runs for k in r["rounds"]["drafted"]],
                     [j for r in runs for j in r["rounds"]["accepted"]])


def summary(report: dict, plans: dict, alpha: float, batches: list) -> str:
    lines = [f"α̂ (vLLM, batch 1, pooled over γ) = {alpha:.3f}; plan per batch size from the measured profile", ""]
    header = "| γ | " + " | ".join(f"B={b}" for b in batches) + " | crossover measured | plan |"
    lines += [header, "|" + "---|" * (len(batches) + 3)]
    for family in report["by_batch"]:
        cells = []
        for p in family["points"]:
            cells.append(f"{p['speedup']:.2f}× (plan {p['plan_speedup']:.2f}×)" if p["plan_speedup"]
                         else f"{p['speedup']:.2f}×")
        lines.append(f"| {family['gamma']} | " + " | ".join(cells) +
                     f" | {family['crossover_batch_size'] or 'none'} | {family['plan_crossover_batch_size'] or 'none'} |")
    lines += ["", "plan's recommendation per batch size: " + ", ".join(
        f"B={b}: γ {p['recommendation']['gamma']} → {p['recommendation']['speedup']:.2f}×" for b, p in plans.items())]
    lines += ["", "| engine | γ | B | DAR | AL | tok/s (batch) | baseline tok/s | speedup [95% CI] | exact |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        m = r["metrics"]
        b = r["batch_size"] or 1
        tps = m["tokens_per_s"]["value"] * b if m["tokens_per_s"]["value"] else None
        base = r["ar_tokens_per_s"] * b if r["ar_tokens_per_s"] else None
        s = m["speedup"]
        ci = f"{s['value']:.2f} [{s['low']:.2f}, {s['high']:.2f}]" if s["low"] else f"{s['value']:.2f}"
        lines.append(f"| {r['engine']} | {r['gamma']} | {b} | {m['draft_acceptance_rate']['value']:.3f} | "
                     f"{m['acceptance_length']['value']:.2f} | {tps:.1f} | {base:.1f} | {ci} | "
                     f"{r['checked_runs'] - r['diverged_runs']}/{r['checked_runs']} |")
    lines += ["", *report.get("notes", [])]
    return "\n".join(lines)


if __name__ == "__main__":  # vLLM may spawn engine processes: nothing runs at import
    main()
