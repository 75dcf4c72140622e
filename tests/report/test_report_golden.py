"""Golden outputs of ``specplan report`` for a records file with every record kind (tests/report_records.py's
``every_kind``): CSV and Markdown must stay byte-identical
through refactors, JSON the same document. A deliberate change of output
is regenerated with ``SPECPLAN_UPDATE_GOLDEN=1 pytest tests/report/test_report_golden.py`` and reviewed in the diff."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from report_records import every_kind, write
from specplan.cli import app

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "report"
CASES = {
    "every_kind.json": ["--format", "json"],
    "every_kind.csv": ["--format", "csv"],
    "every_kind.md": ["--format", "md"],
    "every_kind_detail.md": ["--format", "md", "--detail"],
    "every_kind_by_category.json": ["--format", "json", "--by", "category"],
    "every_kind_gate.json": ["--format", "json", "--min-speedup", "2.5", "--engine", "sd"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_output_matches_its_golden_file(tmp_path, name):
    records = write(tmp_path / "runs.jsonl", every_kind())
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", str(records), *CASES[name], "-o", str(out)])
    assert result.exit_code in (0, 1), result.output
    text = out.read_text(encoding="utf-8")
    if os.environ.get("SPECPLAN_UPDATE_GOLDEN"):
        (GOLDEN / name).write_text(text, encoding="utf-8")
    golden = (GOLDEN / name).read_text(encoding="utf-8")
    if name.endswith(".json"):  # the same document: every value and list order (an object's key order is not data)
        assert json.loads(text) == json.loads(golden)
    else:
        assert text == golden
