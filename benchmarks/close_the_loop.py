"""Close the loop on this machine: does `specplan plan`, fed with this CPU's measured latencies and an acceptance
law calibrated on a trained ladder, predict the best draft, γ and speedup that `specplan bench` then measures?

    python benchmarks/close_the_loop.py                         # ladder in out/toy, about 8 min on one CPU core
    python benchmarks/close_the_loop.py --ladder out/toy --markdown out/close-the-loop/table.md

The ladder (a target and several drafts distilled from it, with `toy-pair.json` naming their sizes) is made by
`python benchmarks/train_toy_models.py --out out/toy` (~46 min on one CPU core).

Steps, each a real specplan command run as a subprocess (what a user would type):

1. profile: time decode and verification steps (k = 1..γmax+1 new tokens, KV cache of --context tokens) of the
   ladder's own architectures (random weights, their exact parameter counts, target included) on this CPU, with
   --threads 1, and fit plan's latency model -> a `kind: measured` profile YAML (`specplan profile --model ...`).
   The ladder's own architectures, not shape-rule models of their sizes: those, with a 4096-token vocabulary, are
   1.3-2.8x the toy models' parameter counts and up to 2.4x slower at the same count, which spoils a fit meant for
   byte-level models. `--profile-shape-rule` runs `specplan profile --sizes <ladder sizes>` instead.
2. bench: every target/draft pair, AR and SD, a γ sweep, greedy, with both models' held-out perplexity.
3. calibrate: fit α = A·ppl_draft + C to the pairs' measured perplexities and α̂ (`specplan calibrate`).
4. plan: for each draft, `specplan plan --target-params M --profile measured.yaml --draft-params N --alpha α_law`.
   Why not let plan choose the draft size itself: plan maps draft parameters to perplexity through the
   Chinchilla-form law, fitted on LLM tokens, which says nothing about byte-level toy models. So the loop uses the
   ladder's measured perplexities and the law calibrated on them: α_law = A·ppl_draft + C for each draft, plan
   gives γ and the speedup from α_law and the measured latencies, and the predicted best draft is the one with the
   highest predicted speedup. Plan is also run with each pair's measured α̂ instead of α_law, which separates the
   law's error from the cost model's.
5. report: `specplan report --format json` on each pair's records gives the measured speedup per γ; the table puts
   predicted and measured best γ, speedup and draft side by side (printed, and as Markdown with --markdown).

Timings are noisy on a shared CPU: run it on a quiet machine, keep --threads 1, and read the 95% intervals.
"""

import argparse
import datetime
import json
import math
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PROMPTS = "specplan/assets/toy-prompts.jsonl"
DEFAULT_TEXT = "specplan/assets/toy-heldout.txt"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(command: list, capture: bool = False, log_file: Path | None = None) -> str:
    """Run a command from the repository root; echo it; stop the script on failure. Its stdout is returned
    (capture) or written to log_file (with stderr) or shown."""
    log("$ " + shlex.join(command))
    if log_file is not None:
        with log_file.open("w") as out:
            result = subprocess.run(command, cwd=REPO, text=True, stdout=out, stderr=subprocess.STDOUT)
    else:
        result = subprocess.run(command, cwd=REPO, text=True, stdout=subprocess.PIPE if capture else None)
    if result.returncode != 0:
        where = f" (output in {log_file})" if log_file is not None else ""
        sys.exit(f"close_the_loop: command failed with exit code {result.returncode}{where}: {shlex.join(command)}")
    return result.stdout if capture else ""


# --------------------------------------------------------------------------------------------------- the ladder


def read_ladder(folder: Path) -> dict:
    """{"target": {...}, "drafts": [{"name", "path", "params", ...}, ...] smallest first} from toy-pair.json."""
    manifest = folder / "toy-pair.json"
    if not manifest.is_file():
        sys.exit(f"close_the_loop: no ladder at {folder} (missing {manifest}); make it with\n"
                 f"    python benchmarks/train_toy_models.py --out {folder}    # ~46 min on one CPU core")
    models = json.loads(manifest.read_text())["models"]
    entries = []
    for name, info in models.items():
        path = folder / name
        if not (path / "config.json").is_file():
            sys.exit(f"close_the_loop: {path} is not a model folder (listed in {manifest}); retrain with "
                     f"python benchmarks/train_toy_models.py --out {folder}")
        entries.append({"name": name, "path": str(path), "params": int(info["params"]),
                        "layers": info.get("layers"), "width": info.get("width")})
    if "target" not in models or len(entries) < 4:
        sys.exit(f"close_the_loop: {manifest} needs a 'target' and at least 3 drafts (calibrate needs 3 pairs)")
    target = next(e for e in entries if e["name"] == "target")
    drafts = sorted((e for e in entries if e["name"] != "target"), key=lambda e: e["params"])
    return {"target": target, "drafts": drafts}


# ------------------------------------------------------------------------------------------------------ steps


def profile(ladder: dict, args, path: Path) -> dict:
    models = [ladder["target"]] + ladder["drafts"]
    if args.profile_shape_rule:
        what = ["--sizes", ",".join(str(m["params"]) for m in models)]
    else:
        what = [option for m in models for option in ("--model", m["path"])]
    run(["specplan", "profile", "--device", "cpu", "--threads", str(args.threads), *what,
         "--context", str(args.context), "--max-tokens", str(max(args.gammas) + 1),
         "--repeats", str(args.profile_repeats), "--name", "close-the-loop-cpu", "-o", str(path)])
    from specplan.measure.latency_profile import NOISY_SPREAD, noisy_points

    document = __import__("yaml").safe_load(path.read_text())
    noisy = len(noisy_points(document["measurements"]))
    log(f"wrote {path}: fit rms error {document['fit']['rms_error']:.1%}, worst {document['fit']['max_abs_error']:.1%}"
        f" over {document['fit']['points']} points ({noisy} with p10-p90 spread > {NOISY_SPREAD:.0%} of the median)")
    return document


def bench(ladder: dict, draft: dict, args, path: Path) -> None:
    """One pair's bench run; the prompts are the held-out ones cut to their last --prompt-bytes bytes, so prompt +
    new tokens + γ stay inside the 256 positions the toy models were trained on (bench refuses a run past them)."""
    if path.exists() and not args.resume:
        path.unlink()  # bench appends to --output; a fresh run starts from an empty file
    command = ["specplan", "bench", "--target", ladder["target"]["path"], "--draft", draft["path"],
               "--engines", "ar,sd", "--gamma", ",".join(map(str, args.gammas)), "--prompts", str(args.cut_prompts),
               "--num-prompts", str(args.num_prompts), "--repeats", str(args.repeats),
               "--max-new-tokens", str(args.max_new_tokens), "--latency-context", str(args.context),
               "--perplexity", "--perplexity-text", args.perplexity_text, "--threads", str(args.threads),
               "--device", "cpu", "--output", str(path)]
    if args.resume and path.exists():
        command.append("--resume")
    log(f"(its output goes to {path.with_suffix('.log')}; about 2-3 min per pair with the defaults)")
    run(command, log_file=path.with_suffix(".log"))  # its tables are summarised by the report below


def measured_pair(records: Path) -> dict:
    """Per γ: measured speedup (95% interval), α̂; pooled α̂ and exactness (`specplan report --format json`)."""
    report = json.loads(run(["specplan", "report", str(records), "--format", "json"], capture=True))
    rows = [r for r in report["rows"] if r["engine"] == "sd" and r["category"] is None]
    per_gamma = {r["gamma"]: {"speedup": r["metrics"]["speedup"]["value"],
                              "low": r["metrics"]["speedup"].get("low"), "high": r["metrics"]["speedup"].get("high"),
                              "alpha": r["metrics"]["alpha_iid"]["value"],
                              "cost_ratio": r["metrics"]["cost_ratio"]["value"]} for r in rows}
    choice = next(c for c in report["gamma_choice"] if c["engine"] == "sd" and c["category"] is None)
    exact, checked = sum(r["checked_runs"] - r["diverged_runs"] for r in rows), sum(r["checked_runs"] for r in rows)
    return {"per_gamma": per_gamma, "alpha_pooled": choice["pooled_alpha_iid"], "exact": f"{exact}/{checked}",
            "prompt_tokens": prompt_tokens(records)}


def prompt_tokens(records: Path) -> int:
    """The mean prompt length in tokens of the pair's ``ar`` runs (what plan's --prompt-tokens is given)."""
    lengths = [line["prompt_tokens"] for line in map(json.loads, records.read_text().splitlines())
               if line.get("kind") == "run" and line.get("engine") == "ar"]
    return round(sum(lengths) / len(lengths))


def calibrate(paths: list, law_path: Path) -> dict:
    return json.loads(run(["specplan", "calibrate", *map(str, paths), "--output", str(law_path), "--json"],
                          capture=True))


def plan(target_params: int, draft_params: int, alpha: float, profile_path: Path, gamma_max: int,
         request: tuple) -> dict:
    """γ and speedup that plan predicts for this draft at acceptance α on the measured profile, for requests of
    ``request`` = (prompt tokens, new tokens) as bench ran them (both prefills counted)."""
    out = json.loads(run(["specplan", "plan", "--target-params", str(target_params), "--profile", str(profile_path),
                          "--draft-params", str(draft_params), "--alpha", f"{alpha:.6f}",
                          "--prompt-tokens", str(request[0]), "--new-tokens", str(request[1]),
                          "--gamma-max", str(gamma_max), "--json"], capture=True))
    candidate = next(c for c in out["candidates"] if round(c["draft_params"]) == draft_params)
    return {"gamma": candidate["gamma"], "speedup": candidate["speedup"], "cost_ratio": candidate["cost_ratio"],
            "pays": candidate["speedup"] > 1.0, "gamma_band": out["recommendation"]["gamma_band"]}


# ------------------------------------------------------------------------------------------------------ table


def build_table(rows: list, law: dict) -> dict:
    """The side-by-side comparison, from plain dicts (no I/O; tested on synthetic input).

    rows: one per draft, with name, params, ppl (measured draft perplexity), alpha_measured (pooled α̂),
    alpha_law (calibrated law at ppl), plan_law {gamma, speedup}, plan_measured {gamma, speedup},
    per_gamma {γ: {speedup, low, high}} (measured). law: {"a", "c", "r2", "rmse"}.
    Returns {"rows": [...], "predicted_best", "measured_best", "agree", "markdown"}."""
    out = []
    for row in rows:
        best_gamma = max(row["per_gamma"], key=lambda g: row["per_gamma"][g]["speedup"])
        best = row["per_gamma"][best_gamma]
        at_planned = row["per_gamma"].get(row["plan_law"]["gamma"])
        out.append({**row, "measured_gamma": best_gamma, "measured_speedup": best["speedup"],
                    "measured_low": best.get("low"), "measured_high": best.get("high"),
                    "measured_at_planned_gamma": at_planned["speedup"] if at_planned else None})
    predicted_best = max(out, key=lambda r: r["plan_law"]["speedup"])["name"]
    measured_best = max(out, key=lambda r: r["measured_speedup"])["name"]

    def x(value) -> str:
        return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}×"

    def g(gamma) -> str:
        return "0 (no SD)" if gamma == 0 else str(gamma)  # plan's γ = 0: speculation does not pay

    def band(plan) -> str:  # plan's γ band: the γ values within 3% of its best
        low, high = plan.get("gamma_band") or (None, None)
        return f" ({low}–{high})" if low is not None and low != high else ""

    def ci(r) -> str:
        return f" [{r['measured_low']:.2f}, {r['measured_high']:.2f}]" if r["measured_low"] is not None else ""

    lines = [
        "| draft | params | ppl (measured) | α̂ measured | α law | plan γ (law α; band within 3%) | plan speedup (law α) "
        "| plan γ / speedup (measured α̂) | measured best γ | measured best speedup (95% CI) "
        "| measured at plan's γ | plan / measured best |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in out:
        lines.append(
            f"| {r['name']}{' **(predicted best)**' if r['name'] == predicted_best else ''}"
            f"{' **(measured best)**' if r['name'] == measured_best else ''} | {r['params']:,} | {r['ppl']:.3f} "
            f"| {r['alpha_measured']:.3f} | {r['alpha_law']:.3f} | {g(r['plan_law']['gamma'])}{band(r['plan_law'])} "
            f"| {x(r['plan_law']['speedup'])} | {g(r['plan_measured']['gamma'])} / {x(r['plan_measured']['speedup'])} "
            f"| {r['measured_gamma']} | {x(r['measured_speedup'])}{ci(r)} | {x(r['measured_at_planned_gamma'])} "
            f"| {r['plan_law']['speedup'] / r['measured_speedup'] - 1:+.1%} |")
    r2 = "undefined" if law.get("r2") is None else f"{law['r2']:.3f}"
    lines += [
        "",
        f"Calibrated law: α = {law['a']:+.4f}·ppl_draft {law['c']:+.4f} (R² {r2}, RMSE {law['rmse']:.4f}, "
        f"{len(out)} pairs).",
        f"Predicted best draft: **{predicted_best}**; measured best draft: **{measured_best}** "
        f"({'agree' if predicted_best == measured_best else 'disagree'}).",
    ]
    return {"rows": out, "predicted_best": predicted_best, "measured_best": measured_best,
            "agree": predicted_best == measured_best, "markdown": "\n".join(lines) + "\n"}


# ------------------------------------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ladder", default="out/toy", help="ladder folder with toy-pair.json (default out/toy)")
    p.add_argument("--out-dir", default="out/close-the-loop", help="profile, records, law and table go here")
    p.add_argument("--markdown", help="also write the table as Markdown to this file")
    p.add_argument("--gammas", default="1,2,3,4,5,6,7,8", help="γ sweep for bench (default 1..8: every γ plan may pick "
                   "up to 8, so that its choice is measured)")
    p.add_argument("--num-prompts", type=int, default=16, help="held-out prompts per pair (default 16, all)")
    p.add_argument("--repeats", type=int, default=2, help="repeats per prompt in bench (default 2)")
    p.add_argument("--max-new-tokens", type=int, default=96, help="tokens per prompt (default 96: the toy models "
                   "were trained on 256 positions and prompts are ~190 bytes)")
    p.add_argument("--context", type=int, default=240, help="KV-cache tokens for the profile and bench's latency "
                   "records (default 240: about a prompt plus half the new tokens)")
    p.add_argument("--profile-repeats", type=int, default=40, help="timed steps per model and k (default 40)")
    p.add_argument("--profile-shape-rule", action="store_true",
                   help="profile shape-rule models of the ladder's sizes (`specplan profile --sizes`) instead of "
                        "the ladder's own architectures")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for every timed step (default 1)")
    p.add_argument("--prompts", default=DEFAULT_PROMPTS)
    p.add_argument("--prompt-bytes", type=int, default=128,
                   help="keep the last N bytes of each prompt (default 128: with 96 new tokens and γ ≤ 8 a run stays "
                        "inside the toy models' 256 trained positions)")
    p.add_argument("--perplexity-text", default=DEFAULT_TEXT)
    p.add_argument("--resume", action="store_true", help="keep finished bench records and complete them")
    p.add_argument("--reuse-profile", action="store_true", help="use the profile already in --out-dir")
    args = p.parse_args(argv)
    args.gammas = sorted({int(g) for g in args.gammas.split(",") if g.strip()})
    return args


def cut_prompts(source: Path, dest: Path, count: int, keep_bytes: int) -> None:
    """The first ``count`` prompts of a .jsonl file, each cut to its last ``keep_bytes`` bytes (byte-level models:
    one token a byte)."""
    lines = [json.loads(line) for line in source.read_text().splitlines() if line.strip()][:count]
    dest.write_text("".join(json.dumps({"prompt": p["prompt"].encode()[-keep_bytes:].decode(errors="ignore"),
                                        "category": p.get("category", "code")}) + "\n" for p in lines))


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    ladder_dir = Path(args.ladder)
    ladder = read_ladder(ladder_dir if ladder_dir.is_absolute() else REPO / ladder_dir)
    out_dir = Path(args.out_dir) if Path(args.out_dir).is_absolute() else REPO / args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    target = ladder["target"]
    log(f"ladder: target {target['params']:,} params; drafts "
        + ", ".join(f"{d['name']} ({d['params']:,})" for d in ladder["drafts"]))

    profile_path = out_dir / "measured-cpu.yaml"
    log("step 1/5: profile")
    if args.reuse_profile and profile_path.is_file():
        log(f"reusing {profile_path}")
    else:
        profile(ladder, args, profile_path)
    device = __import__("yaml").safe_load(profile_path.read_text()).get("device", platform.machine())

    args.cut_prompts = out_dir / "prompts.jsonl"
    cut_prompts(REPO / args.prompts, args.cut_prompts, args.num_prompts, args.prompt_bytes)
    records = {}
    for i, draft in enumerate(ladder["drafts"], 1):
        log(f"step 2/5: bench {i}/{len(ladder['drafts'])}: target <- {draft['name']}")
        records[draft["name"]] = out_dir / f"bench-{draft['name']}.jsonl"
        t0 = time.monotonic()
        bench(ladder, draft, args, records[draft["name"]])
        log(f"bench {draft['name']} took {time.monotonic() - t0:.0f} s")

    log("step 3/5: calibrate")
    law_path = out_dir / "law.yaml"
    fit = calibrate(list(records.values()), law_path)
    points = {Path(p["draft"]).name: p for p in fit["points"]}
    coeff = fit["coefficients"]
    law = {"a": coeff["a"], "c": coeff["c"], "r2": fit["fit"]["r2"], "rmse": fit["fit"]["rmse"]}
    log(f"law: α = {law['a']:+.4f}·ppl_draft {law['c']:+.4f} (R² {law['r2']}, RMSE {law['rmse']:.4f})")

    log("step 4/5: plan each draft with the measured profile; step 5/5: measured results")
    gamma_max = 32
    rows = []
    for draft in ladder["drafts"]:
        point = points[draft["name"]]
        alpha_law = law["a"] * point["draft_ppl"] + law["c"]
        measured = measured_pair(records[draft["name"]])
        request = (measured["prompt_tokens"], args.max_new_tokens)
        rows.append({
            "name": draft["name"], "params": draft["params"], "ppl": point["draft_ppl"],
            "target_ppl": point["target_ppl"], "alpha_measured": measured["alpha_pooled"],
            "alpha_law": alpha_law,
            "plan_law": plan(target["params"], draft["params"], min(max(alpha_law, 1e-4), 1 - 1e-4),
                             profile_path, gamma_max, request),
            "plan_measured": plan(target["params"], draft["params"], measured["alpha_pooled"], profile_path,
                                  gamma_max, request),
            "per_gamma": measured["per_gamma"], "exact": measured["exact"],
            "cost_ratio_bench": next(iter(measured["per_gamma"].values()))["cost_ratio"],
        })
    table = build_table(rows, law)

    minutes = (time.monotonic() - started) / 60
    command = "python benchmarks/close_the_loop.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    header = (f"Closing the loop — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
              f"{device}, torch threads {args.threads}; "
              f"target {target['params']:,} params (held-out ppl {rows[0]['target_ppl']:.3f}); "
              f"γ ∈ {{{','.join(map(str, args.gammas))}}}, {args.num_prompts} prompts × {args.repeats}, "
              f"{args.max_new_tokens} new tokens, greedy; ran {minutes:.1f} min.\n")
    extra = ["", "| draft | c plan (profile) | c bench (latency records) | greedy exact |", "|---|---:|---:|---:|"]
    for r in table["rows"]:
        extra.append(f"| {r['name']} | {r['plan_law']['cost_ratio']:.3f} | {r['cost_ratio_bench']:.3f} "
                     f"| {r['exact']} |")
    markdown = header + "\n" + table["markdown"] + "\n".join(extra) + "\n\nCommand: `" + command.strip() + "`\n"
    print()
    print(markdown)
    (out_dir / "table.md").write_text(markdown)
    (out_dir / "result.json").write_text(json.dumps({"law": law, "rows": table["rows"],
                                                     "predicted_best": table["predicted_best"],
                                                     "measured_best": table["measured_best"],
                                                     "minutes": minutes}, indent=2, default=str))
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown)
        log(f"wrote {args.markdown}")
    log(f"done in {minutes:.1f} min; files in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
