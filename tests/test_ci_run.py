"""CI tests what users get (.ci/run): its main environment runs exactly the README quick start's test command, the
vllm-marked tests run only in its vLLM environment, and a run that collects no test fails."""

import subprocess
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
CI = (REPO / ".ci" / "run").read_text()


def _quick_start_test_line() -> str:
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return next(line for line in block.splitlines() if "pytest" in line)


def test_ci_main_environment_runs_the_quick_start_test_command():
    install, test = _quick_start_test_line().split(" && ", 1)
    assert install == "pip install -e '.[bench,plot,test]'"
    assert '"$1/bin/pip" install -q -e \'.[bench,plot,test]\'' in CI  # the same install, quietly
    assert f'(export PATH="$main/bin:$PATH"; {test})' in CI
    assert '(export PATH="$vllm/bin:$PATH"; python -m pytest -m vllm)' in CI


def test_ci_script_parses_and_lets_no_failure_through():
    subprocess.run(["bash", "-n", str(REPO / ".ci" / "run")], check=True)
    assert "set -euo pipefail" in CI
    commands = [line for line in CI.splitlines() if "pytest" in line and not line.lstrip().startswith("#")]
    assert commands and not any("|| true" in line or "|| :" in line for line in commands)  # exit 5 fails too


def test_vllm_tests_are_marked_and_deselected_by_default():
    pytest_config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "-m 'not vllm'" in pytest_config["addopts"]
    assert any(marker.startswith("vllm:") for marker in pytest_config["markers"])
    using = sorted(p.relative_to(REPO / "tests").as_posix() for p in (REPO / "tests").rglob("test_*.py")
                   if "vllm_required" in p.read_text() and p.name != Path(__file__).name)
    assert using == ["measure/test_bench_vllm.py", "measure/test_bench_vllm_random.py", "measure/test_profile_vllm.py",
                     "measure/test_vllm_cpu_sampling.py"]
    whole_file = 'pytestmark = [pytest.mark.vllm, pytest.mark.usefixtures("vllm_required")]'
    for name in using:  # every test that needs vLLM is vllm-marked: the whole file, or each such test
        lines = (REPO / "tests" / name).read_text().splitlines()
        if whole_file in lines:
            continue
        uses = [i for i, line in enumerate(lines) if line == '@pytest.mark.usefixtures("vllm_required")']
        assert uses and all(lines[i - 1] == "@pytest.mark.vllm" for i in uses), name
