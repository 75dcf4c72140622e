"""The target's continuations of every prompt for ``acceptance``: one batched decode of all prompts (left-padded,
transformers' ``generate``) where the target is attention-only, else one decode per prompt (``ar``'s loop).
EOS does not stop either, as in ``bench``. Or read from a records file (``--continuations``). torch and
transformers are imported inside functions."""

ATTENTION_LAYER_TYPES = ("full_attention", "sliding_attention", "chunked_attention")


def batchable(model) -> bool:
    """Attention-only targets: left padding with an attention mask leaves each row's continuation as it would
    be alone (recurrent and convolution states would run over the padding)."""
    from specplan.measure.engines.cache import layer_types

    try:
        return all(kind in ATTENTION_LAYER_TYPES for kind in layer_types(model.config))
    except (TypeError, ValueError, KeyError):
        return False


def continue_prompts(model, prompt_ids: list, new_tokens: int, temperature: float, top_p: float, seed: int,
                     vocab_tokens: int, pad_token_id: int) -> list:
    """``new_tokens`` token ids after each (1, P_i) prompt, greedy at temperature 0, else sampled."""
    if batchable(model) and len(prompt_ids) > 1:
        return _batched(model, prompt_ids, new_tokens, temperature, top_p, seed, pad_token_id)
    import torch

    from specplan.measure.engines.probs import Sampling
    from specplan.measure.engines.registry import decode_target_alone

    out = []
    for index, ids in enumerate(prompt_ids):
        generator = torch.Generator(device=ids.device).manual_seed(seed + 1009 * index)
        out.append(decode_target_alone(model, ids, new_tokens, Sampling(temperature, top_p), generator,
                                         vocab_tokens).output_ids)
    return out


def _batched(model, prompt_ids: list, new_tokens: int, temperature: float, top_p: float, seed: int,
             pad_token_id: int) -> list:
    import torch
    from transformers import GenerationConfig

    longest = max(ids.shape[1] for ids in prompt_ids)
    device = prompt_ids[0].device
    rows, masks = [], []
    for ids in prompt_ids:
        pad = longest - ids.shape[1]
        rows.append(torch.cat([torch.full((pad,), pad_token_id, dtype=torch.long, device=device), ids[0]]))
        masks.append(torch.cat([torch.zeros(pad, dtype=torch.long, device=device),
                                torch.ones(ids.shape[1], dtype=torch.long, device=device)]))
    sampled = temperature > 0
    config = GenerationConfig(max_new_tokens=new_tokens, do_sample=sampled, temperature=temperature or None,
                              top_p=top_p if sampled else None, top_k=0 if sampled else None, eos_token_id=None,
                              pad_token_id=pad_token_id, num_beams=1)
    torch.manual_seed(seed)
    # generate fills what ``config`` leaves unset from the checkpoint's generation defaults (a hub config's
    # repetition_penalty, min_p, top_k, ...): hide them, so the text follows the target's own distribution
    shipped, model.generation_config = model.generation_config, GenerationConfig()
    try:
        with torch.inference_mode():
            out = model.generate(input_ids=torch.stack(rows), attention_mask=torch.stack(masks),
                                 generation_config=config)
    finally:
        model.generation_config = shipped
    return [row[longest:].tolist() for row in out]


def read_continuations(path: str, prompt_tokens: list, new_tokens: int, temperatures: list) -> dict:
    """temperature → the first ``new_tokens`` ids of each prompt's continuation, read from a records file: an
    ``acceptance`` record's ``prompts[].continuation_ids``, or ``bench``'s ``ar`` runs (repeat 0) with their
    ``settings.temperature``. ``prompt_tokens`` (each prompt's length in target tokens) must match the file's: a
    file of other prompts or another tokenizer is an error naming it, as is a missing temperature or a text
    shorter than ``new_tokens``."""
    from specplan.errors import SpecplanError
    from specplan.measure.engines.registry import BASELINE
    from specplan.records import read_records

    found = {}  # (temperature, prompt index) → (prompt tokens, ids)
    records = read_records([path]).records
    try:
        for record in records:
            if record.get("kind") == "acceptance":
                for row in record["prompts"]:
                    for t, ids in row["continuation_ids"].items():
                        found.setdefault((float(t), row["prompt_index"]), (row["prompt_tokens"], list(ids)))
            elif record.get("kind") == "run" and record.get("engine") == BASELINE.name and record.get("repeat", 0) == 0:
                t = float(record.get("settings", {}).get("temperature", 0.0))
                found.setdefault((t, record["prompt_index"]), (record["prompt_tokens"], list(record["output_ids"])))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SpecplanError(f"--continuations {path!r}: not an acceptance record or bench ar runs ({exc!r} "
                            "missing or malformed)") from None
    out = {}
    for t in temperatures:
        texts = []
        for index, length in enumerate(prompt_tokens):
            if (t, index) not in found:
                held = sorted({k[0] for k in found})
                raise SpecplanError(f"--continuations {path!r}: no continuation of prompt {index} at temperature "
                                    f"{t:g} (it holds temperatures {', '.join(f'{x:g}' for x in held) or 'none'})")
            file_length, ids = found[t, index]
            if file_length != length:
                raise SpecplanError(f"--continuations {path!r}: prompt {index} has {file_length} tokens there, "
                                    f"{length} here (other prompts or another tokenizer)")
            if len(ids) < new_tokens:
                raise SpecplanError(f"--continuations {path!r}: prompt {index}'s text at temperature {t:g} has "
                                    f"{len(ids)} tokens, fewer than --max-new-tokens {new_tokens}")
            texts.append([int(x) for x in ids[:new_tokens]])
        out[t] = texts
    return out
