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
    return " · ".join(filter(None, (row.pair if several else None, row.engine, row.category)))


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
    ax.axhline(1.0, color="grey", linewidth=0.8)  # below this line speculation is slower than the target alone
    ax.set(xlabel="γ (draft tokens per round)", ylabel="speedup over AR (×)",
           title="Speedup vs γ (bars: 95% interval over paired runs)")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.legend(fontsize=7)


def _position_panel(ax, rows: list) -> None:
    """For each family, the row with the largest γ (it covers the most positions)."""
    deepest = {}
    for row in rows:
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


PLOT_FORMATS = ("png", "svg", "pdf")


def plot_path(path: str) -> tuple:
    """(path, format): the file is written exactly at ``path`` (matplotlib would add ``.png`` to a name without
    an extension, writing somewhere else than said), so the extension must name a format."""
    name = str(path).rpartition("/")[2]
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if extension not in PLOT_FORMATS:
        raise SpecplanError(f"--plot {path!r}: the file name must end in .png, .svg or .pdf")
    return path, extension


def plot_report(rows: list, predictions: list, path: str) -> None:
    """Write the two panels side by side to ``path`` (PNG, SVG or PDF by its extension)."""
    from pathlib import Path

    path, extension = plot_path(path)
    if Path(path).is_dir():
        raise SpecplanError(f"--plot {path!r} is a folder; give a FILE.png")
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    fig.suptitle(heading(rows))
    _speedup_panel(left, rows, predictions)
    _position_panel(right, rows)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, format=extension)
    except (OSError, ValueError) as exc:
        raise SpecplanError(f"--plot {path!r} could not be written: {exc}") from None
    finally:
        plt.close(fig)
