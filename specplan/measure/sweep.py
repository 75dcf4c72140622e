"""``bench`` orchestration: load the pair, run AR/SD/HF decodes paired and interleaved per prompt, time step
latencies and perplexities, and hand each finished record to the caller (who appends it to the JSONL file).

Records follow docs/records.md. torch and transformers are imported inside functions only.
"""

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from specplan.checks import count_in, number_in, read_text_file
from specplan.errors import SpecplanError
from specplan.measure.engines.vllm import VllmSettings
from specplan.measure.loading import ModelSource
from specplan.measure.prompts import BUILTIN, check_prompts_fit, load_prompts

TRANSFORMERS_ENGINES = ("ar", "sd", "hf")  # specplan's own loops and transformers: one sequence at a time
ENGINES = (*TRANSFORMERS_ENGINES, "vllm")
WARMUP_TOKENS = 8


@dataclass(frozen=True)
class BenchConfig:
    """Every user setting of one ``bench`` invocation (defaults as in ``specplan bench --help``)."""

    target: ModelSource
    draft: ModelSource
    engines: tuple = TRANSFORMERS_ENGINES
    gammas: tuple = (1, 2, 4, 8)
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    device_map: str | None = None
    trust_remote_code: bool = False
    prompts_file: str | None = None
    num_prompts: int = 8
    repeats: int = 1
    latency_samples: int = 20
    latency_context_tokens: int = 128
    perplexity: bool = False
    perplexity_text: str | None = None
    threads: int | None = None
    batch_sizes: tuple = (1,)  # vllm: requests in flight together
    vllm: VllmSettings = field(default_factory=VllmSettings)

    def __post_init__(self):
        _validate(self)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


# Bounds that keep one bench invocation finite: beyond them a typo (an extra zero) would run for days or fill
# memory before the first record. Each is far above any useful measurement.
MAX_GAMMA = 1024
MAX_DECODES = 1_000_000  # runs of one invocation: repeats × prompts × (ar + engines × γ)
MAX_NEW_TOKENS = 1 << 20
MAX_LATENCY_SAMPLES = 100_000
MAX_CONTEXT_TOKENS = 1 << 24
MAX_SEED = (1 << 63) - 1
MAX_BATCH_SIZE = 4096  # requests in flight at once (vLLM's own default max_num_seqs is 256-1024)


def _validate(config: BenchConfig) -> None:
    unknown = [e for e in config.engines if e not in ENGINES]
    if unknown or not config.engines:
        raise SpecplanError(f"--engines {','.join(config.engines)!r}: choose from {','.join(ENGINES)}")
    if not config.gammas or any(g < 1 for g in config.gammas):
        raise SpecplanError(f"--gamma {','.join(map(str, config.gammas))!r}: every γ must be an integer ≥ 1")
    for name, value, low, high in (("--gamma", max(config.gammas), 1, MAX_GAMMA),
                                   ("--max-new-tokens", config.max_new_tokens, 1, MAX_NEW_TOKENS),
                                   ("--repeats", config.repeats, 1, MAX_DECODES),
                                   ("--num-prompts", config.num_prompts, 1, MAX_DECODES),
                                   ("--latency-samples", config.latency_samples, 2, MAX_LATENCY_SAMPLES),
                                   ("--latency-context", config.latency_context_tokens, 1, MAX_CONTEXT_TOKENS),
                                   ("--seed", config.seed, 0, MAX_SEED)):
        count_in(value, name, low, high)
    if not config.batch_sizes or any(b < 1 for b in config.batch_sizes):
        raise SpecplanError(f"--batch-size {','.join(map(str, config.batch_sizes))!r}: every batch size must be ≥ 1")
    count_in(max(config.batch_sizes), "--batch-size", 1, MAX_BATCH_SIZE)
    number_in(config.temperature, "--temperature", 0.0, 1e6)
    number_in(config.top_p, "--top-p", 0.0, 1.0, low_open=True)
    if config.device_map not in (None, "auto"):
        raise SpecplanError(f"--device-map {config.device_map!r}: the only choice is auto")
    if config.threads is not None:
        count_in(config.threads, "--threads", 1, 4096)
    decodes = config.repeats * config.num_prompts * (
        ("ar" in config.engines) + len([e for e in config.engines if e != "ar"]) * len(config.gammas))
    if decodes > MAX_DECODES:
        raise SpecplanError(f"--repeats {config.repeats} × --num-prompts {config.num_prompts} × engines and γ asks "
                            f"for {decodes} decodes, more than {MAX_DECODES} in one run; split it (--resume)")


@dataclass(frozen=True)
class Task:
    """One record to produce. ``key`` identifies it for ``--resume``."""

    kind: str  # run | latency | perplexity
    engine: str | None = None
    gamma: int | None = None
    prompt_index: int | None = None
    repeat: int | None = None
    model: str | None = None  # target | draft (latency, perplexity)
    new_tokens: int | None = None  # latency: tokens per timed step

    @property
    def key(self) -> tuple:
        return task_key(asdict(self))

    @property
    def label(self) -> str:
        if self.kind == "run":
            gamma = f" γ={self.gamma}" if self.gamma else ""
            return f"{self.engine}{gamma} prompt {self.prompt_index} repeat {self.repeat}"
        if self.kind == "latency":
            return f"latency {self.model} {self.new_tokens} token(s)/step"
        return f"perplexity {self.model}"


def task_key(record: dict) -> tuple:
    """What makes a record unique within a run (the same for a Task and the record it produced)."""
    if record.get("kind") == "run":
        key = ("run", record.get("engine"), record.get("gamma"), record.get("prompt_index"), record.get("repeat"))
        return key if record.get("batch_size") is None else key + (record["batch_size"], record.get("request_index"))
    if record.get("kind") == "engine":
        return ("engine", record.get("engine"), record.get("gamma"))
    if record.get("kind") == "latency":
        return ("latency", record.get("model"), record.get("new_tokens"))
    return (record.get("kind"), record.get("model"))


def plan_tasks(config: BenchConfig, num_prompts: int) -> list[Task]:
    """Runs paired and interleaved (per repeat and prompt: AR, then every speculative engine and γ back to back),
    then step latencies (target 1 and γ+1 tokens, draft 1 token), then perplexities."""
    speculative = [e for e in config.engines if e in ("sd", "hf")]  # vllm runs its own sweep (vllm_sweep)
    tasks = []
    for repeat in range(config.repeats):
        for index in range(num_prompts):
            if "ar" in config.engines:
                tasks.append(Task("run", "ar", None, index, repeat))
            tasks += [Task("run", e, g, index, repeat) for g in config.gammas for e in speculative]
    steps = sorted({1} | ({g + 1 for g in config.gammas} if speculative else set()))
    if any(e in TRANSFORMERS_ENGINES for e in config.engines):  # step latencies of the transformers models
        tasks += [Task("latency", model="target", new_tokens=k) for k in steps]
    if speculative:
        tasks.append(Task("latency", model="draft", new_tokens=1))
    if config.perplexity:
        tasks += [Task("perplexity", model="target"), Task("perplexity", model="draft")]
    return tasks


def effective_settings(config: BenchConfig, device: str, dtype: str, num_prompts: int, threads: int) -> dict:
    """Every setting that shaped the measurements (records.md ``settings``)."""
    from specplan.measure.engines.hf import assistant_settings

    return {
        "max_new_tokens": config.max_new_tokens, "temperature": config.temperature, "top_p": config.top_p,
        "seed": config.seed, "device": device, "dtype": dtype, "device_map": config.device_map,
        "prompts": config.prompts_file or BUILTIN, "num_prompts": num_prompts, "repeats": config.repeats,
        "gammas": list(config.gammas), "engines": list(config.engines), "stop_at_eos": False, "threads": threads,
        "latency_context_tokens": config.latency_context_tokens, "latency_samples": config.latency_samples,
        "perplexity_text": (config.perplexity_text or BUILTIN) if config.perplexity else None,
        "hf": {**assistant_settings(0), "num_assistant_tokens": "gamma"} if "hf" in config.engines else None,
    } | (vllm_settings(config, device) if "vllm" in config.engines else {})


def vllm_settings(config: BenchConfig, device: str) -> dict:
    """The vllm engine's settings (present only with ``--engines vllm``, so older runs resume unchanged)."""
    from specplan.measure.engines.vllm import recorded_environment

    v = config.vllm
    return {"batch_sizes": list(config.batch_sizes), "vllm": {
        "tensor_parallel_size": v.tensor_parallel_size, "draft_tensor_parallel_size": v.draft_tensor_parallel_size,
        "max_model_len": v.max_model_len, "gpu_memory_utilization": v.gpu_memory_utilization,
        "vllm_args": dict(v.extra), "max_num_seqs": max(config.batch_sizes),
        "environment": recorded_environment()}}


def environment(device: str, engines: tuple = ()) -> dict:
    from specplan.measure.devices import device_name, software_versions

    extra = {}
    if "vllm" in engines:
        from specplan.measure.engines.vllm import vllm_version

        extra["vllm"] = vllm_version()
    return {"device_name": device_name(device), **software_versions(), **extra}


def resume_header(existing: list, pair: dict, settings: dict) -> str | None:
    """The run_id to continue, after checking the file was written by the same pair and settings; None if empty."""
    if not existing:
        return None
    first = existing[0]
    if first.get("pair") != pair:
        raise SpecplanError(f"--resume: the file holds pair {first.get('pair')}, not {pair}")
    old = first.get("settings") or {}
    changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
    if changed:
        raise SpecplanError(f"--resume: settings differ from the file's ({', '.join(changed)}); "
                            "use the same options or another --output")
    return first.get("run_id")


def perplexity_text(path: str | None) -> tuple[str, str]:
    """(text, name for records): the user's file or the built-in prose + code sample."""
    if path is None:
        return (resources.files("specplan") / "assets" / "perplexity.txt").read_text(encoding="utf-8"), BUILTIN
    text = read_text_file(path, "--perplexity-text")
    if not text.strip():
        raise SpecplanError(f"--perplexity-text {path!r} holds no text to score")
    return text, path


def run_bench(config: BenchConfig, existing: tuple = (), on_start=None, on_record=None) -> "BenchResult":
    """Run every task not already in ``existing`` (records of an interrupted run); ``on_start(total)`` once the
    work is known, ``on_record(record, label)`` after each finished record (the caller writes it at once)."""
    import torch

    from specplan.measure.devices import resolve_device, resolve_dtype, set_cpu_threads
    from specplan.measure.loading import load_pair, preflight

    set_cpu_threads(config.threads)
    device = resolve_device(config.device)
    dtype, _ = resolve_dtype(None if config.dtype == "auto" else config.dtype, device)
    prompts = load_prompts(config.prompts_file, config.num_prompts)  # bad files fail before the heavy load
    text = perplexity_text(config.perplexity_text) if config.perplexity else None
    fits_vllm = _vllm_preflight(config, device) if "vllm" in config.engines else None

    def asks(tokenizer, target_config):  # checked before tokenising: a multi-megabyte prompt costs seconds and GB
        check_prompts_fit(prompts, getattr(target_config.get_text_config(), "max_position_embeddings", None),
                          config.prompts_file)
        return workload(config, [len(tokenizer(p.text).input_ids) for p in prompts])

    if any(e in TRANSFORMERS_ENGINES for e in config.engines) or config.perplexity:
        pair = load_pair(config.target, config.draft, device, dtype, config.device_map, config.trust_remote_code,
                         asks)
        tokenizer, notes = pair.tokenizer, pair.notes
    else:  # vllm alone: its engines load the weights; the tokenizer pre-flight still checks the pair
        pair, (tokenizer, checked) = None, preflight(config.target, config.draft, config.trust_remote_code)
        notes = checked.notes
    if fits_vllm:
        prompt_ids = [tokenizer(p.text).input_ids for p in prompts]
        fits_vllm(prompt_ids)  # every prompt fits vLLM's max model length, before any decoding
    header = {"pair": {"target": config.target.name, "draft": config.draft.name},
              "settings": effective_settings(config, pair.device if pair else device, dtype, len(prompts),
                                             torch.get_num_threads()),
              "environment": environment(pair.device if pair else device, config.engines)}
    run_id = resume_header(list(existing), header["pair"], header["settings"]) or uuid.uuid4().hex[:12]
    done = {task_key(r) for r in existing}
    tasks = [t for t in plan_tasks(config, len(prompts)) if t.key not in done]
    total = len(tasks)
    if fits_vllm:
        from specplan.measure.vllm_sweep import pending_count

        total += pending_count(config, len(prompts), done)
    if on_start:
        on_start(total)
    records, ar_outputs = [], {(r["prompt_index"], r["repeat"]): r["output_ids"] for r in existing
                               if r.get("kind") == "run" and r.get("engine") == "ar"}
    record = _record_maker({"run_id": run_id, **header})
    if tasks:
        runner = _Runner(config, pair, prompts, record, text, [t for t in tasks if t.kind == "latency"])
        runner.ar_outputs.update(ar_outputs)
        runner.warm_up(tasks)
        for task in tasks:
            records.append(runner.execute(task))
            if on_record:
                on_record(records[-1], task.label)
        ar_outputs = runner.ar_outputs
        del runner
    if fits_vllm:  # last: an in-process vLLM CPU engine binds this process's threads (torch.set_num_threads no-ops)
        from specplan.measure.vllm_sweep import VllmSweep

        del pair  # free the transformers models before vLLM sizes its memory (its share of each GPU)
        _free_device_memory(device)
        sweep = VllmSweep(config, prompt_ids, prompts, dtype, device == "cpu", record, list(existing), ar_outputs)
        records += sweep.run(on_record or (lambda record, label: None))
    return BenchResult(list(existing) + records, notes + batch_notes(config), total)


def _free_device_memory(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _vllm_preflight(config: BenchConfig, device: str):
    """Fail fast, before any model loads: vLLM importable, tensor-parallel size within the devices. Returns the
    check of prompt lengths against the max model length, run once the prompts are tokenised."""
    from specplan.measure.engines.vllm import check_parallel, import_llm, prepare_environment
    from specplan.measure.vllm_sweep import check_lengths, model_max_len

    prepare_environment(device == "cpu")
    import_llm()
    check_parallel(config.vllm, device == "cpu")

    def check(prompt_ids: list) -> None:  # after the pair's pre-flight: the target's config is known to load
        limit = config.vllm.max_model_len or model_max_len(config.target.location, config.trust_remote_code)
        if limit:
            check_lengths(prompt_ids, config.max_new_tokens, limit)

    return check


def batch_notes(config: BenchConfig) -> tuple:
    """Engines that decode one sequence at a time say so when a batch size above 1 is asked of them."""
    unbatched = [e for e in config.engines if e in TRANSFORMERS_ENGINES]
    if max(config.batch_sizes) > 1 and unbatched:
        return (f"{', '.join(unbatched)} decode one sequence at a time: they ran at batch size 1; "
                f"--batch-size {','.join(map(str, config.batch_sizes))} applies to vllm only",)
    return ()


def _record_maker(header: dict):
    """``record(kind, **fields)``: a record with the run's header and the time it was made."""

    def record(kind: str, **fields) -> dict:
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return {"kind": kind, "run_id": header["run_id"], "created": created, "pair": header["pair"],
                "settings": header["settings"], "environment": header["environment"], **fields}

    return record


def workload(config: BenchConfig, prompt_tokens: list):
    """What the run asks of the models (pre-flight, before weights load): its engines, and the positions of its
    longest sequence: the longest prompt + new tokens + γ (drafts run up to γ past the output), or the latency
    context + the longest timed step, whichever is more."""
    from specplan.measure.loading import Workload

    gamma = max(config.gammas) if any(e != "ar" for e in config.engines) else 0
    longest = max(prompt_tokens)
    decode = (longest + config.max_new_tokens + gamma,
              f"the longest prompt ({longest} tokens) + --max-new-tokens {config.max_new_tokens} + γ {gamma}")
    timed = (config.latency_context_tokens + gamma + 1,
             f"--latency-context {config.latency_context_tokens} + the longest timed step ({gamma + 1} tokens)")
    positions, why = max(decode, timed)
    return Workload(tuple(config.engines), positions, why)


@dataclass(frozen=True)
class BenchResult:
    records: list
    notes: tuple
    produced: int


class _Runner:
    """Executes tasks on one loaded pair; holds the encoded prompts and the AR outputs for exactness."""

    def __init__(self, config: BenchConfig, pair, prompts: list, record, text, latency_tasks: list):
        self.config, self.pair, self.prompts, self._record, self.text = config, pair, prompts, record, text
        self.prompt_ids = [self._encode(p.text) for p in prompts]
        self.ar_outputs = {}
        self.latency_tasks, self.latencies = latency_tasks, {}  # timed together, interleaved

    def _encode(self, text: str):
        return self.pair.tokenizer(text, return_tensors="pt").input_ids.to(self.pair.device)

    def warm_up(self, tasks: list) -> None:
        """One short untimed decode per engine and γ (kernels, allocator, lazy init), discarded."""
        for engine, gamma in sorted({(t.engine, t.gamma or 0) for t in tasks if t.kind == "run"}):
            self._decode(engine, gamma or None, self.prompt_ids[0], min(WARMUP_TOKENS, self.config.max_new_tokens), 0)

    def execute(self, task: Task) -> dict:
        if task.kind == "run":
            return self._run(task)
        if task.kind == "latency":
            return self._latency(task)
        return self._perplexity(task)

    def _decode(self, engine: str, gamma: int | None, prompt_ids, max_new_tokens: int, seed: int, clock=None):
        import torch

        from specplan.measure.engines.ar import decode_ar
        from specplan.measure.engines.hf import decode_hf
        from specplan.measure.engines.probs import Sampling
        from specplan.measure.engines.sd import decode_sd

        sampling = Sampling(self.config.temperature, self.config.top_p)
        generator = torch.Generator(device=self.pair.device).manual_seed(seed)
        target, draft, vocab = self.pair.target, self.pair.draft, self.pair.vocab_tokens
        if engine == "ar":
            return lambda: decode_ar(target, prompt_ids, max_new_tokens, sampling, generator, vocab)
        if engine == "sd":
            return lambda: decode_sd(target, draft, prompt_ids, gamma, max_new_tokens, sampling, generator, vocab,
                                     clock=clock)
        return lambda: decode_hf(target, draft, prompt_ids, gamma, max_new_tokens, sampling, seed)

    def _run(self, task: Task) -> dict:
        from specplan.measure.engines.round_clock import RoundClock
        from specplan.measure.timing import timed

        prompt_ids = self.prompt_ids[task.prompt_index]
        seed = self.config.seed + 1009 * task.prompt_index + 7919 * task.repeat  # per prompt and repeat
        clock = RoundClock(self.pair.device) if task.engine == "sd" else None
        work = self._decode(task.engine, task.gamma, prompt_ids, self.config.max_new_tokens, seed, clock)
        decoded, seconds = timed(self.pair.device, work)
        fields = {"engine": task.engine, "gamma": task.gamma, "prompt_index": task.prompt_index,
                  "prompt_category": self.prompts[task.prompt_index].category, "repeat": task.repeat,
                  "prompt_tokens": int(prompt_ids.shape[1]), "new_tokens": len(decoded.output_ids),
                  "wall_time_s": seconds, "output_ids": decoded.output_ids}
        if task.engine == "ar":
            self.ar_outputs[(task.prompt_index, task.repeat)] = decoded.output_ids
        else:
            fields["rounds"] = {"drafted": decoded.drafted, "accepted": decoded.accepted}
            if decoded.generator:
                fields["hf_generator"] = decoded.generator
            if clock is not None:
                fields["round_times"] = clock.record
            fields.update(self._exactness(task, prompt_ids, decoded.output_ids))
        return self._record("run", **fields)

    def _exactness(self, task: Task, prompt_ids, output_ids: list) -> dict:
        """Greedy only: identical to the paired AR output? Else where it first differs and the target's top-2 logit
        margin there (near 0: a numerical near-tie between batched and single-token kernels; large: a bug)."""
        reference = self.ar_outputs.get((task.prompt_index, task.repeat))
        if not self.config.greedy or reference is None:
            return {}
        diverged = first_divergence(reference, output_ids)
        if diverged is None:
            return {"exact": True, "first_divergence": None, "divergence_margin": None}
        margin = top2_margin(self.pair.target, prompt_ids, reference[:diverged], self.pair.vocab_tokens)
        return {"exact": False, "first_divergence": diverged, "divergence_margin": margin}

    def _latency(self, task: Task) -> dict:
        """All pending latency steps are timed together, interleaved, at the first latency task; the rest reuse it."""
        if task.key not in self.latencies:
            self._measure_latencies()
        latency = self.latencies[task.key]
        return self._record("latency", model=task.model, new_tokens=latency.new_tokens,
                            context_tokens=latency.context_tokens, median_s=latency.median_s, p10_s=latency.p10_s,
                            p90_s=latency.p90_s, samples=latency.samples)

    def _measure_latencies(self) -> None:
        from specplan.measure.timing import step_latencies

        tasks = self.latency_tasks
        base = self.prompt_ids[0][0]  # the first prompt, tiled to the context length
        length = max([self.config.latency_context_tokens] + [t.new_tokens for t in tasks])
        context = base.repeat(-(-length // base.shape[0]))[:length].view(1, -1)
        steps = [(self.pair.target if t.model == "target" else self.pair.draft, t.new_tokens) for t in tasks]
        measured = step_latencies(steps, context, self.pair.device, self.pair.vocab_tokens,
                                  samples=self.config.latency_samples)
        self.latencies.update({t.key: m for t, m in zip(tasks, measured)})

    def _perplexity(self, task: Task) -> dict:
        from specplan.measure.engines.perplexity import perplexity

        model = self.pair.target if task.model == "target" else self.pair.draft
        text, name = self.text
        window = min(512, getattr(model.config.get_text_config(), "max_position_embeddings", 512) or 512)
        value, tokens = perplexity(model, self._encode(text), self.pair.vocab_tokens, window)
        return self._record("perplexity", model=task.model, perplexity=value, tokens=tokens, text=name)


def first_divergence(reference: list, output: list) -> int | None:
    """0-based position of the first differing token (a length difference counts), or None when identical."""
    for position, (a, b) in enumerate(zip(reference, output)):
        if a != b:
            return position
    return None if len(reference) == len(output) else min(len(reference), len(output))


def top2_margin(target, prompt_ids, prefix: list, vocab_tokens: int) -> float:
    """The target's top-1 minus top-2 logit after prompt + ``prefix`` (one uncached forward pass)."""
    import torch

    from specplan.measure.engines.cache import new_cache
    from specplan.measure.engines.step import forward

    ids = torch.cat([prompt_ids[0], torch.tensor(prefix, dtype=torch.long, device=prompt_ids.device)]).view(1, -1)
    top = forward(target, ids, new_cache(target, rollback=False), 1, vocab_tokens)[-1].float().topk(2).values
    return float(top[0] - top[1])


def resumable_records(path: str) -> list:
    """Records of the last run in ``path`` for ``--resume``. A line cut short by a crash is dropped first (it was
    never a complete record), so new records start on a fresh line; other bad lines are moved out by
    :func:`set_aside_bad_lines` (call it first) so that the resumed file reads cleanly."""
    from specplan.records import read_records

    file = Path(path)
    if not file.is_file():
        return []
    data = file.read_bytes()
    if data and not data.endswith(b"\n"):
        file.write_bytes(data[: data.rfind(b"\n") + 1])
    records = read_records([file], skip_bad_lines=True).records
    last_run = records[-1].get("run_id") if records else None
    return [r for r in records if r.get("run_id") == last_run]


def set_aside_bad_lines(path: str) -> list:
    """Move lines of ``path`` that are not valid records (a corrupt line in the middle) to ``path.bad-lines`` and
    rewrite ``path`` without them (atomically), so the resumed file is one that ``report`` reads. Returns one note
    per line moved; nothing is deleted."""
    import os

    from specplan.records import read_records

    file = Path(path)
    if not file.is_file():
        return []
    data = file.read_bytes()
    complete = data[: data.rfind(b"\n") + 1] if data and not data.endswith(b"\n") else data
    skipped = read_records([file], skip_bad_lines=True).skipped if complete else []
    if not skipped:
        return []
    lines = complete.split(b"\n")[:-1]
    numbers = {int(line[len(str(file)) + 1:].split(":", 1)[0]): line for line in skipped}  # "file:N: why"
    bad = {n for n in numbers if n <= len(lines)}  # not the cut last line: resumable_records drops it
    if not bad:
        return []
    aside = file.with_name(file.name + ".bad-lines")
    with aside.open("ab") as out:
        out.writelines(lines[n - 1] + b"\n" for n in sorted(bad))
    temporary = file.with_name(file.name + ".resume-tmp")
    temporary.write_bytes(b"".join(line + b"\n" for n, line in enumerate(lines, 1) if n not in bad))
    os.replace(temporary, file)
    return [f"{numbers[n]} (moved to {aside})" for n in sorted(bad)]
