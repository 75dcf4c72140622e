"""``bench``'s runner: load the pair, run the sequential engines paired and interleaved per prompt, time step
latencies and perplexities, then each batched engine; hand each finished record to the caller (who appends it to
the JSONL file). torch and transformers are imported inside functions only."""

import uuid
from dataclasses import dataclass
from importlib import resources

from specplan.checks import read_text_file
from specplan.errors import SpecplanError
from specplan.measure.bench.config import BenchConfig, batch_notes, latency_context, workload
from specplan.measure.bench.header import effective_settings, environment, record_maker, resume_header
from specplan.measure.bench.tasks import Task, plan_tasks
from specplan.measure.engines import registry
from specplan.measure.engines.base import WARMUP_TOKENS, BatchedJob, run_fields, run_seed, task_key
from specplan.measure.engines.exactness import exactness, top2_margin
from specplan.measure.prompts import BUILTIN, check_prompts_fit, load_prompts

COMPILED_KEY = ("engine", "compiled", None)  # task key of the compiled engine's record
PERPLEXITY_WINDOW = 512  # tokens scored per window (less where the model has fewer positions)


@dataclass(frozen=True)
class BenchResult:
    records: list
    notes: tuple
    produced: int


def perplexity_text(path: str | None) -> tuple[str, str]:
    """(text, name for records): the user's file or the built-in prose + code sample."""
    if path is None:
        return (resources.files("specplan") / "assets" / "perplexity.txt").read_text(encoding="utf-8"), BUILTIN
    text = read_text_file(path, "--perplexity-text")
    if not text.strip():
        raise SpecplanError(f"--perplexity-text {path!r} holds no text to score")
    return text, path


def run_bench(config: BenchConfig, existing: tuple = (), on_start=None, on_record=None) -> BenchResult:
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
    prompt_checks = [engine.preflight(config, device) for engine in config.batched]

    cut = ()

    def asks(tokenizer, target_config):  # checked before tokenising: a multi-megabyte prompt costs seconds and GB
        nonlocal config, cut
        positions = getattr(target_config.get_text_config(), "max_position_embeddings", None)
        check_prompts_fit(prompts, positions, config.prompts_file)
        config, cut = latency_context(config, positions)
        return workload(config, [len(tokenizer(p.text).input_ids) for p in prompts])

    if config.sequential or config.perplexity:
        pair = load_pair(config.target, config.draft, device, dtype, config.device_map, config.trust_remote_code,
                         asks)
        tokenizer, notes = pair.tokenizer, pair.notes + cut
    else:  # batched engines alone load the weights; the tokenizer pre-flight still checks the pair
        pair, (tokenizer, checked) = None, preflight(config.target, config.draft, config.trust_remote_code)
        notes = checked.notes
        config, cut = latency_context(config, None)  # no single steps are timed: the setting is only recorded
    prompt_ids = [tokenizer(p.text).input_ids for p in prompts] if prompt_checks else None
    for check in prompt_checks:
        check(prompt_ids)  # every prompt fits the batched engine's max model length, before any decoding
    header = {"pair": {"target": config.target.name, "draft": config.draft.name},
              "settings": effective_settings(config, pair.device if pair else device, dtype, len(prompts),
                                             torch.get_num_threads()),
              "environment": environment(pair.device if pair else device, config.engines)}
    run_id = resume_header(list(existing), header["pair"], header["settings"]) or uuid.uuid4().hex[:12]
    done = {task_key(r) for r in existing}
    tasks = [t for t in plan_tasks(config, len(prompts)) if t.key not in done]
    compiles = config.compile and any(t.kind == "run" and t.engine in registry.COMPILED for t in tasks)
    engine_record = compiles and COMPILED_KEY not in done  # written once per run, also when --resume recompiles
    total = len(tasks) + engine_record + sum(engine.pending(config, len(prompts), done) for engine in config.batched)
    if on_start:
        on_start(total)
    baseline = registry.baseline().name
    records, baseline_outputs = [], {(r["prompt_index"], r["repeat"]): r["output_ids"] for r in existing
                                     if r.get("kind") == "run" and r.get("engine") == baseline}
    record = record_maker({"run_id": run_id, **header})
    if tasks:
        runner = _Runner(config, pair, prompts, record, text, [t for t in tasks if t.kind == "latency"])
        runner.baseline_outputs.update(baseline_outputs)
        if compiles:  # every shape compiled and warmed up once, before the first timed run
            prepared = record("engine", **registry.prepare_compiled(config, pair, runner.prompt_ids))
            if engine_record:
                records.append(prepared)
                if on_record:
                    on_record(prepared, "compiled engine: compile and warm-up")
        runner.warm_up(tasks)
        for task in tasks:
            records.append(runner.execute(task))
            if on_record:
                on_record(records[-1], task.label)
        baseline_outputs = runner.baseline_outputs
        late = registry.late_compiles(pair) if compiles else ()
        if late:
            notes += (f"--compile: shapes first compiled inside a timed run ({', '.join(late)}); their compile "
                      "time is in those runs' wall time",)
        del runner
    if config.batched:  # last: an in-process vLLM CPU engine binds this process's threads
        del pair  # free the transformers models before the engine sizes its memory (its share of each GPU)
        _free_device_memory(device)
        job = BatchedJob(prompt_ids, prompts, dtype, device == "cpu", record, list(existing), baseline_outputs, done)
        for engine in config.batched:
            records += engine.run(config, job, on_record or (lambda record, label: None))
    return BenchResult(list(existing) + records, notes + batch_notes(config), total)


def _free_device_memory(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


class _Runner:
    """Executes tasks on one loaded pair; holds the encoded prompts and the baseline outputs for exactness."""

    def __init__(self, config: BenchConfig, pair, prompts: list, record, text, latency_tasks: list):
        self.config, self.pair, self.prompts, self._record, self.text = config, pair, prompts, record, text
        self.prompt_ids = [self._encode(p.text) for p in prompts]
        self.baseline_outputs = {}
        self.latency_tasks, self.latencies = latency_tasks, {}  # timed together, interleaved

    def _encode(self, text: str):
        return self.pair.tokenizer(text, return_tensors="pt").input_ids.to(self.pair.device)

    def warm_up(self, tasks: list) -> None:
        """One short untimed decode per engine and γ (kernels, allocator, lazy init), discarded."""
        for name, gamma in sorted({(t.engine, t.gamma or 0) for t in tasks if t.kind == "run"}):
            self._decode(self.config.engine(name), gamma or None, self.prompt_ids[0],
                         min(WARMUP_TOKENS, self.config.max_new_tokens), 0)()

    def execute(self, task: Task) -> dict:
        if task.kind == "run":
            return self._run(task)
        if task.kind == "latency":
            return self._latency(task)
        return self._perplexity(task)

    def _decode(self, engine, gamma: int | None, prompt_ids, max_new_tokens: int, seed: int, clock=None):
        from specplan.measure.engines.probs import Sampling

        sampling = Sampling(self.config.temperature, self.config.top_p)
        return lambda: engine.decode(self.pair, prompt_ids, gamma, max_new_tokens, sampling, seed, clock)

    def _run(self, task: Task) -> dict:
        from specplan.measure.engines.round_clock import RoundClock
        from specplan.measure.timing import timed

        engine = self.config.engine(task.engine)
        prompt_ids = self.prompt_ids[task.prompt_index]
        clock = RoundClock(self.pair.device) if engine.times_rounds else None
        work = self._decode(engine, task.gamma, prompt_ids, self.config.max_new_tokens,
                            run_seed(self.config.seed, task.prompt_index, task.repeat), clock)
        decoded, seconds = timed(self.pair.device, work)
        fields = run_fields(task.engine, task.gamma, task.prompt_index, self.prompts[task.prompt_index].category,
                            task.repeat, int(prompt_ids.shape[1]), decoded.output_ids, seconds)
        if not engine.speculative:
            self.baseline_outputs[(task.prompt_index, task.repeat)] = decoded.output_ids
        else:
            fields.update(engine.run_fields(decoded, clock))
            reference = self.baseline_outputs.get((task.prompt_index, task.repeat))
            fields.update(exactness(self.config.greedy, reference, decoded.output_ids, lambda prefix: top2_margin(
                self.pair.target, prompt_ids, prefix, self.pair.vocab_tokens)))
        return self._record("run", **fields)

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
        window = min(PERPLEXITY_WINDOW, getattr(model.config.get_text_config(), "max_position_embeddings",
                                                PERPLEXITY_WINDOW) or PERPLEXITY_WINDOW)
        value, tokens = perplexity(model, self._encode(text), self.pair.vocab_tokens, window)
        return self._record("perplexity", model=task.model, perplexity=value, tokens=tokens, text=name)
