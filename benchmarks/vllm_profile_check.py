"""Plan from a `profile --engine vllm` profile against vLLM measured by `bench --engines vllm`, on the embedded toy
pair: speedup per γ and batch size, plan / measured, and the batch size where speculation stops paying.

    flock /tmp/specplan-bench.lock python benchmarks/vllm_profile_check.py --out out/vllm-profile-check

Steps (real specplan commands as subprocesses, what a user would type; run it with the Python that has vLLM):
1. prompts: the embedded pair's held-out prompts, each cut to its last --prompt-bytes bytes (prompt + new tokens
   fit the toy target's 256 positions).
2. bench: `--engines vllm --gamma 1..4 --batch-size ... --repeats 3`, greedy: vLLM alone and vLLM with the draft.
3. profile: `specplan profile --engine vllm --model toy-target --model toy-draft --context-tokens C` with C the
   mean context of the bench's decode steps (prompt + half the new tokens), `--max-tokens` max γ + 1.
4. plan: for every γ and B, `plan --target-params M --draft-params N --acceptance-length τ@γ --gamma γ
   --batch-size B --prompt-tokens P --new-tokens n --profile profile.yaml`, with τ vLLM's own tokens per round at
   that γ, batch 1 (the acceptance is the measured one, so the comparison tests the profile's costs) and P, n as
   bench ran them: bench times whole requests, prefills included (at B = 32 the prefill of 32 prompts is a large
   share of a wave), so plan's per-request speedup is the one to compare.
5. report: `specplan report runs-timed.jsonl --format json` for the measured speedup (geometric mean over paired
   waves), repeat 0 left out: vLLM's first engine (the baseline) does first-time work per batch shape inside its
   first timed waves (--keep-first-repeat keeps it).

Prints a table: measured, plan and plan / measured per γ and B; the batch-1 check (plan within 10% at every γ);
the crossover batch per γ and for the best γ, measured and planned (within one power of two: the check). Writes
summary.json and summary.md beside the records (bench's and profile's own tables: bench.txt, profile.txt). The
defaults took 11.4 minutes on this project's 2-core CPU at load 3–8 (bench 3.2 min, profile ~6 min, plans ~1 min);
on a quiet machine they should fit in 8 (docs/vllm-profile-check.md).
"""

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET, DRAFT = "specplan/assets/toy-target", "specplan/assets/toy-draft"
SPECPLAN = [sys.executable, "-m", "specplan"]
BATCH_1_TOLERANCE = 0.10


def run(command: list, capture: bool = False, stdout: Path | None = None) -> str:
    """Run a specplan command (this checkout's); its stdout returned (``capture``) or written to ``stdout``."""
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(stdout, "w") if stdout else open(os.devnull, "w") as sink:
        result = subprocess.run(command, cwd=REPO, text=True, env=env,
                                stdout=subprocess.PIPE if capture else sink if stdout else None)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}")
    return result.stdout or ""


def cut_prompts(source: Path, dest: Path, count: int, keep_bytes: int) -> int:
    """The first ``count`` prompts cut to their last ``keep_bytes`` bytes; returns the longest cut, in bytes."""
    lines = [json.loads(line) for line in source.read_text().splitlines() if line.strip()][:count]
    cut = [p["prompt"].encode()[-keep_bytes:].decode(errors="ignore") for p in lines]
    dest.write_text("".join(json.dumps({"prompt": text, "category": p.get("category", "code")}) + "\n"
                            for text, p in zip(cut, lines)))
    return max(len(text.encode()) for text in cut)


def model_params(role: str) -> int:
    pair = json.loads((REPO / "specplan/assets/toy-pair.json").read_text())
    return int(pair["models"][pair["shipped"][role]]["params"])


def without_first_repeat(records: Path, dest: Path) -> Path:
    """The records less every run of repeat 0: bench's first engine (vLLM alone, the baseline) pays first-time work
    for each new batch shape inside its first timed waves (one run: 3.6–10 s per wave at B = 1 in repeat 0, 0.2–0.3
    s in repeat 1, while the speculative engines after it were steady from repeat 0), which inflates every speedup."""
    lines = [line for line in records.read_text().splitlines() if line.strip()]
    runs_0 = [json.loads(line).get("kind") == "run" and json.loads(line)["repeat"] == 0 for line in lines]
    kept = [line for line, first in zip(lines, runs_0) if not first]
    dest.write_text("\n".join(kept) + "\n")
    return dest


def tokens_per_round(records: Path, gamma: int) -> float:
    """vLLM's mean tokens per round at batch 1 and ``gamma``: 1 + accepted / rounds over every request."""
    runs = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    runs = [r for r in runs if r.get("kind") == "run" and r.get("engine") == "vllm" and r.get("gamma") == gamma
            and r.get("batch_size") == 1]
    rounds = sum(len(r["rounds"]["drafted"]) for r in runs)
    return 1.0 + sum(sum(r["rounds"]["accepted"]) for r in runs) / rounds


def prompt_tokens(records: Path) -> int:
    """The mean prompt length of the bench's vLLM requests, in tokens."""
    runs = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    lengths = [r["prompt_tokens"] for r in runs if r.get("kind") == "run" and r.get("engine") == "vllm"]
    return round(sum(lengths) / len(lengths))


def plan_speedup(gamma: int, batch: int, tau: float, profile: Path, prompt: int, new_tokens: int) -> float:
    """plan's per-request speedup (the bench's waves time prefill and decode alike): prompt and new tokens as
    bench ran them."""
    text = run([*SPECPLAN, "plan", "--target-params", str(model_params("target")), "--draft-params",
                str(model_params("draft")), "--acceptance-length", f"{tau:.6f}@{gamma}", "--gamma", str(gamma),
                "--gamma-max", str(gamma), "--profile", str(profile), "--batch-size", str(batch), "--prompt-tokens",
                str(prompt), "--new-tokens", str(new_tokens), "--json"], capture=True)
    return float(json.loads(text)["at_gamma"]["speedup"])


def crossover(speedups: dict) -> int | None:
    """The smallest batch size whose speedup is below 1 (None: it pays at every one)."""
    return next((b for b in sorted(speedups) if speedups[b] < 1.0), None)


def within_one_power_of_two(measured: int | None, plan: int | None, largest: int) -> bool:
    """Both crossovers on a log2 scale, "pays at every B" counted as the next power of two beyond the largest."""
    beyond = 2 * largest
    return abs(math.log2(measured or beyond) - math.log2(plan or beyond)) <= 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out/vllm-profile-check", help="folder for records, profile, plans, summary")
    parser.add_argument("--batch-sizes", default="1,2,4,8,16,32")
    parser.add_argument("--gammas", default="1,2,3,4")
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("--prompt-bytes", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3, help="bench repeats (waves per batch size and γ); the "
                        "first is left out of the measured speedups unless --keep-first-repeat")
    parser.add_argument("--keep-first-repeat", action="store_true",
                        help="measure speedups over every repeat (by default repeat 0 is a warm-up: see "
                             "without_first_repeat)")
    parser.add_argument("--profile-repeats", type=int, default=3)
    parser.add_argument("--skip-bench", action="store_true", help="reuse --out's runs.jsonl (profile and plan only)")
    parser.add_argument("--skip-profile", action="store_true", help="reuse --out's profile.yaml (plan only)")
    args = parser.parse_args()
    out = (REPO / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    prompts, records, profile = out / "prompts.jsonl", out / "runs.jsonl", out / "profile.yaml"
    longest = cut_prompts(REPO / "specplan/assets/toy-prompts.jsonl", prompts, args.num_prompts, args.prompt_bytes)
    gammas = [int(g) for g in args.gammas.split(",")]
    batches = sorted(int(b) for b in args.batch_sizes.split(","))
    if not args.skip_bench:
        records.unlink(missing_ok=True)
        run([*SPECPLAN, "bench", "--engines", "vllm", "--gamma", args.gammas, "--batch-size", args.batch_sizes,
             "--prompts", str(prompts), "--num-prompts", str(args.num_prompts), "--max-new-tokens",
             str(args.max_new_tokens), "--repeats", str(args.repeats), "--no-perplexity", "--output", str(records)],
            stdout=out / "bench.txt")  # bench's own report
    context = longest + args.max_new_tokens // 2  # byte-level tokenizer: a byte is a token
    if not args.skip_profile:
        run([*SPECPLAN, "profile", "--engine", "vllm", "--device", "cpu", "--model", TARGET, "--model", DRAFT,
             "--context-tokens", str(context), "--max-tokens", str(max(gammas) + 1), "--batch-sizes",
             args.batch_sizes, "--repeats", str(args.profile_repeats), "--name", "vllm-profile-check", "-o",
             str(profile)], stdout=out / "profile.txt")
    timed = records if args.keep_first_repeat else without_first_repeat(records, out / "runs-timed.jsonl")
    report = json.loads(run([*SPECPLAN, "report", str(timed), "--format", "json"], capture=True))
    families = [f for f in report["by_batch"] if f["engine"] == "vllm"]
    families = [f for f in families if f["category"] is None] or families  # all prompts together where split
    measured = {(f["gamma"], p["batch_size"]): p["speedup"] for f in families for p in f["points"]}
    taus = {g: tokens_per_round(records, g) for g in gammas}
    prompt = prompt_tokens(records)
    plan = {(g, b): plan_speedup(g, b, taus[g], profile, prompt, args.max_new_tokens) for g in gammas for b in batches}
    summary = summarise(measured, plan, taus, gammas, batches)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(table(summary, context) + "\n")
    print(table(summary, context))


def summarise(measured: dict, plan: dict, taus: dict, gammas: list, batches: list) -> dict:
    rows = [{"gamma": g, "batch": b, "tau": taus[g], "measured": measured.get((g, b)), "plan": plan[(g, b)],
             "ratio": plan[(g, b)] / measured[(g, b)] if measured.get((g, b)) else None}
            for g in gammas for b in batches]
    batch_1 = [r for r in rows if r["batch"] == 1]
    crossovers = []
    for g in gammas:
        m = crossover({b: measured[(g, b)] for b in batches if measured.get((g, b))})
        p = crossover({b: plan[(g, b)] for b in batches})
        crossovers.append({"gamma": g, "measured": m, "plan": p, "ok": within_one_power_of_two(m, p, max(batches))})
    best_m = crossover({b: max(measured.get((g, b)) or 0.0 for g in gammas) for b in batches})
    best_p = crossover({b: max(plan[(g, b)] for g in gammas) for b in batches})
    crossovers.append({"gamma": "best", "measured": best_m, "plan": best_p,
                       "ok": within_one_power_of_two(best_m, best_p, max(batches))})
    return {"rows": rows, "crossovers": crossovers,
            "batch_1_ok": all(r["ratio"] is not None and abs(r["ratio"] - 1) <= BATCH_1_TOLERANCE for r in batch_1),
            "crossover_ok": all(c["ok"] for c in crossovers)}


def table(summary: dict, context: int) -> str:
    lines = [f"vLLM measured (bench) vs plan from `profile --engine vllm` (context {context} tokens); "
             "τ = vLLM's tokens "
             "per round at batch 1, given to plan", "", "| γ | τ | B | measured | plan | plan / measured |",
             "|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        m = f"{r['measured']:.2f}×" if r["measured"] else "—"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "—"
        lines.append(f"| {r['gamma']} | {r['tau']:.2f} | {r['batch']} | {m} | {r['plan']:.2f}× | {ratio} |")
    lines += ["", "| γ | crossover measured | plan | within one power of two |", "|---|---|---|---|"]
    for c in summary["crossovers"]:
        ok = "yes" if c["ok"] else "no"
        lines.append(f"| {c['gamma']} | {c['measured'] or 'none'} | {c['plan'] or 'none'} | {ok} |")
    batch_1 = "yes" if summary["batch_1_ok"] else "no"
    lines += ["", f"batch 1, plan within {BATCH_1_TOLERANCE:.0%} at every γ: {batch_1}; "
              f"crossovers within one power of two: {'yes' if summary['crossover_ok'] else 'no'}"]
    return "\n".join(lines)


if __name__ == "__main__":  # vLLM may spawn engine processes: nothing runs at import
    main()
