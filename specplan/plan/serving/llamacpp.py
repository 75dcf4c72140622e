"""llama.cpp (2026 builds, ``common/arg.cpp``): ``llama-server -m T.gguf --spec-type draft-simple -md D.gguf
--spec-draft-ngl 99 --spec-draft-n-max γ --spec-draft-n-min 0 --spec-draft-p-min 0`` (without ``--spec-type`` the
draft is loaded and never used). Builds before PR #22964 (April 2026) have no ``--spec-type`` and spell the draft
options ``-ngld``, ``--draft-max``, ``--draft-min``, ``--draft-p-min``.

Vocabulary rule (``common/speculative.cpp``, ``common_speculative_are_compatible``): same vocabulary type and special
tokens, |Δ n_vocab| ≤ 128 (``SPEC_VOCAB_MAX_SIZE_DIFFERENCE``), equal token texts from id 5 on.
"""

import shlex

from specplan.plan.serving.base import Compatibility, Emission, Pair, do_not_speculate, rows_text

MAX_VOCAB_DIFFERENCE = 128


def gguf(name: str) -> str:
    return name.rstrip("/").split("/")[-1] + ".gguf"


class _Llamacpp:
    name, title = "llamacpp", "llama.cpp"
    schedule_batches = ()

    def compatibility(self, target, draft, unknown: str) -> Compatibility:
        rows = rows_text(target, draft)
        if abs(target.architecture.vocab_rows - draft.architecture.vocab_rows) > MAX_VOCAB_DIFFERENCE:
            return Compatibility(False, "rejected", f"{rows}: llama.cpp allows a difference of at most "
                                                    f"{MAX_VOCAB_DIFFERENCE}")
        if target.llamacpp_rejects or draft.llamacpp_rejects:
            return Compatibility(False, "rejected", target.llamacpp_rejects or draft.llamacpp_rejects)
        return Compatibility(True, "ok", f"{rows} (difference ≤ {MAX_VOCAB_DIFFERENCE}); token texts must match "
                                         f"from id 5 on{unknown}")

    def configure(self, pair: Pair) -> Emission:
        gamma = pair.gamma
        if gamma == 0:
            return do_not_speculate(self.name, f"speculation with {pair.draft} does not pay", pair.notes)
        command = ["llama-server", "-m", gguf(pair.target), "-ngl", "99", "--spec-type", "draft-simple",
                   "-md", gguf(pair.draft), "--spec-draft-ngl", "99", "--spec-draft-n-max", str(gamma),
                   "--spec-draft-n-min", "0", "--spec-draft-p-min", "0"]
        notes = [*pair.notes,
                 "GGUF files converted from the two checkpoints (convert_hf_to_gguf.py) or downloaded",
                 f"builds before April 2026 (PR #22964) have no --spec-type: drop --spec-type draft-simple and spell "
                 f"the draft options -ngld 99 --draft-max {gamma} --draft-min 0 --draft-p-min 0"]
        if pair.tp > 1:
            notes.append(f"llama.cpp splits layers across GPUs (--split-mode layer) rather than tensor parallelism "
                         f"{pair.tp}: its latencies differ from this plan's")
        return Emission(self.name, pair.draft, gamma, shlex.join(command), "bash", tuple(notes))


ENGINE = _Llamacpp()
