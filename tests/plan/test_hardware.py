"""Bundled hardware profiles, profile validation, and the roofline latency model."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from specplan.errors import SpecplanError
from specplan.plan.hardware import BYTES_PER_PARAM, bundled_profiles, load_profile

REPO = Path(__file__).resolve().parents[2]
REQUIRED_DEVICES = {"a100-80gb-sxm", "h100-sxm", "h200", "l40s", "rtx-4090", "cpu-generic"}


def test_bundled_profiles_are_all_there_and_state_dtype_and_sources():
    profiles = {p.name: p for p in bundled_profiles()}
    assert REQUIRED_DEVICES <= set(profiles)
    for profile in profiles.values():
        assert profile.dtype in profile.peak_tflops
        assert profile.sources and profile.memory_bandwidth_gb_s > 0
    assert profiles["h100-sxm"].memory_bandwidth_gb_s == 3350 and profiles["h100-sxm"].peak_tflops["bf16"] == 989


def test_profile_names_are_case_insensitive():
    assert load_profile("H100-SXM").name == "h100-sxm"


def test_decode_is_memory_bound_and_large_batches_are_compute_bound():
    h100 = load_profile("h100-sxm")
    # One 70B decode step streams 140 GB at the fitted 97.8% of 3.35 TB/s: ≈ 42.8 ms plus ≈ 5.4 ms of per-step and
    # per-layer overheads (84 layers), for 1 or 8 new tokens.
    one = h100.step_time_s(70e9, 1)
    assert 0.045 < one < 0.055
    assert h100.step_time_s(70e9, 8) == pytest.approx(one)
    # 256 sequences × 8 tokens each: 2·P·2048 FLOPs at 60% of 989 TFLOPS ≈ 0.48 s, far above the memory time.
    assert h100.step_time_s(70e9, 8, batch=256) > 5 * h100.step_time_s(70e9, 1, batch=256)
    # Overheads: a 10M model is not 7000x cheaper than a 70B one.
    assert h100.step_time_s(10e6, 1) / one > 10e6 / 70e9 * 20
    # dtype sets the bytes per parameter.
    assert h100.step_time_s(70e9, 1, dtype="fp8") < 0.6 * one
    assert BYTES_PER_PARAM["int4"] == 0.5


def _write(tmp_path, data) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _h100_dict():
    return yaml.safe_load((REPO / "profiles" / "h100-sxm.yaml").read_text())


def test_a_profile_file_by_path_loads(tmp_path):
    data = _h100_dict()
    data["name"] = "my-gpu"
    assert load_profile(_write(tmp_path, data)).name == "my-gpu"


@pytest.mark.parametrize("edit, fragment", [
    (lambda d: d.pop("memory_bandwidth_gb_s"), "missing key 'memory_bandwidth_gb_s'"),
    (lambda d: d.update(colour="green"), "unknown key 'colour'"),
    (lambda d: d.update(memory_bandwidth_gb_s="fast"), "'memory_bandwidth_gb_s' has the wrong type ('fast')"),
    (lambda d: d.update(step_overhead_us=True), "'step_overhead_us' has the wrong type (True)"),
    (lambda d: d.update(peak_tflops={"bf16": -1}), "peak_tflops.bf16 -1 must be in [0.001, 100000]"),
    (lambda d: d.update(peak_tflops={"bf17": 10}), "unknown dtype 'bf17'"),
    (lambda d: d.update(dtype="fp8", peak_tflops={"bf16": 10}), "dtype 'fp8' has no entry"),
    (lambda d: d.update(bandwidth_efficiency=1.5), "bandwidth_efficiency 1.5 must be in [0.01, 1]"),
    (lambda d: d.update(kind="quantum"), "unknown profile kind 'quantum'"),
])
def test_bad_profile_files_name_the_bad_key(tmp_path, edit, fragment):
    data = _h100_dict()
    edit(data)
    with pytest.raises(SpecplanError) as info:
        load_profile(_write(tmp_path, data))
    assert fragment in str(info.value)


def test_unreadable_profile_files(tmp_path):
    with pytest.raises(SpecplanError, match="does not exist"):
        load_profile(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecplanError, match="not valid YAML"):
        load_profile(str(bad))
    bad.write_text("- just\n- a list\n")
    with pytest.raises(SpecplanError, match="must be a YAML mapping"):
        load_profile(str(bad))


def test_profiles_ship_in_a_plain_non_editable_install(tmp_path):
    """Build the wheel, install it into a folder of its own, and load a bundled profile from there."""
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    # Built as a user's pip builds it (an isolated build environment with the setuptools pyproject asks for).
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(REPO)],
                   check=True, capture_output=True)
    wheel = next(wheel_dir.glob("specplan-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"specplan/profiles/{name}.yaml" for name in REQUIRED_DEVICES} <= set(names)
    assert "specplan/plan/catalog.yaml" in names and "specplan/plan/published_step_times.yaml" in names
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = ("import specplan.plan.hardware as h; assert h.__file__.startswith(%r), h.__file__; "
            "print(h.load_profile('l40s').memory_bandwidth_gb_s); "
            "import specplan.plan.catalog as c; print(c.find('Qwen/Qwen3-8B').params)" % str(target))
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(target)},
                         check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["864", "8190735360"]
    # every package made it in: the command line imports and plans from the installed wheel alone
    plan = subprocess.run([sys.executable, "-m", "specplan", "plan", "--target-params", "70e9", "--json"], cwd=tmp_path,
                          env={"PYTHONPATH": str(target)}, capture_output=True, text=True)
    assert plan.returncode == 0 and "recommendation" in plan.stdout, plan.stderr[-2000:]


def test_every_package_folder_is_listed_for_the_wheel():
    """pyproject's explicit package list names every folder of the package (a missing one installs editable but
    breaks `pip install .`)."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "specplan").rglob("__init__.py")}
    assert folders | {"specplan.profiles"} == listed
