"""Run records: the JSON Lines contract between ``bench`` (writes) and ``report`` / ``calibrate`` (read).

One JSON object per line, appended and flushed as it is produced, so an interrupted run keeps every finished
record. Records hold raw measurements only; every metric is derived when reporting. The schema is documented in
``docs/records.md``. No torch here.
"""

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from specplan.errors import SpecplanError
from specplan.record_types import (  # noqa: F401  (the record classes are part of this module's interface)
    KINDS, MAX_GAMMA, MAX_PERPLEXITY, SCHEMA_VERSION, AcceptanceRecord, CrossEngine, EngineRecord, LatencyRecord,
    Pair, PerplexityRecord, Record, RecordProblem, RoundTimes, Rounds, RunRecord, parse_record, step_quantiles, typed)


class RecordWriter:
    """Append records to a JSONL file, one line each, flushed at once (use as a context manager)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.written = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        except OSError as exc:
            raise SpecplanError(f"cannot write records to {str(path)!r}: {exc.strerror}") from None

    def write(self, record: "dict | Record") -> None:
        """Append one record: a typed record, or a dict checked against its kind's schema first, so that nothing is
        written that ``report`` would refuse to read (a kind this module does not know is written as given)."""
        record = _checked(record)
        try:
            data = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
            while data:  # one append per line (O_APPEND): a concurrent --append writer never splits it
                data = data[os.write(self._file.fileno(), data):]
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


def _checked(record: "dict | Record") -> dict:
    if isinstance(record, Record):
        return record.to_dict()
    record = {"schema_version": SCHEMA_VERSION, **record}
    if record.get("kind") not in KINDS:
        return record
    try:
        written = parse_record(record).to_dict()
    except RecordProblem as problem:
        raise SpecplanError(f"internal error: a {record.get('kind')} record does not match its schema: {problem}") from None
    lost = sorted(set(record) - set(written))
    if lost:
        raise SpecplanError(f"internal error: a {record['kind']} record has fields outside its schema: {lost}")
    return written


def write_whole(path: str | Path, text: str, what: str) -> Path:
    """Write an output file whole or not at all (a temporary file beside it, then a rename): a full disk or an
    interruption never leaves half a report, law or profile, nor a truncated earlier one. ``what`` names it in the
    one-line error."""
    import tempfile

    path, file = Path(path), None
    try:
        if path.exists() and not path.is_file():  # a device or a pipe (/dev/stdout, /dev/full): written in place
            with path.open("w", encoding="utf-8") as out:
                out.write(text)
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False) as file:
            file.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(file.name, 0o666 & ~umask)  # as a plain write would leave it (temporary files are 0600)
        os.replace(file.name, path)
    except OSError as exc:
        if file is not None:
            Path(file.name).unlink(missing_ok=True)
        raise SpecplanError(f"cannot write {what} to {str(path)!r}: {exc.strerror}") from None
    return path


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


MAX_RECORDS_FILE_BYTES = 2_000_000_000  # a records file of a long sweep is megabytes


@contextlib.contextmanager
def sole_writer(path, append: bool = False):
    """Hold ``path``'s writer lock (an flock on ``.NAME.lock`` beside it, a stable file, so that --resume's
    rewrite of ``path`` keeps it) for a bench run: a second writer is refused in one line, unless it passes
    ``--append`` (appenders add whole lines and take no lock)."""
    if path is None or append:
        yield
        return
    path = Path(path)
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = lock_path.open("a")
    except OSError as exc:
        raise SpecplanError(f"cannot write records to {str(path)!r}: {exc.strerror}") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SpecplanError(f"--output {str(path)!r} is being written by another bench now: wait for it, pass "
                                "--append to add a run beside it, or choose another file") from None
        yield  # the lock file stays (removing it would let a third writer lock a new one while one holds the old)


def read_lines(path, what: str = "records file") -> list:
    """A file's lines split on b"\n" only (as JSON Lines are; str.splitlines would also split a JSON string at a
    raw U+2028), each decoded on its own: a non-UTF-8 line is None, so it is one bad line, not a bad file."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_RECORDS_FILE_BYTES + 1)
    except OSError as exc:
        raise SpecplanError(f"{what} {str(path)!r} could not be read: {exc.strerror}") from None
    if len(data) > MAX_RECORDS_FILE_BYTES:
        raise SpecplanError(f"{what} {str(path)!r} holds more than the {MAX_RECORDS_FILE_BYTES} bytes this reads")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for raw in lines:
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(None)
    return out


@dataclass
class RecordSet:
    """Records read from one or more files, the lines skipped with ``skip_bad_lines``, and notes on duplicates."""

    records: list = field(default_factory=list)  # the JSON objects, as written
    typed: list = field(default_factory=list)  # the same records as Record objects (what report reads)
    skipped: list = field(default_factory=list)  # "file:line: reason"
    duplicates: list = field(default_factory=list)  # "file:line: ..." or "file: given twice", each read once

    def of_kind(self, kind: str) -> list:
        """The typed records of one kind."""
        return [r for r in self.typed if r.kind == kind]


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
        for number, line in enumerate(read_lines(path), start=1):
            if line is not None and not line.strip():
                continue
            problem, parsed = ("not UTF-8 text", None) if line is None else _parse_line(line)
            if problem is None:
                record = json.loads(line)
                identity = record_identity(record)
                if identity in seen_records:
                    result.duplicates.append(f"{path}:{number}: repeats {seen_records[identity]}, read once")
                    continue
                seen_records[identity] = f"{path}:{number}"
                result.records.append(record)
                result.typed.append(parsed)
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
    return _parse_line(line)[0]


def _parse_line(line: str) -> tuple:
    """(problem, None) for a bad line, else (None, its typed record)."""
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        return f"not a valid JSON record (malformed or truncated line: {getattr(exc, 'msg', 'nested too deep')})", None
    try:
        return None, parse_record(data)
    except RecordProblem as problem:
        return str(problem), None


def refuse_overwriting_inputs(option: str, output, inputs) -> None:
    """A command's output must not be one of its inputs (the same file, a hard link or a symlink to it): one line
    naming both, before any work."""
    if output is None:
        return
    target = Path(output)
    for given in inputs:
        source = Path(given)
        try:
            same = target.exists() and source.exists() and target.samefile(source)
        except OSError:
            same = False
        if same:
            raise SpecplanError(f"{option} {str(output)!r} is the input {str(given)!r}: writing it would destroy "
                                "that input; choose another file")


# Resume-file repair for ``bench --resume``: beside the reader, whose skipped lines it acts on.

def resumable_records(path: str) -> list:
    """Records of the last run in ``path`` for ``--resume``. A line cut short by a crash is dropped first (it was
    never a complete record), so new records start on a fresh line; other bad lines are moved out by
    :func:`set_aside_bad_lines` (call it first) so that the resumed file reads cleanly."""
    file = Path(path)
    if not file.is_file():
        return []
    complete_last_line(path)
    records = read_records([file], skip_bad_lines=True).records
    last_run = records[-1].get("run_id") if records else None
    return [r for r in records if r.get("run_id") == last_run]


def complete_last_line(path: str) -> str | None:
    """A last line without its newline (a crash mid-write, or an editor): kept and given its newline when it is a
    valid record, else dropped (it was never a complete record). What was done, as a note; None when nothing."""
    file = Path(path)
    if not file.is_file():
        return None
    data = file.read_bytes()
    if not data or data.endswith(b"\n"):
        return None
    cut = data.rfind(b"\n") + 1
    last = data[cut:]
    try:
        valid = _problem(last.decode("utf-8")) is None
    except UnicodeDecodeError:
        valid = False
    if valid:
        with file.open("ab") as out:
            out.write(b"\n")
        return f"{file}: its last record had no newline; kept it and added the newline"
    temporary = file.with_name(file.name + ".resume-tmp")
    temporary.write_bytes(data[:cut])
    os.replace(temporary, file)
    return f"{file}: dropped its cut last line ({len(last)} bytes, never a complete record)"


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
