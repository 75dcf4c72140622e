"""Report's tables at 80 columns (CI logs, pipes): columns move to a second table instead of every cell being
elided to '…'; ids are folded, never cut (issue 21 item 5)."""

from rich.cells import cell_len

import report_records as hand
from specplan.report.build import build, render_table

LONG = "meta-llama/Llama-3.2-1B-Instruct"


def _rendered(tmp_path, records, width=80):
    path = hand.write(tmp_path / "runs.jsonl", records)
    return render_table(build([str(path)], detail=True), width=width)


def test_every_table_fits_80_columns_with_no_cell_elided(tmp_path):
    text = _rendered(tmp_path, hand.every_kind())
    for title in ("Acceptance", "Speed", "Exactness", "Per-position acceptance", "Predicted vs measured",
                  "Where the time goes", "Lookahead", "By batch size", "Perplexity"):
        assert title in text
    assert "…" not in text
    assert max(cell_len(line) for line in text.splitlines()) <= 80
    for value in ("2.62×", "+7.8%", "0.075", "231.22]", "19.25"):  # cells of the widest tables, whole
        assert value in text


def test_a_long_checkpoint_id_is_folded_not_cut(tmp_path):
    records = [{**r, "pair": {"target": LONG, "draft": LONG + "-draft"}} for r in hand.records()]
    text = _rendered(tmp_path, records + hand.every_kind()[-20:])
    assert "…" not in text and max(cell_len(line) for line in text.splitlines()) <= 80
    folded = "".join(text.split())
    assert "meta-llama/Llama-3.2-1B-Instruct" in folded.replace("│", "").replace("┃", "")


def test_a_wide_console_keeps_each_table_whole(tmp_path):
    text = _rendered(tmp_path, hand.every_kind(), width=200)
    assert "(1/2)" not in text and "…" not in text
