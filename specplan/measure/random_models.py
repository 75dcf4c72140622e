"""Randomly initialised decoder-only models for measuring step latency (``profile``; reusable by ``bench``).

Step latency does not depend on trained weights, so a random model of the right shape times a decode step
faithfully, offline, with nothing downloaded. torch and transformers are imported inside the functions.

The ladder models (``build_random_llama``) follow the shape rule of :mod:`specplan.plan.shapes`:

- layers and width from ``shape_for_params(params)``; heads = width // 64; grouped-query attention with
  about ``KV_HEAD_FRACTION`` of the heads as KV heads, as in plan's KV-cache model: the divisor of the head count
  nearest to that share (attention needs KV heads that divide the query heads), at least one;
- the gated MLP's intermediate size is chosen so that each layer holds ≈ 12·width² parameters, the rule's count;
- a small vocabulary (``LADDER_VOCAB_SIZE`` = 4096) with tied input and output embeddings. Tied, every counted
  parameter is read once per decode step (the output projection uses the embedding matrix), which is what a
  cost-per-parameter latency model assumes; small, the embeddings stay a minor share even of a 2M model.
- the parameter count that describes a model is its *total* count, embeddings included (``count_params``):
  the number a user gives ``plan --target-params``. It differs from the requested size by the rounding of layers
  and width and by the embeddings; the profile records both.
"""

from dataclasses import dataclass

from specplan.errors import SpecplanError, first_line
from specplan.plan.hardware import KV_HEAD_FRACTION
from specplan.plan.shapes import DEFAULT_ASPECT_RATIO, HEAD_DIM, shape_for_params

LADDER_VOCAB_SIZE = 4096
_INTERMEDIATE_MULTIPLE = 32


@dataclass(frozen=True)
class ModelShape:
    """What a built model is, as the profile records it."""

    label: str  # "20M" for a ladder size, or the --model id/path
    params: int  # total parameters, embeddings included (tied embeddings counted once)
    layers: int
    width: int
    vocab_size: int


def ladder_config(params: float, aspect_ratio: float = DEFAULT_ASPECT_RATIO, vocab_size: int = LADDER_VOCAB_SIZE,
                  max_positions: int = 4096):
    """A LlamaConfig of the shape rule's layers and width for ``params`` (see the module docstring)."""
    from transformers import LlamaConfig

    shape = shape_for_params(params, aspect_ratio)
    kv_heads = kv_heads_for(shape.heads)
    attention_params = 2 * shape.width**2 + 2 * shape.width * kv_heads * HEAD_DIM  # q, o full; k, v grouped
    mlp_params = 12 * shape.width**2 - attention_params  # gate, up and down: 3·width·intermediate
    intermediate = max(_INTERMEDIATE_MULTIPLE,
                       _INTERMEDIATE_MULTIPLE * round(mlp_params / (3 * shape.width) / _INTERMEDIATE_MULTIPLE))
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=shape.width, intermediate_size=intermediate,
        num_hidden_layers=shape.layers, num_attention_heads=shape.heads, num_key_value_heads=kv_heads,
        head_dim=HEAD_DIM, max_position_embeddings=max_positions, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )


def kv_heads_for(heads: int) -> int:
    """KV heads for ``heads`` query heads: the divisor of ``heads`` nearest to ``KV_HEAD_FRACTION`` of them (the
    smaller one on a tie), so that every KV head serves the same number of query heads."""
    wanted = heads * KV_HEAD_FRACTION
    divisors = [d for d in range(1, heads + 1) if heads % d == 0]
    return min(divisors, key=lambda d: (abs(d - wanted), d))


def config_for_model(model_id_or_path: str):
    """The architecture of a real model from its config alone (a local folder, or a hub id: only config.json is
    fetched; no weights, no tokenizer)."""
    from pathlib import Path

    from transformers import AutoConfig

    if model_id_or_path.startswith((".", "/", "~")) and not Path(model_id_or_path).expanduser().is_dir():
        raise SpecplanError(f"--model {model_id_or_path!r}: no such folder")
    if not Path(model_id_or_path).expanduser().exists():
        from specplan.measure.loading import offline_unless_hub_reachable

        offline_unless_hub_reachable()
    from specplan.measure.loading import check_config_file

    check_config_file(model_id_or_path, "--model")
    try:
        config = AutoConfig.from_pretrained(model_id_or_path)
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, huggingface_hub's StrictDataclassError, ...
        raise SpecplanError(f"--model {model_id_or_path!r}: could not read its config ({first_line(exc)})") \
            from None
    check_decoder_only(config, model_id_or_path)
    return config


def check_decoder_only(config, name: str) -> None:
    """profile times the decode steps of causal (decoder-only) language models; an encoder-decoder (T5, BART)
    decodes differently and is refused by name."""
    if getattr(config, "is_encoder_decoder", False):
        raise SpecplanError(f"--model {name!r} is an encoder-decoder ({config.model_type}); profile times "
                            "decoder-only causal language models")


def build_from_config(config, dtype, device: str, seed: int = 0):
    """A causal LM of ``config`` with random weights (seeded, without touching the global RNG), built directly on
    ``device`` in ``dtype`` and put in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model.to(device=device, dtype=dtype).eval()


def build_random_llama(params: float, dtype, device: str, seed: int = 0,
                       aspect_ratio: float = DEFAULT_ASPECT_RATIO, vocab_size: int = LADDER_VOCAB_SIZE,
                       max_positions: int = 4096):
    """A random-weight Llama of about ``params`` parameters under the shape rule (module docstring)."""
    return build_from_config(ladder_config(params, aspect_ratio, vocab_size, max_positions), dtype, device, seed)


def count_params(model) -> int:
    """Total parameters; ``model.parameters()`` yields a tied (shared) tensor once, so it is counted once."""
    return sum(p.numel() for p in model.parameters())


def describe(model, label: str) -> ModelShape:
    config = model.config.get_text_config()
    return ModelShape(label=label, params=count_params(model), layers=config.num_hidden_layers,
                      width=config.hidden_size, vocab_size=config.vocab_size)
