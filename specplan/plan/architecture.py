"""A model's real shape, read from its ``config.json`` (a plain dict: no transformers), and what a step streams.

The latency model needs, per model: parameters (total, and active per token for mixture-of-experts), layers, width,
KV heads × head dim (grouped-query attention), embedding rows, whether the LM head is tied to the embedding, and the
dtype. :func:`from_config` reads them from a Hugging Face config; :func:`count_params` recomputes the parameter
count from the shape, per architecture (the formulas are the ones the catalog's counts were checked with):

- gated-MLP decoders (Llama, Mistral, Qwen2/2.5/3, Gemma 2/3, OLMo 2, SmolLM2): per layer
  ``h·(nh·hd) + 2·h·(nkv·hd) + (nh·hd)·h + 3·h·inter + norms`` (+ q/k/v biases for Qwen2, + q/k-norms for Qwen3 and
  Gemma 3, + full-width q/k-norms for OLMo 2; 2 norms per layer, 4 for Gemma 2/3); total ``L·layer + V·h
  (twice when untied) + h``. Mixture-of-experts: ``h·E + E·3·h·moe_inter`` per layer instead of the MLP (router +
  experts), ``k`` of the ``E`` experts active per token.
- GPT-NeoX (Pythia): biases, two LayerNorms, a 4h GELU MLP, untied. OPT: biases, LayerNorms, a 4h ReLU MLP, learned
  positions (``max_position_embeddings + 2`` rows), tied.

:func:`rule_architecture` is the shape rule (``shapes.py``) in the same form, for draft sizes that have no checkpoint.
What the latency model takes from it: docs/theory.md §5.
"""

import math
from dataclasses import dataclass

from specplan.errors import SpecplanError
from specplan.plan.model_config import check_config, text_fields
from specplan.plan.shapes import DEFAULT_ASPECT_RATIO, layers_exact
from specplan.units import format_count

# Grouped-query attention in the shape rule: KV heads as a share of query heads (LLaMA-3-70B: 8 of 64).
RULE_KV_FRACTION = 0.125
_DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float8_e4m3fn": "fp8", "int8": "int8"}
# Config keys that name the decoder; causal-LM architectures end in one of these class-name suffixes.
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
# transformers' defaults for tie_word_embeddings where a config omits it (per model class).
_TIED_BY_DEFAULT = {"gemma", "gemma2", "gemma3", "gemma3_text", "opt", "gpt2", "phi3"}


@dataclass(frozen=True)
class Architecture:
    """The shape of one model as the latency model uses it. Floats where the shape rule gives real values."""

    model_type: str
    layers: float
    hidden: float
    heads: int | None  # query heads (None under the shape rule)
    kv_dim: float  # KV heads × head dim: K (and V) values per token per layer
    kv_heads: int | None
    vocab_rows: int  # embedding rows (config vocab_size), what vLLM/SGLang compare; 0 under the shape rule
    tied: bool
    params_total: float
    params_active: float  # per token: equals params_total for dense models
    expert_params: float = 0.0  # all routed experts' parameters, every layer (0 for dense)
    experts: int = 0
    experts_per_token: int = 0
    dtype: str | None = None  # the checkpoint's dtype as a --dtype name, when the config states it
    max_position_embeddings: int | None = None  # the longest sequence its config allows (vLLM's max_model_len)

    @property
    def input_embedding_params(self) -> float:
        """Rows looked up, not multiplied: a step reads only the rows of its tokens. 0 when tied (the same
        matrix is the LM head, which is read in full)."""
        return 0.0 if self.tied else float(self.vocab_rows) * self.hidden

    def streamed_params(self, new_tokens: int) -> float:
        """Parameters read from memory by a step with ``new_tokens`` tokens in flight (all sequences): every
        dense weight, and for mixture-of-experts the experts those tokens route to, E·(1 − (1 − k/E)^n) of E
        in expectation under uniform routing."""
        dense = self.params_total - self.input_embedding_params - self.expert_params
        if not self.experts:
            return dense
        touched = 1.0 - (1.0 - self.experts_per_token / self.experts) ** max(new_tokens, 1)
        return dense + self.expert_params * touched

    @property
    def matmul_params(self) -> float:
        """Parameters multiplied per token (2 FLOPs each): the active ones less the input embedding lookup."""
        return self.params_active - self.input_embedding_params

    def kv_bytes_per_token(self, elem_bytes: float) -> float:
        """K and V of one cached token, every layer."""
        return 2.0 * self.layers * self.kv_dim * elem_bytes


def rule_architecture(params: float, aspect_ratio: float = DEFAULT_ASPECT_RATIO) -> Architecture:
    """The shape rule as an architecture: real-valued layers, width = aspect·layers, KV width 1/8 of the width,
    every parameter streamed (no embedding accounted separately)."""
    layers = layers_exact(params, aspect_ratio)
    hidden = aspect_ratio * layers
    return Architecture(model_type="shape rule", layers=layers, hidden=hidden, heads=None,
                        kv_dim=hidden * RULE_KV_FRACTION, kv_heads=None, vocab_rows=0, tied=True,
                        params_total=params, params_active=params)


text_config = text_fields  # multimodal configs (Gemma 3, Llava, ...) nest the decoder under ``text_config``


def check_causal(config: dict, where: str) -> None:
    """Refuse configs that do not describe a decoder-only language model (one line naming the class)."""
    if config.get("is_encoder_decoder"):
        raise SpecplanError(f"{where}: {config.get('model_type', 'this model')!r} is an encoder-decoder model, "
                            "not a decoder-only causal LM")
    names = config.get("architectures") or []
    if names and not any(str(n).endswith(_CAUSAL_SUFFIXES) for n in names):
        raise SpecplanError(f"{where}: {', '.join(map(str, names))} is not a causal language model "
                            "(expected an architecture ending in ForCausalLM)")


def _tied(cfg: dict, model_type: str) -> bool:
    """tie_word_embeddings (a checked bool), else the model class's default."""
    value = cfg.get("tie_word_embeddings")
    return model_type in _TIED_BY_DEFAULT if value is None else value


def _int(cfg: dict, key: str, where: str, default=None) -> int:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecplanError(f"{where}: config key {key!r} must be a positive integer, got {value!r}")
    return value


def _gated_layer(cfg: dict, h: int, nh: int, nkv: int, hd: int, model_type: str) -> tuple:
    """(dense parameters per layer, routed-expert parameters per layer, active expert parameters per layer)."""
    attention = h * nh * hd + 2 * h * nkv * hd + nh * hd * h
    if model_type == "qwen2":  # q, k and v biases
        attention += nh * hd + 2 * nkv * hd
    elif cfg.get("attention_bias"):  # q, k, v and o biases
        attention += nh * hd + 2 * nkv * hd + h
    if model_type in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text"):
        attention += 2 * hd  # q-norm and k-norm over the head dim
    if model_type == "olmo2":
        attention += nh * hd + nkv * hd  # q-norm and k-norm over the full projections
    norms = (4 if model_type.startswith("gemma") and model_type != "gemma" else 2) * h
    experts = cfg.get("num_experts") or cfg.get("num_local_experts") or 0
    if experts:
        k = _int(cfg, "num_experts_per_tok", "config")
        inter = cfg.get("moe_intermediate_size") or cfg.get("intermediate_size")
        expert = 3 * h * inter
        shared_inter = cfg.get("shared_expert_intermediate_size") or 0  # Qwen2-MoE: a shared expert and its gate
        shared = 3 * h * shared_inter + (h if shared_inter else 0)
        return attention + norms + h * experts + shared, experts * expert, k * expert
    return attention + norms + 3 * h * cfg["intermediate_size"], 0, 0


def count_params(config: dict, where: str = "config") -> tuple:
    """(total, active per token, routed-expert total) parameters of the model a config describes."""
    cfg = text_config(config)
    model_type = str(cfg.get("model_type", ""))
    h, layers = _int(cfg, "hidden_size", where), _int(cfg, "num_hidden_layers", where)
    vocab = _int(cfg, "vocab_size", where)
    nh = _int(cfg, "num_attention_heads", where)
    tied = _tied(cfg, model_type)
    if model_type == "gpt_neox":  # Pythia: fused qkv with bias, dense, 4h MLP with biases, 2 LayerNorms
        inter = cfg.get("intermediate_size") or 4 * h
        layer = (3 * h * h + 3 * h) + (h * h + h) + (h * inter + inter + inter * h + h) + 4 * h
        total = layers * layer + vocab * h * (1 if tied else 2) + 2 * h
        return total, total, 0
    if model_type == "opt":
        inter = cfg.get("ffn_dim") or 4 * h
        layer = 4 * (h * h + h) + (h * inter + inter + inter * h + h) + 4 * h
        proj = cfg.get("word_embed_proj_dim") or h
        embed = vocab * proj + (0 if proj == h else 2 * h * proj)
        positions = ((cfg.get("max_position_embeddings") or 2048) + 2) * h
        total = layers * layer + embed * (1 if tied else 2) + positions + 2 * h
        return total, total, 0
    experts = cfg.get("num_experts") or cfg.get("num_local_experts")
    if cfg.get("intermediate_size") is None and (cfg.get("moe_intermediate_size") is None or not experts):
        raise SpecplanError(f"{where}: config has no 'intermediate_size' (architecture {model_type!r} not modelled)")
    nkv = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or h // nh
    dense, experts, active_experts = _gated_layer(cfg, h, nh, nkv, hd, model_type)
    embeddings = vocab * h * (1 if tied else 2) + h
    total = layers * (dense + experts) + embeddings
    return total, layers * (dense + active_experts) + embeddings, layers * experts


def weight_dtype(cfg: dict) -> str | None:
    """The weights' dtype as a --dtype name: a quantization_config's (fp8; AWQ/GPTQ/bitsandbytes 4 or 8 bits),
    else torch_dtype's; None when the config states neither or an unknown scheme."""
    quant = cfg.get("quantization_config")
    if isinstance(quant, dict):
        method = str(quant.get("quant_method", "")).lower()
        bits = quant.get("bits") or quant.get("w_bit") or (4 if quant.get("load_in_4bit") else
                                                           8 if quant.get("load_in_8bit") else None)
        if method in ("fp8", "fbgemm_fp8"):
            return "fp8"
        if method in ("awq", "gptq", "bitsandbytes") and bits in (4, 8):
            return f"int{bits}"
        return None
    dtype = cfg.get("torch_dtype") or cfg.get("dtype")
    return _DTYPES.get(str(dtype)) if dtype else None


def from_config(config, where: str) -> Architecture:
    """The architecture a config.json (already parsed) describes; bad or missing keys are one-line errors."""
    check_config(config, where)
    check_causal(config, where)
    cfg = text_config(config)
    total, active, experts = count_params(config, where)
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or h // nh
    model_type = str(cfg.get("model_type", ""))
    return Architecture(
        model_type=model_type, layers=cfg["num_hidden_layers"], hidden=h, heads=nh, kv_dim=nkv * hd,
        kv_heads=nkv, vocab_rows=cfg["vocab_size"],
        tied=_tied(cfg, model_type),
        params_total=float(total), params_active=float(active), expert_params=float(experts),
        experts=cfg.get("num_experts") or cfg.get("num_local_experts") or 0,
        experts_per_token=cfg.get("num_experts_per_tok", 0) if experts else 0,
        dtype=weight_dtype(cfg), max_position_embeddings=max_len(cfg),
    )


def max_len(cfg: dict) -> int | None:
    """The longest sequence a config allows, as vLLM derives its default max_model_len: max_position_embeddings,
    times the rope-scaling factor of linear and yarn scaling (yarn from original_max_position_embeddings);
    llama3/longrope scaling already states the extended length. None when the config does not say."""
    length = cfg.get("max_position_embeddings")
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        return None
    scaling = cfg.get("rope_scaling")
    scaling = scaling if isinstance(scaling, dict) else {}
    kind, factor = scaling.get("rope_type") or scaling.get("type"), scaling.get("factor")
    if kind in ("linear", "yarn") and isinstance(factor, (int, float)) and factor > 1:
        base = scaling.get("original_max_position_embeddings", length) if kind == "yarn" else length
        return int(base * factor)
    return length


def describe(arch: Architecture) -> str:
    """One line: parameters (active/total for MoE), layers × width, heads, embedding rows."""
    params = (f"{format_count(arch.params_active)} active of {format_count(arch.params_total)}" if arch.experts
              else format_count(arch.params_total))
    heads = f", {arch.heads} heads / {arch.kv_heads} KV" if arch.heads else ""
    rows = f", {arch.vocab_rows:,} embedding rows{' (tied)' if arch.tied else ''}" if arch.vocab_rows else ""
    return f"{params} parameters, {math.floor(arch.layers)} layers × {int(arch.hidden)}{heads}{rows}"
