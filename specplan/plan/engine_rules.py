"""Which serving engines accept a draft/target pair: each engine's vocabulary rule for a separate draft model.

- vLLM (``vllm/config/speculative.py``, ``verify_equal_vocab_size_if_draft_model``): the config ``vocab_size``
  (embedding rows) must be equal, else ``ValueError``; ``use_heterogeneous_vocab: true`` lifts it (greedy drafting).
- SGLang STANDALONE (PR #23838, ``_validate_vocab_compatibility``): equal ``vocab_size`` and identical tokenizer vocab.
- TensorRT-LLM Draft/Target: the docs require a shared tokenizer; no check in the code was found (unverified).
- llama.cpp (``common/speculative.cpp``, ``common_speculative_are_compatible``): same vocabulary type and special
  tokens, |Δ n_vocab| ≤ 128 (``SPEC_VOCAB_MAX_SIZE_DIFFERENCE``), equal token texts from id 5 on.
- transformers (``generation/utils.py``, ``_validate_assistant``): equal ``vocab_size`` takes the normal path; else
  ``tokenizer=`` and ``assistant_tokenizer=`` switch to the slower universal assisted decoding (re-tokenising).
"""

from dataclasses import dataclass

from specplan.plan.catalog import ModelInfo

ENGINES = ("vllm", "sglang", "trtllm", "llamacpp", "hf")
ENGINE_NAMES = {"vllm": "vLLM", "sglang": "SGLang", "trtllm": "TensorRT-LLM", "llamacpp": "llama.cpp",
                "hf": "transformers"}
LLAMACPP_MAX_VOCAB_DIFFERENCE = 128


@dataclass(frozen=True)
class Compatibility:
    accepted: bool
    status: str  # "ok", "rejected", "universal path" (transformers), "unchecked" (no check known)
    reason: str

    def to_json(self) -> dict:
        return {"accepted": self.accepted, "status": self.status, "reason": self.reason}


def same_tokenizer(target: ModelInfo, draft: ModelInfo) -> bool | None:
    """True or False when the catalog knows both tokenizers; None when either is unknown."""
    if target.tokenizer is None or draft.tokenizer is None:
        return None
    return target.tokenizer == draft.tokenizer


def compatibility(target: ModelInfo, draft: ModelInfo) -> dict:
    """engine -> :class:`Compatibility` of this pair under that engine's vocabulary rule."""
    rows_t, rows_d = target.architecture.vocab_rows, draft.architecture.vocab_rows
    rows = f"{rows_d:,} vs {rows_t:,} embedding rows"
    tokenizer = same_tokenizer(target, draft)
    if tokenizer is False:
        different = Compatibility(False, "rejected", f"different tokenizers ({draft.tokenizer} vs {target.tokenizer})")
        return {engine: different for engine in ENGINES}
    unknown = "" if tokenizer else "; tokenizer identity not known to specplan: check the two tokenizers match"
    equal = rows_t == rows_d
    vllm = (Compatibility(True, "ok", f"equal embedding rows ({rows_t:,}){unknown}") if equal else
            Compatibility(False, "rejected", f"{rows}: vLLM requires equal vocab_size (use_heterogeneous_vocab: "
                                             "true lifts it, greedy drafting only)"))
    sglang = (Compatibility(True, "ok", f"equal embedding rows ({rows_t:,}); SGLang also compares the tokenizer "
                                        f"vocabularies at start{unknown}") if equal else
              Compatibility(False, "rejected", f"{rows}: SGLang requires equal vocab_size"))
    trtllm = Compatibility(True, "unchecked", "TensorRT-LLM documents a shared tokenizer and checks nothing "
                                              f"(unverified){'' if equal else '; ' + rows}{unknown}")
    if abs(rows_t - rows_d) > LLAMACPP_MAX_VOCAB_DIFFERENCE:
        llamacpp = Compatibility(False, "rejected", f"{rows}: llama.cpp allows a difference of at most "
                                                    f"{LLAMACPP_MAX_VOCAB_DIFFERENCE}")
    elif target.llamacpp_rejects or draft.llamacpp_rejects:
        llamacpp = Compatibility(False, "rejected", target.llamacpp_rejects or draft.llamacpp_rejects)
    else:
        llamacpp = Compatibility(True, "ok", f"{rows} (difference ≤ {LLAMACPP_MAX_VOCAB_DIFFERENCE}); "
                                             f"token texts must match from id 5 on{unknown}")
    hf = (Compatibility(True, "ok", f"equal vocab_size: the normal assisted path{unknown}") if equal else
          Compatibility(True, "universal path", f"{rows}: needs tokenizer= and assistant_tokenizer= and runs the "
                                                "slower universal assisted decoding (re-tokenising each round)"))
    return {"vllm": vllm, "sglang": sglang, "trtllm": trtllm, "llamacpp": llamacpp, "hf": hf}
