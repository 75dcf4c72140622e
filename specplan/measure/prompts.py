"""The prompts ``bench`` decodes: a small built-in set covering several kinds of text, or the user's file."""

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from specplan.checks import read_text_file
from specplan.errors import SpecplanError

BUILTIN = "builtin"
# A prompt longer than this is refused before tokenising: a 5 MB one-line prompt made the tokenizer grow to
# 24 GB, and no model's context holds it (a token is rarely under one character).
MAX_PROMPT_CHARS = 1_000_000
MAX_PROMPTS_FILE_BYTES = 200_000_000
# No tokenizer packs more characters than this into one token on ordinary text (long whitespace runs in code
# tokenizers reach ~16): a prompt longer than this many characters per position is beyond the model's context.
MAX_CHARS_PER_TOKEN = 32


@dataclass(frozen=True)
class Prompt:
    text: str
    category: str = "default"


def load_prompts(path: str | None, num_prompts: int) -> list[Prompt]:
    """The first ``num_prompts`` prompts of ``path`` (``.txt`` one per line, ``.jsonl`` with ``prompt`` and an
    optional ``category``), or of the built-in set when ``path`` is None."""
    if num_prompts < 1:
        raise SpecplanError(f"--num-prompts {num_prompts} must be at least 1")
    prompts = builtin_prompts() if path is None else read_prompts(Path(path))
    if not prompts:
        raise SpecplanError(f"--prompts {path!r} holds no prompts")
    for number, prompt in enumerate(prompts[:num_prompts]):
        if len(prompt.text) > MAX_PROMPT_CHARS:
            raise SpecplanError(f"--prompts {path!r}: prompt {number} has {len(prompt.text)} characters, more than "
                                f"the {MAX_PROMPT_CHARS} a model context can hold; shorten it")
    return prompts[:num_prompts]


def check_prompts_fit(prompts: list[Prompt], positions: int | None, where: str | None) -> None:
    """Refuse, before tokenising, a prompt whose length in characters cannot fit in ``positions`` tokens
    (tokenising a multi-megabyte prompt only to find it too long costs seconds and gigabytes)."""
    if not positions:
        return
    for number, prompt in enumerate(prompts):
        if len(prompt.text) > MAX_CHARS_PER_TOKEN * positions:
            raise SpecplanError(f"--prompts {where or BUILTIN!r}: prompt {number} has {len(prompt.text)} characters, "
                                f"beyond the target's context of {positions} positions (×{MAX_CHARS_PER_TOKEN} "
                                "characters a token at most); shorten it")


def builtin_prompts() -> list[Prompt]:
    """The shipped set (specplan/assets/prompts.jsonl), ordered so any first few cover every category."""
    text = (resources.files("specplan") / "assets" / "prompts.jsonl").read_text(encoding="utf-8")
    return _parse_jsonl(text, "builtin prompts")


def read_prompts(path: Path) -> list[Prompt]:
    text = read_text_file(path, "--prompts", max_bytes=MAX_PROMPTS_FILE_BYTES)
    if path.suffix == ".jsonl":
        return _parse_jsonl(text, str(path))
    if path.suffix == ".txt":
        return [Prompt(line.strip()) for line in text.splitlines() if line.strip()]
    raise SpecplanError(f"--prompts {str(path)!r}: expected a .txt (one prompt per line) or .jsonl file")


def _parse_jsonl(text: str, where: str) -> list[Prompt]:
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpecplanError(f"{where}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str) or not item["prompt"].strip():
            raise SpecplanError(f"{where}:{number}: needs a non-empty string field 'prompt'")
        prompts.append(Prompt(item["prompt"], str(item.get("category", "default"))))
    return prompts
