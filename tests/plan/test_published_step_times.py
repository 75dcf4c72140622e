"""The bundled table of published step times: it loads, every row names its source and carries sane units, and a
bad row is one line naming the bad value."""

import pytest

from specplan.errors import SpecplanError
from specplan.plan import hardware
from specplan.plan.published_step_times import published_rows, row_from_dict, rows_from_data

ROWS = published_rows()
PROFILES = {p.name for p in hardware.bundled_profiles()}


def test_the_table_loads_and_holds_both_kinds_on_two_gpus():
    assert len(ROWS) >= 20
    assert {row.kind for row in ROWS} == {"step", "ratio"}
    assert {row.profile for row in ROWS} == {"a100-80gb-sxm", "h100-sxm"}
    assert len({row.id for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_every_row_has_a_source_and_sane_units(row):
    assert len(row.source) > 15 and row.read in ("read", "derived")
    assert row.read == "read" or row.how
    assert row.profile in PROFILES and row.engine and row.gpu
    assert row.precision in hardware.BYTES_PER_PARAM and row.batch >= 1 and 1 <= row.tp <= 8
    assert 1 <= row.context_tokens <= 131072
    if row.kind == "step":
        assert 1.0 < row.value < 100.0  # ms per decode step at batch 1: GPUs, 0.6B-70B models
        assert row.draft is None
    else:
        assert 0.0 < row.value < 1.0 and row.draft_architecture is not None
        assert row.draft_architecture.params_total < row.architecture.params_total


def test_tokens_per_second_is_read_as_milliseconds_per_step():
    row = next(r for r in ROWS if r.id == "gpt-fast llama-2-7b bf16")
    assert row.value == pytest.approx(1000 / 104.9)
    assert row.architecture.layers == 32 and row.architecture.kv_heads == 32  # Llama 2 7B, from the inline config
    assert row.architecture.params_total == pytest.approx(6.74e9, rel=0.01)


def test_the_tp4_pair_drafts_at_the_targets_tp_as_vllm_does_by_default():
    pair = next(r for r in ROWS if "llama-3-70b" in r.id)
    assert (pair.tp, pair.draft_tp, pair.value) == (4, 4, 0.125)


GOOD = {"id": "x", "kind": "step", "model": "Qwen/Qwen3-8B", "profile": "h100-sxm", "gpu": "H100", "engine": "e",
        "precision": "bf16", "tp": 1, "batch": 1, "context_tokens": 100, "ms_per_step": 7.0, "read": "read",
        "source": "somewhere"}


@pytest.mark.parametrize("change, message", [
    ({"source": ""}, "missing 'source'"),
    ({"kind": "speed"}, "kind 'speed' is not one of step, ratio"),
    ({"precision": "fp12"}, "precision 'fp12'"),
    ({"tp": 0}, "tp must be a positive integer, got 0"),
    ({"ms_per_step": float("nan")}, "ms_per_step must be a positive number"),
    ({"tokens_per_s": 100.0}, "exactly one of ms_per_step and tokens_per_s"),
    ({"read": "derived"}, "a derived figure needs 'how'"),
    ({"model": "nobody/nothing"}, "neither in the catalog nor given a config"),
    ({"config": "llama9"}, "config 'llama9' is not in the table's configs"),
    ({"kind": "ratio", "target": "Qwen/Qwen3-8B", "draft": "Qwen/Qwen3-0.6B", "draft_tp": 1, "ratio": 1.5},
     "ratio must be below 1"),
])
def test_a_bad_row_is_one_line_naming_the_value(change, message):
    with pytest.raises(SpecplanError) as error:
        row_from_dict({**GOOD, **change}, {})
    assert message in str(error.value) and "\n" not in str(error.value)


def test_repeated_ids_and_a_table_without_rows_are_refused():
    with pytest.raises(SpecplanError, match="row ids repeat"):
        rows_from_data({"rows": [GOOD, GOOD]})
    with pytest.raises(SpecplanError, match="a list 'rows'"):
        rows_from_data({"configs": {}})
