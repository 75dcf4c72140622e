"""`plan --emit`: every dialect parsed back (JSON and YAML loaded, flags split, Python parsed) and its option names
checked against the engines' own (vLLM SpeculativeConfig fields, SGLang and llama-server flags, TensorRT-LLM
DraftTarget config, transformers generation config); incompatible pairs refused."""

import ast
import json
import shlex

import pytest
import yaml
from typer.testing import CliRunner

from specplan.cli import app

VLLM_SPEC_KEYS = {"method", "model", "num_speculative_tokens", "draft_tensor_parallel_size", "quantization",
                  "max_model_len", "revision", "draft_sample_method", "use_heterogeneous_vocab",
                  "num_speculative_tokens_per_batch_size"}
VLLM_FLAGS = {"--tensor-parallel-size", "--speculative-config"}
SGLANG_FLAGS = {"--model-path", "--tp-size", "--speculative-algorithm", "--speculative-draft-model-path",
                "--speculative-num-steps", "--speculative-eagle-topk", "--speculative-num-draft-tokens"}
# TensorRT-LLM's LLM API (llm_args.py) forbids unknown top-level keys: plan writes only these of its arguments.
TRTLLM_KEYS = {"disable_overlap_scheduler", "speculative_config", "kv_cache_config"}
TRTLLM_SPEC_KEYS = {"decoding_type", "max_draft_len", "speculative_model", "draft_len_schedule", "max_concurrency"}
LLAMACPP_FLAGS = {"-m", "-ngl", "--spec-type", "-md", "--spec-draft-ngl", "--spec-draft-n-max", "--spec-draft-n-min",
                  "--spec-draft-p-min"}
HF_ASSISTANT_CONFIG = {"num_assistant_tokens", "num_assistant_tokens_schedule", "assistant_confidence_threshold"}
HF_GENERATE_KWARGS = {"assistant_model", "tokenizer", "assistant_tokenizer", "do_sample", "max_new_tokens"}


def emitted(*args):
    result = CliRunner().invoke(app, ["plan", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def flags(command: str) -> dict:
    """Split a command line the way a shell does: {flag: value} (value None for a switch)."""
    words, result = shlex.split(command), {}
    for i, word in enumerate(words):
        if word.startswith("-"):
            nxt = words[i + 1] if i + 1 < len(words) else None
            result[word] = None if nxt is None or nxt.startswith("-") else nxt
    return result


def check_vllm_schedule(ranges, cap):
    """vLLM's own rules (vllm/v1/spec_decode/dynamic/utils.py): from batch 1, sorted, non-overlapping, k ≥ 0."""
    assert ranges[0][0] == 1
    previous_end = 0
    for start, end, k in ranges:
        assert start > previous_end and start <= end and 0 <= k <= cap
        previous_end = end


def test_vllm_serve_command_with_a_batch_schedule():
    data = emitted("--target", "meta-llama/Llama-3.1-70B-Instruct", "--tensor-parallel", "4", "--emit", "vllm",
                   "--batch-size", "32")
    emit = data["emit"]
    words = shlex.split(emit["text"])
    assert words[:3] == ["vllm", "serve", "meta-llama/Llama-3.1-70B-Instruct"]
    options = flags(emit["text"])
    assert set(options) == VLLM_FLAGS and options["--tensor-parallel-size"] == "4"
    config = json.loads(options["--speculative-config"])
    assert set(config) <= VLLM_SPEC_KEYS and config["method"] == "draft_model"
    assert config["model"] == emit["draft"] == data["checkpoints"][0]["name"] == "meta-llama/Llama-3.2-1B-Instruct"
    assert config["draft_tensor_parallel_size"] == 1
    by_batch = {row["batch_size"]: row["gamma"] for row in emit["gamma_by_batch"]}
    assert config["num_speculative_tokens"] == max(by_batch.values())
    check_vllm_schedule(config["num_speculative_tokens_per_batch_size"], config["num_speculative_tokens"])
    # The schedule's γ at the planned batch size is the plan's own γ for that checkpoint.
    assert by_batch[32] == data["checkpoints"][0]["gamma"]
    for start, end, k in config["num_speculative_tokens_per_batch_size"]:
        assert all(by_batch[b] == k for b in by_batch if start <= b <= end)


def test_vllm_passes_over_drafts_it_rejects_and_says_so():
    data = emitted("--target", "Qwen/Qwen2.5-72B-Instruct", "--tensor-parallel", "4", "--emit", "vllm")
    best = data["checkpoints"][0]
    assert best["name"] == "Qwen/Qwen2.5-0.5B-Instruct" and not best["engines"]["vllm"]["accepted"]
    config = json.loads(flags(data["emit"]["text"])["--speculative-config"])
    assert config["model"] == "Qwen/Qwen2.5-7B-Instruct"  # the first same-rows (152,064) checkpoint
    assert any("rejects faster checkpoints" in n and "151,936 vs 152,064" in n for n in data["emit"]["notes"])


def test_sglang_flags_make_a_chain_of_gamma():
    data = emitted("--target", "Qwen/Qwen3-32B", "--profile", "h200", "--emit", "sglang")
    options = flags(data["emit"]["text"])
    assert options.pop("-m") == "sglang.launch_server"
    assert set(options) == SGLANG_FLAGS
    gamma = data["emit"]["gamma"]
    assert gamma == data["checkpoints"][0]["gamma"] >= 1
    assert options["--speculative-algorithm"] == "STANDALONE" and options["--speculative-eagle-topk"] == "1"
    assert int(options["--speculative-num-steps"]) == gamma and int(options["--speculative-num-draft-tokens"]) == gamma + 1
    assert options["--speculative-draft-model-path"] == "Qwen/Qwen3-0.6B"


def test_trtllm_yaml_with_a_draft_length_schedule():
    data = emitted("--target", "Qwen/Qwen2.5-72B-Instruct", "--tensor-parallel", "4", "--emit", "trtllm")
    config = yaml.safe_load(data["emit"]["text"])
    assert set(config) <= TRTLLM_KEYS and set(config["speculative_config"]) <= TRTLLM_SPEC_KEYS
    spec = config["speculative_config"]
    assert spec["decoding_type"] == "Draft_Target" and spec["speculative_model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    schedule = spec["draft_len_schedule"]
    assert schedule[1] == spec["max_draft_len"] and all(0 <= v <= spec["max_draft_len"] for v in schedule.values())
    assert "--tp_size 4" in data["emit"]["text"]


def test_llamacpp_flags_use_the_draft_and_a_fixed_gamma():
    data = emitted("--target", "Qwen/Qwen2.5-72B-Instruct", "--tensor-parallel", "4", "--emit", "llamacpp")
    options = flags(data["emit"]["text"])
    assert set(options) == LLAMACPP_FLAGS
    assert options["--spec-type"] == "draft-simple"  # without it the draft is loaded and never used
    assert int(options["--spec-draft-n-max"]) == data["emit"]["gamma"]
    assert options["--spec-draft-n-min"] == "0" and options["--spec-draft-p-min"] == "0"
    assert options["-md"] == "Qwen2.5-0.5B-Instruct.gguf"  # 128 rows apart: llama.cpp's limit


@pytest.mark.parametrize("target, universal", [("Qwen/Qwen3-32B", False), ("Qwen/Qwen2.5-72B-Instruct", True)])
def test_hf_generate_snippet_parses_with_a_constant_schedule(target, universal):
    data = emitted("--target", target, "--emit", "hf", "--batch-size", "8")
    tree = ast.parse(data["emit"]["text"])
    assigned = {node.targets[0].attr: ast.literal_eval(node.value) for node in ast.walk(tree)
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute)}
    assert set(assigned) == HF_ASSISTANT_CONFIG
    assert assigned["num_assistant_tokens_schedule"] == "constant" and assigned["assistant_confidence_threshold"] == 0
    assert assigned["num_assistant_tokens"] == data["emit"]["gamma"] >= 1
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "generate")
    kwargs = {k.arg for k in call.keywords if k.arg}
    assert kwargs <= HF_GENERATE_KWARGS and "assistant_model" in kwargs
    assert ("assistant_tokenizer" in kwargs) == universal


def test_emit_prints_a_pasteable_block_after_the_plan():
    result = CliRunner().invoke(app, ["plan", "--target", "meta-llama/Llama-3.1-8B-Instruct", "--profile", "l40s",
                                      "--emit", "llamacpp"])
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("llama-server ") and flags(last)["--spec-type"] == "draft-simple"
    assert "Verdict: use meta-llama/Llama-3.2-1B-Instruct with γ" in result.stdout


def test_vllm_refuses_a_draft_tp_it_does_not_take():
    result = CliRunner().invoke(app, ["plan", "--target", "meta-llama/Llama-3.1-70B-Instruct", "--tensor-parallel", "4",
                                      "--draft-tensor-parallel", "2", "--emit", "vllm"])
    assert result.exit_code == 2 and "vLLM takes a draft tensor parallelism of 1 or the target's 4" in result.stderr


def test_json_keeps_every_old_key_and_adds_the_new_ones():
    data = emitted("--target-params", "70e9")
    assert {"inputs", "recommendation", "pays", "flat_band", "pooled_rule_draft_params", "candidates",
            "notes"} <= set(data)
    assert data["target_model"] is None and data["checkpoints"] == [] and data["emit"] is None
    # 70 GB of weights per GPU at TP 2 leave no room for the activation reserve in 72 GB: TP 4
    assert data["tensor_parallel"]["target"] == 4 and data["tensor_parallel"]["draft"] == 1
    assert {"draft_params", "gamma", "gamma_real", "alpha", "expected_tokens_per_round", "speedup",
            "target_draft_ratio", "cost_ratio", "verify_cost_ratio", "speedup_by_gamma",
            "round_cost_ratio", "first_step_ratio", "draft_prefill_ratio",
            "target_prefill_ratio", "gamma_band", "alpha_source"} == set(data["recommendation"])


def test_an_incompatible_given_pair_is_refused(tmp_path):
    target, draft = tmp_path / "target", tmp_path / "draft"
    for folder, rows, layers in ((target, 152064, 32), (draft, 151936, 4)):
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 4096, "intermediate_size":
            11008, "num_hidden_layers": layers, "num_attention_heads": 32, "num_key_value_heads": 8,
            "vocab_size": rows}))
    args = ["plan", "--target", str(target), "--draft", str(draft), "--emit"]
    vllm = CliRunner().invoke(app, args + ["vllm"])  # the answer for vLLM: do not speculate, and why
    assert vllm.exit_code == 0 and "151,936 vs 152,064 embedding rows" in vllm.stdout and not vllm.stderr
    assert "# vLLM: do not speculate" in vllm.stdout
    assert CliRunner().invoke(app, args + ["vllm", "--require-pays"]).exit_code == 1
    llamacpp = CliRunner().invoke(app, args + ["llamacpp"])  # 128 rows apart: llama.cpp takes it
    assert llamacpp.exit_code == 0, llamacpp.output
