"""vLLM for ``profile --engine vllm`` (:mod:`specplan.measure.vllm_profile`): one engine on random-weight checkpoint
folders (token ids in and out, prefix caching on), greedy waves timed whole, vLLM's speculative counters. vLLM is
imported inside functions only (:mod:`specplan.measure.engines.vllm_llm`)."""

from specplan.errors import SpecplanError
from specplan.measure.engines.serving_options import VllmSettings
from specplan.measure.engines import vllm_llm

PROFILE_ENGINE = "vllm"  # the profile kind this writes (plan/hardware.PROFILE_ENGINES), and its version key
DEFAULT_BLOCK_SIZE = 16  # vLLM's usual KV-cache block, where its config cannot be read


def prepare(on_cpu: bool) -> None:
    """vLLM's environment defaults (before it imports), then vLLM importable or a one-line error."""
    vllm_llm.prepare_environment(on_cpu)
    vllm_llm.import_llm()


class StepEngine:
    """One started vLLM engine on ``path`` (with ``draft`` as ``draft_model`` at ``gamma``, or alone); ``args`` as
    started, ``close()`` frees it before the next one starts."""

    def __init__(self, path: str, draft: str | None, gamma: int | None, dtype: str, max_num_seqs: int,
                 max_model_len: int, seed: int, on_cpu: bool):
        args = vllm_llm.engine_args(path, draft, gamma, VllmSettings(max_model_len=max_model_len), dtype,
                                    max_num_seqs, seed, on_cpu)
        args.pop("tokenizer", None)
        args.update(skip_tokenizer_init=True, enable_prefix_caching=True)  # token ids in and out; contexts cached
        self.args, self.seed = args, seed
        self.engine = vllm_llm.VllmEngine(args)

    def generate_s(self, prompts: list, tokens: int) -> float:
        """Seconds to generate exactly ``tokens`` greedy tokens for every prompt (token ids), submitted together
        (bench's own wave, :meth:`VllmEngine.generate`)."""
        wave = self.engine.generate(prompts, tokens, 0.0, 1.0, [self.seed] * len(prompts))
        for request in wave.requests:
            if len(request.output_ids) != tokens:
                raise SpecplanError(f"vLLM generated {len(request.output_ids)} tokens instead of {tokens}")
        return wave.seconds

    def counters(self) -> dict:
        return self.engine.counters()

    def block_size(self) -> int:
        """Tokens per KV-cache block: prefix caching keeps whole blocks only."""
        try:
            return int(self.engine.llm.llm_engine.vllm_config.cache_config.block_size)
        except (AttributeError, TypeError, ValueError):
            return DEFAULT_BLOCK_SIZE

    def close(self) -> None:
        self.engine.close()


def recorded_environment() -> dict:
    return vllm_llm.recorded_environment()


def version() -> str:
    return vllm_llm.vllm_version()
