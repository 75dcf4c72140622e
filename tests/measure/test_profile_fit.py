"""`specplan profile`'s pure half (no torch): the latency fit, the profile document, sizes, and how a measured profile
moves `plan`'s answers. The planning checks use synthetic measured profiles so that their direction is exact."""

import json
from dataclasses import replace
import re
import subprocess
import sys
import textwrap

import pytest
import yaml
from typer.testing import CliRunner

from specplan.plan import planner
from specplan.measure import latency_profile, profile_fit
from specplan.cli import app
from specplan.errors import SpecplanError
from specplan.plan.hardware import MeasuredCoefficients, MeasuredProfile, load_profile
from specplan.measure.random_models import ModelShape

# A made-up device: 300 µs per step, 20 µs per layer, 2 ns per parameter, and verification growing with k.
TRUE = MeasuredCoefficients(step_overhead_s=300e-6, layer_overhead_s=20e-6, per_param_s=2e-9,
                            per_param_token_s=1e-10, layer_token_s=5e-6, multi_token_per_param_s=4e-10)


def _timings(coefficients, sizes=(3e6, 9e6, 32e6, 80e6), max_tokens=6):
    truth = MeasuredProfile(name="truth", dtype="fp32", coefficients=coefficients)
    rows = []
    for params in sizes:
        shape = ModelShape(label=f"{params:g}", params=int(params), layers=1, width=64, vocab_size=4096)
        for k in range(1, max_tokens + 1):
            t = truth.step_time_s(params, k)
            rows.append(latency_profile.StepTiming(model=shape, new_tokens=k, median_s=t, p10_s=0.9 * t, p90_s=1.1 * t,
                                             samples=5))
    return rows


def _measurement(timings, partial=False):
    settings = latency_profile.ProfileSettings(device="cpu", dtype="fp32", max_tokens=6)
    return latency_profile.Measurement(settings=settings, device_name="test CPU", timings=tuple(timings),
                                 skipped=("10B: out of memory on cpu (test)",), partial=partial,
                                 environment={"torch": "x", "transformers": "y"})


def test_fit_recovers_the_coefficients_that_made_the_timings():
    # The fit holds per_param_token at 0 and puts all growth with k into its per-k table, so the made-up device's
    # P-cost at k, per_param + per_param_token·k + multi_token[k>1], comes back as per_param' (k = 1) plus m(k).
    fit = profile_fit.fit_latency(_timings(TRUE))
    got = fit.coefficients
    assert fit.max_abs_error < 1e-6
    for name in ("step_overhead_s", "layer_overhead_s", "layer_token_s"):
        assert getattr(got, name) == pytest.approx(getattr(TRUE, name), rel=1e-4), name
    assert got.per_param_token_s == 0.0
    assert got.per_param_s == pytest.approx(TRUE.per_param_s + TRUE.per_param_token_s, rel=1e-4)
    expected = [TRUE.per_param_token_s * (k - 1) + TRUE.multi_token_per_param_s for k in range(2, 7)]
    assert got.multi_token_per_param_s == pytest.approx(expected, rel=1e-4)


def test_fit_keeps_a_step_time_that_falls_with_k():
    # A CPU whose BLAS picks a slow kernel for 2-4 rows: a 3-token step costs more than a 5-token one, which no
    # latency curve rising with k can follow (on this repo's CPU: 27.8 ms against 18.5 ms at 32M). The per-k
    # table reproduces it exactly.
    table = (4e-10, 9e-10, 6e-10, 1e-10, 1.5e-10)  # k = 2..6
    bumpy = MeasuredCoefficients(step_overhead_s=300e-6, layer_overhead_s=20e-6, per_param_s=2e-9,
                                 per_param_token_s=0.0, layer_token_s=5e-6, multi_token_per_param_s=table)
    timings = _timings(bumpy)
    at_80m = {t.new_tokens: t.median_s for t in timings if t.model.params == 80e6}
    assert at_80m[3] > 1.2 * at_80m[5]
    fit = profile_fit.fit_latency(timings)
    assert fit.max_abs_error < 1e-6
    assert fit.coefficients.multi_token_per_param_s == pytest.approx(table, rel=1e-4)


def test_fit_weighs_relative_error_so_small_models_are_not_drowned_out():
    # A 3M model at 1 ms and an 80M one at 200 ms: a 10% bump on the small one must move the fit, not vanish.
    rows = _timings(TRUE)
    bumped = [latency_profile.StepTiming(r.model, r.new_tokens, r.median_s * (1.1 if r.model.params == 3e6 else 1.0),
                                   r.p10_s, r.p90_s, r.samples) for r in rows]
    fit = profile_fit.fit_latency(bumped)
    small = [e for e, r in zip(fit.errors, bumped) if r.model.params == 3e6]
    assert max(abs(e) for e in small) < 0.1  # the fit absorbs part of the bump on the small model's points
    assert fit.max_abs_error < 0.1


def test_fit_coefficients_are_never_negative():
    # Timings that fall with size would need negative terms; NNLS keeps them at zero instead.
    rows = _timings(TRUE)
    reversed_rows = [latency_profile.StepTiming(r.model, r.new_tokens, 1.0 / r.median_s * 1e-6, r.p10_s, r.p90_s, 5)
                     for r in rows]
    fit = profile_fit.fit_latency(reversed_rows)
    assert all(value >= 0 for value in fit.coefficients.vector())


def test_fit_of_nothing_is_an_error():
    with pytest.raises(SpecplanError, match="nothing was measured"):
        profile_fit.fit_latency([])


def test_document_loads_in_plan_and_predicts_what_the_fit_reported(tmp_path):
    measurement = _measurement(_timings(TRUE))
    fit = profile_fit.fit_latency(measurement.timings)
    path = profile_fit.write_profile(profile_fit.profile_document(measurement, fit, "my-box"), tmp_path / "p.yaml")
    profile = load_profile(str(path))
    assert profile.kind == "measured" and profile.name == "my-box" and profile.dtype == "fp32"
    data = yaml.safe_load(path.read_text())
    assert data["skipped"] == ["10B: out of memory on cpu (test)"] and data["partial"] is False
    assert len(data["measurements"]) == 4 * 6
    for row in data["measurements"]:  # the file's per-point predictions are what plan will compute
        assert profile.step_time_s(row["params"], row["new_tokens"]) == pytest.approx(row["predicted_s"], rel=1e-9)
        assert row["error"] == pytest.approx(row["predicted_s"] / row["median_s"] - 1, abs=1e-12)


def test_partial_measurement_is_marked_in_the_file(tmp_path):
    measurement = _measurement(_timings(TRUE, sizes=(3e6, 9e6)), partial=True)
    document = profile_fit.profile_document(measurement, profile_fit.fit_latency(measurement.timings), "p")
    assert document["partial"] is True and "partial" in document["description"]


_MEASURED_HEAD = "name: x\nkind: measured\ndtype: fp32\n"
_COEFFICIENTS = "coefficients: {step_overhead_s: 0, layer_overhead_s: 0, per_param_s: 1e-9, per_param_token_s: 0"


@pytest.mark.parametrize("body, message", [
    (_COEFFICIENTS.replace("per_param_s: 1e-9", "per_param_s: -1e-9") + "}",
     "per_param_s must be a finite number ≥ 0"),
    ("speed: 3\n" + _COEFFICIENTS + "}", "unknown key 'speed'"),
    (_COEFFICIENTS.replace("per_param_s: 1e-9", "per_param_s: fast") + "}", "'per_param_s' has the wrong type"),
    (_COEFFICIENTS.replace("step_overhead_s: 0", "step_overhead_s: .nan") + "}",
     "step_overhead_s must be a finite number"),
    # the multi-token table: one number per k = 2..K, each finite and ≥ 0
    (_COEFFICIENTS + ", multi_token_per_param_s: [1e-10, -1e-10]}", "must be a finite number ≥ 0, got -1e-10"),
    (_COEFFICIENTS + ", multi_token_per_param_s: [1e-10, fast]}", "got 'fast'"),
    (_COEFFICIENTS + ", multi_token_per_param_s: [true]}", "got True"),
    (_COEFFICIENTS + ", multi_token_per_param_s: {a: 1}}", "wrong type"),
])
def test_measured_schema_rejects_bad_keys_and_coefficients(tmp_path, body, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(_MEASURED_HEAD + body + "\n")
    with pytest.raises(SpecplanError, match=re.escape(message)):
        load_profile(str(bad))


def test_hand_written_exponents_without_a_dot_are_numbers(tmp_path):
    # PyYAML (YAML 1.1) reads 2e-3 as a string; a hand-written profile must still mean 2 ms.
    path = tmp_path / "hand.yaml"
    path.write_text("name: hand\nkind: measured\ndtype: bf16\ncoefficients: {step_overhead_s: 2e-3, "
                    "layer_overhead_s: 0, per_param_s: 1e-13, per_param_token_s: 0}\n")
    profile = load_profile(str(path))
    assert profile.step_time_s(1e9, 1) == pytest.approx(2e-3 + 1e-4)


def test_parse_sizes_and_its_errors():
    assert latency_profile.parse_sizes("80M, 20M,300M") == [20e6, 80e6, 300e6]
    with pytest.raises(SpecplanError, match="'abc'"):
        latency_profile.parse_sizes("20M,abc")
    with pytest.raises(SpecplanError, match="below the smallest"):
        latency_profile.parse_sizes("5K")
    with pytest.raises(SpecplanError, match="names no size"):
        latency_profile.parse_sizes(" , ")


def test_default_ladder_follows_memory_and_caps_cpu():
    assert latency_profile.default_ladder("cpu", "fp32", 64e9) == [20e6, 80e6, 300e6]
    # 80 GB GPU in bf16: weights up to 40 GB, so 20B (40 GB) is the largest rung.
    assert latency_profile.default_ladder("cuda", "bf16", 80e9) == [20e6, 80e6, 300e6, 1.2e9, 5e9, 20e9]
    assert latency_profile.default_ladder("mps", "fp16", 16e9) == [20e6, 80e6, 300e6, 1.2e9]
    assert latency_profile.default_ladder("cuda", "fp32", 1e8) == [20e6]  # tiny device: still the smallest rung


def test_models_are_timed_side_by_side_as_far_as_half_the_memory_holds_them(monkeypatch):
    from specplan.measure import devices

    monkeypatch.setattr(devices, "memory_bytes", lambda device: 100e9)  # 50 GB for weights at a time
    settings = latency_profile.ProfileSettings(device="cuda", dtype="bf16")
    jobs = [latency_profile.Job(f"{p:g}", None, int(p)) for p in (20e6, 80e6, 300e6, 1.2e9, 5e9, 20e9, 80e9)]
    groups = latency_profile.side_by_side_groups(jobs, settings)
    # 20M..5B (13 GB) and 20B (40 GB) together exceed 50 GB; 80B (160 GB) is alone (and will not fit at all).
    assert [[job.label for job in group] for group in groups] == [
        ["2e+07", "8e+07", "3e+08", "1.2e+09", "5e+09"], ["2e+10"], ["8e+10"]]


# ---------------------------------------------------------------------------------------- effects on `plan`


def _synthetic(tmp_path, name, **coefficients) -> str:
    values = {"step_overhead_s": 0.0, "layer_overhead_s": 0.0, "per_param_s": 1e-13, "per_param_token_s": 0.0}
    values.update(coefficients)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "kind": "measured", "dtype": "bf16", "coefficients": values}))
    return str(path)


def _plan(**kwargs):
    return planner.make_plan(planner.PlanInputs(target_params=70e9, **kwargs)).recommendation


def test_latency_proportional_to_params_reproduces_the_flops_plan(tmp_path):
    # t = P · 1e-13 s is c = N/M with verification free: the measured path must agree with the paper's model.
    flops = _plan(cost_model="flops")
    flat = _plan(profile=_synthetic(tmp_path, "flat"))
    assert flat.draft_params == pytest.approx(flops.draft_params, rel=0.02)  # both ≈ 290M
    assert flat.gamma == flops.gamma == 10
    assert flat.cost_ratio == pytest.approx(flat.draft_params / 70e9, rel=1e-6)


def test_large_fixed_overhead_moves_n_star_up(tmp_path):
    # 2 ms per step on top of 7 ms for the 70B target: small drafts are no longer nearly free, so N* grows
    # (about 290M → 680M) and γ* falls (10 → 2).
    flops = _plan(cost_model="flops")
    overhead = _plan(profile=_synthetic(tmp_path, "overhead", step_overhead_s=2e-3))
    assert overhead.draft_params > 1.5 * flops.draft_params
    assert overhead.gamma < flops.gamma
    assert overhead.cost_ratio > 10 * overhead.draft_params / 70e9  # c from the measurement, not N/M


def test_steep_verification_growth_lowers_gamma(tmp_path):
    # Verifying k tokens costs (1 + 0.2k)/1.2 target steps: γ+1 = 11 tokens cost 2.7 steps instead of 1.
    # At the same draft and acceptance γ* falls from 10 to 3; the plan's own search lands on γ 3 too.
    same_draft = {"draft_params": (290e6,), "alpha": 0.6555}
    flat = _plan(profile=_synthetic(tmp_path, "flat"), **same_draft)
    steep = _plan(profile=_synthetic(tmp_path, "steep", per_param_token_s=2e-14), **same_draft)
    assert flat.gamma == 10 and steep.gamma <= 4
    assert steep.verify_cost_ratio > 1.2 and steep.speedup < flat.speedup
    assert _plan(profile=_synthetic(tmp_path, "steep2", per_param_token_s=2e-14)).gamma < 10


def test_plan_steps_around_a_costly_verification_width(tmp_path):
    # A measured table where verifying 11 tokens costs two target steps (and so does every larger k: the last
    # entry is held): the plan leaves γ = 10 for a smaller γ whose verification costs one step.
    same_draft = {"draft_params": (290e6,), "alpha": 0.6555}
    table = [0.0] * 9 + [1e-13]  # k = 2..11
    costly = _plan(profile=_synthetic(tmp_path, "costly", multi_token_per_param_s=table), **same_draft)
    assert costly.gamma < 10 and costly.verify_cost_ratio == pytest.approx(1.0)


def test_measured_table_is_held_beyond_its_last_k_and_plan_says_so(tmp_path):
    path = _synthetic(tmp_path, "short", multi_token_per_param_s=[1e-14, 3e-14, 2e-14])  # k = 2..4
    profile = load_profile(path)
    assert profile.measured_tokens == 4
    assert profile.step_time_s(1e9, 3) == pytest.approx(1e9 * (1e-13 + 3e-14))
    assert profile.step_time_s(1e9, 9) == profile.step_time_s(1e9, 4) == pytest.approx(1e9 * (1e-13 + 2e-14))
    plan = planner.make_plan(planner.PlanInputs(target_params=70e9, profile=path))
    assert plan.recommendation.gamma + 1 > 4
    assert any("beyond the 4 that profile 'short' measured" in note for note in plan.notes)
    within = _synthetic(tmp_path, "long", multi_token_per_param_s=[0.0] * 40)
    assert not any("beyond" in note for note in planner.make_plan(
        planner.PlanInputs(target_params=70e9, profile=within)).notes)


def test_measured_multi_token_table_loads(tmp_path):
    path = tmp_path / "table.yaml"
    path.write_text(_MEASURED_HEAD + _COEFFICIENTS + ", multi_token_per_param_s: [1e-10, 2e-10]}\n")
    # 1e-10 without a dot: YAML 1.1 reads a string, we read a number
    assert load_profile(str(path)).coefficients.multi_token_per_param_s == (1e-10, 2e-10)
    path.write_text(_MEASURED_HEAD + _COEFFICIENTS + ", multi_token_per_param_s: []}\n")
    only_decode = load_profile(str(path))  # only k = 1 measured: no extra known, every γ is beyond the measurement
    assert only_decode.measured_tokens == 1 and only_decode.step_time_s(1e9, 5) == pytest.approx(1.0)


def test_plan_cli_accepts_a_measured_profile_without_loading_torch(tmp_path):
    path = _synthetic(tmp_path, "overhead", step_overhead_s=2e-3)
    script = textwrap.dedent(f"""
        import json, sys
        from typer.testing import CliRunner
        from specplan.cli import app
        result = CliRunner().invoke(app, ["plan", "--target-params", "70B", "--profile", {path!r}, "--json"])
        assert result.exit_code == 0, result.output
        print(json.dumps({{"torch": "torch" in sys.modules, "plan": json.loads(result.stdout)}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["torch"] is False
    assert out["plan"]["inputs"]["profile"] == "overhead"
    assert out["plan"]["recommendation"]["draft_params"] > 500e6


def test_profile_help_names_units_and_defaults():
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["profile", "--help"])  # phrases unbroken by wrapping
    assert result.exit_code == 0
    for text in ("parameters", "KV cache", "k = 1..K", "auto", "default: 1024", "fp32"):
        assert text in result.output


def _noisy(timings, seed=0):
    """The timings with ±20% multiplicative noise, so that a left-out size is missed by a known-nonzero amount."""
    import random

    rng = random.Random(seed)
    return [latency_profile.StepTiming(t.model, t.new_tokens, t.median_s * rng.uniform(0.8, 1.2), t.p10_s, t.p90_s,
                                       t.samples) for t in timings]


def test_leave_one_out_errors_are_written_per_size(tmp_path):
    exact = profile_fit.leave_one_out(_timings(TRUE))
    assert [e["params"] for e in exact] == [3e6, 9e6, 32e6, 80e6]
    assert all(e["max_abs_error"] < 1e-4 for e in exact)  # noiseless: the others predict it
    noisy = _noisy(_timings(TRUE))
    measurement = _measurement(noisy)
    document = profile_fit.profile_document(measurement, profile_fit.fit_latency(noisy), "noisy")
    loo = document["fit"]["leave_one_out"]
    assert all(e["max_abs_error"] > 0.01 for e in loo)
    assert profile_fit.leave_one_out(_timings(TRUE, sizes=(3e6, 9e6))) == []  # two sizes: nothing to leave


@pytest.mark.parametrize("target, draft, expected", [
    (80e6 * 1.9, None, []),  # within 2× of the largest measured size: no note
    (80e6 * 2.1, None, ["target"]),  # just beyond 2×
    (8e9, None, ["target"]),  # 100×, the case
    (8e9, 1.4e6, ["target", "draft"]),  # and a draft below half the smallest (3M)
    (8e9, 1.6e6, ["target"]),  # a draft just inside half the smallest
])
def test_extrapolation_notes_appear_exactly_beyond_a_factor_of_two(tmp_path, target, draft, expected):
    noisy = _noisy(_timings(TRUE))
    document = profile_fit.profile_document(_measurement(noisy), profile_fit.fit_latency(noisy), "box")
    path = profile_fit.write_profile(document, tmp_path / "box.yaml")
    drafts = {"draft_params": (draft,), "alpha": 0.7} if draft else {}
    plan = planner.make_plan(planner.PlanInputs(target_params=target, profile=str(path), **drafts))
    notes = [n for n in plan.notes if "× above the largest" in n or "× below the smallest" in n]
    assert [n.split()[0] for n in notes] == expected
    loo = {e["params"]: e["max_abs_error"] for e in document["fit"]["leave_one_out"]}
    for note in notes:
        edge = 80e6 if note.startswith("target") else 3e6
        assert f"missed it by up to {loo[edge]:.0%}" in note
    if "target" in expected:
        assert f"{target / 80e6:.3g}× above the largest" in notes[0]


def test_a_profile_without_its_table_gives_no_extrapolation_note(tmp_path):
    plan = planner.make_plan(planner.PlanInputs(target_params=8e9, profile=_synthetic(tmp_path, "bare")))
    assert not [n for n in plan.notes if "size profile" in n]


def test_plan_charges_the_loop_terms_of_a_measured_profile(tmp_path):
    """S = E·(t(M,1) + ℓ) / (γ·(t(N,1) + ℓ) + t(M,γ+1) + ℓ + o), with the profile's ℓ and o."""
    path = tmp_path / "loop.yaml"
    coefficients = {"step_overhead_s": 1e-3, "layer_overhead_s": 0.0, "per_param_s": 1e-12, "per_param_token_s": 0.0}
    body = {"name": "loop", "kind": "measured", "dtype": "fp32", "coefficients": coefficients,
            "loop": {"step_overhead_s": 2e-4, "round_overhead_s": 5e-4}}
    path.write_text(yaml.safe_dump(body))
    profile = load_profile(str(path))
    assert (profile.loop_step_overhead_s, profile.round_overhead_s) == (2e-4, 5e-4)
    rec = planner.make_plan(planner.PlanInputs(target_params=7e9, profile=str(path), draft_params=(100e6,),
                                               alpha=0.8)).recommendation
    t = lambda params: 1e-3 + 1e-12 * params + 2e-4  # noqa: E731 - a step in the loop
    g = rec.gamma
    expected = (1 - 0.8 ** (g + 1)) / 0.2 * t(7e9) / (g * t(100e6) + t(7e9) + 5e-4)
    assert rec.speedup == pytest.approx(expected, rel=1e-12)
    assert rec.cost_ratio == pytest.approx(t(100e6) / t(7e9)) and rec.round_cost_ratio == pytest.approx(5e-4 / t(7e9))
    body["loop"]["round_overhead_s"] = -1
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(SpecplanError, match="loop.round_overhead_s must be a finite number ≥ 0"):
        load_profile(str(path))


def _request_profile(tmp_path, **extra):
    coefficients = {"step_overhead_s": 1e-3, "layer_overhead_s": 0.0, "per_param_s": 1e-12, "per_param_token_s": 0.0}
    body = {"name": "request", "kind": "measured", "dtype": "fp32", "coefficients": coefficients,
            "loop": {"step_overhead_s": 2e-4, "round_overhead_s": 5e-4},
            "prefill": {"tokens": 256, "per_param_token_s": 3e-14},
            "cold_step": {"measurements": [{"params": 1e8, "extra_s": 3e-4}, {"params": 1e9, "extra_s": 1e-4}]},
            **extra}
    path = tmp_path / "request.yaml"
    path.write_text(yaml.safe_dump(body))
    return str(path)


def test_plan_counts_both_prefills_and_the_drafts_first_step_per_request(tmp_path):
    """Per request of P prompt and n new tokens (docs/theory.md §5): S = (p_M + n − 1) / (p_M + p_N + (n − 1)·R/E),
    R = γ·c + x + v + o, every term in AR steps t(M, 1) + ℓ; x the draft's cold-step extra, p the prefills."""
    profile = _request_profile(tmp_path)
    inputs = planner.PlanInputs(target_params=7e9, profile=profile, draft_params=(100e6,), alpha=0.8,
                                prompt_tokens=500, new_tokens=200)
    rec = planner.make_plan(inputs).recommendation
    step = lambda params: 1e-3 + 1e-12 * params  # noqa: E731 - an isolated decode step
    ar = step(7e9) + 2e-4
    prefill = lambda params: step(params) + 3e-14 * params * 499  # noqa: E731
    g = rec.gamma
    tokens = (1 - 0.8 ** (g + 1)) / 0.2
    round_s = g * (step(100e6) + 2e-4) + 3e-4 + ar + 5e-4
    expected = (prefill(7e9) + 199 * ar) / (prefill(7e9) + prefill(100e6) + 199 * round_s / tokens)
    assert rec.speedup == pytest.approx(expected, rel=1e-12)
    assert rec.first_step_ratio == pytest.approx(3e-4 / ar)
    assert (rec.target_prefill_ratio, rec.draft_prefill_ratio) == (pytest.approx(prefill(7e9) / ar),
                                                                   pytest.approx(prefill(100e6) / ar))
    steady = planner.make_plan(replace(inputs, prompt_tokens=0, new_tokens=0)).recommendation
    assert steady.speedup_by_gamma[g - 1] == pytest.approx(tokens * ar / round_s, rel=1e-12)
    assert steady.draft_prefill_ratio == 0.0 and steady.first_step_ratio == rec.first_step_ratio
    assert rec.speedup < steady.speedup  # the prefills are not sped up
    long = planner.make_plan(replace(inputs, new_tokens=10**8)).recommendation
    assert long.speedup == pytest.approx(steady.speedup, rel=1e-4)  # a long answer: the steady state


def test_cold_step_extra_is_interpolated_in_log_size_and_held_outside(tmp_path):
    profile = load_profile(_request_profile(tmp_path))
    assert profile.cold_step_extra_s(1e8) == pytest.approx(3e-4)
    assert profile.cold_step_extra_s(10 ** 8.5) == pytest.approx(2e-4)
    assert profile.cold_step_extra_s(1e6) == pytest.approx(3e-4) and profile.cold_step_extra_s(1e11) == pytest.approx(1e-4)
    bare = load_profile(_synthetic(tmp_path, "bare"))
    assert bare.cold_step_extra_s(1e8) == 0.0 and bare.prefill_per_param_token_s is None
    assert bare.prefill_time_s(1e8, 40) == bare.step_time_s(1e8, 40)  # no measured prefill: the step model's


@pytest.mark.parametrize("extra, message", [
    ({"prefill": {"per_param_token_s": -1}}, "prefill.per_param_token_s must be a finite number ≥ 0"),
    ({"prefill": {"per_param_token_s": ".nan"}}, "prefill.per_param_token_s"),
    ({"prefill": [1]}, "key 'prefill' has the wrong type"),
    ({"cold_step": {"measurements": [{"params": 1e8, "extra_s": -1e-4}]}}, "each cold_step measurement"),
    ({"cold_step": {"measurements": "none"}}, "cold_step.measurements must be a list"),
])
def test_bad_prefill_and_cold_step_entries_are_named(tmp_path, extra, message):
    with pytest.raises(SpecplanError, match=re.escape(message)):
        load_profile(_request_profile(tmp_path, **extra))


def test_fit_prefill_recovers_the_cost_per_parameter_and_prompt_token():
    q = 4e-13
    step_1 = lambda params: 1e-3 + 2e-9 * params  # noqa: E731
    prefills = [latency_profile.StepTiming(model=ModelShape(f"{n:g}", int(n), 2, 64, 4096), new_tokens=128,
                                           median_s=step_1(n) + q * n * 127, p10_s=0.0, p90_s=1.0, samples=5)
                for n in (3e6, 9e6, 32e6)]
    fitted = profile_fit.fit_prefill(prefills, step_1)
    assert fitted["per_param_token_s"] == pytest.approx(q, rel=1e-9) and fitted["tokens"] == 128
    assert all(abs(row["error"]) < 1e-9 for row in fitted["measurements"])
    assert profile_fit.fit_prefill([], step_1) is None


def test_a_per_request_plan_says_when_the_profile_never_timed_a_prefill(tmp_path):
    with_prefill = _request_profile(tmp_path, coefficients={"step_overhead_s": 1e-3, "layer_overhead_s": 0.0,
                                                            "per_param_s": 1e-12, "per_param_token_s": 0.0,
                                                            "multi_token_per_param_s": [1e-13, 2e-13]})
    inputs = planner.PlanInputs(target_params=7e9, profile=with_prefill, prompt_tokens=300, new_tokens=50)
    assert not [n for n in planner.make_plan(inputs).notes if "prefill" in n]
    body = yaml.safe_load(open(with_prefill))
    del body["prefill"]
    (tmp_path / "request.yaml").write_text(yaml.safe_dump(body))
    inputs = planner.PlanInputs(target_params=7e9, profile=with_prefill, prompt_tokens=300, new_tokens=50)  # re-read
    notes = [n for n in planner.make_plan(inputs).notes if "prefill" in n]
    assert notes == ["profile 'request' has no prefill measurement: a 300-token prefill is its step model "
                     "extrapolated from steps of ≤ 3 tokens; re-run `specplan profile`"]
    assert not [n for n in planner.make_plan(replace(inputs, prompt_tokens=0, new_tokens=0)).notes if "prefill" in n]
