"""``report --plot``: speedup vs γ (measured with its 95% interval, and predicted) and per-position acceptance.

matplotlib is an optional extra (``pip install 'specplan[plot]'``) imported only when a plot is asked for.
"""

from collections import defaultdict

from specplan.errors import SpecplanError
from specplan.report.formats import heading, several_pairs


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise SpecplanError("--plot needs matplotlib: pip install 'specplan[plot]'") from None
    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _family(row, several: bool) -> str:
    """Legend name of a pair × engine [× category]; the pair only when there are several (else it is the title)."""
    batch = f"B={row.batch_size}" if row.batch_size is not None else None
    return " · ".join(filter(None, (row.pair if several else None, row.engine, row.category, batch)))


def _speedup_panel(ax, rows: list, predictions: list) -> None:
    predicted = {p.row.key: p.predicted_speedup for p in predictions}
    families = defaultdict(list)
    for row in rows:
        if row.gamma and row.speedup is not None:
            families[_family(row, several_pairs(rows))].append(row)
    for index, (name, members) in enumerate(families.items()):
        color = f"C{index % 10}"
        dodge = 0.06 * (index - (len(families) - 1) / 2)  # keep error bars of families at one γ apart
        gammas = [r.gamma + dodge for r in members]
        values = [r.speedup.value for r in members]
        errors = [[r.speedup.value - (r.speedup.low or r.speedup.value) for r in members],
                  [(r.speedup.high or r.speedup.value) - r.speedup.value for r in members]]
        ax.errorbar(gammas, values, yerr=errors, color=color, marker="o", capsize=3, label=f"{name} measured")
        with_prediction = [r for r in members if r.key in predicted]
        if with_prediction:
            ax.plot([r.gamma + dodge for r in with_prediction], [predicted[r.key] for r in with_prediction], color=color,
                    linestyle="--", marker="x", label=f"{name} predicted")
    _clip_to_values(ax, [r.speedup.value for r in rows if r.gamma and r.speedup is not None] + list(predicted.values()))
    ax.axhline(1.0, color="grey", linewidth=0.8)  # below this line speculation is slower than the target alone
    ax.set(xlabel="γ (draft tokens per round)", ylabel="speedup over AR (×)",
           title="Speedup vs γ (bars: 95% interval over paired runs)")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.legend(fontsize=7)


def _position_panel(ax, rows: list) -> None:
    """For each family, the row with the largest γ (it covers the most positions); of an engine measured at several
    batch sizes, the smallest (acceptance per batch size is in the batch panel)."""
    smallest = {}
    for row in rows:
        if row.batch_size is not None:
            smallest[row.engine] = min(smallest.get(row.engine, row.batch_size), row.batch_size)
    deepest = {}
    for row in rows:
        if row.batch_size is not None and row.batch_size != smallest[row.engine]:
            continue
        name = _family(row, several_pairs(rows))
        if row.per_position_unconditional and (name not in deepest or (row.gamma or 0) > (deepest[name].gamma or 0)):
            deepest[name] = row
    for index, (name, row) in enumerate(deepest.items()):
        color = f"C{index % 10}"
        for rates, style, kind in ((row.per_position_unconditional, "-", "unconditional pos_i"),
                                   (row.per_position_conditional, ":", "conditional cond_i")):
            points = [(i, r) for i, r in enumerate(rates, start=1) if r is not None]
            if points:
                ax.plot(*zip(*points), color=color, linestyle=style, marker="o",
                        label=f"{name} γ={row.gamma} {kind}")
        if row.alpha_iid is not None:  # the i.i.d. model's pos_i = α̂^i: the gap to it is the decay
            positions = range(1, len(row.per_position_unconditional) + 1)
            ax.plot(positions, [row.alpha_iid ** i for i in positions], color=color, linestyle="--", alpha=0.4,
                    label=f"{name} i.i.d. α̂^i (α̂ = {row.alpha_iid:.2f})")
    ax.set(xlabel="draft position i", ylabel="acceptance rate", title="Per-position acceptance", ylim=(0, 1.05))
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.legend(fontsize=7)


def _clip_to_values(ax, values: list) -> None:
    """Scale the y axis to the points, not to intervals from two or three pairs, which can span 10×: such bars run
    off the panel (the tables give their ends)."""
    if values:
        ax.set_ylim(0, max(max(values), 1.0) * 1.35)


def _batch_panel(ax, families: list) -> None:
    """Measured speedup vs batch size per γ (95% interval), the plan's a-priori speedup dashed, 1× the line where
    speculation stops paying; acceptance per batch size on a second axis (dotted)."""
    acceptance = ax.twinx()
    for index, family in enumerate(families):
        color = f"C{index % 10}"
        points = [p for p in family.points if p.speedup is not None]
        sizes = [p.row.batch_size for p in points]
        interval = [p.row.speedup for p in points]
        ax.errorbar(sizes, [s.value for s in interval], color=color, marker="o", capsize=3,
                    yerr=[[s.value - (s.low or s.value) for s in interval],
                          [(s.high or s.value) - s.value for s in interval]],
                    label=f"{family.engine} γ={family.gamma} measured")
        planned = [p for p in family.points if p.plan_speedup is not None]
        if planned:
            ax.plot([p.row.batch_size for p in planned], [p.plan_speedup for p in planned], color=color,
                    linestyle="--", marker="x", label=f"{family.engine} γ={family.gamma} plan")
        rates = [(p.row.batch_size, p.row.draft_acceptance_rate) for p in family.points
                 if p.row.draft_acceptance_rate is not None]
        if rates:
            acceptance.plot(*zip(*rates), color=color, linestyle=":", alpha=0.6)
    _clip_to_values(ax, [p.speedup for f in families for p in f.points if p.speedup is not None]
                    + [p.plan_speedup for f in families for p in f.points if p.plan_speedup is not None])
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log", base=2)
    sizes = sorted({p.row.batch_size for f in families for p in f.points})
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.set(xlabel="batch size B (requests in flight)", ylabel="speedup over the engine alone (×)",
           title="Speedup vs batch size (dotted, right axis: DAR)")
    acceptance.set(ylabel="draft acceptance rate", ylim=(0, 1.05))
    ax.legend(fontsize=7)


def plot_report(rows: list, predictions: list, path: str, families: list = ()) -> None:
    """Write the panels side by side to ``path`` (PNG, SVG or PDF by its extension): speedup vs γ, per-position
    acceptance and, with batch sizes (``report.batches``), speedup vs batch size."""
    plt = _pyplot()
    panels = 3 if families else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.8), constrained_layout=True)
    fig.suptitle(heading(rows))
    _speedup_panel(axes[0], rows, predictions)
    _position_panel(axes[1], rows)
    if families:
        _batch_panel(axes[2], families)
    try:
        fig.savefig(path, dpi=120)
    except (OSError, ValueError) as exc:
        raise SpecplanError(f"--plot {path!r} could not be written: {exc}") from None
    finally:
        plt.close(fig)
