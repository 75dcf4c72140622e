"""``hf``: transformers' own assisted generation on the same pair, with the accepted count of every round read
through its candidate-generator hook (``update_candidate_strategy(input_ids, scores, num_matches)``)."""

import copy
import math

from specplan.measure.engines.base import SEQUENTIAL, rounds_field
from specplan.measure.engines.cache import rollback_refusal


def assistant_settings(gamma: int) -> dict:
    """The assistant's generation settings we force: γ drafts a round, a constant schedule, no confidence cut-off
    (transformers changed these defaults in 4.45; we record them with every run)."""
    return {"num_assistant_tokens": gamma, "num_assistant_tokens_schedule": "constant",
            "assistant_confidence_threshold": 0.0}


def decode_hf(target, draft, prompt_ids, gamma: int, max_new_tokens: int, sampling, seed: int):
    """``target.generate(assistant_model=draft)`` for exactly ``max_new_tokens`` tokens (EOS does not stop).

    When the two models' embedding rows differ (padding beyond one shared tokenizer), the assistant's logits are
    padded (or cut) to the target's row count, so transformers keeps its same-tokenizer path; without that it
    demands ``tokenizer=``/``assistant_tokenizer=`` and re-tokenizes text between the models (its
    different-tokenizer path, which drafts beyond γ and crashes when sampling in 5.19). ``Decoded.generator``
    names the candidate generator transformers used."""
    import torch

    with torch.inference_mode():
        return _decode(target, draft, prompt_ids, gamma, max_new_tokens, sampling, seed)


def _decode(target, draft, prompt_ids, gamma: int, max_new_tokens: int, sampling, seed: int):
    import torch

    from specplan.measure.engines.step import Decoded

    assistant = copy.copy(draft)  # a shallow copy, so the caller's draft keeps its own generation_config
    assistant.generation_config = copy.deepcopy(draft.generation_config)
    for key, value in assistant_settings(gamma).items():
        setattr(assistant.generation_config, key, value)
    drafted, accepted, generators = [], [], []
    _count_rounds(target, drafted, accepted, generators)
    if _rows(draft) != _rows(target):
        _match_rows(assistant, _rows(target))
    try:
        torch.manual_seed(seed)  # transformers samples with the global generator, seeded as base.generator
        out = target.generate(input_ids=prompt_ids, attention_mask=torch.ones_like(prompt_ids),
                              assistant_model=assistant,
                              generation_config=_generation_config(target, max_new_tokens, sampling))
    finally:
        del target._get_candidate_generator  # back to the class method
    return Decoded(out[0, prompt_ids.shape[1]:].tolist(), drafted, accepted, generators[0] if generators else None)


def _rows(model) -> int:
    return model.config.get_text_config().vocab_size


def _match_rows(assistant, rows: int) -> None:
    """Make the (shallow-copied) assistant report and return ``rows`` logit columns: its extra padding columns cut,
    or the target's padding columns added at −inf (never drafted, probability 0). The caller's draft is untouched."""
    assistant.config = copy.deepcopy(assistant.config)
    assistant.config.get_text_config().vocab_size = rows
    import torch

    forward = assistant.forward

    def padded_forward(*args, **kwargs):
        out = forward(*args, **kwargs)
        width = out.logits.shape[-1]
        out.logits = (out.logits[..., :rows] if width >= rows else
                      torch.nn.functional.pad(out.logits, (0, rows - width), value=-math.inf))
        return out

    assistant.forward = padded_forward


def _generation_config(target, max_new_tokens: int, sampling):
    """The target's generation config with exactly ``max_new_tokens`` and no EOS stop (as ``ar``/``sd``), our
    sampling settings and no other logits processing (top_k off)."""
    config = copy.deepcopy(target.generation_config)
    config.update(max_new_tokens=max_new_tokens, eos_token_id=[], do_sample=not sampling.greedy, top_k=0,
                  temperature=sampling.temperature if not sampling.greedy else None,
                  top_p=sampling.top_p if not sampling.greedy else None)
    if config.pad_token_id is None:  # generate() takes EOS as pad, and EOS is off: any id (one sequence, no padding)
        config.pad_token_id = 0
    return config


def _count_rounds(target, drafted: list, accepted: list, generators: list) -> None:
    """Wrap the candidate generator that ``generate`` builds so each round's (k_s, j_s) lands in the lists (and
    the generator's class name in ``generators``).

    ``scores`` holds the target's logits at the k_s + 1 verified positions and ``num_matches`` is j_s.
    """
    build = type(target)._get_candidate_generator

    def build_and_count(*args, **kwargs):
        generator = build(target, *args, **kwargs)
        generators.append(type(generator).__name__)
        update = generator.update_candidate_strategy

        def counted(input_ids, scores, num_matches):
            drafted.append(int(scores.shape[1]) - 1)
            accepted.append(int(num_matches))
            return update(input_ids, scores, num_matches)

        generator.update_candidate_strategy = counted
        return generator

    target._get_candidate_generator = build_and_count


class _Hf:
    name, kind, speculative, times_rounds = "hf", SEQUENTIAL, True, False
    summary = "hf (transformers assisted generation)"

    def refuses(self, config, role: str) -> str | None:
        """Recurrent / linear-attention states, which transformers' assisted generation refuses."""
        return rollback_refusal(config, role, self.name)

    def settings(self, config) -> dict:
        return {"hf": {**assistant_settings(0), "num_assistant_tokens": "gamma"}}

    def absent_settings(self) -> dict:
        return {"hf": None}

    def environment(self) -> dict:
        return {}

    def decode(self, models, prompt_ids, gamma, max_new_tokens: int, sampling, seed: int, clock=None):
        """transformers samples with torch's global generator: it is seeded with ``seed`` (no generator object)."""
        return decode_hf(models.target, models.draft, prompt_ids, gamma, max_new_tokens, sampling, seed)

    def run_fields(self, decoded, clock) -> dict:
        return rounds_field(decoded.drafted, decoded.accepted) | (
            {"hf_generator": decoded.generator} if decoded.generator else {})


ENGINE = _Hf()
