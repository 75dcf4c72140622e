"""The import-linter layer contract of pyproject.toml bites: on a copy of the package, a module that breaks one
contract makes ``lint-imports`` fail and name that contract and the offending import; the untouched copy passes.

The copy is put first on PYTHONPATH so that import-linter analyses it, not the installed (editable) specplan; each
failure must name the planted module, which only the copy has.
"""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = {c["name"] for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]}
LAYERS = next(name for name in CONTRACTS if name.startswith("Data flow"))
NO_TORCH = next(name for name in CONTRACTS if "never import torch" in name)
ENGINES = next(name for name in CONTRACTS if name.startswith("Engines"))
REGISTRY = next(name for name in CONTRACTS if name.startswith("Only the engine registry"))
ACYCLIC = next(name for name in CONTRACTS if name.startswith("No import circles"))


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` (this interpreter's import-linter) in ``root``, analysing the package found there."""
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "500"}  # wide: contract names on one line
    command = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
               "--no-cache", "--no-logo"]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("contract")
    shutil.copytree(ROOT / "specplan", root / "specplan", ignore=shutil.ignore_patterns("assets", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_untouched_copy_keeps_every_contract(package_copy):
    result = lint_imports(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout
    for name in CONTRACTS:
        assert f"{name} KEPT" in result.stdout


@pytest.mark.parametrize("module, source, contract, offending", [
    # Not even lazily: an import inside a function breaks the contract like one at the top.
    ("plan/_planted.py", "def load():\n    import torch\n", NO_TORCH, "specplan.plan._planted -> torch"),
    ("report/_planted.py", "import transformers\n", NO_TORCH, "specplan.report._planted -> transformers"),
    ("plan/_planted.py", "from specplan.measure import bench\n", LAYERS, "specplan.plan._planted -> specplan.measure"),
    ("report/_planted.py", "import specplan.measure.timing\n", LAYERS, "specplan.report._planted -> specplan.measure"),
    ("measure/engines/_planted.py", "from specplan.cli import options\n", ENGINES,
     "specplan.measure.engines._planted -> specplan.cli"),
    ("measure/bench/_planted.py", "def run():\n    from specplan.measure.engines import sd\n", REGISTRY,
     "specplan.measure.bench._planted -> specplan.measure.engines.sd"),
    ("cli/_planted.py", "from specplan.measure.engines.vllm_llm import import_llm\n", REGISTRY,
     "specplan.cli._planted -> specplan.measure.engines.vllm_llm"),
], ids=["plan-torch-lazy", "report-transformers", "plan-up-to-measure", "report-sideways-to-measure",
        "engine-up-to-cli", "bench-imports-an-engine", "cli-imports-an-engine"])
def test_a_planted_import_breaks_the_contract_it_should(package_copy, module, source, contract, offending):
    planted = package_copy / "specplan" / module
    planted.write_text(source)
    try:
        result = lint_imports(package_copy)
    finally:
        planted.unlink()
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"{contract} BROKEN" in output
    assert offending in output


def test_a_planted_import_circle_breaks_the_acyclic_contract(package_copy):
    folder = package_copy / "specplan" / "measure" / "engines"
    planted = [folder / "_planted_a.py", folder / "_planted_b.py"]
    planted[0].write_text("def f():\n    from specplan.measure.engines import _planted_b\n")
    planted[1].write_text("from specplan.measure.engines import _planted_a\n")
    try:
        result = lint_imports(package_copy)
    finally:
        for path in planted:
            path.unlink()
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"{ACYCLIC} BROKEN" in output
    assert "_planted_a" in output and "_planted_b" in output
