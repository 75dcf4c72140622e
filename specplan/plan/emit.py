"""``plan --emit ENGINE``: the recommended pair and γ as a configuration to paste into a serving engine.

Option names follow each engine's own source and docs (read 2026):

- vLLM: ``vllm serve T --tensor-parallel-size N --speculative-config JSON`` with ``method: draft_model``, ``model``,
  ``num_speculative_tokens``, ``draft_tensor_parallel_size`` (1 or N), and ``num_speculative_tokens_per_batch_size``
  = [[first batch, last batch, γ], ...] (``vllm/v1/spec_decode/dynamic/utils.py``: inclusive ranges from batch 1,
  γ 0 turns speculation off, capped by ``num_speculative_tokens``, the last range carried to larger batches).
- SGLang: ``--speculative-algorithm STANDALONE --speculative-draft-model-path D --speculative-num-steps γ
  --speculative-eagle-topk 1 --speculative-num-draft-tokens γ+1`` (a chain of γ draft tokens).
- TensorRT-LLM: a ``trtllm-serve --config`` YAML with ``speculative_config: {decoding_type: DraftTarget,
  max_draft_len, speculative_model, draft_len_schedule}`` (``{batch threshold: draft length}``; must hold
  ``1: max_draft_len``; 0 turns speculation off) and ``max_concurrency``.
- llama.cpp: ``llama-server -m T.gguf --spec-type draft-simple -md D.gguf --spec-draft-n-max γ --spec-draft-n-min 0
  --spec-draft-p-min 0`` (2026 builds; without ``--spec-type`` the draft is loaded and never used).
- transformers: ``target.generate(..., assistant_model=draft)`` with γ, a constant schedule and no confidence
  cut-off set on ``draft.generation_config``.
"""

import json
import shlex
from dataclasses import dataclass

import yaml

from specplan.errors import SpecplanError
from specplan.plan import checkpoints
from specplan.plan.engine_rules import ENGINE_NAMES, ENGINES


@dataclass(frozen=True)
class Emission:
    engine: str
    draft: str
    gamma: int
    text: str
    language: str  # bash, yaml or python
    notes: tuple
    schedule: tuple = ()  # ((batch, γ, speedup), ...) where the engine takes a per-batch γ

    def to_json(self) -> dict:
        return {"engine": self.engine, "draft": self.draft, "gamma": self.gamma, "language": self.language,
                "text": self.text, "notes": list(self.notes),
                "gamma_by_batch": [{"batch_size": b, "gamma": g, "speedup": s} for b, g, s in self.schedule]}


def choose(deployment: checkpoints.Deployment, engine: str) -> tuple:
    """(checkpoint, notes): the best-ranked checkpoint the engine accepts, and why better ones were passed over."""
    if engine not in ENGINES:
        raise SpecplanError(f"--emit {engine!r} is not one of {', '.join(ENGINES)}")
    if deployment.target is None:
        raise SpecplanError(f"--emit {engine} needs a real target: give --target ID|FOLDER instead of --target-params")
    if not deployment.checkpoints:
        raise SpecplanError(f"--emit {engine}: no draft checkpoint to emit for {deployment.target.name} "
                            "(its family is not in the catalog): give --draft ID|FOLDER")
    chosen = deployment.best_for(engine)
    name = ENGINE_NAMES[engine]
    if chosen is None:
        best = deployment.best
        why = best.engines[engine].reason if not best.engines[engine].accepted else "speculation does not pay"
        raise SpecplanError(f"--emit {engine}: {name} accepts no ranked checkpoint that pays for "
                            f"{deployment.target.name} (best: {best.model.name}: {why})")
    ahead = deployment.checkpoints[:deployment.checkpoints.index(chosen)]
    passed = [c for c in ahead if not c.engines[engine].accepted]
    notes = [f"{name} rejects faster checkpoints: "
             + ", ".join(f"{c.model.name} ({c.candidate.speedup:.2f}×)" for c in passed)
             + f" ({passed[0].engines[engine].reason})"] if passed else []
    return chosen, notes


def emit(deployment: checkpoints.Deployment, engine: str) -> Emission:
    """The configuration for ``engine`` (see the module docstring), or a one-line refusal."""
    chosen, notes = choose(deployment, engine)
    inputs = deployment.plan.inputs
    tp, draft_tp = inputs.tensor_parallel, inputs.draft_tensor_parallel
    target, draft = deployment.target.name, chosen.model.name
    if engine in ("vllm", "trtllm"):
        schedule = tuple(checkpoints.gamma_schedule(inputs, chosen))
        return _DIALECTS[engine](target, draft, tp, draft_tp, schedule, notes)
    gamma = chosen.candidate.gamma
    if engine == "hf" and inputs.batch_size != 1:  # assisted generation runs one sequence: γ at batch 1
        gamma = checkpoints.gamma_schedule(inputs, chosen, batches=(1,))[0][1]
    if gamma == 0:
        raise SpecplanError(f"--emit {engine}: speculation with {draft} does not pay at batch "
                            f"{1 if engine == 'hf' else inputs.batch_size}")
    return _DIALECTS[engine](target, draft, tp, draft_tp, gamma, chosen, notes)


def _ranges(schedule) -> list:
    """[[first batch, last batch, γ], ...] from a (batch, γ, speedup) grid: each grid batch's γ holds up to the
    next grid batch; equal neighbours merged; the last range ends at the last grid batch (vLLM carries it on)."""
    ranges = []
    for i, (batch, gamma, _) in enumerate(schedule):
        end = schedule[i + 1][0] - 1 if i + 1 < len(schedule) else batch
        if ranges and ranges[-1][2] == gamma:
            ranges[-1][1] = end
        else:
            ranges.append([batch, end, gamma])
    return ranges


def _vllm(target, draft, tp, draft_tp, schedule, notes) -> Emission:
    if draft_tp not in (1, tp):
        raise SpecplanError(f"--emit vllm: vLLM takes a draft tensor parallelism of 1 or the target's {tp}, "
                            f"not --draft-tensor-parallel {draft_tp}")
    gamma = max(g for _, g, _ in schedule)
    if gamma == 0:
        raise SpecplanError("--emit vllm: speculation pays at no batch size from 1 to 256 for this pair")
    config = {"method": "draft_model", "model": draft, "num_speculative_tokens": gamma,
              "draft_tensor_parallel_size": draft_tp}
    ranges = _ranges(schedule)
    if len(ranges) > 1:
        config["num_speculative_tokens_per_batch_size"] = ranges
        notes = notes + ["γ per batch size from the batch model at powers of two (γ 0: speculation off)"]
    if draft_tp != tp:
        notes = notes + [f"vLLM V1 has been reported to run the draft at the target's tensor parallelism whatever "
                         f"draft_tensor_parallel_size says (vllm#17499); plan with --draft-tensor-parallel {tp} "
                         "to see that case"]
    command = ["vllm", "serve", target, "--tensor-parallel-size", str(tp),
               "--speculative-config", json.dumps(config)]
    return Emission("vllm", draft, gamma, shlex.join(command), "bash", tuple(notes), schedule)


def _sglang(target, draft, tp, draft_tp, gamma, chosen, notes) -> Emission:
    command = ["python3", "-m", "sglang.launch_server", "--model-path", target, "--tp", str(tp),
               "--speculative-algorithm", "STANDALONE", "--speculative-draft-model-path", draft,
               "--speculative-num-steps", str(gamma), "--speculative-eagle-topk", "1",
               "--speculative-num-draft-tokens", str(gamma + 1)]
    if draft_tp != tp:
        notes = notes + [f"SGLang's STANDALONE draft runs at the target's tensor parallelism ({tp}): plan with "
                         f"--draft-tensor-parallel {tp} to see that case"]
    return Emission("sglang", draft, gamma, shlex.join(command), "bash", tuple(notes))


def _trtllm(target, draft, tp, draft_tp, schedule, notes) -> Emission:
    first = schedule[0][1]
    if first == 0:
        raise SpecplanError("--emit trtllm: speculation does not pay at batch 1 for this pair, and TensorRT-LLM's "
                            "draft_len_schedule must start at max_draft_len for batch 1")
    lengths, last = {}, None
    for batch, gamma, _ in schedule:
        gamma = min(gamma, first)  # every value ≤ max_draft_len
        if gamma != last:
            lengths[batch], last = gamma, gamma
    spec = {"decoding_type": "DraftTarget", "max_draft_len": first, "speculative_model": draft}
    if len(lengths) > 1:
        spec["draft_len_schedule"] = lengths
    config = {"disable_overlap_scheduler": True, "speculative_config": spec,
              "kv_cache_config": {"enable_block_reuse": False}}
    off = [batch for batch, gamma, _ in schedule if gamma == 0]
    if off:
        config["max_concurrency"] = max(b for b, g, _ in schedule if b < off[0])
    if draft_tp != tp:
        notes = notes + [f"TensorRT-LLM runs the draft with the target's mapping (tensor parallelism {tp}): plan "
                         f"with --draft-tensor-parallel {tp} to see that case"]
    text = (f"# spec.yaml — trtllm-serve {target} --backend pytorch --tp_size {tp} --config spec.yaml\n"
            f"# (older builds: --extra_llm_api_options spec.yaml)\n" + yaml.safe_dump(config, sort_keys=False))
    return Emission("trtllm", draft, first, text, "yaml", tuple(notes), schedule)


def _gguf(name: str) -> str:
    return name.rstrip("/").split("/")[-1] + ".gguf"


def _llamacpp(target, draft, tp, draft_tp, gamma, chosen, notes) -> Emission:
    command = ["llama-server", "-m", _gguf(target), "-ngl", "99", "--spec-type", "draft-simple",
               "-md", _gguf(draft), "--spec-draft-ngl", "99", "--spec-draft-n-max", str(gamma),
               "--spec-draft-n-min", "0", "--spec-draft-p-min", "0"]
    notes = notes + ["GGUF files converted from the two checkpoints (convert_hf_to_gguf.py) or downloaded; builds "
                     f"before April 2026 spell the draft options -ngld 99 --draft-max {gamma} --draft-min 0 "
                     "--draft-p-min 0"]
    if tp > 1:
        notes.append(f"llama.cpp splits layers across GPUs (--split-mode layer) rather than tensor parallelism {tp}: "
                     "its latencies differ from this plan's")
    return Emission("llamacpp", draft, gamma, shlex.join(command), "bash", tuple(notes))


def _hf(target, draft, tp, draft_tp, gamma, chosen, notes) -> Emission:
    universal = chosen.engines["hf"].status == "universal path"
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
    extra = ""
    if universal:
        lines.append(f"assistant_tokenizer = AutoTokenizer.from_pretrained({draft!r})")
        extra = " tokenizer=tokenizer, assistant_tokenizer=assistant_tokenizer,"
        notes = notes + [chosen.engines["hf"].reason]
    lines.append(f"out = target.generate(**inputs, assistant_model=draft,{extra} do_sample=False, max_new_tokens=256)")
    notes = notes + ["transformers' assisted generation decodes one sequence at a time (batch 1)"]
    if tp > 1:
        notes.append(f"device_map='auto' spreads layers over the GPUs (no tensor parallelism {tp}): its latencies "
                     "differ from this plan's")
    return Emission("hf", draft, gamma, "\n".join(lines), "python", tuple(notes))


_DIALECTS = {"vllm": _vllm, "sglang": _sglang, "trtllm": _trtllm, "llamacpp": _llamacpp, "hf": _hf}
