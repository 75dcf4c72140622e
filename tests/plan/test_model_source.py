"""Real models as input: config folders written here (dense, tied, MoE, GQA), the model cache, the catalog, and
one-line errors for what cannot be read — all offline and without transformers."""

import json
import time

import pytest
from typer.testing import CliRunner

from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.plan import model_source
from specplan.plan.architecture import from_config

LLAMA_8B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
            "num_hidden_layers": 32, "intermediate_size": 14336, "num_attention_heads": 32, "num_key_value_heads": 8,
            "vocab_size": 128256, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}
SMOLLM_135M = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
               "num_hidden_layers": 30, "intermediate_size": 1536, "num_attention_heads": 9,
               "num_key_value_heads": 3, "vocab_size": 49152, "tie_word_embeddings": True}
QWEN3_MOE = {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": 2048,
             "num_hidden_layers": 48, "intermediate_size": 6144, "moe_intermediate_size": 768, "num_experts": 128,
             "num_experts_per_tok": 8, "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
             "vocab_size": 151936, "tie_word_embeddings": False}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No hub and an empty model cache unless a test fills it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))


def write_folder(path, config):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    return str(path)


def test_dense_untied_config():
    arch = from_config(LLAMA_8B, "t")
    assert arch.params_total == arch.params_active == 8030261248
    assert (arch.layers, arch.hidden, arch.heads, arch.kv_heads, arch.kv_dim) == (32, 4096, 32, 8, 1024)
    assert not arch.tied and arch.dtype == "bf16"
    # The input embedding is looked up, not streamed; the LM head is.
    assert arch.streamed_params(1) == arch.params_total - 128256 * 4096


def test_tied_config_counts_the_embedding_once_and_streams_it():
    arch = from_config(SMOLLM_135M, "t")
    assert arch.tied and arch.params_total == 134515008
    assert arch.streamed_params(1) == arch.params_total
    untied = from_config({**SMOLLM_135M, "tie_word_embeddings": False}, "t")
    assert untied.params_total - arch.params_total == 49152 * 576


def test_mixture_of_experts_active_and_total():
    arch = from_config(QWEN3_MOE, "t")
    assert arch.params_total == 30532122624 and arch.params_active == 3353032704
    assert arch.experts == 128 and arch.experts_per_token == 8
    one, many = arch.streamed_params(1), arch.streamed_params(4096)
    dense = arch.params_total - arch.expert_params - arch.input_embedding_params
    assert one == pytest.approx(dense + arch.expert_params * 8 / 128)  # one token touches its 8 experts
    assert many == pytest.approx(dense + arch.expert_params, rel=1e-6)  # a large step touches them all
    assert arch.matmul_params == arch.params_active - 151936 * 2048


def test_grouped_query_attention_shrinks_the_kv_cache_by_heads_over_kv_heads():
    gqa = from_config(LLAMA_8B, "t")
    mha = from_config({**LLAMA_8B, "num_key_value_heads": 32}, "t")
    assert mha.kv_bytes_per_token(2) / gqa.kv_bytes_per_token(2) == 4
    assert gqa.kv_bytes_per_token(2) == 2 * 32 * 8 * 128 * 2


def test_multimodal_config_reads_its_text_config():
    config = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
              "text_config": {"model_type": "gemma3_text", "hidden_size": 5376, "num_hidden_layers": 62,
                              "intermediate_size": 21504, "num_attention_heads": 32, "num_key_value_heads": 16,
                              "head_dim": 128, "vocab_size": 262208}}
    arch = from_config(config, "t")
    assert arch.tied and arch.vocab_rows == 262208 and arch.params_total == 27009346304


def test_folder_target_through_the_cli(tmp_path):
    folder = write_folder(tmp_path / "my-model", LLAMA_8B)
    result = CliRunner().invoke(app, ["plan", "--target", folder, "--json", "--profile", "l40s"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["inputs"]["target_params"] == 8030261248 and data["target_model"]["kv_heads"] == 8
    # The folder has the exact shape of a catalog model: it takes that model's tokenizer, family and drafts.
    assert data["target_model"]["family"] == "llama3" and "shape of" in data["target_model"]["origin"]
    assert data["checkpoints"][0]["name"] == "meta-llama/Llama-3.2-1B-Instruct"


def test_a_given_draft_folder_is_ranked_and_marked(tmp_path):
    draft = write_folder(tmp_path / "tiny", {**SMOLLM_135M, "vocab_size": 128256})
    result = CliRunner().invoke(app, ["plan", "--target", "meta-llama/Llama-3.1-8B-Instruct", "--draft", draft,
                                      "--json"])
    assert result.exit_code == 0, result.output
    given = [c for c in json.loads(result.stdout)["checkpoints"] if c["given"]]
    assert len(given) == 1 and given[0]["name"] == draft
    # Equal rows, but the tokenizer identity of a folder is not known: vLLM's check passes, the reason says so.
    assert given[0]["engines"]["vllm"]["accepted"] and "tokenizer identity not known" in given[0]["engines"]["vllm"]["reason"]


def test_the_model_cache_layout_is_read(tmp_path, monkeypatch):
    cache = tmp_path / "hf-home" / "hub"
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    repo = cache / "models--acme--Tiny-8B"
    write_folder(repo / "snapshots" / "old", {**LLAMA_8B, "num_hidden_layers": 1})
    write_folder(repo / "snapshots" / "abc123", LLAMA_8B)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    info = model_source.resolve("acme/Tiny-8B", "--target")
    assert info.origin == "model cache" and info.architecture.params_total == 8030261248
    # A cached config of a catalog model keeps the catalog's tokenizer and tokens with the real shape.
    write_folder(cache / "models--Qwen--Qwen3-0.6B" / "snapshots" / "x",
                 {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 1024,
                  "num_hidden_layers": 28, "intermediate_size": 3072, "num_attention_heads": 16,
                  "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936, "tie_word_embeddings": True})
    qwen = model_source.resolve("Qwen/Qwen3-0.6B", "--draft")
    assert qwen.origin == "model cache" and qwen.tokenizer == "qwen3" and qwen.training_tokens == 36e12


def test_catalog_target_works_offline():
    result = CliRunner().invoke(app, ["plan", "--target", "meta-llama/Llama-3.1-70B-Instruct", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["target_model"]["origin"] == "catalog" and data["inputs"]["target_tokens"] == 15e12
    # 141 GB of weights and KV for one 131,072-token sequence: TP 4 is the smallest that vLLM can start on H100s
    assert data["tensor_parallel"]["target"] == 4


@pytest.mark.parametrize("make, fragment", [
    (lambda p: "nobody/no-such-model", "not in the catalog (see `specplan models`) nor in the model cache"),
    (lambda p: str(p), "the folder has no config.json"),
    (lambda p: write_folder(p / "bert", {"architectures": ["BertForMaskedLM"], "model_type": "bert"}),
     "BertForMaskedLM is not a causal language model"),
    (lambda p: write_folder(p / "t5", {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5",
                                       "is_encoder_decoder": True}), "'t5' is an encoder-decoder model"),
    (lambda p: write_folder(p / "odd", {**LLAMA_8B, "hidden_size": "big"}), "'hidden_size' must be a positive"),
    (lambda p: str(p / "missing-folder" / "x"), "not a model folder"),
    (lambda p: "./relative-missing", "not a model folder"),
])
def test_bad_models_are_one_line_and_exit_2(tmp_path, make, fragment):
    spec = make(tmp_path)
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["plan", "--target", spec])
    assert time.perf_counter() - start < 5  # offline: no retries
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_broken_json_is_one_line(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text("{not json")
    with pytest.raises(SpecplanError, match="config.json could not be read"):
        model_source.resolve(str(folder), "--draft")


def test_a_quantized_checkpoint_is_planned_in_its_dtype(tmp_path):
    folder = write_folder(tmp_path / "fp8", {**LLAMA_8B, "num_hidden_layers": 33,
                                             "quantization_config": {"quant_method": "fp8"}})
    data = json.loads(CliRunner().invoke(app, ["plan", "--target", folder, "--json"]).stdout)
    assert data["inputs"]["dtype"] == "fp8" and any("quantization_config" in n for n in data["notes"])
    awq = write_folder(tmp_path / "awq", {**LLAMA_8B, "quantization_config": {"quant_method": "awq", "bits": 4}})
    data = json.loads(CliRunner().invoke(app, ["plan", "--target", awq, "--json"]).stdout)
    assert data["inputs"]["dtype"] is None and any("has no int4 figures" in n for n in data["notes"])


def test_a_draft_with_another_tokenizer_is_ranked_last_and_never_recommended():
    # gemma2: a family without published acceptance, so both drafts take the law (Llama-3.1-8B's family drafts now
    # take the llama3 family's published offset and outrun the 0.6B on paper)
    result = CliRunner().invoke(app, ["plan", "--target", "google/gemma-2-9b-it", "--profile", "l40s",
                                      "--draft", "Qwen/Qwen3-0.6B", "--json"])
    data = json.loads(result.stdout)
    last = data["checkpoints"][-1]
    assert last["name"] == "Qwen/Qwen3-0.6B" and last["shares_tokenizer"] is False
    assert not any(v["accepted"] for v in last["engines"].values())
    assert last["speedup"] > data["checkpoints"][0]["speedup"]  # faster on paper, still last
    assert data["checkpoints"][0]["name"] == "google/gemma-2-2b-it"


def test_the_hub_is_asked_for_config_json_only_when_online(tmp_path, monkeypatch):
    """The hub path with a stand-in client: the probe said online, huggingface_hub returns a downloaded file."""
    import sys
    import types

    downloaded = write_folder(tmp_path / "downloaded", LLAMA_8B)
    calls = []

    def hf_hub_download(repo_id, filename, etag_timeout):
        calls.append((repo_id, filename))
        return f"{downloaded}/config.json"

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(hf_hub_download=hf_hub_download))
    monkeypatch.setattr(model_source, "_offline_reason", lambda: None)
    info = model_source.resolve("acme/Online-8B", "--target")
    assert calls == [("acme/Online-8B", "config.json")] and info.origin == "hub"
    assert info.architecture.params_total == 8030261248

    def refused(repo_id, filename, etag_timeout):
        raise PermissionError("401 gated repo\nmore lines")

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(hf_hub_download=refused))
    with pytest.raises(SpecplanError, match=r"the hub did not give config.json \(PermissionError: 401 gated repo\)$"):
        model_source.resolve("acme/Gated-8B", "--target")


def test_a_draft_checkpoint_for_a_size_only_target():
    result = CliRunner().invoke(app, ["plan", "--target-params", "70e9", "--draft", "meta-llama/Llama-3.2-1B-Instruct",
                                      "--draft", "meta-llama/Llama-3.1-70B-Instruct"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Verdict: use meta-llama/Llama-3.2-1B-Instruct with γ" in result.stdout
    assert "reject" not in result.stdout.split("Verdict")[1]  # no target model: no engine verdict to report
    assert "--draft meta-llama/Llama-3.1-70B-Instruct: not smaller than the target per token" in result.stdout
