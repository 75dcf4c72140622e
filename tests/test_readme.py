"""The README guide and the command references in docs/ stay true: every option they name exists on its command,
and every example in the README runs as printed (exit 0; the gate example may give its own FAIL verdict, exit 1, on a
machine too loaded for the toy pair to speed up) in a fresh folder."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer

from specplan.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMAND_DOCS = {"plan": "plan.md", "profile": "profile.md", "bench": "bench.md", "report": "report.md",
                "calibrate": "calibrate.md", "acceptance": "acceptance.md"}


# Serving engines' own flags, quoted where the docs show what `plan --emit` prints: not specplan's options.
ENGINE_FLAGS = {"--spec-type", "--speculative-num-steps", "--speculative-eagle-topk", "--speculative-num-draft-tokens",
                "--spec-draft-n-max", "--spec-draft-n-min", "--spec-draft-p-min", "--draft-max", "--draft-min",
                "--speculative-algorithm", "--tp-size", "--speculative-draft-model-path", "--speculative-config"}


def _options() -> dict:
    """Every command's option names (long and short forms), read from the app itself."""
    group = typer.main.get_command(app)
    return {name: {opt for p in cmd.params if isinstance(p, click.Option) for opt in (*p.opts, *p.secondary_opts)}
            for name, cmd in group.commands.items()}


def _examples() -> list:
    """The README's ```bash lines that run specplan (not the quick start's install lines)."""
    blocks = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("specplan ")]


def test_readme_is_a_guide_not_a_manual():
    assert len(README.splitlines()) <= 200
    for section in ("## Quick start", "## Walkthrough"):
        assert section in README


def test_readme_options_exist_on_their_commands():
    options = _options()
    for line in _examples():
        words = shlex.split(line)
        command = words[1]
        named = {w.split("=")[0] for w in words[2:] if w.startswith("-")}
        assert named <= options[command], f"{line}: {sorted(named - options[command])} not options of {command}"


@pytest.mark.parametrize("command", sorted(COMMAND_DOCS))
def test_documented_options_exist(command):
    """Each `--option` a command's reference page names in backticks is an option of specplan (of that command, or
    of another command the page names it for, e.g. plan's page quoting bench's --perplexity)."""
    text = (ROOT / "docs" / COMMAND_DOCS[command]).read_text(encoding="utf-8")
    options = _options()
    everywhere = set().union(*options.values())
    named = set(re.findall(r"`(--[a-z][a-z0-9-]*)", text)) - ENGINE_FLAGS
    assert named, f"docs/{COMMAND_DOCS[command]} names no option"
    assert not named - everywhere, f"docs/{COMMAND_DOCS[command]} names {sorted(named - everywhere)}: no such option"


def _shown_outputs() -> dict:
    """The README's ```text blocks that follow a ```bash block: what the block's last command prints (an excerpt)."""
    pairs = re.findall(r"```bash\n(.*?)```\n\n```text\n(.*?)```", README, re.DOTALL)
    return {block.strip().splitlines()[-1].strip(): shown for block, shown in pairs}


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_readme_examples_run_as_printed(tmp_path):
    """Run in the order printed, in one fresh folder (the report lines read the bench line's records); where the
    README shows an excerpt of the output, the command prints it (wrapped as the terminal allows)."""
    env = {**os.environ, "COLUMNS": "80", "HF_HUB_OFFLINE": "1"}
    shown = _shown_outputs()
    assert _examples() and shown, "the README shows no example"
    for line in _examples():
        args = shlex.split(line)
        done = subprocess.run([sys.executable, "-m", "specplan", *args[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)
        assert "Traceback" not in done.stderr
        if done.returncode == 1 and "--min-speedup" in args:
            # The gate's own verdict, not an error: a loaded machine can time the toy pair below 1.0×. Only speedup
            # may fail (exactness does not depend on timing), and the report is still written.
            verdicts = [v for v in done.stdout.splitlines() if v.startswith("FAIL")]
            assert verdicts and all("speedup" in v and "exact" not in v for v in verdicts), done.stdout
            assert (tmp_path / "report.md").is_file()
            continue
        assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
        if line in shown:
            assert _flat(shown.pop(line)) in _flat(done.stdout), f"{line}: the README's output has drifted"
    assert not shown, f"shown outputs of commands that are not examples: {sorted(shown)}"


# Each command's reference page ends with its options as the command itself states them (name, meaning, default),
# so no option goes undocumented and none documented is stale. SPECPLAN_REGEN_DOCS=1 rewrites the sections.
OPTIONS_BEGIN = "<!-- options: generated from the command's --help; tests/test_readme.py checks it -->"
OPTIONS_END = "<!-- end of options -->"


def _default_text(param) -> str:
    if param.is_flag:
        return "off" if not param.default else "on"
    if param.default is None or param.default == "":
        return "—"
    if isinstance(param.default, (list, tuple)):
        return ", ".join(map(str, param.default)) or "—"
    return f"`{param.default}`"


def options_section(command: str) -> str:
    cmd = typer.main.get_command(app).commands[command]
    rows = ["## Options", "", OPTIONS_BEGIN, "", "| option | meaning | default |", "|---|---|---|"]
    for p in cmd.params:
        if not isinstance(p, click.Option) or p.hidden or "--help" in p.opts:
            continue
        names = ", ".join(f"`{o}`" for o in sorted(p.opts, key=len, reverse=True))
        meaning = " ".join((p.help or "").split()).replace("|", "\\|")
        rows.append(f"| {names} | {meaning} | {_default_text(p)} |")
    return "\n".join(rows + ["", OPTIONS_END]) + "\n"


@pytest.mark.parametrize("command", sorted(COMMAND_DOCS))
def test_each_reference_page_lists_its_commands_options(command):
    path = ROOT / "docs" / COMMAND_DOCS[command]
    text = path.read_text(encoding="utf-8")
    head = text.split("## Options\n\n" + OPTIONS_BEGIN)[0].rstrip() + "\n\n"
    if os.environ.get("SPECPLAN_REGEN_DOCS"):
        path.write_text(head + options_section(command), encoding="utf-8")
        text = path.read_text(encoding="utf-8")
    assert text.endswith(options_section(command)), (
        f"docs/{COMMAND_DOCS[command]}'s options differ from `specplan {command} --help`: "
        "rerun with SPECPLAN_REGEN_DOCS=1")
