"""vLLM (0.32): ``vllm serve T --tensor-parallel-size N --speculative-config JSON`` with ``method: draft_model``,
``model``, ``num_speculative_tokens``, ``draft_tensor_parallel_size`` (1 or N), and
``num_speculative_tokens_per_batch_size`` = [[first batch, last batch, γ], ...] (``vllm/v1/spec_decode/dynamic/
utils.py``: inclusive ranges from batch 1, γ 0 turns speculation off, capped by ``num_speculative_tokens``, the last
range carried on to larger batches).

Vocabulary rule (``vllm/config/speculative.py``, ``verify_equal_vocab_size_if_draft_model``): the config
``vocab_size`` (embedding rows) must be equal, else ``ValueError``; ``use_heterogeneous_vocab: true`` lifts it
(greedy drafting only).
"""

import json
import shlex

from specplan.errors import SpecplanError
from specplan.plan.serving.base import (Compatibility, Emission, Pair, do_not_speculate, equal_rows, ranges,
                                        rows_text)


class _Vllm:
    name, title = "vllm", "vLLM"
    schedule_batches = (1, 2, 4, 8, 16, 32, 64, 128, 256)

    def compatibility(self, target, draft, unknown: str) -> Compatibility:
        if equal_rows(target, draft):
            return Compatibility(True, "ok", f"equal embedding rows ({target.architecture.vocab_rows:,}){unknown}")
        return Compatibility(False, "rejected", f"{rows_text(target, draft)}: vLLM requires equal vocab_size "
                                                "(use_heterogeneous_vocab: true lifts it, greedy drafting only)")

    def configure(self, pair: Pair) -> Emission:
        tp, draft_tp, schedule = pair.tp, pair.draft_tp, pair.schedule
        if draft_tp not in (1, tp):
            raise SpecplanError(f"--emit vllm: vLLM takes a draft tensor parallelism of 1 or the target's {tp}, "
                                f"not --draft-tensor-parallel-size {draft_tp}")
        gamma = max(g for _, g, _ in schedule)
        if gamma == 0:
            return do_not_speculate(self.name, f"speculation with {pair.draft} pays at no batch size from 1 to "
                                    f"{schedule[-1][0]}", pair.notes, schedule)
        config = {"method": "draft_model", "model": pair.draft, "num_speculative_tokens": gamma,
                  "draft_tensor_parallel_size": draft_tp}
        if pair.draft_sample_method:
            config["draft_sample_method"] = pair.draft_sample_method
        notes = list(pair.notes)
        by_batch = ranges(schedule)
        if len(by_batch) > 1:
            config["num_speculative_tokens_per_batch_size"] = by_batch
            notes.append("γ per batch size from the batch model at powers of two (γ 0: speculation off)")
        if draft_tp != tp:
            notes.append(f"vLLM V1 has been reported to run the draft at the target's tensor parallelism whatever "
                         f"draft_tensor_parallel_size says (vllm#17499); plan with --draft-tensor-parallel-size {tp} "
                         "to see that case")
        length = ["--max-model-len", str(pair.max_model_len)] if pair.max_model_len else []
        command = ["vllm", "serve", pair.target, "--tensor-parallel-size", str(tp), *length,
                   "--speculative-config", json.dumps(config)]
        return Emission(self.name, pair.draft, gamma, shlex.join(command), "bash", tuple(notes), schedule)


ENGINE = _Vllm()
