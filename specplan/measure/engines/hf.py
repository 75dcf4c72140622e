"""``hf``: transformers' own assisted generation on the same pair, with the accepted count of every round read
through its candidate-generator hook (``update_candidate_strategy(input_ids, scores, num_matches)``)."""

import copy

import torch

from specplan.measure.engines.probs import Sampling
from specplan.measure.engines.step import Decoded


def assistant_settings(gamma: int) -> dict:
    """The assistant's generation settings we force: γ drafts a round, a constant schedule, no confidence cut-off
    (transformers changed these defaults in 4.45; we record them with every run)."""
    return {"num_assistant_tokens": gamma, "num_assistant_tokens_schedule": "constant",
            "assistant_confidence_threshold": 0.0}


@torch.inference_mode()
def decode_hf(target, draft, prompt_ids: torch.Tensor, gamma: int, max_new_tokens: int, sampling: Sampling,
              seed: int) -> Decoded:
    """``target.generate(assistant_model=draft)`` for exactly ``max_new_tokens`` tokens (EOS does not stop)."""
    assistant = copy.copy(draft)  # a shallow copy, so the caller's draft keeps its own generation_config
    assistant.generation_config = copy.deepcopy(draft.generation_config)
    for key, value in assistant_settings(gamma).items():
        setattr(assistant.generation_config, key, value)
    drafted, accepted = [], []
    _count_rounds(target, drafted, accepted)
    try:
        torch.manual_seed(seed)  # transformers samples with the global generator
        out = target.generate(input_ids=prompt_ids, attention_mask=torch.ones_like(prompt_ids),
                              assistant_model=assistant,
                              generation_config=_generation_config(target, max_new_tokens, sampling))
    finally:
        del target._get_candidate_generator  # back to the class method
    return Decoded(out[0, prompt_ids.shape[1]:].tolist(), drafted, accepted)


def _generation_config(target, max_new_tokens: int, sampling: Sampling):
    """The target's generation config with exactly ``max_new_tokens`` and no EOS stop (as ``ar``/``sd``), our
    sampling settings and no other logits processing (top_k off)."""
    config = copy.deepcopy(target.generation_config)
    config.update(max_new_tokens=max_new_tokens, eos_token_id=[], do_sample=not sampling.greedy, top_k=0,
                  temperature=sampling.temperature if not sampling.greedy else None,
                  top_p=sampling.top_p if not sampling.greedy else None)
    if config.pad_token_id is None:  # generate() takes EOS as pad, and EOS is off: any id (one sequence, no padding)
        config.pad_token_id = 0
    return config


def _count_rounds(target, drafted: list, accepted: list) -> None:
    """Wrap the candidate generator that ``generate`` builds so each round's (k_s, j_s) lands in the lists.

    ``scores`` holds the target's logits at the k_s + 1 verified positions and ``num_matches`` is j_s.
    """
    build = type(target)._get_candidate_generator

    def build_and_count(*args, **kwargs):
        generator = build(target, *args, **kwargs)
        update = generator.update_candidate_strategy

        def counted(input_ids, scores, num_matches):
            drafted.append(int(scores.shape[1]) - 1)
            accepted.append(int(num_matches))
            return update(input_ids, scores, num_matches)

        generator.update_candidate_strategy = counted
        return generator

    target._get_candidate_generator = build_and_count
