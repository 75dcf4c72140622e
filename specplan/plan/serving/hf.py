"""transformers (5.x): ``target.generate(..., assistant_model=draft)`` with γ, a constant schedule and no confidence
cut-off set on ``draft.generation_config``. Assisted generation decodes one sequence at a time: plan's γ at batch 1.

Vocabulary rule (``generation/utils.py``, ``_validate_assistant``): equal ``vocab_size`` takes the normal path; else
``tokenizer=`` and ``assistant_tokenizer=`` switch to the slower universal assisted decoding (re-tokenising).
"""

from specplan.plan.serving.base import Compatibility, Emission, Pair, do_not_speculate, equal_rows, rows_text


class _Hf:
    name, title = "hf", "transformers"
    schedule_batches = (1,)

    def compatibility(self, target, draft, unknown: str) -> Compatibility:
        if equal_rows(target, draft):
            return Compatibility(True, "ok", f"equal vocab_size: the normal assisted path{unknown}")
        return Compatibility(True, "universal path", f"{rows_text(target, draft)}: needs tokenizer= and "
                                                     "assistant_tokenizer= and runs the slower universal assisted "
                                                     "decoding (re-tokenising each round)")

    def configure(self, pair: Pair) -> Emission:
        gamma = pair.schedule[0][1]
        if gamma == 0:
            return do_not_speculate(self.name, f"speculation with {pair.draft} does not pay at batch 1 (assisted "
                                    "generation decodes one sequence at a time)", pair.notes)
        target, draft = pair.target, pair.draft
        lines = [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            f"tokenizer = AutoTokenizer.from_pretrained({target!r})",
            f"target = AutoModelForCausalLM.from_pretrained({target!r}, dtype='auto', device_map='auto')",
            f"draft = AutoModelForCausalLM.from_pretrained({draft!r}, dtype='auto', device_map='auto')",
            f"draft.generation_config.num_assistant_tokens = {gamma}",
            "draft.generation_config.num_assistant_tokens_schedule = 'constant'",
            "draft.generation_config.assistant_confidence_threshold = 0.0  # otherwise drafts stop early below 0.4",
            "inputs = tokenizer('Your prompt', return_tensors='pt').to(target.device)",
        ]
        notes, extra = list(pair.notes), ""
        if pair.compatibility.status == "universal path":
            lines.append(f"assistant_tokenizer = AutoTokenizer.from_pretrained({draft!r})")
            extra = " tokenizer=tokenizer, assistant_tokenizer=assistant_tokenizer,"
            notes.append(pair.compatibility.reason)
        lines.append(f"out = target.generate(**inputs, assistant_model=draft,{extra} do_sample=False, "
                     "max_new_tokens=256)")
        notes.append("transformers' assisted generation decodes one sequence at a time (batch 1)")
        if pair.tp > 1:
            notes.append(f"device_map='auto' spreads layers over the GPUs (no tensor parallelism {pair.tp}): its "
                         "latencies differ from this plan's")
        return Emission(self.name, draft, gamma, "\n".join(lines), "python", tuple(notes))


ENGINE = _Hf()
