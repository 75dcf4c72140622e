"""SGLang (0.5.23): ``python3 -m sglang.launch_server --model-path T --tp-size N --speculative-algorithm STANDALONE
--speculative-draft-model-path D --speculative-num-steps γ --speculative-eagle-topk 1
--speculative-num-draft-tokens γ+1`` (a chain of γ draft tokens; ``--tp`` resolves only as an argparse abbreviation
of ``--tp-size``). The draft runs at the target's tensor parallelism.

Vocabulary rule (STANDALONE, PR #23838, ``_validate_vocab_compatibility``): equal ``vocab_size`` and identical
tokenizer vocabularies.
"""

import shlex

from specplan.plan.serving.base import Compatibility, Emission, Pair, do_not_speculate, equal_rows, rows_text


class _Sglang:
    name, title = "sglang", "SGLang"
    schedule_batches = ()

    def compatibility(self, target, draft, unknown: str) -> Compatibility:
        if equal_rows(target, draft):
            return Compatibility(True, "ok", f"equal embedding rows ({target.architecture.vocab_rows:,}); SGLang also "
                                             f"compares the tokenizer vocabularies at start{unknown}")
        return Compatibility(False, "rejected", f"{rows_text(target, draft)}: SGLang requires equal vocab_size")

    def configure(self, pair: Pair) -> Emission:
        gamma = pair.gamma
        if gamma == 0:
            return do_not_speculate(self.name, f"speculation with {pair.draft} does not pay", pair.notes)
        command = ["python3", "-m", "sglang.launch_server", "--model-path", pair.target, "--tp-size", str(pair.tp),
                   "--speculative-algorithm", "STANDALONE", "--speculative-draft-model-path", pair.draft,
                   "--speculative-num-steps", str(gamma), "--speculative-eagle-topk", "1",
                   "--speculative-num-draft-tokens", str(gamma + 1)]
        if pair.max_model_len:
            command += ["--context-length", str(pair.max_model_len)]
        notes = list(pair.notes)
        if pair.draft_tp != pair.tp:
            notes.append(f"SGLang's STANDALONE draft runs at the target's tensor parallelism ({pair.tp}): plan with "
                         f"--draft-tensor-parallel-size {pair.tp} to see that case")
        return Emission(self.name, pair.draft, gamma, shlex.join(command), "bash", tuple(notes))


ENGINE = _Sglang()
