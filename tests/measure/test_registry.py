"""The engine registry is the one place engines are known: every engine implements the interface of
``measure/engines/base.py``, ``bench``'s choices, default and help come from the registry, and no engine name is
spelled outside ``measure/engines/`` (so adding an engine touches its module and its registry entry only)."""

import re
from pathlib import Path

import pytest

from specplan.errors import SpecplanError
from specplan.measure.engines import registry
from specplan.measure.engines.base import BATCHED, SEQUENTIAL

PACKAGE = Path(__file__).resolve().parents[2] / "specplan"
SEQUENTIAL_METHODS = ("refuses", "settings", "absent_settings", "environment", "decode", "run_fields")
BATCHED_METHODS = ("refuses", "settings", "absent_settings", "environment", "preflight", "pending", "run")


def test_every_engine_implements_its_kind_of_the_interface():
    assert registry.names() == ("ar", "sd", "hf", "vllm")
    for name, engine in registry.ENGINES.items():
        assert engine.name == name and engine.kind in (SEQUENTIAL, BATCHED)
        assert isinstance(engine.speculative, bool) and engine.summary.startswith(name)
        for method in SEQUENTIAL_METHODS if engine.kind == SEQUENTIAL else BATCHED_METHODS:
            assert callable(getattr(engine, method)), (name, method)
    assert registry.baseline().name == "ar" and not registry.baseline().speculative
    assert registry.DEFAULT == ("ar", "sd", "hf") and registry.batched_names() == ("vllm",)


def test_the_help_and_the_choices_come_from_the_registry():
    text = registry.help_text()
    assert all(engine.summary in text for engine in registry.ENGINES.values())
    with pytest.raises(SpecplanError, match=r"--engines 'xx': choose from ar,sd,hf,vllm"):
        registry.get("xx")


def test_refusals_are_one_line_in_registry_order():
    from transformers import MambaConfig

    config = MambaConfig(vocab_size=16, hidden_size=8, num_hidden_layers=1, state_size=4, expand=2, conv_kernel=4)
    assert registry.refusal(("ar",), config, "target") is None
    for selected in (("hf", "sd"), ("sd", "hf")):  # sd is asked first whatever the order given
        reason = registry.refusal(selected, config, "target")
        assert reason.startswith("--engines sd: the target is a mamba model") and "\n" not in reason


def test_engine_names_are_spelled_only_inside_measure_engines():
    quoted = re.compile(r"""["'](ar|sd|hf|vllm)["']""")
    files = [p for p in (PACKAGE / "measure").rglob("*.py") if "engines" not in p.relative_to(PACKAGE).parts]
    offenders = [f"{p.relative_to(PACKAGE)}:{n}" for p in files + [PACKAGE / "cli" / "bench.py"]
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if quoted.search(line)]
    assert offenders == []
