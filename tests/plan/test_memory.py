"""Memory per GPU the way vLLM counts it (plan/memory.py), with the arithmetic written out for three targets on
h100-sxm (80 GB × gpu_memory_utilization 0.9 = 72 GB; bf16; the recommended draft at TP 1; KV for one sequence of
the model's max_position_embeddings; reserve = 8,192 batched tokens × width × (4 + 12/TP) × 2 B + 256 sampler rows
× vocab × 4 B + 1.5 GB)."""

import json

import pytest
from typer.testing import CliRunner

from specplan.cli import app
from specplan.plan import catalog, memory
from specplan.plan.architecture import from_config
from specplan.plan.hardware import load_profile

H100 = load_profile("h100-sxm")
LLAMA_70B, QWEN_72B, LLAMA_8B = ("meta-llama/Llama-3.1-70B-Instruct", "Qwen/Qwen2.5-72B-Instruct",
                                 "meta-llama/Llama-3.1-8B-Instruct")


def plan(*args) -> dict:
    result = CliRunner().invoke(app, ["plan", "--json", "--profile", "h100-sxm", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def reserve(hidden, vocab, tp, tokens=8192):
    return (tokens * hidden * (4 + 12 / tp) * 2 + 256 * vocab * 4) / 1e9 + 1.5


# (target, TP chosen, draft, terms in GB: target weights, draft weights, target KV, draft KV, reserve)
CASES = [
    # 70,553,706,496 × 2 B / 4; 1,235,814,400 × 2 B; 2·80 layers·8 KV heads·128·2 B / 4 × 131,072;
    # 2·16·8·64·2 B × 131,072
    (LLAMA_70B, 4, "meta-llama/Llama-3.2-1B-Instruct",
     (70553706496 * 2 / 4, 1235814400 * 2, 2 * 80 * 1024 * 2 / 4 * 131072, 2 * 16 * 512 * 2 * 131072),
     reserve(8192, 128256, 4)),
    # 72,706,203,648 × 2 B / 4; 494,032,768 × 2 B; 2·80·8·128·2 B / 4 × 32,768; 2·24·2·64·2 B × 32,768
    (QWEN_72B, 4, "Qwen/Qwen2.5-0.5B-Instruct",
     (72706203648 * 2 / 4, 494032768 * 2, 2 * 80 * 1024 * 2 / 4 * 32768, 2 * 24 * 128 * 2 * 32768),
     reserve(8192, 152064, 4)),
    # 8,030,261,248 × 2 B; 1,235,814,400 × 2 B; 2·32·8·128·2 B × 131,072; 2·16·8·64·2 B × 131,072
    (LLAMA_8B, 1, "meta-llama/Llama-3.2-1B-Instruct",
     (8030261248 * 2, 1235814400 * 2, 2 * 32 * 1024 * 2 * 131072, 2 * 16 * 512 * 2 * 131072),
     reserve(4096, 128256, 1)),
]


@pytest.mark.parametrize("target, tp, draft, terms, reserve_gb", CASES)
def test_memory_term_by_term_and_the_smallest_tp_that_fits(target, tp, draft, terms, reserve_gb):
    data = plan("--target", target)
    parallel = data["tensor_parallel"]
    assert parallel["target"] == tp and data["checkpoints"][0]["name"] == draft
    got = parallel["memory"]
    expected = [t / 1e9 for t in terms] + [reserve_gb]
    names = ("target_weights_gb", "draft_weights_gb", "target_kv_gb", "draft_kv_gb", "reserve_gb")
    assert [got[n] for n in names] == pytest.approx(expected, rel=1e-9)
    assert got["used_gb"] == pytest.approx(sum(expected)) and got["budget_gb"] == pytest.approx(72.0)
    assert got["fits"] and sum(expected) <= 0.9 * 80  # vLLM's start-up check holds
    # and at half the TP it does not: that TP would not start
    if tp > 1:
        half = plan("--target", target, "--tensor-parallel-size", str(tp // 2))["tensor_parallel"]["memory"]
        assert not half["fits"]


def test_figures_of_the_three_pairs():
    """The per-GPU sums, for the record (GB): 70B + 1B at TP 4, 72B + 0.5B at TP 4, 8B + 1B at TP 1."""
    sums = [sum(t / 1e9 for t in terms) + r for _, _, _, terms, r in CASES]
    assert sums == pytest.approx([55.3517, 43.0234, 42.7121], abs=1e-4)


def test_emitted_command_fits_and_states_no_length_when_the_full_one_fits():
    data = plan("--target", LLAMA_70B, "--emit", "vllm")
    text = data["emit"]["text"]
    assert "--tensor-parallel-size 4" in text and "--max-model-len" not in text


def test_tp_2_for_the_70b_refuses_in_one_line():
    # 70.55 + 2.47 + 2.97 (reserve at TP 2) = 76.0 GB of 72 before any KV cache: no length fits.
    result = CliRunner().invoke(app, ["plan", "--target", LLAMA_70B, "--profile", "h100-sxm",
                                      "--tensor-parallel-size", "2", "--emit", "vllm"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "tensor parallelism 2" in lines[0] and "larger --tensor-parallel-size" in lines[0]


def test_a_given_tp_that_fits_only_a_shorter_sequence_emits_it():
    # rtx-4090: 21.6 GB − 8.030 − 2.472 − reserve (2,048 batched tokens: 0.299 + 1.5) = 9.299 GB for KV at
    # 65,536 + 32,768 B per token = 94,595 tokens → 94,592 in blocks → 94,208 in whole thousands (1,024).
    for engine, flag in (("vllm", "--max-model-len 94208"), ("sglang", "--context-length 94208"),
                         ("trtllm", "max_seq_len: 94208")):
        result = CliRunner().invoke(app, ["plan", "--json", "--target", LLAMA_8B, "--profile", "rtx-4090",
                                          "--tensor-parallel-size", "2", "--emit", engine])
        assert result.exit_code == 0, result.output
        emitted = json.loads(result.stdout)["emit"]
        assert flag in emitted["text"] and any("max_model_len 94,208" in n for n in emitted["notes"])


def test_a_shorter_max_model_len_is_planned_and_emitted():
    data = plan("--target", LLAMA_70B, "--max-model-len", "8192", "--emit", "vllm")
    assert data["tensor_parallel"]["max_model_len"] == 8192 and data["tensor_parallel"]["memory"]["kv_tokens"] == 8192
    assert "--max-model-len 8192" in data["emit"]["text"]


@pytest.mark.parametrize("args, message", [
    (["--max-model-len", "0"], "--max-model-len"),
    (["--max-model-len", "200000"], "max_position_embeddings 131072"),
    (["--gpu-memory-utilization", "0"], "--gpu-memory-utilization"),
    (["--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization"),
])
def test_bad_memory_values_are_one_line(args, message):
    result = CliRunner().invoke(app, ["plan", "--target", LLAMA_8B, *args])
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1


def test_max_len_from_configs_and_the_catalog():
    assert catalog.find(LLAMA_70B).info().architecture.max_position_embeddings == 131072
    assert catalog.find(QWEN_72B).info().architecture.max_position_embeddings == 32768
    base = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
            "num_hidden_layers": 2, "intermediate_size": 128, "num_attention_heads": 4, "vocab_size": 100}
    assert from_config({**base, "max_position_embeddings": 32768, "rope_scaling": {
        "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}}, "c").max_position_embeddings \
        == 131072
    assert from_config({**base, "max_position_embeddings": 131072, "rope_scaling": {
        "rope_type": "llama3", "factor": 8.0}}, "c").max_position_embeddings == 131072
    assert from_config(base, "c").max_position_embeddings is None
    for entry in catalog.catalog():
        if "max_position_embeddings" in entry.config:
            assert len(entry.sources.get("max_len", "")) > 20, entry.name


def test_kv_tokens_cover_the_planned_batch_and_whole_blocks():
    assert memory.kv_tokens(1000, 1, 1000) == 1008
    assert memory.kv_tokens(4096, 8, 1024) == 8192
