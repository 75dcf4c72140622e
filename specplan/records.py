"""Run records: the JSON Lines contract between ``bench`` (writes) and ``report`` / ``calibrate`` (read).

One JSON object per line, appended and flushed as it is produced, so an interrupted run keeps every finished
record. Records hold raw measurements only; every metric is derived when reporting. The schema is documented in
``docs/records.md``. No torch here.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from specplan.checks import is_count, is_finite_number, shown
from specplan.errors import SpecplanError

SCHEMA_VERSION = 1
# A uniform guess over the largest vocabularies (~256K tokens) scores about that; far above is not a perplexity.
MAX_PERPLEXITY = 1e7


class RecordWriter:
    """Append records to a JSONL file, one line each, flushed at once (use as a context manager)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.written = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise SpecplanError(f"cannot write records to {str(path)!r}: {exc.strerror}") from None

    def write(self, record: dict) -> None:
        record = {"schema_version": SCHEMA_VERSION, **record}
        try:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()
        except OSError as exc:  # disk full, quota, a removed mount
            raise SpecplanError(f"cannot write records to {str(self.path)!r}: {exc.strerror}") from None
        self.written += 1

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:  # the write that failed already said why
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def check_output(path: str | Path, resume: bool = False, append: bool = False) -> None:
    """Before any work: ``--output`` must be a records file or new. An existing file that is not one (a prompts
    file, a config.json) is never appended to; an existing records file needs ``--resume`` (complete its last
    run) or ``--append`` (add a new run), so a second run never mixes into the first by accident."""
    path = Path(path)
    if path.is_dir():
        raise SpecplanError(f"--output {str(path)!r} is a folder; give a FILE.jsonl")
    if not path.exists() or path.stat().st_size == 0 or not path.is_file():
        return
    try:
        with path.open(encoding="utf-8") as file:
            first = file.readline(1 << 20).strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecplanError(f"--output {str(path)!r} exists and could not be read as records: {exc}") from None
    if _problem(first) is not None:
        raise SpecplanError(f"--output {str(path)!r} exists and is not a records file (its first line is not a "
                            "record); choose another file")
    if not (resume or append):
        raise SpecplanError(f"--output {str(path)!r} already holds records: pass --resume to complete its last run, "
                            "--append to add a new run to it, or choose another file")


@dataclass
class RecordSet:
    """Records read from one or more files, the lines skipped with ``skip_bad_lines``, and notes on duplicates."""

    records: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # "file:line: reason"
    duplicates: list = field(default_factory=list)  # "file:line: ..." or "file: given twice", each read once

    def of_kind(self, kind: str) -> list:
        return [r for r in self.records if r.get("kind") == kind]


def read_records(paths, skip_bad_lines: bool = False) -> RecordSet:
    """Read JSONL record files. A missing file, a malformed or truncated line, a field of the wrong type or a
    non-finite number, or a record from a newer schema is a :class:`SpecplanError` naming the file, line and
    value; with ``skip_bad_lines`` bad lines are skipped and listed. A file given twice and a record that repeats
    an earlier one (the same run, kind and step: a duplicated line or a file concatenated twice) are read once
    and listed in ``duplicates``, so nothing is counted twice."""
    result, seen_files, seen_records = RecordSet(), set(), {}
    for path in map(Path, paths):
        if path.resolve() in seen_files:
            result.duplicates.append(f"{path}: given twice, read once")
            continue
        seen_files.add(path.resolve())
        if not path.is_file():
            raise SpecplanError(f"records file {str(path)!r} does not exist")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecplanError(f"records file {str(path)!r} could not be read: {exc}") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            problem = _problem(line)
            if problem is None:
                record = json.loads(line)
                identity = record_identity(record)
                if identity in seen_records:
                    result.duplicates.append(f"{path}:{number}: repeats {seen_records[identity]}, read once")
                    continue
                seen_records[identity] = f"{path}:{number}"
                result.records.append(record)
            elif skip_bad_lines and not problem.startswith("schema_version"):
                result.skipped.append(f"{path}:{number}: {problem}")
            else:
                raise SpecplanError(f"{path}:{number}: {problem}")
    return result


def record_identity(record: dict) -> str:
    """A record's whole content, canonical: a line repeated (a file concatenated twice, a copy appended) is the
    same record; records of two runs never are (their run_id and created time differ)."""
    return json.dumps(record, sort_keys=True)


def _problem(line: str) -> str | None:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        return f"not a valid JSON record (malformed or truncated line: {getattr(exc, 'msg', 'nested too deep')})"
    if not isinstance(record, dict):
        return "not a JSON object"
    version = record.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        return f"missing or non-integer schema_version ({shown(version)})"
    if version > SCHEMA_VERSION:
        return (f"schema_version {version} is newer than this specplan reads ({SCHEMA_VERSION}); "
                "upgrade specplan to read it")
    if "kind" not in record:
        return "record has no 'kind'"
    return _field_problem(record)


def _is_seconds(value) -> bool:
    return is_finite_number(value) and value >= 0


def _is_optional(check):
    return lambda value: value is None or check(value)


def _is_pair(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("target"), str) and isinstance(value.get("draft"), str)


# key -> (check, what it must be), applied where the key is present (docs/records.md)
_FIELDS = {
    "kind": (lambda v: isinstance(v, str), "a string"),
    "run_id": (lambda v: isinstance(v, str), "a string"),
    "pair": (_is_pair, "an object with string 'target' and 'draft'"),
    "settings": (lambda v: isinstance(v, dict), "an object"),
    "environment": (lambda v: isinstance(v, dict), "an object"),
    "engine": (lambda v: isinstance(v, str), "a string"),
    "gamma": (_is_optional(lambda v: is_count(v, 1)), "an integer ≥ 1 or null"),
    "prompt_index": (is_count, "an integer ≥ 0"),
    "prompt_category": (lambda v: isinstance(v, str), "a string"),
    "repeat": (is_count, "an integer ≥ 0"),
    "prompt_tokens": (is_count, "an integer ≥ 0"),
    "new_tokens": (is_count, "a non-negative integer"),
    "wall_time_s": (_is_seconds, "a finite non-negative number"),
    "output_ids": (lambda v: isinstance(v, list), "a list"),
    "exact": (_is_optional(lambda v: isinstance(v, bool)), "true, false or null"),
    "first_divergence": (_is_optional(is_count), "an integer ≥ 0 or null"),
    "divergence_margin": (_is_optional(is_finite_number), "a finite number or null"),
    "model": (lambda v: isinstance(v, str), "a string"),
    "context_tokens": (is_count, "an integer ≥ 0"),
    "median_s": (_is_seconds, "a finite non-negative number"),
    "p10_s": (_is_seconds, "a finite non-negative number"),
    "p90_s": (_is_seconds, "a finite non-negative number"),
    "samples": (is_count, "an integer ≥ 0"),
    "perplexity": (lambda v: is_finite_number(v) and 1 <= v <= MAX_PERPLEXITY,
                   f"a number from 1 to {MAX_PERPLEXITY:g} (exp of a mean NLL)"),
    "tokens": (is_count, "an integer ≥ 0"),
    "text": (lambda v: isinstance(v, str), "a string"),
}
# settings key -> check: the settings that report and calibrate group and filter by
_SETTINGS = {
    "temperature": (lambda v: is_finite_number(v) and v >= 0, "a finite number ≥ 0"),
    "top_p": (lambda v: is_finite_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "max_new_tokens": (is_count, "an integer ≥ 0"),
}
# fields a record of each kind cannot do without
_REQUIRED = {"run": ("engine", "new_tokens", "wall_time_s"), "latency": ("model", "new_tokens", "median_s"),
             "perplexity": ("model", "perplexity")}


def _valid_round_times(clock) -> bool:
    if not isinstance(clock, dict):
        return False
    columns = [clock.get(key) for key in ("rounds", "drafted", "draft_s", "verify_s", "round_s")]
    if not all(isinstance(c, list) and len(c) == len(columns[0]) for c in columns):
        return False
    prefill = clock.get("prefill_s")
    return (all(map(is_count, columns[0] + columns[1]))
            and all(map(_is_seconds, columns[2] + columns[3] + columns[4]))
            and (prefill is None or _is_seconds(prefill)))


def _field_problem(record: dict) -> str | None:
    """Every known field present has its documented type and a finite value (docs/records.md); each kind has
    the fields its metrics are computed from."""
    for key, (valid, what) in _FIELDS.items():
        if key in record and not valid(record[key]):
            return f"{key} {shown(record[key])} must be {what}"
    settings = record.get("settings") or {}
    for key, (valid, what) in _SETTINGS.items():
        if key in settings and not valid(settings[key]):
            return f"settings.{key} {shown(settings[key])} must be {what}"
    for key in _REQUIRED.get(record["kind"], ()):
        if key not in record:
            return f"a {record['kind']} record needs {key!r}"
    if "round_times" in record and not _valid_round_times(record["round_times"]):
        return ("round_times must hold equally long lists 'rounds' and 'drafted' (counts) and 'draft_s', "
                "'verify_s', 'round_s' (seconds)")
    rounds = record.get("rounds")
    if rounds is None:
        return None
    drafted, accepted = (rounds.get("drafted"), rounds.get("accepted")) if isinstance(rounds, dict) else (None, None)
    if not (isinstance(drafted, list) and isinstance(accepted, list) and len(drafted) == len(accepted)
            and all(map(is_count, drafted + accepted))):
        return "rounds must hold equally long lists of counts 'drafted' and 'accepted'"
    if any(j > k for k, j in zip(drafted, accepted)):
        return "rounds accept more drafts than were drafted"
    return None


# Resume-file repair for ``bench --resume``: beside the reader, whose skipped lines it acts on.

def resumable_records(path: str) -> list:
    """Records of the last run in ``path`` for ``--resume``. A line cut short by a crash is dropped first (it was
    never a complete record), so new records start on a fresh line; other bad lines are moved out by
    :func:`set_aside_bad_lines` (call it first) so that the resumed file reads cleanly."""
    file = Path(path)
    if not file.is_file():
        return []
    data = file.read_bytes()
    if data and not data.endswith(b"\n"):
        file.write_bytes(data[: data.rfind(b"\n") + 1])
    records = read_records([file], skip_bad_lines=True).records
    last_run = records[-1].get("run_id") if records else None
    return [r for r in records if r.get("run_id") == last_run]


def set_aside_bad_lines(path: str) -> list:
    """Move lines of ``path`` that are not valid records (a corrupt line in the middle) to ``path.bad-lines`` and
    rewrite ``path`` without them (atomically), so the resumed file is one that ``report`` reads. Returns one note
    per line moved; nothing is deleted."""
    file = Path(path)
    if not file.is_file():
        return []
    data = file.read_bytes()
    complete = data[: data.rfind(b"\n") + 1] if data and not data.endswith(b"\n") else data
    skipped = read_records([file], skip_bad_lines=True).skipped if complete else []
    if not skipped:
        return []
    lines = complete.split(b"\n")[:-1]
    numbers = {int(line[len(str(file)) + 1:].split(":", 1)[0]): line for line in skipped}  # "file:N: why"
    bad = {n for n in numbers if n <= len(lines)}  # not the cut last line: resumable_records drops it
    if not bad:
        return []
    aside = file.with_name(file.name + ".bad-lines")
    with aside.open("ab") as out:
        out.writelines(lines[n - 1] + b"\n" for n in sorted(bad))
    temporary = file.with_name(file.name + ".resume-tmp")
    temporary.write_bytes(b"".join(line + b"\n" for n, line in enumerate(lines, 1) if n not in bad))
    os.replace(temporary, file)
    return [f"{numbers[n]} (moved to {aside})" for n in sorted(bad)]
