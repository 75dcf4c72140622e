"""Settings of the batched serving engine (vLLM) that ``bench`` passes through from its command line: scale-out,
memory and any other engine argument (``--vllm-arg``). Pure: no vLLM import."""

import json
from dataclasses import dataclass

from specplan.errors import SpecplanError


DRAFT_SAMPLE_METHODS = ("greedy", "probabilistic")  # vLLM 0.32's SpeculativeConfig.draft_sample_method
DRAFT_SAMPLE_DEFAULT = "greedy"  # vLLM's default: the draft's argmax, its probabilities taken as one-hot


@dataclass(frozen=True)
class VllmSettings:
    """Scale-out and engine settings passed through to vLLM (``bench --help``); ``extra`` holds ``--vllm-arg``."""

    tensor_parallel_size: int = 1
    # the draft on one device, as plan assumes and emits (None: vLLM's own default, the target's)
    draft_tensor_parallel_size: int | None = 1
    max_model_len: int | None = None  # None: the target's
    gpu_memory_utilization: float = 0.9
    extra: tuple = ()  # ((key, value), ...)
    # speculative_config's draft_sample_method (None: not set, vLLM's own default, DRAFT_SAMPLE_DEFAULT)
    draft_sample_method: str | None = None
    cpu_repair: bool = True  # repair vLLM's CPU sampling stand-in where it is wrong (vllm_cpu_sampling.py)

    def __post_init__(self):
        if self.tensor_parallel_size < 1:
            raise SpecplanError(f"--tensor-parallel-size {self.tensor_parallel_size} must be at least 1")
        draft = self.draft_tensor_parallel_size
        if draft is not None and draft not in (1, self.tensor_parallel_size):
            raise SpecplanError(f"--draft-tensor-parallel-size {draft} must be 1 or the target's "
                                f"--tensor-parallel-size ({self.tensor_parallel_size}) (vLLM's rule)")
        if self.max_model_len is not None and self.max_model_len < 2:
            raise SpecplanError(f"--max-model-len {self.max_model_len} must be at least 2")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise SpecplanError(f"--gpu-memory-utilization {self.gpu_memory_utilization} must be in (0, 1]")
        if self.draft_sample_method is not None and self.draft_sample_method not in DRAFT_SAMPLE_METHODS:
            raise SpecplanError(f"--draft-sample-method {self.draft_sample_method!r}: choose from "
                                f"{', '.join(DRAFT_SAMPLE_METHODS)}")

    def draft_sampling(self) -> tuple:
        """(draft_sample_method in effect, where it comes from): the option, or vLLM's default."""
        if self.draft_sample_method is None:
            return DRAFT_SAMPLE_DEFAULT, "vLLM default"
        return self.draft_sample_method, "--draft-sample-method"


def parse_vllm_arg(text: str) -> tuple:
    """``KEY=VALUE`` -> (key, value); VALUE is read as JSON when it parses (numbers, true/false, null, lists,
    objects), else kept as a string. A missing ``=`` or a key that is not an identifier is a one-line error."""
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key.isidentifier():
        raise SpecplanError(f"--vllm-arg {text!r}: expected KEY=VALUE with KEY a vLLM engine argument "
                            "(e.g. enforce_eager=true, kv_cache_memory_bytes=2147483648)")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw
