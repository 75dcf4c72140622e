"""The suite mirrors the package (tests/plan, tests/measure, tests/report, tests/cli; project-wide checks here);
the shared helpers (model builders, record fixtures) and the golden files stay in this folder, importable from
every test by their module names."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
