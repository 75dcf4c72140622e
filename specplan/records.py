"""Run records: the JSON Lines contract between ``bench`` (writes) and ``report`` / ``calibrate`` (read).

One JSON object per line, appended and flushed as it is produced, so an interrupted run keeps every finished
record. Records hold raw measurements only; every metric is derived when reporting. The schema is documented in
``docs/records.md``. No torch here.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from specplan.errors import SpecplanError

SCHEMA_VERSION = 1


class RecordWriter:
    """Append records to a JSONL file, one line each, flushed at once (use as a context manager)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise SpecplanError(f"cannot write records to {str(path)!r}: {exc.strerror}") from None

    def write(self, record: dict) -> None:
        record = {"schema_version": SCHEMA_VERSION, **record}
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


@dataclass
class RecordSet:
    """Records read from one or more files, and the lines skipped with ``skip_bad_lines``."""

    records: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # "file:line: reason"

    def of_kind(self, kind: str) -> list:
        return [r for r in self.records if r.get("kind") == kind]


def read_records(paths, skip_bad_lines: bool = False) -> RecordSet:
    """Read JSONL record files. A missing file, a malformed or truncated line, or a record from a newer schema is a
    :class:`SpecplanError` naming the file and line; with ``skip_bad_lines`` bad lines are skipped and listed."""
    result = RecordSet()
    for path in map(Path, paths):
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
                result.records.append(json.loads(line))
            elif skip_bad_lines and not problem.startswith("schema_version"):
                result.skipped.append(f"{path}:{number}: {problem}")
            else:
                raise SpecplanError(f"{path}:{number}: {problem}")
    return result


def _problem(line: str) -> str | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not a valid JSON record (malformed or truncated line: {exc.msg})"
    if not isinstance(record, dict):
        return "not a JSON object"
    version = record.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        return f"missing or non-integer schema_version ({version!r})"
    if version > SCHEMA_VERSION:
        return (f"schema_version {version} is newer than this specplan reads ({SCHEMA_VERSION}); "
                "upgrade specplan to read it")
    if "kind" not in record:
        return "record has no 'kind'"
    return _field_problem(record)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_seconds(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _valid_round_times(clock) -> bool:
    if not isinstance(clock, dict):
        return False
    columns = [clock.get(key) for key in ("rounds", "drafted", "draft_s", "verify_s", "round_s")]
    if not all(isinstance(c, list) and len(c) == len(columns[0]) for c in columns):
        return False
    prefill = clock.get("prefill_s")
    return (all(map(_is_count, columns[0] + columns[1])) and all(map(_is_seconds, columns[2] + columns[3] + columns[4]))
            and (prefill is None or _is_seconds(prefill)))


def _field_problem(record: dict) -> str | None:
    """The fields metrics are computed from, where present, must have the documented types (docs/records.md)."""
    for key, valid in (("new_tokens", _is_count), ("wall_time_s", _is_seconds), ("median_s", _is_seconds)):
        if key in record and not valid(record[key]):
            return f"{key} {record[key]!r} is not a non-negative number"
    if "round_times" in record and not _valid_round_times(record["round_times"]):
        return ("round_times must hold equally long lists 'rounds' and 'drafted' (counts) and 'draft_s', "
                "'verify_s', 'round_s' (seconds)")
    rounds = record.get("rounds")
    if rounds is None:
        return None
    drafted, accepted = (rounds.get("drafted"), rounds.get("accepted")) if isinstance(rounds, dict) else (None, None)
    if not (isinstance(drafted, list) and isinstance(accepted, list) and len(drafted) == len(accepted)
            and all(map(_is_count, drafted + accepted))):
        return "rounds must hold equally long lists of counts 'drafted' and 'accepted'"
    if any(j > k for k, j in zip(drafted, accepted)):
        return "rounds accept more drafts than were drafted"
    return None
