"""The one checked reader of config.json (specplan/plan/model_config.py): each impossible config of issue 25 is one
line naming the file, the field and the value, exit 2; and a property test: plan exits 0 on a mutated config only
when transformers can build a model from it."""

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.plan.model_config import MAX_CONFIG_BYTES, read_config

TINY = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 256,
        "max_position_embeddings": 512}
MOE = {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": 64,
       "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
       "moe_intermediate_size": 32, "num_experts": 8, "num_experts_per_tok": 2, "vocab_size": 256, "head_dim": 16}
LLAMA_8B = {**TINY, "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256}


def _plan(folder: Path):
    return CliRunner().invoke(app, ["plan", "--json", "--target", str(folder)])


def _write(folder: Path, config) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    return folder


def _one_line_exit_2(result, *expected):
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


IMPOSSIBLE = [  # (config, text the one line must hold)
    ({**LLAMA_8B, "intermediate_size": "big"}, "'intermediate_size'"),
    ({**LLAMA_8B, "intermediate_size": None}, "intermediate_size"),
    ({**LLAMA_8B, "intermediate_size": [1]}, "'intermediate_size'"),
    ({**LLAMA_8B, "intermediate_size": -1}, "-1"),
    ({**LLAMA_8B, "intermediate_size": 1.5}, "1.5"),
    ({**LLAMA_8B, "intermediate_size": 10**400}, "'intermediate_size'"),
    ({**LLAMA_8B, "head_dim": -128}, "-128"),
    ({**LLAMA_8B, "head_dim": 1.5}, "'head_dim'"),
    ({**LLAMA_8B, "head_dim": True}, "True"),
    ({**LLAMA_8B, "head_dim": "128"}, "'head_dim'"),
    ({**LLAMA_8B, "num_key_value_heads": 5}, "must divide num_attention_heads 32"),
    ({**LLAMA_8B, "num_attention_heads": 3, "num_key_value_heads": 3}, "must divide hidden_size 4096"),
    ({**LLAMA_8B, "tie_word_embeddings": "false"}, "'tie_word_embeddings'"),
    ({**MOE, "num_experts_per_tok": 256, "num_experts": 128}, "'num_experts_per_tok' 256"),
    ({**MOE, "num_experts": "8"}, "'num_experts'"),
    ({**MOE, "moe_intermediate_size": None, "intermediate_size": None}, "intermediate_size"),
    ({**{k: v for k, v in MOE.items() if k not in ("intermediate_size", "num_experts")}}, "intermediate_size"),
    ({**MOE, "moe_intermediate_size": [32]}, "'moe_intermediate_size'"),
    ({"architectures": ["X"], "text_config": [1]}, "'text_config'"),
    ({"architectures": "LlamaForCausalLM", **{k: v for k, v in TINY.items() if k != "architectures"}},
     "'architectures'"),
    ({"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
      "text_config": {**TINY, "model_type": "gemma3_text", "num_key_value_heads": 3}}, "must divide"),
    ({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 64}, "BertModel"),
    ([1, 2], "JSON object"),
    ("[" * 100_000, "levels deep"),
    ('{"hidden_size": ' + "9" * 5000 + "}", "not valid JSON"),
    ('{"hidden_size": 1e400}', "too large"),
    ('{"hidden_size": NaN}', "NaN"),
    ("{not json", "could not be read"),
]


@pytest.mark.parametrize("config, expected", IMPOSSIBLE, ids=[str(i) for i in range(len(IMPOSSIBLE))])
def test_impossible_configs_are_one_line_naming_file_and_field(tmp_path, config, expected):
    folder = _write(tmp_path / "model", config)
    before = (folder / "config.json").read_bytes()
    result = _plan(folder)
    _one_line_exit_2(result, expected)
    if not isinstance(config, str) or not config.startswith("["):
        assert "config.json" in result.stderr or "BertModel" in result.stderr
    assert (folder / "config.json").read_bytes() == before


def test_the_same_config_is_refused_by_profile_before_transformers(tmp_path):
    for config, expected in ((IMPOSSIBLE[0][0], "'intermediate_size'"),
                             ({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 64,
                               "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
                               "vocab_size": 256}, "BertModel")):
        folder = _write(tmp_path / "m", config)
        result = CliRunner().invoke(app, ["profile", "--model", str(folder), "-o", str(tmp_path / "p.yaml")])
        _one_line_exit_2(result, expected)
        assert not (tmp_path / "p.yaml").exists()


def test_an_oversized_config_is_refused_before_reading(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    with (folder / "config.json").open("wb") as file:
        file.truncate(MAX_CONFIG_BYTES + 1)  # sparse: no disk used
    with pytest.raises(SpecplanError, match="more than the"):
        read_config(folder / "config.json", "--target 'big'")


def test_a_non_utf8_refs_main_is_one_line(tmp_path, monkeypatch):
    repo = tmp_path / "hub" / "models--org--tiny"
    _write(repo / "snapshots" / "abc", TINY)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_bytes(b"\xff\xfe")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _one_line_exit_2(CliRunner().invoke(app, ["plan", "--target", "org/tiny"]), "not UTF-8")


def test_a_bad_config_in_the_model_cache_is_refused(tmp_path, monkeypatch):
    repo = tmp_path / "hub" / "models--Qwen--Qwen3-30B-A3B"
    _write(repo / "snapshots" / "abc", {**MOE, "num_experts_per_tok": 256, "num_experts": 128})
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _one_line_exit_2(CliRunner().invoke(app, ["plan", "--target", "Qwen/Qwen3-30B-A3B"]), "num_experts_per_tok")


def test_plan_target_params_bound_is_stated_truly():
    result = CliRunner().invoke(app, ["plan", "--target-params", "2e6"])
    _one_line_exit_2(result, "more than 2M")


# --- property: exit 0 only for configs transformers builds a model from -----------------------------------------

def _buildable(config: dict) -> bool:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = {k: v for k, v in config.items() if k not in ("architectures", "model_type")}
    try:
        built = AutoConfig.for_model(config["model_type"], **fields)
        with torch.device("meta"):
            AutoModelForCausalLM.from_config(built)
    except Exception:  # noqa: BLE001 - any refusal by transformers means "not buildable"
        return False
    return True


MUTATED = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
           "intermediate_size", "vocab_size", "tie_word_embeddings", "max_position_embeddings", "moe_intermediate_size",
           "num_experts", "num_experts_per_tok"]
values = st.one_of(st.integers(min_value=-4, max_value=300), st.integers(min_value=-(10**30), max_value=10**30),
                   st.floats(allow_nan=False, allow_infinity=False, width=32), st.booleans(), st.none(),
                   st.text(max_size=4), st.lists(st.integers(0, 4), max_size=2), st.just("missing"))


@settings(max_examples=int(os.environ.get("SPECPLAN_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from([TINY, MOE]),
       mutations=st.lists(st.tuples(st.sampled_from(MUTATED), values), min_size=1, max_size=3))
def test_plan_accepts_only_configs_transformers_can_build(base, mutations):
    config = dict(base)
    for key, value in mutations:
        if value == "missing":
            config.pop(key, None)
        else:
            config[key] = value
    with tempfile.TemporaryDirectory() as root:
        folder = _write(Path(root) / "m", config)
        result = _plan(folder)
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
    if result.exit_code == 0:
        assert _buildable(config), config
    else:
        _one_line_exit_2(result)
