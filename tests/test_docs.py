"""The project's docs stay true: theory.md's check values are what the code computes, architecture.md names every
module, and nothing points into notes that users of the package do not have."""

import re
from pathlib import Path

import pytest

from specplan.plan import hardware, planner, scaling, shapes, theory
from theory_helpers import tokens_per_flop
from specplan.units import format_count

ROOT = Path(__file__).resolve().parents[1]
THEORY = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def test_theory_gamma_star_table_is_what_the_code_computes():
    header = re.search(r"^\| α \\ c \|(.+)\|$", THEORY, re.MULTILINE)
    costs = [float(x) for x in header.group(1).split("|")]
    rows = re.findall(r"^\| (0\.\d) \|((?: [\d.]+ \|)+)$", THEORY, re.MULTILINE)
    assert len(costs) == 6 and len(rows) == 3
    for alpha, cells in rows:
        values = [float(x) for x in cells.strip(" |").split("|")]
        assert values == [round(theory.gamma_star_real(float(alpha), c), 2) for c in costs]


def test_theory_llama3_70b_check_values_are_what_plan_prints():
    m = 70_553_706_496
    plan = planner.make_plan(planner.PlanInputs(target_params=m, target_tokens=15e12, draft_tokens=2.4e12,
                                                cost_model="flops"))
    rec = plan.recommendation
    t_star = tokens_per_flop(rec.alpha, rec.gamma_real, m, rec.draft_params)
    for text in (f"{format_count(rec.draft_params)} ({round(rec.draft_params):,})", f"{t_star:.4e}",
                 f"{rec.gamma_real:.2f} / {rec.gamma}", f"| {rec.alpha:.4f} |", f"{rec.speedup:.3f}×",
                 f"| {format_count(plan.pooled_rule_draft_params)} |",
                 f"{format_count(plan.flat_band[0])} – {format_count(plan.flat_band[1])}"):
        assert text in THEORY
    target_ppl, draft_ppl = scaling.perplexity(m, 15e12), scaling.perplexity(rec.draft_params, 2.4e12)
    assert f"ppl(70,553,706,496, 15e12) = {target_ppl:.4f}" in THEORY
    assert f"= {draft_ppl:.3f}" in THEORY and f"α = {scaling.AlphaLaw().acceptance(draft_ppl, target_ppl):.4f}" in THEORY


def test_theory_hardware_check_values_are_what_plan_prints():
    h100 = hardware.load_profile("h100-sxm")
    for tp, command in ((1, "70e9 --tensor-parallel 1` recommends"), (None, "70e9` recommends")):
        plan = planner.make_plan(planner.PlanInputs(target_params=70e9, tensor_parallel=tp))
        rec = plan.recommendation
        assert f"`specplan plan --target-params {command}" in THEORY.replace("\n", " ")
        assert (f"N* = {format_count(rec.draft_params)}, γ = {rec.gamma} (γ* {rec.gamma_real:.2f}), α = {rec.alpha:.3f}, "
                f"speedup {rec.speedup:.2f}×, band {format_count(plan.flat_band[0])} – {format_count(plan.flat_band[1])}"
                ) in THEORY.replace("\n", " ")
    assert plan.tensor_parallel["target"] == 4 and "planned\non 4 GPUs" in THEORY
    assert f"t(70e9, 1) = {plan.tensor_parallel['target_step_s'] * 1e3:.2f} ms of which all-reduces " \
           f"{plan.tensor_parallel['all_reduce_s'] * 1e3:.2f} ms" in THEORY
    target_s, draft_s = h100.step_time_s(70e9, 1), h100.step_time_s(323.5e6, 1)
    assert f"t(70e9, 1) = {target_s * 1e3:.2f} ms, t(323.5M, 1) = {draft_s * 1e3:.3f} ms" in THEORY
    assert f"c = {draft_s / target_s:.5f}" in THEORY
    for params in (70e9, 323.5e6):
        shape = shapes.shape_for_params(params)
        assert f"L = {shapes.layers_exact(params):.2f}, built as {shape.layers} × {shape.width}" in THEORY


def test_architecture_names_every_module():
    modules = sorted(p.relative_to(ROOT / "specplan").as_posix() for p in (ROOT / "specplan").rglob("*.py")
                     if p.name not in ("__init__.py", "__main__.py"))
    missing = [m for m in modules if f"`{m}`" not in ARCHITECTURE and f"`specplan/{m}`" not in ARCHITECTURE]
    assert not missing, f"docs/architecture.md does not name {missing}"


@pytest.mark.parametrize("folder", ["specplan", "docs", "tests", "benchmarks", "examples", "README.md", "CHANGELOG.md"])
def test_nothing_points_into_notes_users_do_not_have(folder):
    outside = re.compile("shared" + "/docs|" + r"\.\./" + "shared|sdsl" + r"\.md")
    paths = [ROOT / folder] if (ROOT / folder).is_file() else sorted((ROOT / folder).rglob("*"))
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in paths if p.is_file() and p.suffix in (".py", ".md", ".yml", ".yaml")
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if outside.search(line)]
    assert not hits
