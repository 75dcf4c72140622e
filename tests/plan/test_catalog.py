"""The bundled model catalog: every count recomputed from its shape, every figure sourced, `specplan models`."""

import json

import pytest
from typer.testing import CliRunner

from specplan.cli import app
from specplan.plan import catalog
from specplan.plan.architecture import count_params

ENTRIES = catalog.catalog()
REQUIRED_FAMILIES = {"llama3", "qwen2.5", "qwen2.5-coder", "qwen3", "gemma2", "gemma3", "smollm2", "olmo2", "pythia",
                     "opt"}


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_every_count_is_recomputed_from_its_shape(entry):
    total, active, _ = count_params(entry.config)
    assert total == pytest.approx(entry.params, rel=0.005)
    assert active == pytest.approx(entry.active_params or entry.params, rel=0.005)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_every_figure_has_a_source_and_unverified_names_real_figures(entry):
    for figure in catalog.FIGURES:
        assert isinstance(entry.sources.get(figure), str) and len(entry.sources[figure]) > 20, figure
    assert set(entry.unverified) <= set(catalog.FIGURES)
    assert entry.training_tokens is None or isinstance(entry.training_tokens, (int, float))
    if entry.training_tokens is None:
        assert "tokens" in entry.unverified


def test_families_ids_and_tokenizers():
    assert REQUIRED_FAMILIES <= {e.family for e in ENTRIES}
    ids = [name.lower() for e in ENTRIES for names in e.ids.values() for name in names]
    assert len(ids) == len(set(ids)), "a hub id listed twice"
    assert catalog.find("META-LLAMA/llama-3.3-70b-instruct").params == 70553706496
    # Padding, not a different tokenizer: Qwen2.5 sizes share one tokenizer across two row counts.
    rows = {e.info().architecture.vocab_rows for e in catalog.family_members("qwen2.5")}
    assert rows == {151936, 152064}
    assert {e.family_info["tokenizer"] for e in catalog.family_members("qwen2.5")} == {"qwen2.5"}


def test_models_command_lists_the_catalog_and_its_sources():
    runner = CliRunner()
    table = runner.invoke(app, ["models"], env={"COLUMNS": "120"})
    assert table.exit_code == 0, table.output
    for text in ("meta-llama/Llama-3.1-70B-Instruct", "Qwen/Qwen3-30B-A3B", "(3.353B act.)", "151,936", "qwen2.5-coder"):
        assert text in table.stdout, text
    data = json.loads(runner.invoke(app, ["models", "--family", "gemma3", "--json"]).stdout)
    assert {d["family"] for d in data} == {"gemma3"} and all(d["sources"]["params"] for d in data)
    assert all("tokens" in d["unverified"] for d in data)
    bad = runner.invoke(app, ["models", "--family", "llama9"])
    assert bad.exit_code == 2 and "--family 'llama9' is not in the catalog" in bad.stderr
