"""The bundled published-acceptance table loads, names a source and a definition for every figure, keeps figures
in range, and converts each to an i.i.d. α in (0, 1)."""

import pytest

from specplan.errors import SpecplanError
from specplan.plan.acceptance_math import acceptance_length, draft_acceptance_rate
from specplan.plan.published_acceptance import DEFINITIONS, load_published_acceptance


def test_the_table_loads_with_sources_and_definitions():
    entries = load_published_acceptance()
    assert len(entries) >= 15
    assert len({e.source for e in entries}) >= 6
    for e in entries:
        assert e.source and e.where and e.definition in DEFINITIONS and e.target and e.draft and e.engine
        assert e.temperature is None or 0 <= e.temperature <= 2
        assert e.gamma is None or e.gamma >= 1
        if e.alpha is not None:
            assert 0 < e.alpha < 1
            if e.definition == "acceptance_length":
                assert float(acceptance_length(e.alpha, e.gamma)) == pytest.approx(e.figure, abs=1e-6)
            if e.definition == "draft_acceptance_rate":
                assert float(draft_acceptance_rate(e.alpha, e.gamma)) == pytest.approx(e.figure, abs=1e-6)
    assert sum(e.alpha is not None for e in entries) >= 12
    # the greedy and sampled figures of one pair (Leviathan et al. Table 2) are both there
    t5 = {e.temperature: e.alpha for e in entries if e.draft == "T5-small" and "EnDe" in e.task}
    assert t5 == {0.0: 0.75, 1.0: 0.62}
    # a leaderboard's tokens per step where the draft length varied: kept as published, no α from it
    spec_bench = [e for e in entries if e.source == "hemingkx/Spec-Bench leaderboard"]
    assert len(spec_bench) == 4 and all(e.gamma is None and e.alpha is None and e.figure > 1 for e in spec_bench)


@pytest.mark.parametrize("entry, why", [
    ("{target: a, draft: b, engine: e, task: t, temperature: 0, gamma: 4, figure: 7, definition: acceptance_length,"
     " source: s, where: w, read: source}", "outside"),
    ("{target: a, draft: b, engine: e, task: t, temperature: 0, gamma: 4, figure: 0.5, definition: tau,"
     " source: s, where: w, read: source}", "definition"),
    ("{target: a, draft: b, engine: e, task: t, temperature: 0, gamma: 4, figure: 0.5, definition: alpha,"
     " source: '', where: w, read: source}", "no source"),
    ("{target: a, draft: b, engine: e, task: t, temperature: 0, gamma: null, figure: 0.9,"
     " definition: acceptance_length, source: s, where: w, read: source}", "outside"),
    ("{target: a, draft: b}", "missing"),
])
def test_bad_entries_are_refused_naming_the_entry(entry, why):
    with pytest.raises(SpecplanError, match=f"entry 0.*{why}"):
        load_published_acceptance(f"entries:\n  - {entry}\n")
