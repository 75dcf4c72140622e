"""``specplan profiles``: list the bundled hardware profiles and their key figures."""

from rich import box
from rich.console import Console
from rich.table import Table

from specplan.cli import app
from specplan.plan.hardware import bundled_profile_files, bundled_profiles


@app.command()
def profiles() -> None:
    """List the bundled hardware profiles (datasheet figures used by `plan --profile NAME`)."""
    table = Table(title="Bundled hardware profiles (dense datasheet peaks; overheads per step and per layer; "
                        "link: interconnect per GPU and direction, for tensor parallelism)",
                  title_justify="left", box=box.SIMPLE)
    table.add_column("name", no_wrap=True)
    for column in ("dtype", "GB", "GB/s", "TFLOPS", "step µs", "layer µs", "link GB/s"):
        table.add_column(column, justify="right")
    for profile in bundled_profiles():
        figures = profile.key_figures()
        link = figures.get("interconnect_gb_s")
        table.add_row(profile.name, figures["dtype"], f"{figures['memory_gb']:g}", f"{figures['bandwidth_gb_s']:g}",
                      f"{figures['peak_tflops']:g}", f"{figures['step_overhead_us']:g}",
                      f"{figures['layer_overhead_us']:g}", f"{link:g}" if link else "–")
    console = Console()
    console.print(table)
    folder = bundled_profile_files()[0].parent
    console.print(f"Profile files (copy one to edit, then `plan --profile FILE`): {folder}", soft_wrap=True)
