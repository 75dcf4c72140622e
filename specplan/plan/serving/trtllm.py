"""TensorRT-LLM (PyTorch backend, ``tensorrt_llm/llmapi/llm_args.py``): a ``trtllm-serve --config`` YAML of LLM API
arguments only (the base arguments forbid unknown keys): ``speculative_config: {decoding_type: Draft_Target,
max_draft_len, speculative_model, draft_len_schedule, max_concurrency}``, ``disable_overlap_scheduler`` and
``kv_cache_config``.

``draft_len_schedule`` ({batch size: draft length}; it must hold ``1: max_draft_len``) is read two ways: the
drafters of the first dynamic-draft-length release (PR #8194, October 2025) take each key as the FIRST batch size
of a range (bisect_right over the keys); the ``get_draft_len_for_batch_size`` utility of PR #10860 (February 2026
on) takes it as the LAST batch size of a range ("up to that key") and turns speculation off above the last key.
Plan writes both the first and the last batch size of every range with the same γ, so both readings give plan's γ
at every batch size up to the grid's last, 2048 (TensorRT-LLM's default ``max_batch_size``). Where speculation
stops paying, ``max_concurrency`` (a ``speculative_config`` key both versions honour) turns it off above the last
paying batch size; no draft length of 0 is written.

Vocabulary: the docs require a shared tokenizer; no check in the code was found (unverified).
"""

import yaml

from specplan.plan.serving.base import Compatibility, Emission, Pair, do_not_speculate, equal_rows, ranges, rows_text

# Powers of two up to 2048, TensorRT-LLM's default max_batch_size.
SCHEDULE_BATCHES = tuple(2 ** i for i in range(12))


def draft_len_schedule(schedule) -> tuple:
    """({batch size: γ} with each range's first and last batch size, the last batch size that pays or None when
    every one does) from plan's (batch, γ, ...) grid: the grid up to the first batch where speculation stops
    paying, every γ capped at batch 1's."""
    first = schedule[0][1]
    off = next((batch for batch, gamma, *_ in schedule if gamma == 0), None)
    paying = [(batch, min(gamma, first)) for batch, gamma, *_ in schedule if off is None or batch < off]
    by_batch = ranges(paying, end=off - 1 if off else None)
    keys = {}
    for low, high, gamma in by_batch:
        keys[low] = keys[high] = gamma
    return dict(sorted(keys.items())), (off - 1 if off else None)


class _Trtllm:
    name, title = "trtllm", "TensorRT-LLM"
    schedule_batches = SCHEDULE_BATCHES

    def compatibility(self, target, draft, unknown: str) -> Compatibility:
        rows = "" if equal_rows(target, draft) else "; " + rows_text(target, draft)
        return Compatibility(True, "unchecked", "TensorRT-LLM documents a shared tokenizer and checks nothing "
                                                f"(unverified){rows}{unknown}")

    def configure(self, pair: Pair) -> Emission:
        schedule = pair.schedule
        first = schedule[0][1]
        if first == 0:
            return do_not_speculate(self.name, f"speculation with {pair.draft} does not pay at batch 1, where "
                                    "TensorRT-LLM's draft_len_schedule must start at max_draft_len", pair.notes,
                                    schedule)
        lengths, last_paying = draft_len_schedule(schedule)
        spec = {"decoding_type": "Draft_Target", "max_draft_len": first, "speculative_model": pair.draft}
        if len(set(lengths.values())) > 1:
            spec["draft_len_schedule"] = lengths
        notes = list(pair.notes)
        if last_paying:
            spec["max_concurrency"] = last_paying
            notes.append(f"speculation stops paying above batch {last_paying}: max_concurrency turns it off there")
        elif "draft_len_schedule" in spec:
            notes.append(f"the schedule covers batch sizes up to {schedule[-1][0]} (the default max_batch_size); "
                         "above it TensorRT-LLM versions differ (γ kept, or speculation off)")
        config = {"disable_overlap_scheduler": True, "speculative_config": spec,
                  "kv_cache_config": {"enable_block_reuse": False}}
        if pair.max_model_len:
            config["max_seq_len"] = pair.max_model_len
        if any(gamma > first for _, gamma, _ in schedule):
            notes.append(f"γ capped at batch 1's {first} (TensorRT-LLM's max_draft_len) at every batch size")
        if pair.draft_tp != pair.tp:
            notes.append(f"TensorRT-LLM runs the draft with the target's mapping (tensor parallelism {pair.tp}): plan "
                         f"with --draft-tensor-parallel-size {pair.tp} to see that case")
        text = (f"# spec.yaml — trtllm-serve {pair.target} --backend pytorch --tp_size {pair.tp} --config spec.yaml\n"
                f"# (older builds: --extra_llm_api_options spec.yaml)\n" + yaml.safe_dump(config, sort_keys=False))
        return Emission(self.name, pair.draft, first, text, "yaml", tuple(notes), schedule)


ENGINE = _Trtllm()
