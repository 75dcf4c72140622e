"""Each engine's measured acceptance beside what an ``acceptance`` record predicts for that engine's rule.

An ``acceptance`` record (``specplan acceptance``, docs/acceptance.md) holds, per temperature and rule, the tokens
per round E(γ) the loop's rounds give along the target's text, with a 95% per-prompt bootstrap interval. A row of
runs (pair × engine × γ [× B]) at temperature T is set beside the record's result for the same pair, T and the
engine's rule:

- T = 0: ``greedy`` (every engine; exact argmax matching);
- vLLM: its ``draft_sample_method`` (settings.vllm, vLLM's default ``greedy`` where not recorded): ``greedy`` drafts
  the argmax and treats its probabilities as one-hot, so a draft is accepted with p_T(argmax q) → rule
  ``argmax_draft``; ``probabilistic`` → ``lossless``;
- ``sd``, ``hf``: rejection sampling with the draft's probabilities → ``lossless`` Σ min(p_T, q_T).

Both sides are shown as tokens per round E and as the draft acceptance rate (E − 1)/γ (vLLM's figure: it drafts γ
every round). A gap is flagged when |measured E − predicted E| exceeds √(h² + (1.96 s)²): h the half-width of the
record's interval, s the standard error of the measured E over the row's runs. Pure Python, no torch.
"""

import math
import statistics
from dataclasses import dataclass

from specplan.plan.temperature import DRAFT_SAMPLE_METHODS, GREEDY, LOSSLESS
from specplan.records import AcceptanceRecord, EngineRecord, RunRecord, typed
from specplan.report.formats import Section, _label_columns

VLLM_DEFAULT_DRAFT_SAMPLING = "greedy"  # vLLM 0.32's SpeculativeConfig.draft_sample_method default
Z95 = 1.96


@dataclass(frozen=True)
class AcceptanceCheck:
    row: object  # report.aggregate.Row
    temperature: float
    rule: str
    measured: float  # tokens per round E over the row's runs
    measured_se: float  # its standard error over runs (0 with one run)
    predicted: float
    interval: tuple  # (low, high) of the predicted E
    record_run_id: str | None
    note: str | None = None  # what else the records say (vLLM's CPU sampling left unrepaired)

    @property
    def gap(self) -> float:
        return self.measured - self.predicted

    @property
    def allowed(self) -> float:
        half = max(self.predicted - self.interval[0], self.interval[1] - self.predicted, 0.0)
        return math.hypot(half, Z95 * self.measured_se)

    @property
    def flagged(self) -> bool:
        return abs(self.gap) > self.allowed

    def rate(self, tokens: float) -> float:
        """Draft acceptance rate (E − 1)/γ."""
        return (tokens - 1.0) / self.row.gamma


def engine_rule(engine: str, temperature: float, settings: dict) -> str:
    """The acceptance rule an engine runs at ``temperature`` (module docstring)."""
    if temperature == 0:
        return GREEDY
    if engine == "vllm":
        method = (settings.get("vllm") or {}).get("draft_sample_method", VLLM_DEFAULT_DRAFT_SAMPLING)
        return DRAFT_SAMPLE_METHODS.get(method, LOSSLESS)
    return LOSSLESS


def _runs_of(row, runs: list) -> list:
    return [r for r in runs if r.pair and (r.pair.target, r.pair.draft) == (row.target, row.draft)
            and r.engine == row.engine and r.gamma == row.gamma and r.batch_size == row.batch_size
            and (row.category is None or r.prompt_category == row.category) and r.rounds and r.rounds.drafted]


def _standard_error(runs: list) -> float:
    per_run = [sum(j + 1 for j in r.rounds.accepted) / len(r.rounds.accepted) for r in runs]
    return statistics.stdev(per_run) / math.sqrt(len(per_run)) if len(per_run) > 1 else 0.0


def _cpu_sampling_note(row, engines: list) -> str | None:
    for e in engines:
        if e.engine == row.engine and e.gamma == row.gamma and e.cpu_sampling == "bug-kept":
            return ("vLLM's CPU sampling stand-in was found wrong and left unrepaired (--no-vllm-cpu-repair, or the "
                    "engine in another process): sampled acceptance is not vLLM's")
    return None


def checks(rows: list, records: list) -> list:
    """One :class:`AcceptanceCheck` per speculative row that an acceptance record of its pair covers (same
    temperature, the engine's rule, its γ); the last such record wins."""
    records = typed(records)
    runs = [r for r in records if isinstance(r, RunRecord) and r.gamma is not None]
    engines = [r for r in records if isinstance(r, EngineRecord)]
    accepts = [r for r in records if isinstance(r, AcceptanceRecord)]
    if not accepts:
        return []
    out = []
    for row in rows:
        mine = _runs_of(row, runs)
        if row.gamma is None or row.acceptance_length is None or not mine:
            continue
        temperature = mine[0].temperature or 0.0
        rule = engine_rule(row.engine, temperature, mine[0].settings)
        for record in reversed(accepts):
            if not record.pair or (record.pair.target, record.pair.draft) != (row.target, row.draft):
                continue
            result = record.result(temperature, rule)
            if result is None or str(row.gamma) not in result["tokens_per_round"]:
                continue
            predicted = float(result["tokens_per_round"][str(row.gamma)])
            interval = (result.get("tokens_per_round_interval") or {}).get(str(row.gamma)) or (predicted, predicted)
            out.append(AcceptanceCheck(row, temperature, rule, row.acceptance_length, _standard_error(mine),
                                       predicted, (float(interval[0]), float(interval[1])), record.run_id,
                                       _cpu_sampling_note(row, engines)))
            break
    return out


def notes(found: list) -> list:
    """One line per flagged gap."""
    return [f"acceptance: {c.row.engine} γ {c.row.gamma}{f' B {c.row.batch_size}' if c.row.batch_size else ''} at "
            f"T {c.temperature:g}: measured DAR {c.rate(c.measured):.3f} vs {c.rate(c.predicted):.3f} "
            f"[{c.rate(c.interval[0]):.3f}, {c.rate(c.interval[1]):.3f}] predicted by the acceptance record's "
            f"{c.rule} rule: a gap beyond the intervals" + (f" ({c.note})" if c.note else "")
            for c in found if c.flagged]


def section(found: list, several: bool) -> Section | None:
    if not found:
        return None
    labels = _label_columns([c.row for c in found], several)
    headers = tuple(h for h, _ in labels) + ("T", "rule", "DAR measured", "DAR predicted (95%)", "E measured",
                                             "E predicted (95%)", "gap")
    cells = tuple(tuple(fn(c.row) for _, fn in labels) + (
        f"{c.temperature:g}", c.rule, f"{c.rate(c.measured):.3f}",
        f"{c.rate(c.predicted):.3f} [{c.rate(c.interval[0]):.3f}, {c.rate(c.interval[1]):.3f}]",
        f"{c.measured:.3f}", f"{c.predicted:.3f} [{c.interval[0]:.3f}, {c.interval[1]:.3f}]",
        f"{c.gap:+.3f}" + (" GAP" if c.flagged else "")) for c in found)
    caption = ("predicted = the acceptance record's tokens per round E(γ) for the engine's rule at the runs' "
               "temperature (vLLM draft_sample_method greedy → argmax_draft, probabilistic → lossless; sd, hf → "
               "lossless; T 0 → greedy); DAR = (E − 1)/γ; GAP = beyond √(h² + (1.96·s)²), h the interval's "
               "half-width, s the measured E's standard error over runs.")
    return Section("Acceptance: measured vs the acceptance record", caption, headers, cells, labels=len(labels))


def to_json(c: AcceptanceCheck) -> dict:
    return {"target": c.row.target, "draft": c.row.draft, "engine": c.row.engine, "gamma": c.row.gamma,
            "batch_size": c.row.batch_size, "category": c.row.category, "temperature": c.temperature,
            "rule": c.rule, "measured_tokens_per_round": c.measured, "measured_standard_error": c.measured_se,
            "predicted_tokens_per_round": c.predicted, "predicted_interval": list(c.interval),
            "measured_draft_acceptance_rate": c.rate(c.measured),
            "predicted_draft_acceptance_rate": c.rate(c.predicted),
            "predicted_draft_acceptance_rate_interval": [c.rate(c.interval[0]), c.rate(c.interval[1])],
            "gap_tokens_per_round": c.gap, "allowed_gap": c.allowed, "flagged": c.flagged,
            "acceptance_run_id": c.record_run_id, "note": c.note}
