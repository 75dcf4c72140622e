"""``specplan profiles``: list the bundled hardware profiles and their key figures."""

from rich.console import Console
from rich.table import Table

from specplan.cli import app
from specplan.hardware import bundled_profiles


@app.command()
def profiles() -> None:
    """List the bundled hardware profiles (datasheet figures used by `plan --profile NAME`)."""
    table = Table(title="Bundled hardware profiles (dense datasheet peaks)", title_justify="left")
    for column in ("name", "device", "dtype", "memory GB", "bandwidth GB/s", "peak TFLOPS", "step µs", "layer µs"):
        table.add_column(column)
    for profile in bundled_profiles():
        figures = profile.key_figures()
        table.add_row(profile.name, profile.description, figures["dtype"], f"{figures['memory_gb']:g}",
                      f"{figures['bandwidth_gb_s']:g}", f"{figures['peak_tflops']:g}",
                      f"{figures['step_overhead_us']:g}", f"{figures['layer_overhead_us']:g}")
    Console().print(table)
