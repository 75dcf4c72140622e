"""What every engine is and shares: the engine interface, the workload it is checked against, the seed
convention and the fields of a run record.

An engine is one module under ``measure/engines/`` holding one object that implements :class:`Engine` (and
:class:`SequentialEngine` or :class:`BatchedEngine`), listed in ``engines/registry.py``. ``bench`` and ``profile``
know engines only through the registry. Nothing here imports torch at module level.
"""

from dataclasses import dataclass
from typing import Callable, Protocol

SEQUENTIAL = "sequential"  # one sequence at a time through specplan's or transformers' loop, models loaded by bench
BATCHED = "batched"  # a serving engine that loads its own models and decodes waves of requests
WARMUP_TOKENS = 8  # the untimed decode per engine configuration before the timed ones


@dataclass(frozen=True)
class Workload:
    """What a run asks of the models, checked against their configs before any weights load: the engines (their
    compiled variants when ``compile``), and the positions the longest sequence reaches (``positions``, explained
    by ``why``)."""

    engines: tuple = ()
    positions: int = 0
    why: str = ""
    compile: bool = False


@dataclass(frozen=True)
class Models:
    """The loaded pair as an engine sees it (``measure.loading.LoadedPair`` is one): inputs go to ``device``,
    logits are compared over the first ``vocab_tokens`` rows."""

    target: object
    draft: object
    device: str
    vocab_tokens: int


class Engine(Protocol):
    name: str  # as in --engines and the records' ``engine`` field
    kind: str  # SEQUENTIAL | BATCHED
    speculative: bool  # False: the baseline every speculative run is compared with (exactness)
    summary: str  # one clause for ``bench --help``

    def refuses(self, config, role: str) -> str | None:
        """One line (the whole error message) when this engine cannot run the model of ``config`` (a transformers
        config; ``role`` target | draft | model), else None. Checked before any weights load."""

    def settings(self, config) -> dict:
        """What this engine adds to the run's ``settings`` when it runs (``config``: the bench configuration)."""

    def absent_settings(self) -> dict:
        """What the run's ``settings`` hold for this engine when it does not run (so older files resume)."""

    def environment(self) -> dict:
        """What this engine adds to the run's ``environment`` (its library's version)."""


class NoOwnSettings:
    """For an engine with no settings or environment of its own to record."""

    def settings(self, config) -> dict:
        return {}

    def absent_settings(self) -> dict:
        return {}

    def environment(self) -> dict:
        return {}


class SequentialEngine(Engine, Protocol):
    times_rounds: bool  # takes a RoundClock and records ``round_times``

    def decode(self, models: Models, prompt_ids, gamma: int | None, max_new_tokens: int, sampling, seed: int,
               clock=None):
        """Exactly ``max_new_tokens`` new tokens after (1, P) ``prompt_ids``, seeded by ``seed`` (see
        :func:`generator`): a ``Decoded``."""

    def run_fields(self, decoded, clock) -> dict:
        """Record fields of one run beyond :func:`run_fields` (per-round counts, component times)."""


class BatchedEngine(Engine, Protocol):
    def preflight(self, config, device: str) -> Callable[[list], None]:
        """Fail fast before any model loads (the library imports, the devices suffice); returns the check of the
        tokenised prompts, called once they are known."""

    def pending(self, config, num_prompts: int, done: set) -> int:
        """Records still to produce, given the task keys ``done``."""

    def run(self, config, job: "BatchedJob", on_record) -> list:
        """Every pending record, each handed to ``on_record(record, label)`` as it is made."""


@dataclass(frozen=True)
class BatchedJob:
    """What ``bench`` hands a batched engine: the tokenised prompts, the record maker, what is already done."""

    prompt_ids: list
    prompts: list
    dtype: str
    on_cpu: bool
    record: Callable  # record(kind, **fields): the run's one record constructor
    existing: list
    baseline_outputs: dict  # (prompt_index, repeat) -> output ids of the sequential baseline
    done: set  # task keys of ``existing``


def task_key(record: dict) -> tuple:
    """What makes a record unique within a run (the same for a bench task and the record it produced)."""
    if record.get("kind") == "run":
        key = ("run", record.get("engine"), record.get("gamma"), record.get("prompt_index"), record.get("repeat"))
        return key if record.get("batch_size") is None else key + (record["batch_size"], record.get("request_index"))
    if record.get("kind") == "engine":
        return ("engine", record.get("engine"), record.get("gamma"))
    if record.get("kind") == "latency":
        return ("latency", record.get("model"), record.get("new_tokens"))
    return (record.get("kind"), record.get("model"))


def run_seed(seed: int, prompt_index: int, repeat: int) -> int:
    """The seed of one decode: per prompt and repeat, the same for every engine."""
    return seed + 1009 * prompt_index + 7919 * repeat


def generator(device: str, seed: int):
    """The one seeded ``torch.Generator`` a decode threads through every sampling step."""
    import torch

    return torch.Generator(device=device).manual_seed(seed)


def run_fields(engine: str, gamma: int | None, prompt_index: int, prompt_category: str, repeat: int,
               prompt_tokens: int, output_ids: list, wall_time_s: float) -> dict:
    """The fields every ``run`` record has (docs/records.md), whichever engine made it."""
    return {"engine": engine, "gamma": gamma, "prompt_index": prompt_index, "prompt_category": prompt_category,
            "repeat": repeat, "prompt_tokens": prompt_tokens, "new_tokens": len(output_ids),
            "wall_time_s": wall_time_s, "output_ids": output_ids}


def rounds_field(drafted: list, accepted: list) -> dict:
    return {"rounds": {"drafted": drafted, "accepted": accepted}}
