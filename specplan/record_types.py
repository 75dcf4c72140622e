"""The run-record schema: one frozen dataclass per record kind, each field with its type and range check, and
:func:`parse_record`, which turns one JSON object into its typed record or names the first bad field
(docs/records.md). ``specplan.records`` reads and writes files of them; no torch here.
"""

import math
import statistics
from dataclasses import dataclass, field, fields, is_dataclass

from specplan.checks import is_count, is_finite_number, shown

SCHEMA_VERSION = 1
# A uniform guess over the largest vocabularies (~256K tokens) scores about that; far above is not a perplexity.
MAX_PERPLEXITY = 1e7

# Each field declares its check and what it must be (``_f``); a field absent from the JSON keeps its default.

MAX_GAMMA = 1024  # the largest lookahead bench runs
MAX_BATCH_SIZE = 1 << 20
# an engine record's cpu_sampling: vLLM's CPU sampling stand-in checked (measure/engines/vllm_cpu_sampling.py)
CPU_SAMPLING_STATES = ("ok", "repaired", "bug-kept", "not-cpu", "not-used")


def step_quantiles(times) -> tuple:
    """(p10, median, p90) of step times: the one percentile definition of latency records and profiles, linear
    interpolation between order statistics (``statistics.quantiles(method="inclusive")``, numpy's default)."""
    times = list(times)
    if len(times) < 2:
        return times[0], times[0], times[0]
    deciles = statistics.quantiles(times, n=10, method="inclusive")
    return deciles[0], statistics.median(times), deciles[-1]


def _is_str(value) -> bool:
    return isinstance(value, str)


def _is_object(value) -> bool:
    return isinstance(value, dict)


def _is_seconds(value) -> bool:
    return is_finite_number(value) and value >= 0


def _is_optional(check):
    return lambda value: value is None or check(value)


def _f(check, what: str, default=None, required: bool = False, omit_none: bool = False):
    """A record field: its check, what it must be, whether each record of its kind needs it, and whether None is
    left out of the JSON object (a key written only where it applies)."""
    factory = {"default_factory": dict} if default is dict else {"default": default}
    return field(**factory, metadata={"check": check, "what": what, "required": required, "omit_none": omit_none})


_STRING, _OBJECT, _COUNT, _SECONDS = "a string", "an object", "an integer ≥ 0", "a finite non-negative number"


@dataclass(frozen=True)
class Pair:
    target: str
    draft: str


@dataclass(frozen=True)
class Rounds:
    """Per verification round s: drafted k_s and accepted j_s (0..k_s)."""

    drafted: tuple
    accepted: tuple


@dataclass(frozen=True, kw_only=True)
class RoundTimes:
    """``sd``'s per-round component times of the timed rounds (docs/records.md)."""

    every: int | None = None
    prefill_s: float | None = None
    rounds: tuple  # indices into the run's rounds
    drafted: tuple
    draft_s: tuple
    verify_s: tuple
    round_s: tuple


@dataclass(frozen=True)
class CrossEngine:
    reference: str
    exact: bool | None
    first_divergence: int | None = None


@dataclass(frozen=True, kw_only=True)
class Record:
    """The fields every record has; a kind this specplan does not know is read as this."""

    schema_version: int = SCHEMA_VERSION
    kind: str = _f(_is_str, _STRING, required=True)
    run_id: str | None = _f(_is_optional(_is_str), _STRING)
    created: str | None = _f(_is_optional(_is_str), _STRING)
    pair: Pair | None = _f(lambda v: _is_object(v) and _is_str(v.get("target")) and _is_str(v.get("draft")),
                           "an object with string 'target' and 'draft'")
    settings: dict = _f(_is_object, _OBJECT, default=dict)
    environment: dict = _f(_is_object, _OBJECT, default=dict)

    def setting(self, name: str):
        """One of the run's effective settings (docs/records.md), None where the record does not say."""
        return self.settings.get(name)

    @property
    def temperature(self) -> float | None:
        return self.setting("temperature")

    @property
    def device_name(self) -> str | None:
        """The device the record was measured on, by name (environment.device_name)."""
        return self.environment.get("device_name")

    def to_dict(self) -> dict:
        """The JSON object of this record (what a writer appends); keys that do not apply are left out."""
        out = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None and spec.metadata.get("omit_none"):
                continue
            out[spec.name] = _plain(value)
        if out.get("exact") is None:
            out.pop("first_divergence", None), out.pop("divergence_margin", None)
        return out


def _plain(value):
    """A field's value as JSON data: nested records as objects, tuples as lists."""
    if is_dataclass(value):
        return {spec.name: _plain(getattr(value, spec.name)) for spec in fields(value)}
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


@dataclass(frozen=True, kw_only=True)
class RunRecord(Record):
    """``kind: "run"``: one (engine, γ, prompt, repeat); vLLM runs add batch_size, request_index and wave."""

    engine: str = _f(_is_str, _STRING, required=True)
    gamma: int | None = _f(_is_optional(lambda v: is_count(v, 1) and v <= MAX_GAMMA),
                           f"an integer from 1 to {MAX_GAMMA} or null")
    prompt_index: int | None = _f(_is_optional(is_count), _COUNT)
    prompt_category: str | None = _f(_is_optional(_is_str), _STRING)
    repeat: int | None = _f(_is_optional(is_count), _COUNT)
    prompt_tokens: int | None = _f(_is_optional(is_count), _COUNT)
    new_tokens: int = _f(is_count, "a non-negative integer", required=True)
    wall_time_s: float = _f(_is_seconds, _SECONDS, required=True)
    output_ids: tuple = _f(lambda v: isinstance(v, list), "a list", default=())
    rounds: Rounds | None = _f(_is_optional(_is_object), _OBJECT, omit_none=True)
    hf_generator: str | None = _f(_is_optional(_is_str), _STRING, omit_none=True)
    round_times: RoundTimes | None = _f(_is_optional(_is_object), _OBJECT, omit_none=True)
    exact: bool | None = _f(_is_optional(lambda v: isinstance(v, bool)), "true, false or null", omit_none=True)
    first_divergence: int | None = _f(_is_optional(is_count), "an integer ≥ 0 or null")
    divergence_margin: float | None = _f(_is_optional(is_finite_number), "a finite number or null")
    batch_size: int | None = _f(_is_optional(lambda v: is_count(v, 1) and v <= MAX_BATCH_SIZE),
                                f"an integer from 1 to {MAX_BATCH_SIZE}", omit_none=True)
    request_index: int | None = _f(_is_optional(is_count), _COUNT, omit_none=True)
    wave: int | None = _f(_is_optional(is_count), _COUNT, omit_none=True)
    cross_engine: CrossEngine | None = _f(_is_optional(_is_object), _OBJECT, omit_none=True)


@dataclass(frozen=True, kw_only=True)
class LatencyRecord(Record):
    """``kind: "latency"``: one model's step time for k new tokens with a warm KV cache."""

    model: str = _f(_is_str, _STRING, required=True)
    new_tokens: int = _f(is_count, "a non-negative integer", required=True)
    context_tokens: int | None = _f(_is_optional(is_count), _COUNT)
    median_s: float = _f(_is_seconds, _SECONDS, required=True)
    p10_s: float | None = _f(_is_optional(_is_seconds), _SECONDS)
    p90_s: float | None = _f(_is_optional(_is_seconds), _SECONDS)
    samples: int | None = _f(_is_optional(is_count), _COUNT)


@dataclass(frozen=True, kw_only=True)
class PerplexityRecord(Record):
    """``kind: "perplexity"``: one model's held-out perplexity."""

    model: str = _f(_is_str, _STRING, required=True)
    perplexity: float = _f(lambda v: is_finite_number(v) and 1 <= v <= MAX_PERPLEXITY,
                           f"a number from 1 to {MAX_PERPLEXITY:g} (exp of a mean NLL)", required=True)
    tokens: int | None = _f(_is_optional(is_count), _COUNT)
    text: str | None = _f(_is_optional(_is_str), _STRING)


@dataclass(frozen=True, kw_only=True)
class EngineRecord(Record):
    """``kind: "engine"``: one vLLM engine configuration (start-up and warm-up), or the compiled engine's
    preparation (``engine: "compiled"``: compile seconds as ``startup_s``, per model and shape in ``compile``)."""

    engine: str = _f(_is_str, _STRING, required=True)
    gamma: int | None = _f(_is_optional(lambda v: is_count(v, 1) and v <= MAX_GAMMA),
                           f"an integer from 1 to {MAX_GAMMA} or null")
    startup_s: float | None = _f(_is_optional(_is_seconds), _SECONDS)
    warmup_s: float | None = _f(_is_optional(_is_seconds), _SECONDS)
    engine_args: dict = _f(_is_object, _OBJECT, default=dict)
    max_num_seqs: int | None = _f(_is_optional(lambda v: is_count(v, 1)), "an integer ≥ 1")
    engine_counters: dict | None = _f(_is_optional(_is_object), _OBJECT, omit_none=True)
    request_counts: dict | None = _f(_is_optional(_is_object), _OBJECT, omit_none=True)
    counters_match: bool | None = _f(_is_optional(lambda v: isinstance(v, bool)), "true, false or null",
                                     omit_none=True)
    # vLLM's CPU stand-in for expanding temperatures to draft positions: checked, repaired where wrong (speculative)
    cpu_sampling: str | None = _f(_is_optional(lambda v: v in CPU_SAMPLING_STATES),
                                  f"one of {', '.join(CPU_SAMPLING_STATES)}", omit_none=True)
    # the compiled engine's CompileReport: mode, cache positions, compile_s per model and shape, warm-up
    compile: dict | None = _f(_is_optional(_is_object), _OBJECT, omit_none=True)


def _is_acceptance_results(value) -> bool:
    """``results[]`` of an acceptance record: objects with a temperature ≥ 0, a rule, and tokens per round by γ."""
    return isinstance(value, list) and all(
        _is_object(r) and is_finite_number(r.get("temperature")) and r["temperature"] >= 0
        and _is_str(r.get("rule")) and _is_object(r.get("tokens_per_round"))
        and all(is_finite_number(v) and v >= 1 for v in r["tokens_per_round"].values()) for r in value)


@dataclass(frozen=True, kw_only=True)
class AcceptanceRecord(Record):
    """``kind: "acceptance"`` (``specplan acceptance``): per temperature and rule, α and the tokens per round E(γ)
    the loop's rounds give along the target's text, with intervals (docs/acceptance.md)."""

    results: tuple = _f(_is_acceptance_results, "a list of objects with temperature ≥ 0, rule and "
                                                "tokens_per_round (γ → a number ≥ 1)", required=True)
    prompts: tuple = _f(lambda v: isinstance(v, list), "a list", default=())

    def result(self, temperature: float, rule: str) -> dict | None:
        """The result of ``rule`` at ``temperature`` (``greedy`` stands for every rule at T = 0), None if absent."""
        for r in self.results:
            if math.isclose(r["temperature"], temperature, abs_tol=1e-9) and (
                    r["rule"] == rule or (temperature == 0 and r["rule"] == "greedy")):
                return r
        return None


KINDS = {"run": RunRecord, "latency": LatencyRecord, "perplexity": PerplexityRecord, "engine": EngineRecord,
         "acceptance": AcceptanceRecord}
# settings key -> check: the settings that report and calibrate group and filter by
_SETTINGS = {
    "temperature": (lambda v: is_finite_number(v) and v >= 0, "a finite number ≥ 0"),
    "top_p": (lambda v: is_finite_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "max_new_tokens": (is_count, "an integer ≥ 0"),
}


class RecordProblem(ValueError):
    """What is wrong with one record, as the tail of a one-line error (the reader adds file:line)."""


def parse_record(data: dict) -> Record:
    """The typed record of a JSON object, every field checked (type, range, the relations between fields);
    :class:`RecordProblem` names the first bad field and its value."""
    if not isinstance(data, dict):
        raise RecordProblem("not a JSON object")
    version = data.get("schema_version")
    if not is_count(version):
        raise RecordProblem(f"missing or non-integer schema_version ({shown(version)})")
    if version > SCHEMA_VERSION:
        raise RecordProblem(f"schema_version {version} is newer than this specplan reads ({SCHEMA_VERSION}); "
                            "upgrade specplan to read it")
    if "kind" not in data:
        raise RecordProblem("record has no 'kind'")
    cls = KINDS.get(data["kind"], Record) if isinstance(data["kind"], str) else Record
    values = {}
    for spec in fields(cls):
        check = spec.metadata.get("check")
        if spec.name not in data:
            if spec.metadata.get("required"):
                raise RecordProblem(f"a {data['kind']} record needs {spec.name!r}")
            continue
        value = data[spec.name]
        if check is not None and not check(value):
            raise RecordProblem(f"{spec.name} {shown(value)} must be {spec.metadata['what']}")
        values[spec.name] = value
    for key, (valid, what) in _SETTINGS.items():
        if key in values.get("settings", {}) and not valid(values["settings"][key]):
            raise RecordProblem(f"settings.{key} {shown(values['settings'][key])} must be {what}")
    if "pair" in values:
        values["pair"] = Pair(values["pair"]["target"], values["pair"]["draft"])
    if "output_ids" in values:
        values["output_ids"] = tuple(values["output_ids"])
    if cls is RunRecord:
        _run_fields(values)
    if cls is AcceptanceRecord:
        values["results"], values["prompts"] = tuple(values["results"]), tuple(values.get("prompts", ()))
    return cls(**values)


def _run_fields(values: dict) -> None:
    """A run's nested objects built and checked against each other (docs/records.md, Reading)."""
    if values.get("rounds") is not None:
        values["rounds"] = _rounds(values["rounds"], values.get("gamma"), values["new_tokens"])
    if values.get("round_times") is not None:
        values["round_times"] = _round_times(values["round_times"], values.get("rounds"))
    if values.get("cross_engine") is not None:
        values["cross_engine"] = _cross_engine(values["cross_engine"])
    batch, wave = values.get("batch_size"), values.get("wave")
    if batch is not None and wave is None:
        raise RecordProblem(f"a run with batch_size {batch} needs 'wave' (its requests are timed by wave)")
    if wave is not None and batch is None:
        raise RecordProblem(f"wave {shown(wave)} needs a batch_size")


def _rounds(rounds, gamma, new_tokens) -> Rounds:
    drafted, accepted = (rounds.get("drafted"), rounds.get("accepted"))
    if not (isinstance(drafted, list) and isinstance(accepted, list) and len(drafted) == len(accepted)
            and all(map(is_count, drafted + accepted))):
        raise RecordProblem("rounds must hold equally long lists of counts 'drafted' and 'accepted'")
    if any(j > k for k, j in zip(drafted, accepted)):
        raise RecordProblem("rounds accept more drafts than were drafted")
    most = max(gamma or 0, new_tokens)  # an adaptive draft (hf) may propose more than γ, never beyond the output
    if any(k > most for k in drafted):
        raise RecordProblem(f"rounds.drafted {max(drafted)} in one round exceeds both γ and the run's new_tokens "
                            f"({most})")
    return Rounds(tuple(drafted), tuple(accepted))


def _round_times(clock: dict, rounds: Rounds | None) -> RoundTimes:
    columns = [clock.get(key) for key in ("rounds", "drafted", "draft_s", "verify_s", "round_s")]
    prefill, every = clock.get("prefill_s"), clock.get("every")
    if not (all(isinstance(c, list) and len(c) == len(columns[0]) for c in columns)
            and all(map(is_count, columns[0] + columns[1])) and all(map(_is_seconds, sum(columns[2:], [])))
            and (prefill is None or _is_seconds(prefill)) and (every is None or is_count(every, 1))):
        raise RecordProblem("round_times must hold equally long lists 'rounds' and 'drafted' (counts) and "
                            "'draft_s', 'verify_s', 'round_s' (seconds)")
    if columns[0] and rounds is None:
        raise RecordProblem("round_times times rounds of a run without 'rounds'")
    if any(s >= len(rounds.drafted) or rounds.drafted[s] != k for s, k in zip(columns[0], columns[1])):
        raise RecordProblem(f"round_times.rounds {shown(columns[0])} must index the run's rounds, with their "
                            "drafted counts")
    names = ("rounds", "drafted", "draft_s", "verify_s", "round_s")
    return RoundTimes(every=every, prefill_s=prefill, **{name: tuple(c) for name, c in zip(names, columns)})


def _cross_engine(check: dict) -> CrossEngine:
    reference, exact, first = check.get("reference"), check.get("exact"), check.get("first_divergence")
    if not _is_str(reference):
        raise RecordProblem(f"cross_engine.reference {shown(reference)} must be a string")
    if not (exact is None or isinstance(exact, bool)):
        raise RecordProblem(f"cross_engine.exact {shown(exact)} must be true, false or null")
    if not (first is None or is_count(first)):
        raise RecordProblem(f"cross_engine.first_divergence {shown(first)} must be an integer ≥ 0 or null")
    return CrossEngine(reference, exact, first)


def typed(items) -> list:
    """Records as typed records: JSON objects are parsed (and checked), typed records passed through. An object
    without a schema_version is one a writer has yet to write (``RecordWriter`` adds the current version)."""
    return [parse_record({"schema_version": SCHEMA_VERSION, **item}) if isinstance(item, dict) else item
            for item in items]
