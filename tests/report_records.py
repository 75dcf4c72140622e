"""Hand-made run records for the ``report`` tests, small enough to compute every metric by hand.

Pair T ← D, one run, two prompts (0: code, 1: chat), one repeat, engine sd at γ = 1 and γ = 3, greedy.

| prompt | engine | γ | drafted      | accepted     | new tokens | wall s | s/token | AR s/token | ratio |
|--------|--------|---|--------------|--------------|------------|--------|---------|------------|-------|
| 0      | ar     | — |              |              | 10         | 2.0    | 0.2     |            |       |
| 1      | ar     | — |              |              | 8          | 2.0    | 0.25    |            |       |
| 0      | sd     | 3 | 3, 3, 3, 3   | 3, 1, 0, 2   | 10         | 1.0    | 0.1     | 0.2        | 2     |
| 1      | sd     | 3 | 3, 3         | 3, 3         | 8          | 0.5    | 0.0625  | 0.25       | 4     |
| 0      | sd     | 1 | 1 (×6)       | 1,0,1,1,1,0  | 10         | 1.0    | 0.1     | 0.2        | 2     |
| 1      | sd     | 1 | 1 (×4)       | 1, 1, 1, 1   | 8          | 1.0    | 0.125   | 0.25       | 2     |

γ = 3, prompt 1 diverged from AR at new token 5 with a top-2 logit margin of 0.003; every other run is exact.
Each sd run's rounds emit exactly its new tokens (Σ (j + 1)).
Latencies: target 1 token 0.1 s, 2 tokens 0.11 s, 4 tokens 0.13 s; draft 1 token 0.01 s.
"""

import json
from pathlib import Path

BASE = {"schema_version": 1, "run_id": "run-a", "created": "2026-11-22T05:00:00Z",
        "pair": {"target": "T", "draft": "D"},
        "settings": {"temperature": 0.0, "max_new_tokens": 10, "gammas": [1, 3], "engines": ["ar", "sd"]},
        "environment": {"device_name": "cpu", "torch": "x", "transformers": "x", "specplan": "0.1.0"}}

# (prompt, engine, γ, drafted, accepted, new tokens, wall s, exact)
RUNS = [
    (0, "ar", None, None, None, 10, 2.0, None),
    (1, "ar", None, None, None, 8, 2.0, None),
    (0, "sd", 3, [3, 3, 3, 3], [3, 1, 0, 2], 10, 1.0, True),
    (1, "sd", 3, [3, 3], [3, 3], 8, 0.5, False),
    (0, "sd", 1, [1] * 6, [1, 0, 1, 1, 1, 0], 10, 1.0, True),
    (1, "sd", 1, [1] * 4, [1, 1, 1, 1], 8, 1.0, True),
]
LATENCIES = [("target", 1, 0.1), ("target", 2, 0.11), ("target", 4, 0.13), ("draft", 1, 0.01)]


def run_record(prompt, engine, gamma, drafted, accepted, new_tokens, wall_s, exact, greedy=True) -> dict:
    record = {**BASE, "kind": "run", "engine": engine, "gamma": gamma, "prompt_index": prompt,
              "prompt_category": ("code", "chat")[prompt], "repeat": 0, "prompt_tokens": 12,
              "new_tokens": new_tokens, "wall_time_s": wall_s, "output_ids": list(range(new_tokens))}
    if drafted is not None:
        record["rounds"] = {"drafted": drafted, "accepted": accepted}
    if greedy and exact is not None:
        record.update(exact=exact, first_divergence=None if exact else 5, divergence_margin=None if exact else 0.003)
    return record


def latency_record(model, new_tokens, median_s) -> dict:
    return {**BASE, "kind": "latency", "model": model, "new_tokens": new_tokens, "context_tokens": 64,
            "median_s": median_s, "p10_s": median_s, "p90_s": median_s, "samples": 20}


def records(greedy=True, latencies=True, sd_time_scale=1.0) -> list:
    """The table above as record dicts; ``sd_time_scale`` multiplies every sd wall time (a slower or faster run)."""
    out = [run_record(*run[:6], run[6] * (sd_time_scale if run[1] == "sd" else 1.0), run[7], greedy)
           for run in RUNS]
    return out + ([latency_record(*lat) for lat in LATENCIES] if latencies else [])


def write(path: Path, items: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    return path


def _with_round_times(record: dict, draft_s: float = 0.02, verify_s: float = 0.1, rest_s: float = 0.01) -> dict:
    """An sd record with every round timed (draft steps, verification, the rest), as bench writes on a cpu."""
    drafted = record["rounds"]["drafted"]
    return {**record, "round_times": {"every": 1, "prefill_s": 0.05, "rounds": list(range(len(drafted))),
                                      "drafted": drafted, "draft_s": [draft_s * k for k in drafted],
                                      "verify_s": [verify_s] * len(drafted),
                                      "round_s": [draft_s * k + verify_s + rest_s for k in drafted]}}


def _vllm_run(gamma, batch, wave, request, seconds, drafted=None, accepted=None, cross_exact=None) -> dict:
    record = {**BASE, "pair": {"target": "VT", "draft": "VD"}, "run_id": "run-v", "kind": "run", "engine": "vllm",
              "gamma": gamma, "prompt_index": request % 2, "prompt_category": ("code", "chat")[request % 2],
              "repeat": 0, "prompt_tokens": 12, "new_tokens": 10, "wall_time_s": seconds,
              "output_ids": list(range(10)), "batch_size": batch, "wave": wave, "request_index": request}
    if gamma is not None:
        record["rounds"] = {"drafted": drafted, "accepted": accepted}
        record.update(exact=True, first_divergence=None, divergence_margin=None)
    elif cross_exact is not None:
        record["cross_engine"] = {"reference": "ar", "exact": cross_exact,
                                  "first_divergence": None if cross_exact else 3}
    return record


def every_kind() -> list:
    """One records file with every record kind report reads: the table above (sd at γ 1 and 3, its γ = 3 runs
    timed per round), hf runs, latencies, perplexities, a second pair run with vllm at batch sizes 1 and 4
    (two waves of one, one wave of four), its baseline compared across engines with ar, and an acceptance record
    of the first pair."""
    out = [_with_round_times(r) if r.get("engine") == "sd" and r["gamma"] == 3 else r for r in records()]
    out += [{**run_record(p, "hf", 3, drafted, accepted, new, wall, True), "hf_generator": "AssistedCandidateGenerator"}
            for p, drafted, accepted, new, wall in ((0, [3, 3, 3, 3, 3], [3, 1, 0, 1, 0], 10, 1.5),
                                                    (1, [3, 3, 3], [3, 2, 0], 8, 1.2))]
    out += [{**BASE, "kind": "perplexity", "model": model, "perplexity": ppl, "tokens": 500, "text": "builtin"}
            for model, ppl in (("target", 12.5), ("draft", 19.25))]
    out += [_vllm_run(None, 1, w, w, 1.0, cross_exact=(w == 0)) for w in (0, 1)]
    out += [_vllm_run(None, 4, 0, r, 2.0, cross_exact=True) for r in range(4)]
    out += [_vllm_run(2, 1, w, w, 0.5, [2] * 4, [2, 2, 1, 0]) for w in (0, 1)]
    out += [_vllm_run(2, 4, 0, r, 2.5, [2] * 4, [2, 1, 1, 0]) for r in range(4)]
    out += [{**BASE, "pair": {"target": "VT", "draft": "VD"}, "run_id": "run-v", "kind": "engine", "engine": "vllm",
             "gamma": gamma, "startup_s": 3.0, "warmup_s": 0.5, "engine_args": {"model": "VT"}, "max_num_seqs": 4}
            for gamma in (None, 2)]
    out.append(acceptance_record())
    return out


def acceptance_record() -> dict:
    """``specplan acceptance``'s record for pair T ← D at T 0 (greedy rule): E(1) 1.78, E(3) 3.2 [3.1, 3.3]. sd at
    γ 3 measures 3.0 (per run 2.5 and 4.0: within the intervals), hf 2.25 (per run 2.0, 2.67: a gap)."""
    return {**BASE, "run_id": "acc-a", "kind": "acceptance",
            "settings": {"temperatures": [0.0], "top_p": 1.0, "max_new_tokens": 10, "continuation": "sampled"},
            "prompts": [], "results": [{"temperature": 0.0, "rule": "greedy", "alpha": 0.7,
                                        "alpha_interval": [0.6, 0.8],
                                        "tokens_per_round": {"1": 1.78, "3": 3.2},
                                        "tokens_per_round_interval": {"1": [1.7, 1.86], "3": [3.1, 3.3]}}]}
