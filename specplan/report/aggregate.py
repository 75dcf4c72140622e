"""From run records to one row of metrics per pair × engine × γ [× prompt category].

Every number is derived from raw counts and times with the one formula of ``specplan/report/metrics.py``
(``docs/metrics.md``). Pure Python, no torch: ``report`` and ``bench``'s end-of-run summary call this.
"""

import os
from collections import defaultdict
from dataclasses import dataclass, replace
from statistics import median

from specplan.records import LatencyRecord, RunRecord, typed
from specplan.report import metrics
from specplan.report.decompose import LoopTerms, loop_terms
from specplan.report.metrics import Interval


@dataclass(frozen=True)
class GroupKey:
    """What one row aggregates: a pair, an engine and γ, a prompt category (by_category) and a batch size."""

    target: str
    draft: str
    engine: str
    gamma: int | None
    category: str | None
    batch_size: int | None


@dataclass(frozen=True)
class Row:
    """Metrics of one (pair, engine, γ[, category]) group of ``sd``/``hf`` runs. None where the data is missing."""

    target: str
    draft: str
    engine: str
    gamma: int | None
    category: str | None  # None unless aggregated with by_category
    runs: int
    rounds: int
    new_tokens: int
    acceptance_length: float | None
    mean_accepted: float | None
    draft_acceptance_rate: float | None
    alpha_iid: float | None
    accepted_drafts: int  # Σ j_s, numerator of α̂ (i.i.d.)
    examined_drafts: int  # Σ examined_s, its denominator: lets α̂ be pooled over rows
    alpha_sdsl_fit: float | None  # fitted over all γ of this pair × engine [× category]; None with < 2 γ
    per_position_unconditional: tuple  # index i-1 holds position i = 1..γ
    per_position_conditional: tuple
    tokens_per_s: float | None
    ar_tokens_per_s: float | None  # the paired AR runs
    speedup: Interval | None  # paired with AR runs of the same run_id, pair, prompt and repeat
    paired_runs: int
    exact_share: float | None  # share of greedy runs identical to AR; None without greedy runs
    checked_runs: int  # runs with an exactness verdict (greedy)
    diverged_runs: int
    max_divergence_margin: float | None  # target's top-2 logit margin at the worst first divergence
    cost_ratio: float | None  # c = t_draft(1) / t_target(1) from latency records
    verify_cost_ratio: float | None  # t_target(γ+1) / t_target(1) from latency records
    target_step_s: float | None = None  # t_target(1), isolated, from latency records
    loop: LoopTerms | None = None  # the loop's own terms, from runs timed per round (report.decompose)
    batch_size: int | None = None  # requests in flight together (vllm); None: one sequence at a time
    drafted_tokens: int = 0  # Σ k_s, denominator of the DAR

    @property
    def batch_tokens_per_s(self) -> float | None:
        """Throughput of the whole batch: B requests in flight, each at ``tokens_per_s``."""
        return None if self.tokens_per_s is None else self.tokens_per_s * (self.batch_size or 1)

    @property
    def baseline_batch_tokens_per_s(self) -> float | None:
        return None if self.ar_tokens_per_s is None else self.ar_tokens_per_s * (self.batch_size or 1)

    @property
    def pair(self) -> str:
        return f"{self.target} ← {self.draft}"

    @property
    def key(self) -> GroupKey:
        """Identity used to match rows across runs (e.g. against a baseline)."""
        return GroupKey(self.target, self.draft, self.engine, self.gamma, self.category, self.batch_size)


def aggregate(records: list, by_category: bool = False) -> list[Row]:
    """Rows per pair × engine × γ (× prompt category when ``by_category``), sorted, from a list of records
    (typed records, or JSON objects, which are parsed and checked)."""
    records = typed(records)
    runs = [r for r in records if isinstance(r, RunRecord)]
    latencies = _latencies_by_pair([r for r in records if isinstance(r, LatencyRecord)])
    baselines = {(r.engine, _pairing_key(r)): r for r in runs if r.gamma is None}
    groups = defaultdict(list)
    for r in runs:
        if r.gamma is not None:  # ar and vLLM without speculation are baselines, not rows
            groups[_group_key(r, by_category)].append(r)
    rows = [_row(key, group, baselines,
                 latencies.get((key.target, key.draft), {}) if (key.batch_size or 1) == 1 else {})
            for key, group in groups.items()]  # latency records time one sequence: c, v at batch size 1 only
    return _with_sdsl_fit(sorted(rows, key=_sort_key))


def record_pair(record) -> tuple:
    """(target, draft) of a record, each spelled as :func:`model_name`; "?" where the record names no pair."""
    pair = record.pair
    return (model_name(pair.target), model_name(pair.draft)) if pair is not None else ("?", "?")


def model_name(name: str) -> str:
    """One spelling per model: ``./models/t/`` and ``models/t`` are one folder (hub ids are unchanged), so runs
    and baselines match by model, not by how its path was typed."""
    return os.path.normpath(name) if name not in ("", "?") else name


def _group_key(record: RunRecord, by_category: bool) -> GroupKey:
    category = (record.prompt_category if record.prompt_category is not None else "default") if by_category else None
    return GroupKey(*record_pair(record), record.engine, record.gamma, category, record.batch_size)


def _pairing_key(record: RunRecord) -> tuple:
    """AR and SD runs with the same run, pair, prompt and repeat ran back to back (records.md, Pairing); batched
    runs (vllm) pair wave with wave: the same run, pair, batch size, repeat and wave of B requests."""
    if record.batch_size is not None:
        return (record.run_id, record_pair(record), "wave", record.batch_size, record.repeat, record.wave)
    return (record.run_id, record_pair(record), record.prompt_index, record.repeat)


def _baseline(record: RunRecord, baselines: dict) -> RunRecord | None:
    """The engine's own run without speculation (vLLM alone for vllm), else the ``ar`` run."""
    key = _pairing_key(record)
    return baselines.get((record.engine, key)) or baselines.get(("ar", key))


def _sort_key(row: Row) -> tuple:
    return (row.target, row.draft, row.engine, row.gamma if row.gamma is not None else -1, row.category or "",
            row.batch_size or 0)


def _row(key: GroupKey, group: list, baselines: dict, latency: dict) -> Row:
    gamma = key.gamma
    drafted = [k for r in group if r.rounds for k in r.rounds.drafted]
    accepted = [j for r in group if r.rounds for j in r.rounds.accepted]
    positions = max(gamma or 0, *drafted, 0)  # an adaptive draft (hf) may propose more than γ
    paired = list({_pairing_key(r): (_baseline(r, baselines), r) for r in group
                   if _baseline(r, baselines) is not None}.values())  # one pair per wave: its requests share a time
    exact = [r.exact for r in group if r.exact is not None]
    margins = [r.divergence_margin for r in group if r.exact is False and r.divergence_margin is not None]
    return Row(
        target=key.target, draft=key.draft, engine=key.engine, gamma=gamma, category=key.category,
        runs=len(group), rounds=len(accepted), new_tokens=sum(r.new_tokens for r in group),
        acceptance_length=metrics.acceptance_length(accepted),
        mean_accepted=metrics.mean_accepted(accepted),
        draft_acceptance_rate=metrics.draft_acceptance_rate(drafted, accepted),
        alpha_iid=metrics.alpha_iid(drafted, accepted),
        accepted_drafts=sum(accepted),
        examined_drafts=metrics.examined_drafts(drafted, accepted),
        alpha_sdsl_fit=None,
        per_position_unconditional=tuple(metrics.per_position_unconditional(drafted, accepted, positions)),
        per_position_conditional=tuple(metrics.per_position_conditional(drafted, accepted, positions)),
        tokens_per_s=_tokens_per_s(group),
        ar_tokens_per_s=_tokens_per_s([ar for ar, _ in paired]),
        speedup=metrics.paired_speedup([_s_per_token(ar) for ar, _ in paired], [_s_per_token(sd) for _, sd in paired]),
        paired_runs=len(paired),
        exact_share=sum(exact) / len(exact) if exact else None,
        checked_runs=len(exact),
        diverged_runs=sum(not e for e in exact),
        max_divergence_margin=max(margins) if margins else None,
        cost_ratio=_ratio(latency.get(("draft", 1)), latency.get(("target", 1))),
        verify_cost_ratio=_ratio(latency.get(("target", gamma + 1)) if gamma else None, latency.get(("target", 1))),
        target_step_s=latency.get(("target", 1)),
        loop=loop_terms(paired),
        batch_size=key.batch_size, drafted_tokens=sum(drafted),
    )


def _tokens_per_s(runs: list) -> float | None:
    """Σ new tokens / Σ wall time (docs/metrics.md: tokens_per_s)."""
    seconds = sum(r.wall_time_s for r in runs)
    return sum(r.new_tokens for r in runs) / seconds if seconds > 0 else None


def _s_per_token(record: RunRecord) -> float:
    return record.wall_time_s / record.new_tokens if record.new_tokens else 0.0  # 0 is dropped by paired_speedup


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def _latencies_by_pair(records: list) -> dict:
    """{pair: {(model, new_tokens): median step seconds}}; several records of one step (other runs or context
    lengths) are summarised by the median of their medians."""
    samples = defaultdict(lambda: defaultdict(list))
    for r in records:
        samples[record_pair(r)][(r.model, r.new_tokens)].append(float(r.median_s))
    return {pair: {step: median(values) for step, values in steps.items()} for pair, steps in samples.items()}


def _with_sdsl_fit(rows: list) -> list:
    """Fill α̂ (SDSL fit) per pair × engine [× category], over all its γ (needs at least two γ)."""
    families = defaultdict(list)
    for row in rows:
        if row.gamma and row.acceptance_length is not None:
            families[(row.target, row.draft, row.engine, row.category, row.batch_size)].append(row)
    fits = {}
    for family, members in families.items():
        if len({m.gamma for m in members}) >= 2:
            fits[family] = metrics.alpha_sdsl_fit([m.gamma for m in members], [m.acceptance_length for m in members])
    return [replace(r, alpha_sdsl_fit=fits.get((r.target, r.draft, r.engine, r.category, r.batch_size)))
            for r in rows]


def cross_engine(records: list) -> dict:
    """Greedy runs of an engine without speculation compared with transformers' ``ar`` on the same prompt and
    repeat ({engine: (identical, compared)}): different kernels, so a difference is reported, not a failure."""
    counts = defaultdict(lambda: [0, 0])
    for r in typed(records):
        check = r.cross_engine if isinstance(r, RunRecord) else None
        if check is not None and check.exact is not None:
            counts[r.engine][0] += check.exact
            counts[r.engine][1] += 1
    return {engine: tuple(c) for engine, c in counts.items()}
