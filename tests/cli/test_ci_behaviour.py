"""Every command as CI runs it (stdin closed, stdout a pipe, not a terminal), Ctrl-C at start-up, and the measuring
commands without torch installed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import report_records as hand
from bad_inputs import calibration_records
from specplan.cli import app

REPO = Path(__file__).resolve().parents[2]


def _environment() -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("FORCE_COLOR", None)
    env.pop("TTY_COMPATIBLE", None)
    return env


def _run_closed_stdin(*args, timeout=300):
    """``python -m specplan ARGS`` with file descriptor 0 closed and stdout/stderr pipes, as a CI job runs it."""
    return subprocess.run([sys.executable, "-m", "specplan", *map(str, args)], capture_output=True, text=True,
                          env=_environment(), timeout=timeout, preexec_fn=lambda: os.close(0), cwd=REPO)


def _ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_light_commands_with_stdin_closed_and_no_terminal(tmp_path):
    runs = hand.write(tmp_path / "runs.jsonl", hand.records())
    calibration = hand.write(tmp_path / "cal.jsonl", calibration_records())
    assert "Usage" in _ok(_run_closed_stdin()).stdout  # bare `specplan`: the help, exit 0
    assert "Usage" in _ok(_run_closed_stdin("-h")).stdout
    assert _ok(_run_closed_stdin("--version")).stdout.strip() == "0.1.0"
    assert "Verdict" in _ok(_run_closed_stdin("plan", "--target-params", "70B")).stdout
    assert "h100-sxm" in _ok(_run_closed_stdin("profiles")).stdout
    assert "specplan report" in _ok(_run_closed_stdin("report", runs)).stdout
    assert '"coefficients"' in _ok(_run_closed_stdin("calibrate", calibration, "--json")).stdout
    failed = _run_closed_stdin("plan", "--target-params", "nan")
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1 and "nan" in failed.stderr


def test_measuring_commands_print_progress_lines_when_not_on_a_terminal(tmp_path):
    pytest.importorskip("torch")
    from bench_fixtures import tiny_folders

    folders = tiny_folders()
    out = tmp_path / "runs.jsonl"
    bench = _ok(_run_closed_stdin("bench", "--target", folders["target"], "--draft", folders["draft"],
                                  "--engines", "ar,sd", "--gamma", "1", "--num-prompts", "1", "--max-new-tokens", "4",
                                  "--latency-samples", "2", "--context-tokens", "8", "--threads", "1", "-o", out))
    assert "[0/" in bench.stderr and f"wrote 5 record(s) to {out}" in bench.stdout  # progress on stderr
    assert "\x1b[" not in bench.stdout and "\x1b[" not in bench.stderr  # no live bar or colour codes in a log
    profile = _ok(_run_closed_stdin("profile", "--device", "cpu", "--sizes", "0.3M,0.5M", "--repeats", "2",
                                    "--warmup", "0", "--max-tokens", "2", "--context-tokens", "8", "--threads", "1",
                                    "-o", tmp_path / "p.yaml"))
    assert "[0/8] started" in profile.stderr and "[8/8] timing" in profile.stderr
    assert "\x1b[" not in profile.stderr


# The interpreter's own start-up (site, ~0.05 s, more on a busy machine) runs before any specplan code: the child
# says "go" once it is past it, and the Ctrl-C lands 0 to 0.3 s later, in specplan's imports or the command.
_STARTED = ("import sys, specplan.__main__ as entry; sys.argv[0] = 'specplan'; print('go', flush=True); "
            "entry.main()")


@pytest.mark.parametrize("args", [["plan", "--target-params", "70B"], ["profiles"]])
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(args):
    codes = []
    for delay in (0.01, 0.05, 0.1, 0.2, 0.3):
        process = subprocess.Popen([sys.executable, "-c", _STARTED, *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=_environment(), text=True,
                                   cwd=REPO)
        assert process.stdout.readline() == "go\n"
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        codes.append(process.returncode)
        assert process.returncode in (0, 130), stderr
        if process.returncode == 130:
            assert stderr == "interrupted\n", stderr
    assert 130 in codes  # at least the earliest Ctrl-C landed before the command finished


@pytest.mark.parametrize("command", [["bench"], ["profile", "--sizes", "1M"]])
def test_measuring_without_torch_is_one_line_with_the_install_command(monkeypatch, command):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2
    assert result.stderr == f"error: {command[0]} needs torch: pip install 'specplan[bench]'\n"


def test_offline_hub_id_fails_fast(monkeypatch):
    """No route to the model hub: one line within seconds, not ~30 s of retries."""
    from specplan.measure import loading

    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # restored after the test, whatever the check sets
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)
    started = time.monotonic()
    assert loading.offline_unless_hub_reachable() is True
    result = CliRunner().invoke(app, ["profile", "--model", "someorg/not-cached", "--device", "cpu"])
    assert result.exit_code == 2 and "someorg/not-cached" in result.stderr
    assert time.monotonic() - started < 15
