"""What every serving engine module (``plan/serving/<engine>.py``) offers, and the nouns they share.

An engine module defines ``ENGINE``, an object with:

- ``name`` (the ``--emit`` value) and ``title`` (how people write it);
- ``schedule_batches``: the batch sizes at which it takes plan's γ (() for one γ at the planned batch size);
- ``compatibility(target, draft, unknown)``: its vocabulary rule for a separate draft, as a :class:`Compatibility`
  (``unknown`` is "" or the remark that specplan does not know whether the tokenizers match);
- ``configure(pair)``: the :class:`Emission` for a :class:`Pair`, or :func:`do_not_speculate`'s answer where
  speculation does not pay on that engine; a setting it cannot express is a ``SpecplanError`` (exit 2).
"""

from dataclasses import dataclass
from typing import Protocol

from specplan.plan.catalog import ModelInfo


@dataclass(frozen=True)
class Compatibility:
    accepted: bool
    status: str  # "ok", "rejected", "universal path" (transformers), "unchecked" (no check known)
    reason: str

    def to_json(self) -> dict:
        return {"accepted": self.accepted, "status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class Pair:
    """The planned pair as an engine configuration needs it."""

    target: str
    draft: str
    tp: int
    draft_tp: int
    gamma: int  # plan's γ at the planned batch size
    schedule: tuple  # ((batch, γ, speedup), ...) at the engine's schedule_batches; () when it takes one γ
    compatibility: Compatibility  # this engine's verdict on the pair
    notes: tuple = ()  # why faster checkpoints were passed over
    max_model_len: int | None = None  # the longest sequence to configure; None: the target's own (no flag)
    draft_sample_method: str | None = None  # vLLM's, when given (None: its default, "greedy")


@dataclass(frozen=True)
class Emission:
    engine: str
    draft: str | None  # None: do not speculate
    gamma: int  # 0: do not speculate
    text: str
    language: str  # bash, yaml, python; "" when there is nothing to paste
    notes: tuple
    schedule: tuple = ()  # ((batch, γ, speedup), ...) where the engine takes a per-batch γ

    @property
    def pays(self) -> bool:
        return self.gamma > 0

    def to_json(self) -> dict:
        return {"engine": self.engine, "draft": self.draft, "gamma": self.gamma, "language": self.language,
                "text": self.text, "notes": list(self.notes), "pays": self.pays,
                "gamma_by_batch": [{"batch_size": b, "gamma": g, "speedup": s} for b, g, s in self.schedule]}


def do_not_speculate(engine: str, reason: str, notes: tuple = (), schedule: tuple = ()) -> Emission:
    """The answer where speculation does not pay on ``engine``: serve the target alone, and why."""
    return Emission(engine, None, 0, "", "", (f"{reason}; serve the target alone", *notes),
                    schedule)


class ServingEngine(Protocol):
    name: str
    title: str
    schedule_batches: tuple

    def compatibility(self, target: ModelInfo, draft: ModelInfo, unknown: str) -> Compatibility: ...

    def configure(self, pair: Pair) -> Emission: ...


def rows_text(target: ModelInfo, draft: ModelInfo) -> str:
    return f"{draft.architecture.vocab_rows:,} vs {target.architecture.vocab_rows:,} embedding rows"


def equal_rows(target: ModelInfo, draft: ModelInfo) -> bool:
    return target.architecture.vocab_rows == draft.architecture.vocab_rows


def ranges(schedule, end: int | None = None) -> list:
    """[[first batch, last batch, γ], ...] from a (batch, γ, ...) grid: each grid batch's γ holds up to the next grid
    batch; equal neighbours merged; the last range ends at ``end`` (default: the last grid batch)."""
    result = []
    for i, (batch, gamma, *_) in enumerate(schedule):
        last = schedule[i + 1][0] - 1 if i + 1 < len(schedule) else (end or batch)
        if result and result[-1][2] == gamma:
            result[-1][1] = last
        else:
            result.append([batch, last, gamma])
    return result
