"""Held-out perplexity of one model: exp(mean negative log-likelihood per token, nats)."""

import math

import torch


@torch.inference_mode()
def perplexity(model, token_ids: torch.Tensor, vocab_tokens: int, window_tokens: int = 512) -> tuple[float, int]:
    """(perplexity, tokens scored) of (1, T) ``token_ids``, in non-overlapping windows (each window's first token
    has no context and is not scored). Log-probabilities in float32. Windows never exceed the context the model
    was trained for (``max_position_embeddings``): positions beyond it would score extrapolation, not the model."""
    window_tokens = min(window_tokens, getattr(model.config, "max_position_embeddings", None) or window_tokens)
    nll_sum, scored = 0.0, 0
    for start in range(0, token_ids.shape[1] - 1, window_tokens):
        window = token_ids[:, start:start + window_tokens]
        if window.shape[1] < 2:
            break
        logits = model(input_ids=window, use_cache=False).logits[0, :-1, :vocab_tokens].float()  # (W-1, V)
        nll = torch.nn.functional.cross_entropy(logits, window[0, 1:], reduction="sum")
        nll_sum, scored = nll_sum + float(nll), scored + window.shape[1] - 1
    return math.exp(nll_sum / scored), scored
