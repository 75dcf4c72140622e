"""Tiny random-weight decoder models of the architecture families people run, built from transformers' config
classes (no hub) with the shared byte-level tokenizer of :mod:`bench_fixtures`, and saved as real model folders.

Each entry gives the config class and the family-specific settings; :func:`tiny_config` adds the common tiny
shape (hidden 32, 4 heads of 8, 2 KV heads, 2 layers for a target and 1 for a draft). Families with sliding-window
or chunked attention get a window smaller than prompt + output, so the rollback past the window is exercised.
"""

WINDOW = 8  # tokens: smaller than every matrix prompt + output

# family -> (config class name, extra settings, cache kind)
FAMILIES = {
    "llama": ("LlamaConfig", {}, "full"),
    "qwen2": ("Qwen2Config", {}, "full"),
    "qwen3": ("Qwen3Config", {}, "full"),
    "qwen3_moe": ("Qwen3MoeConfig", {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16}, "full"),
    "mistral": ("MistralConfig", {"sliding_window": WINDOW}, "sliding"),
    "mixtral": ("MixtralConfig", {"num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": WINDOW},
                "sliding"),
    "gemma2": ("Gemma2Config", {"sliding_window": WINDOW, "head_dim": 8}, "hybrid sliding"),
    "gemma3": ("Gemma3TextConfig", {"sliding_window": WINDOW, "head_dim": 8, "sliding_window_pattern": 2},
               "hybrid sliding"),
    "phi3": ("Phi3Config", {}, "full"),
    "gpt2": ("GPT2Config", {}, "full"),
    "gpt_neox": ("GPTNeoXConfig", {}, "full"),
    "opt": ("OPTConfig", {"ffn_dim": 64, "word_embed_proj_dim": 32}, "full"),
    "falcon": ("FalconConfig", {"new_decoder_architecture": True, "num_kv_heads": 2}, "full"),
    "olmo2": ("Olmo2Config", {}, "full"),
    "gpt_oss": ("GptOssConfig", {"num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": WINDOW,
                                 "head_dim": 8}, "hybrid sliding"),
    "llama4": ("Llama4TextConfig", {"attention_chunk_size": WINDOW, "num_local_experts": 2, "head_dim": 8,
                                    "intermediate_size_mlp": 64, "interleave_moe_layer_step": 1}, "chunked"),
    "starcoder2": ("Starcoder2Config", {"sliding_window": WINDOW}, "sliding"),
    "qwen3_next": ("Qwen3NextConfig", {"head_dim": 8, "linear_num_value_heads": 2, "linear_num_key_heads": 2,
                                       "linear_key_head_dim": 8, "linear_value_head_dim": 8, "num_experts": 2,
                                       "num_experts_per_tok": 1, "moe_intermediate_size": 16,
                                       "full_attention_interval": 2}, "recurrent"),
    "olmo3": ("Olmo3Config", {"sliding_window": WINDOW}, "hybrid sliding"),
    "cohere2": ("Cohere2Config", {"sliding_window": WINDOW, "sliding_window_pattern": 2}, "hybrid sliding"),
    "exaone4": ("Exaone4Config", {"sliding_window": WINDOW, "sliding_window_pattern": 2}, "hybrid sliding"),
    "gemma4": ("Gemma4TextConfig", {"sliding_window": WINDOW, "head_dim": 8}, "hybrid sliding"),
    "qwen3_5": ("Qwen3_5TextConfig", {"head_dim": 8, "linear_num_value_heads": 2, "linear_num_key_heads": 2,
                                      "linear_key_head_dim": 8, "linear_value_head_dim": 8,
                                      "full_attention_interval": 2}, "recurrent"),
    "lfm2": ("Lfm2Config", {"full_attn_idxs": [1]}, "conv"),
    "jamba": ("JambaConfig", {"attn_layer_period": 2, "attn_layer_offset": 1, "expert_layer_period": 2,
                              "num_experts": 2, "mamba_d_state": 4, "mamba_dt_rank": 4, "mamba_expand": 2}, "recurrent"),
    "mamba": ("MambaConfig", {"state_size": 4, "expand": 2, "conv_kernel": 4}, "recurrent"),
    "mamba2": ("Mamba2Config", {"state_size": 4, "expand": 2, "conv_kernel": 4, "num_heads": 8, "head_dim": 8,
                                "n_groups": 1, "chunk_size": 8}, "recurrent"),
    "falcon_mamba": ("FalconMambaConfig", {"state_size": 4, "expand": 2, "conv_kernel": 4}, "recurrent"),
}


def matrix_tokenizer():
    """The byte-level tokenizer plus ``<|endoftext|>`` as its unknown token: what AutoTokenizer's Qwen2 class adds
    when a folder lacks it, so every family's folder loads the same vocabulary and special tokens."""
    from bench_fixtures import byte_tokenizer

    tokenizer = byte_tokenizer(extra_tokens=("<|endoftext|>",))
    tokenizer.unk_token = "<|endoftext|>"
    return tokenizer


def tiny_config(family: str, layers: int, vocab_size: int, special: dict):
    """The family's config class at the tiny shape, ``layers`` decoder layers."""
    import transformers

    class_name, extra, _ = FAMILIES[family]
    common = {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": layers,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
              # GPT-2 / OPT / Falcon spellings of the same settings
              "n_embd": 32, "n_layer": layers, "n_head": 4, "n_positions": 256,
              "tie_word_embeddings": False, **special}
    config = getattr(transformers, class_name)(**common, **extra)
    config.architectures = [_causal_lm_class(config).__name__]
    return config


def _causal_lm_class(config):
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    return MODEL_FOR_CAUSAL_LM_MAPPING[type(config)]


def save_tiny(folder, family: str, layers: int, seed: int, tokenizer, vocab_rows: int | None = None):
    """A seeded random model of ``family`` with ``layers`` layers and ``tokenizer``, saved with save_pretrained
    (safetensors). Output logits are scaled up (argmax near-ties become rare); padding rows beyond the tokenizer
    (``vocab_rows``) are zeroed, as an untrained padded row never wins in a real checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM

    special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
               "pad_token_id": tokenizer.pad_token_id}
    config = tiny_config(family, layers, vocab_rows or len(tokenizer), special)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        head = model.get_output_embeddings().weight
        head.mul_(20.0)
        head[len(tokenizer):] = 0.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)

