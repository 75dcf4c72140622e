"""Rendering report rows: a rich table, GitHub-flavoured Markdown, CSV and JSON.

Tables are first built as :class:`Section` s of text cells, so the terminal and Markdown show the same numbers;
a section or column appears only when its data exists (no exactness column without greedy runs). CSV and JSON
carry the raw values, and JSON names the formula beside each metric. No torch here.
"""

import csv
import io
import json
import math
from dataclasses import dataclass

from specplan.report import decompose
from specplan.report.aggregate import Row
from specplan.report.metric_table import (ACCEPTANCE, EXACTNESS, SPEED, columns, fixed, row_json, row_values,
                                          speedup_text)


@dataclass(frozen=True)
class Section:
    """One table: a title, a one-line caption, headers and rows of text cells."""

    title: str
    caption: str
    headers: tuple
    cells: tuple  # tuple of tuples of str
    labels: int = 3  # leading columns that name the row (left-aligned)


def _num(value, digits: int = 2, suffix: str = "") -> str | None:
    return fixed(value, digits, suffix)


def _f(value, digits: int = 2, suffix: str = "") -> str:
    return fixed(value, digits, suffix) or "—"


_speedup_text = speedup_text


def _label_columns(rows: list, several: bool | None = None) -> list:
    """(header, cell function) pairs naming a row. The pair column only when there are several pairs (one pair
    goes in the heading), the category column only when rows are split by category."""
    several = several_pairs(rows) if several is None else several
    columns = [("pair", lambda r: r.pair)] if several else []
    columns += [("engine", lambda r: r.engine), ("γ", lambda r: "—" if r.gamma is None else str(r.gamma))]
    if any(r.batch_size is not None for r in rows):
        columns.append(("B", lambda r: "1" if r.batch_size is None else str(r.batch_size)))
    if any(r.category is not None for r in rows):
        columns.append(("category", lambda r: r.category))
    return columns


def several_pairs(rows: list) -> bool:
    """More than one target/draft pair: tables then name the pair on each line."""
    return len({(r.target, r.draft) for r in rows}) > 1


def heading(rows: list) -> str:
    """The report's heading; it names the pair when there is only one (tables then leave the column out)."""
    pairs = sorted({r.pair for r in rows})
    return "specplan report" + (f" — {pairs[0]}" if len(pairs) == 1 else f" — {len(pairs)} pairs")


def _table(title: str, caption: str, rows: list, columns: list) -> Section | None:
    """A section of the label columns plus the data columns that have data; None if none has."""
    labels = _label_columns(rows)
    kept = [(h, fn) for h, fn in columns if any(fn(r) is not None for r in rows)]
    if not kept:
        return None
    cells = tuple(tuple(fn(r) or "—" for _, fn in labels + kept) for r in rows)
    return Section(title, caption, tuple(h for h, _ in labels + kept), cells, labels=len(labels))


def acceptance_section(rows: list) -> Section | None:
    caption = ("AL = mean over rounds of (accepted + 1), bonus token included (vLLM, SGLang, Spec-Bench MAT, "
               "EAGLE τ); E[j] = AL − 1 (gpt-fast Mean Accepted); DAR = Σ accepted / Σ drafted (vLLM, llama.cpp); "
               "α̂ = i.i.d. maximum likelihood (Leviathan α); α̂ fit = least squares of AL(γ) over γ (SDSL).")
    return _table("Acceptance", caption, rows, columns(ACCEPTANCE))


def speed_section(rows: list) -> Section | None:
    caption = ("tok/s = Σ new tokens / Σ wall time, per sequence; AR tok/s = the paired baseline's (ar; for vllm, "
               "vLLM without speculation at the same batch size B); speedup = geometric mean over the n paired runs "
               "(batches, for vllm) of baseline/SD time per token, 95% t-interval (Spec-Bench); c = t_draft(1)/t_target(1); verify = "
               "t_target(γ+1)/t_target(1), both from latency records.")
    return _table("Speed", caption, rows, columns(SPEED))


def exactness_section(rows: list) -> Section | None:
    """Only with greedy runs: how many outputs were token-identical to AR, and how close the worst miss was."""
    caption = ("exact = greedy outputs token-identical to the baseline run of the same prompt and repeat (ar; for "
               "vllm, vLLM without speculation, same batch); max margin = "
               "the target's top-2 logit margin at the worst first divergence (near 0: a numerical near-tie "
               "between kernels; large: a bug).")
    return _table("Exactness", caption, rows, columns(EXACTNESS))


def positions_section(rows: list) -> Section | None:
    """pos_i (unconditional) and cond_i (conditional) per draft position, one line each; None without rounds."""
    depth = max((len(r.per_position_unconditional) for r in rows), default=0)
    if depth == 0:
        return None
    labels = _label_columns(rows)
    cells = []
    for row in rows:
        for kind, rates in (("pos_i", row.per_position_unconditional), ("cond_i", row.per_position_conditional)):
            rates = list(rates) + [None] * (depth - len(rates))
            cells.append(tuple(fn(row) for _, fn in labels) + (kind,) + tuple(_f(r) for r in rates))
    headers = tuple(h for h, _ in labels) + ("rate",) + tuple(f"i={i}" for i in range(1, depth + 1))
    caption = ("pos_i = #(j ≥ i)/#(k ≥ i), unconditional (vLLM per-position); "
               "cond_i = #(j ≥ i)/#(j ≥ i−1, k ≥ i), "
               "conditional (EAGLE n-α). Under i.i.d. acceptance pos_i = α^i and cond_i = α: a falling cond_i "
               "shows acceptance decaying along the draft.")
    return Section("Per-position acceptance", caption, headers, tuple(cells), labels=len(labels) + 1)


def sections(rows: list, extra: tuple = ()) -> list:
    """The report's tables in order; ``extra`` sections (predictions, gate) follow the metrics."""
    tables = (acceptance_section(rows), speed_section(rows), exactness_section(rows), positions_section(rows))
    return [s for s in (*tables, *extra) if s is not None]


def column_chunks(section: Section, width: int) -> list:
    """The section's data columns split into groups that fit ``width`` beside the label columns (each group one
    table repeating the labels), so a narrow console drops no cell to an ellipsis; a column wider than the rest
    of the width gets a group of its own."""
    from rich.cells import cell_len

    widths = [max([cell_len(section.headers[i])] + [cell_len(c[i]) for c in section.cells]) + 3
              for i in range(len(section.headers))]
    room = width - 1 - sum(widths[:section.labels])
    chunks, used = [[]], 0
    for i in range(section.labels, len(section.headers)):
        if chunks[-1] and used + widths[i] > room:
            chunks.append([])
            used = 0
        chunks[-1].append(i)
        used += widths[i]
    return [c for c in chunks if c] or [[]]


def render_rich(rows: list, console, extra: tuple = ()) -> None:
    """Print the report's tables with rich on ``console``; a table wider than the console is split into several
    (the label columns repeated), ids fold onto a second line rather than being cut."""
    from rich.markup import escape
    from rich.table import Table

    console.print(f"[bold]{escape(heading(rows))}[/bold]\n")
    for section in sections(rows, extra):
        chunks = column_chunks(section, console.width)
        for part, chunk in enumerate(chunks):
            title = section.title + (f" ({part + 1}/{len(chunks)})" if len(chunks) > 1 else "")
            table = Table(title=escape(title), title_justify="left", title_style="bold")
            shown = list(range(section.labels)) + chunk
            for i in shown:
                label = i < section.labels  # they name the row: folded on a narrow console, never cut
                table.add_column(escape(section.headers[i]), justify="left" if label else "right",
                                 no_wrap=not label, overflow="fold")
            for cells in section.cells:
                table.add_row(*(escape(cells[i]) for i in shown))
            console.print(table)
        console.print(f"[dim]{escape(section.caption)}[/dim]\n")  # below, at full width: tables can be narrow


def render_markdown(rows: list, extra: tuple = (), lines: tuple = ()) -> str:
    """GitHub-flavoured Markdown (suits ``$GITHUB_STEP_SUMMARY``); ``lines`` are appended as a list."""
    out = [f"## {heading(rows)}", ""]
    for section in sections(rows, extra):
        out += [f"### {section.title}", "", f"_{section.caption}_", "",
                "| " + " | ".join(_md(h) for h in section.headers) + " |",
                "|" + "|".join("---" if i < section.labels else "---:" for i in range(len(section.headers))) + "|"]
        out += ["| " + " | ".join(_md(c) for c in cells) + " |" for cells in section.cells]
        out.append("")
    out += [f"- {line}" for line in lines]
    return "\n".join(out).rstrip() + "\n"


def _md(text: str) -> str:
    """A table cell: pipes escaped, line breaks and other control characters shown as escapes (one row stays one)."""
    cell = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return cell.replace("|", "\\|")


def render_csv(rows: list) -> str:
    """One line per row, raw values; per-position rates as pos_i / cond_i columns."""
    records = [row_values(r) for r in rows]
    fields = list(dict.fromkeys(key for record in records for key in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", restval="")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return buffer.getvalue()


def render_json(rows: list, **extra) -> str:
    """One JSON document: rows with formulas, plus any ``extra`` top-level entries (predictions, gate). A
    non-finite number is written as null (JSON has no Infinity; a reader would choke on it)."""
    document = _finite({"rows": [row_json(r) for r in rows], **extra})
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _finite(value):
    """``value`` with every NaN or ±inf float inside it replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def prediction_section(predictions: list, several: bool, detail: bool = True) -> Section | None:
    """Predicted vs measured speedup per row. One prediction by default: the plan's a-priori speedup with --plan,
    else the one from the measured α̂, c and v; ``detail`` shows both."""
    if not predictions:
        return None
    labels = _label_columns([p.row for p in predictions], several)
    prior = any(p.prior_speedup is not None for p in predictions)
    formula = detail or not prior  # the prediction from measured α̂, c, v
    headers = tuple(h for h, _ in labels) + ("α̂", "c", "verify") + (("predicted",) if formula else ()) + (
        ("plan a-priori",) if prior and not detail else ()) + ("measured", "gap") + (
        ("plan a-priori",) if prior and detail else ())

    def gap(p) -> str:
        against = p.predicted_speedup if formula else p.prior_speedup
        if p.measured_speedup is None or not against:
            return "—"
        return f"{p.measured_speedup / against - 1:+.0%}"

    cells = tuple(tuple(fn(p.row) for _, fn in labels) + (
        _f(p.row.alpha_iid, 3), _f(p.row.cost_ratio, 3),
        _f(p.row.verify_cost_ratio) if not p.verify_assumed else "1 (assumed)")
        + ((_f(p.predicted_speedup, 2, "×"),) if formula else ())
        + ((_f(p.prior_speedup, 2, "×"),) if prior and not detail else ())
        + (_f(p.measured_speedup, 2, "×"), gap(p)) + ((_f(p.prior_speedup, 2, "×"),) if prior and detail else ())
        for p in predictions)
    caption = ("predicted S = E(α̂, γ) / (γ·c + v), E = (1 − α̂^(γ+1))/(1 − α̂), "
               "v = t_target(γ+1)/t_target(1) "
               "(docs/theory.md §1, the formulas `plan` uses); gap = measured / predicted − 1."
               if formula else "plan a-priori = the --plan file's speedup at this γ; gap = measured / it − 1.")
    if not detail:
        caption += " --detail adds the other predictions (loop terms, plan's γ)."
    return Section("Predicted vs measured", caption, headers, cells, labels=len(labels))


def decomposition_section(predictions: list, several: bool) -> Section | None:
    """The measured speedup term by term: c and v measured in isolation beside the loop's c_loop, v_loop and
    per-round overhead (report.decompose), and the speedup each set predicts."""
    timed = [p for p in predictions if p.loop_speedup is not None]
    if not timed:
        return None
    labels = _label_columns([p.row for p in timed], several)
    headers = tuple(h for h, _ in labels) + ("AR/step", "c", "c_loop", "v", "v_loop", "o_round", "f_round",
                                             "predicted", "with loop terms", "measured", "gap")
    cells = tuple(tuple(fn(p.row) for _, fn in labels) + (
        _f(p.row.loop.ar_s_per_token / p.row.target_step_s if p.row.target_step_s else None),
        _f(p.row.cost_ratio, 3), _f(p.row.loop.c_loop, 3),
        _f(p.row.verify_cost_ratio) if not p.verify_assumed else "—", _f(p.row.loop.v_loop),
        _f(p.row.loop.o_round, 3), _f(p.row.loop.f_round, 3), _f(p.predicted_speedup, 2, "×"),
        _f(p.loop_speedup, 2, "×"),
        _f(p.measured_speedup, 2, "×"), "—" if p.loop_gap is None else f"{p.loop_gap:+.1%}")
        for p in timed)
    caption = ("per round: γ draft steps, one verification, the rest. In units of the AR loop's time per token "
               "t_AR: c_loop = draft step in the loop, v_loop = verification in the loop, o_round = the rest of a "
               "round (acceptance, cache rollback, sync), f_round = the prefills spread over the rounds; c, v "
               "measured in isolation (÷ t_target(1)); AR/step = t_AR / t_target(1). with loop terms = E(α̂, γ) / "
               "(γ·c_loop + v_loop + o_round + f_round); gap = measured / that − 1." + _first_steps(timed, several))
    return Section("Where the time goes", caption, headers, cells, labels=len(labels))


def _first_steps(timed: list, several: bool) -> str:
    """Per pair × engine measured at several γ: the round's draft time split into a first step and later ones."""
    groups = {}
    for p in timed:
        groups.setdefault((p.row.pair, p.row.engine, p.row.category, p.row.batch_size), []).append(p.row.loop)
    parts = []
    for (pair, engine, category, _), terms in groups.items():
        split = decompose.first_step_split(terms)
        if split is not None:
            name = " ".join(str(x) for x in ((pair,) if several else ()) + (engine, category) if x is not None)
            parts.append(f"{name}: first draft step of a round +{split[0]:.3f} beyond the later ones ({split[1]:.3f} "
                         "each)")
    return (" Over γ, a round's draft time γ·c_loop = x + d·γ: " + "; ".join(parts) + ".") if parts else ""


def gamma_section(comparisons: list, several: bool) -> Section | None:
    """The γ `plan` would choose from the measurements beside the γ that measured best."""
    if not comparisons:
        return None
    split = any(c.category is not None for c in comparisons)
    labels = (("pair",) if several else ()) + ("engine",) + (("category",) if split else ())
    headers = labels + ("pooled α̂", "plan's γ → predicted", "best γ → measured")
    cells = tuple(((f"{c.target} ← {c.draft}",) if several else ()) + (c.engine,) + ((c.category,) if split else ())
                  + (_f(c.alpha, 3),
                     f"{c.planned_gamma} → {c.planned_speedup:.2f}×" if c.planned_gamma else "0 (do not speculate)",
                     f"{c.best_gamma} → {c.best_speedup:.2f}×" if c.best_gamma else "—")
                  for c in comparisons)
    caption = ("plan's γ maximises the predicted S over γ = 1..largest measured γ, with α̂ pooled over all rounds "
               "of the pair and v(γ) interpolated between measured verification latencies.")
    return Section("Lookahead: plan's choice vs best measured", caption, headers, cells, labels=len(labels))


def perplexity_section(perplexities: tuple, several: bool) -> Section | None:
    """Each model's held-out perplexity (``bench --perplexity``), where the records have them."""
    if not perplexities:
        return None
    labels = ("pair",) if several else ()
    cells = tuple(((f"{r.pair.target} ← {r.pair.draft}" if r.pair else "?",) if several else ())
                  + (r.model, f"{r.perplexity:.2f}", "—" if r.tokens is None else str(r.tokens), r.text or "—")
                  for r in perplexities)
    caption = ("perplexity = exp(mean negative log-likelihood per token) of each model on the held-out text "
               "(calibrate fits the acceptance law to these).")
    return Section("Perplexity", caption, labels + ("model", "perplexity", "tokens", "text"), cells,
                   labels=len(labels) + 1)


def perplexity_json(r) -> dict:
    return {"target": r.pair.target if r.pair else None, "draft": r.pair.draft if r.pair else None,
            "model": r.model, "perplexity": r.perplexity, "tokens": r.tokens, "text": r.text}


def gate_section(failures: list, checked: bool) -> Section | None:
    """One line per gate failure (or a PASS line) when any gate option was given."""
    if not checked:
        return None
    cells = tuple((f.line,) for f in failures) or (("PASS: every row meets every threshold",),)
    return Section("Gate", f"{len(failures)} failure(s)", ("result",), cells, labels=1)


def prediction_json(p) -> dict:
    return {"target": p.row.target, "draft": p.row.draft, "engine": p.row.engine, "gamma": p.row.gamma,
            "category": p.row.category, "alpha_iid": p.row.alpha_iid, "cost_ratio": p.row.cost_ratio,
            "verify_cost_ratio": None if p.verify_assumed else p.row.verify_cost_ratio,
            "verify_cost_assumed_one_target_step": p.verify_assumed,
            "predicted_speedup": p.predicted_speedup, "measured_speedup": p.measured_speedup, "gap": p.gap,
            "plan_prior_speedup": p.prior_speedup,
            "formula": "E(a, g) / (g*c + v), E = (1 - a^(g+1)) / (1 - a), v = t_target(g+1) / t_target(1)",
            "loop": _loop_json(p)}


def _loop_json(p) -> dict | None:
    loop = p.row.loop
    if loop is None:
        return None
    return {"ar_s_per_token": loop.ar_s_per_token, "draft_step_s": loop.draft_step_s, "verify_s": loop.verify_s,
            "overhead_s_per_round": loop.overhead_s, "c_loop": loop.c_loop, "v_loop": loop.v_loop,
            "o_round": loop.o_round, "prefill_s": loop.prefill_s, "f_round": loop.f_round, "rounds": loop.rounds, "drafted": loop.drafted, "tokens": loop.tokens,
            "seconds": loop.seconds, "pooled_speedup": loop.pooled_speedup,
            "predicted_speedup": p.loop_speedup, "gap": p.loop_gap,
            "formula": "E(a, g) / (g*c_loop + v_loop + o_round + f_round), terms in units of the AR loop's s/token"}


def gamma_json(c) -> dict:
    return {"target": c.target, "draft": c.draft, "engine": c.engine, "category": c.category,
            "pooled_alpha_iid": c.alpha, "planned_gamma": c.planned_gamma, "planned_speedup": c.planned_speedup,
            "best_measured_gamma": c.best_gamma, "best_measured_speedup": c.best_speedup,
            "gamma_range": list(c.gamma_range)}
