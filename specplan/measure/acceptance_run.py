"""``acceptance`` end to end: load the pair (bench's loading and pre-flight), continue every prompt with the
target (one batched decode per temperature, or read from ``--continuations``), score every position under each
rule (``measure/acceptance.py``), simulate the loop's rounds and summarise (``plan/acceptance_math.py``) into
one ``kind: "acceptance"`` record."""

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from specplan.measure.acceptance import AcceptanceConfig, chunk_positions, position_acceptance, series


@dataclass(frozen=True)
class AcceptanceResult:
    record: dict  # the kind "acceptance" record (docs/records.md)
    seconds: float  # wall time after the models loaded: continuations, scoring, simulation
    load_seconds: float
    phase_seconds: dict  # load, continuations, teacher_forced, rules, rounds (simulation and bootstrap)
    peak_memory_bytes: int  # CUDA: peak allocated; CPU: the process's peak resident set
    notes: tuple


def _workload(config: AcceptanceConfig, prompts: list):
    from specplan.measure.engines import registry
    from specplan.measure.loading import Workload
    from specplan.measure.prompts import check_prompts_fit

    def asks(tokenizer, target_config):
        check_prompts_fit(prompts, getattr(target_config.get_text_config(), "max_position_embeddings", None),
                          config.prompts_file)
        longest = max(len(tokenizer(p.text).input_ids) for p in prompts)
        return Workload((registry.BASELINE.name,), longest + config.max_new_tokens,
                        f"the longest prompt ({longest} tokens) + --max-new-tokens {config.max_new_tokens}")

    return asks


def continuations(config: AcceptanceConfig, columns: list) -> list:
    """(temperature the target continues at, the columns scored on that text): one greedy text for every
    column (``greedy``), or per temperature a text sampled at it (``sampled``: the text the loop itself would
    produce there, so runs of acceptance follow the sampled text, not the easier greedy one)."""
    if config.continuation == "greedy":
        return [(0.0, columns)]
    return [(t, [c for c in columns if c[0] == t]) for t in dict.fromkeys(c[0] for c in columns)]


def pass_chunk(target, draft) -> int:
    """Positions per teacher-forced step: within the logits budget, and 1 for models whose forward cannot take
    several tokens on a warm cache (Mamba-1: one token at a time, still one pass over the text)."""
    from specplan.measure.engines.cache import SINGLE_TOKEN_MODEL_TYPES

    if any(m.config.model_type in SINGLE_TOKEN_MODEL_TYPES for m in (target, draft)):
        return 1
    return chunk_positions(max(m.get_output_embeddings().weight.shape[0] for m in (target, draft)))


def peak_memory_bytes(device: str) -> int:
    import resource
    import sys

    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


def run_acceptance(config: AcceptanceConfig, on_prompt=None) -> AcceptanceResult:
    """Measure, then summarise; ``on_prompt(index, total)`` after each prompt is scored."""
    import numpy as np
    import torch

    from specplan.measure.devices import resolve_device, resolve_dtype
    from specplan.measure.loading import load_pair
    from specplan.measure.prompts import BUILTIN, load_prompts
    from specplan.plan.acceptance_math import GAMMAS, rounds_by_gamma, summarise

    started = time.perf_counter()
    device = resolve_device(config.device)
    dtype, _ = resolve_dtype(None if config.dtype == "auto" else config.dtype, device)
    prompts = load_prompts(config.prompts_file, config.num_prompts)
    pair = load_pair(config.target, config.draft, device, dtype, None, config.trust_remote_code,
                     _workload(config, prompts))
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    loaded = time.perf_counter()
    phases = {"load": loaded - started}
    columns = series(config.temperatures)
    chunk = pass_chunk(pair.target, pair.draft)
    prompt_ids = [pair.tokenizer(p.text, return_tensors="pt").input_ids.to(pair.device) for p in prompts]
    groups = continuations(config, columns)
    texts = _texts(config, pair, prompt_ids, [t for t, _ in groups])
    phases["continuations"] = time.perf_counter() - loaded
    tokens, rounds, accepted, prompt_rows = [], [], [], []
    for index, (prompt, ids) in enumerate(zip(prompts, prompt_ids)):
        mean, along = [], []
        for t, group in groups:
            m, g = position_acceptance(pair.target, pair.draft, ids, texts[t][index], group, config.top_p,
                                       pair.vocab_tokens, chunk, phases,
                                       greedy_text=t == 0.0 and not config.continuations_file)
            mean.append(m)
            # along a text sampled at the column's temperature: given its tokens; else (one greedy text scored
            # at T > 0) the mean, an approximation (docs/acceptance.md)
            along.append(np.where([c[0] == t for c in group], g, m))
        mean, along = np.hstack(mean), np.hstack(along)
        tokens.append(config.max_new_tokens - 1)
        simulating = time.perf_counter()
        rounds.append(rounds_by_gamma(along, GAMMAS))
        phases["rounds"] = phases.get("rounds", 0.0) + time.perf_counter() - simulating
        accepted.append(mean.sum(axis=0))
        prompt_rows.append({"prompt_index": index, "prompt_category": prompt.category,
                            "prompt_tokens": int(ids.shape[1]),
                            "continuation_ids": {str(t): texts[t][index] for t in texts}})
        if on_prompt:
            on_prompt(index + 1, len(prompts))
    simulated = time.perf_counter()
    results = summarise(columns, np.array(tokens), np.stack(rounds), np.stack(accepted), GAMMAS,
                        config.bootstrap, config.seed)
    for result, m in zip(results, range(len(columns))):
        result["prompt_rounds"] = {str(g): [float(r[i, m]) for r in rounds] for i, g in enumerate(GAMMAS)}
    phases["rounds"] += time.perf_counter() - simulated
    seconds = time.perf_counter() - loaded
    record = _record(config, pair, device, dtype, len(prompts), prompts and (config.prompts_file or BUILTIN),
                     prompt_rows, results)
    return AcceptanceResult(record, seconds, loaded - started, phases, peak_memory_bytes(pair.device), pair.notes)


def _texts(config: AcceptanceConfig, pair, prompt_ids: list, temperatures: list) -> dict:
    """temperature → each prompt's continuation: read from ``--continuations`` or decoded by the target."""
    from specplan.measure.continuations import continue_prompts, read_continuations

    if config.continuations_file:
        return read_continuations(config.continuations_file, [int(x.shape[1]) for x in prompt_ids],
                                  config.max_new_tokens, temperatures)
    pad = pair.tokenizer.pad_token_id if pair.tokenizer.pad_token_id is not None else \
        (pair.tokenizer.eos_token_id or 0)
    return {t: continue_prompts(pair.target, prompt_ids, config.max_new_tokens, t, config.top_p, config.seed,
                                pair.vocab_tokens, pad) for t in temperatures}


def _record(config: AcceptanceConfig, pair, device: str, dtype: str, num_prompts: int, prompts_name: str,
            prompt_rows: list, results: list) -> dict:
    from specplan.measure.devices import device_name, software_versions

    settings = {"temperatures": list(config.temperatures), "top_p": config.top_p,
                "max_new_tokens": config.max_new_tokens, "continuation": config.continuation,
                "continuations_file": config.continuations_file, "device": pair.device,
                "dtype": dtype, "prompts": prompts_name, "num_prompts": num_prompts, "bootstrap": config.bootstrap,
                "seed": config.seed, "gammas": [int(g) for g in results and results[0]["tokens_per_round"]],
                "simulation": "the sd loop's rounds along the text (k = min(γ, left − 1)), each draft accepted "
                              "with its chance given the text's token there (the mean where the text was not "
                              "sampled at the temperature); expected over round starts"}
    return {"kind": "acceptance", "run_id": uuid.uuid4().hex[:12],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "pair": {"target": config.target.name, "draft": config.draft.name}, "settings": settings,
            "environment": {"device_name": device_name(device), **software_versions()},
            "prompts": prompt_rows, "results": results}
