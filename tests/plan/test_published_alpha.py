"""plan's α for a named pair from the published table: the pair's entry (nearest temperature and task, ties
averaged), else its family's offset fitted on the family's entries, else the law; a given α wins; N* keeps the law;
a τ/DAR figure caps the γ plan chooses at the γ it was measured at."""

import json
import math

import pytest
from typer.testing import CliRunner

from specplan.cli import app
from specplan.plan import published_alpha as pa
from specplan.plan import temperature
from specplan.plan.acceptance_math import alpha_from_acceptance_length
from specplan.plan.published_acceptance import load_published_acceptance
from specplan.plan.scaling import AlphaLaw

LAW = AlphaLaw()
TABLE = load_published_acceptance("""entries:
  - {target: org/Big, draft: Small, engine: e, task: chat, temperature: 0.0, gamma: null, figure: 0.6,
     definition: alpha, source: s1, where: w, read: source, family: fam, target_params: 7.0e+9, draft_params: 0.5e+9}
  - {target: Big, draft: Small, engine: e, task: code, temperature: 0.0, gamma: null, figure: 0.8,
     definition: alpha, source: s2, where: w, read: source, family: fam, target_params: 7.0e+9, draft_params: 0.5e+9}
  - {target: Big, draft: Small, engine: e, task: chat, temperature: 1.0, gamma: 4, figure: 3.0,
     definition: acceptance_length, source: s3, where: w, read: source, family: fam,
     target_params: 7.0e+9, draft_params: 0.5e+9}
  - {target: Huge, draft: Tiny, engine: e, task: chat, temperature: null, gamma: 3, figure: 3.5,
     definition: acceptance_length, source: s4, where: w, read: source}
""")
runner = CliRunner()


def test_the_pairs_entries_at_the_nearest_temperature_ties_averaged():
    at_zero = pa.pair_alpha("ORG2/big", "small", "fam", LAW, 0.5, 0.0, table=TABLE)
    assert at_zero.kind == "published" and at_zero.alpha == pytest.approx(0.7)  # two tasks at T 0, averaged
    assert at_zero.gamma_cap is None  # published as α: no γ cap
    assert at_zero.source.startswith("published: s1 (T 0, chat; α 0.6); s2 (T 0, code; α 0.8), averaged")
    chat = pa.pair_alpha("Big", "Small", "fam", LAW, 0.5, 0.0, task="chat", table=TABLE)
    assert chat.alpha == pytest.approx(0.6)  # the task asked for, where the pair has it
    hot = pa.pair_alpha("Big", "Small", "fam", LAW, 0.5, 0.9, table=TABLE)
    measured = alpha_from_acceptance_length(3.0, 4)
    assert hot.alpha == pytest.approx(measured * temperature.RATIO_AT_T1 ** -0.1)  # T 1 carried to T 0.9
    assert hot.gamma_cap == 4 and "τ 3@4" in hot.source and "carried to T 0.9" in hot.source


def test_an_unstated_temperature_is_used_as_it_is_and_caps_gamma():
    found = pa.pair_alpha("Huge", "Tiny", None, LAW, 0.5, 1.0, table=TABLE)
    assert found.alpha == pytest.approx(alpha_from_acceptance_length(3.5, 3)) and found.gamma_cap == 3
    assert "T not stated" in found.source


def test_another_pair_of_the_family_takes_the_law_with_the_familys_offset():
    laws = [pa.law_alpha(LAW, 7e9, 15e12, 0.5e9, 2.4e12, t) for t in (0.0, 0.0, 1.0)]
    figures = [0.6, 0.8, alpha_from_acceptance_length(3.0, 4)]
    offset = sum(math.log(f / (1 - f)) - math.log(a / (1 - a)) for f, a in zip(figures, laws)) / 3
    found = pa.pair_alpha("Big", "Other", "fam", LAW, 0.55, 0.0, table=TABLE)
    assert found.kind == "family" and found.gamma_cap is None  # two of the three were published as α
    assert found.alpha == pytest.approx(1 / (1 + math.exp(-(math.log(0.55 / 0.45) + offset))))
    assert found.source.startswith("family offset: 0.550 from the law") and "3 published fam entries" in found.source
    assert pa.pair_alpha("Big", "Other", None, LAW, 0.55, 0.0, table=TABLE) is None  # no family: the law
    assert pa.pair_alpha("Big", "Other", "nobody", LAW, 0.55, 0.0, table=TABLE) is None


def plan(*args):
    result = runner.invoke(app, ["plan", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_plan_uses_the_published_pair_a_family_offset_and_keeps_the_law_for_n_star():
    data = plan("--target", "meta-llama/Llama-3.1-70B-Instruct")
    by_name = {c["name"]: c for c in data["checkpoints"]}
    one = by_name["meta-llama/Llama-3.2-1B-Instruct"]
    assert one["alpha"] == pytest.approx(alpha_from_acceptance_length(3.85, 3))
    assert one["alpha_source"].startswith("published: sgl-project/sglang PR #10090 (T not stated")
    assert one["gamma"] <= 3  # capped at the γ the τ was measured at ...
    three = by_name["meta-llama/Llama-3.2-3B-Instruct"]
    assert three["alpha_source"].startswith("family offset:") and "llama3" in three["alpha_source"]
    assert data["recommendation"]["alpha_source"] == "SDSL law"  # N*, the size optimum, keeps the plain law
    assert any("γ chosen up to the largest γ the published acceptance was measured at" in n for n in data["notes"])


def test_the_gamma_cap_binds_where_the_speedup_would_grow_past_it():
    data = plan("--target", "meta-llama/Llama-3.1-70B-Instruct", "--gamma", "8")
    one = next(c for c in data["checkpoints"] if c["name"] == "meta-llama/Llama-3.2-1B-Instruct")
    assert one["gamma"] == 3 and one["at_gamma"]["gamma"] == 8
    assert one["at_gamma"]["speedup"] > one["speedup"]  # the i.i.d. α would take γ 8; plan does not choose it


def test_a_given_alpha_wins_and_a_family_without_figures_keeps_the_law():
    data = plan("--target", "meta-llama/Llama-3.1-70B-Instruct", "--draft", "meta-llama/Llama-3.2-1B-Instruct",
                "--alpha", "0.7")
    one = next(c for c in data["checkpoints"] if c["name"] == "meta-llama/Llama-3.2-1B-Instruct")
    assert one["alpha"] == 0.7 and one["alpha_source"] == "measured, --alpha"
    qwen3 = plan("--target", "Qwen/Qwen3-32B")  # its family's one entry has no single γ: no α, no offset
    assert all(c["alpha_source"] == "SDSL law" for c in qwen3["checkpoints"])


def test_the_text_acceptance_row_names_the_deployed_drafts_source():
    result = runner.invoke(app, ["plan", "--target", "meta-llama/Llama-3.1-70B-Instruct"], env={"COLUMNS": "400"})
    row = next(line for line in result.stdout.splitlines() if "acceptance α" in line)
    assert "(SDSL law) for N*" in row and "Llama-3.2-1B-Instruct (published: sgl-project/sglang PR #10090" in row


def test_at_a_temperature_under_argmax_drafting_the_published_alpha_is_an_upper_bound():
    data = plan("--target", "meta-llama/Llama-3.1-70B-Instruct", "--temperature", "0.8", "--emit", "vllm")
    one = next(c for c in data["checkpoints"] if c["name"] == "meta-llama/Llama-3.2-1B-Instruct")
    assert one["alpha"] == pytest.approx(alpha_from_acceptance_length(3.85, 3))  # T not stated: not carried
    assert one["alpha_source"].endswith(": an upper bound under argmax drafting")
