"""``report --plan``: a plan is compared with the records only when it was made for what they measured: the same
target, a draft it ranked (where it ranked any) and the same kind of hardware. Otherwise one line refuses it;
``--compare-any-plan`` compares anyway. No torch here."""

import os

from specplan.errors import SpecplanError
from specplan.records import RunRecord
from specplan.report.aggregate import model_name

FLAG = "--compare-any-plan"


def _same_model(planned: str, measured: str) -> bool:
    """One model: the same id or folder, or a folder named like the plan's hub id's last part."""
    planned, measured = model_name(planned), model_name(measured)
    return planned == measured or os.path.basename(planned.rstrip("/")) == os.path.basename(measured.rstrip("/"))


def _hardware_matches(profile: str, device: str | None, device_name: str | None) -> bool:
    """A cpu profile for runs on a cpu, a GPU profile for runs on a GPU whose name carries the profile's first word
    (h100-sxm: "NVIDIA H100 80GB HBM3"); a profile of an unknown naming only needs the same kind."""
    on_cpu = (device or "cpu").startswith("cpu")
    if ("cpu" in profile.lower()) != on_cpu:
        return False
    word = profile.lower().split("-")[0]
    return on_cpu or not device_name or word not in _KNOWN_GPU_WORDS or word in device_name.lower()


_KNOWN_GPU_WORDS = {"a100", "h100", "h200", "l40s", "rtx", "b200", "a10g", "l4", "v100"}


def mismatch(plan, runs: list) -> str | None:
    """Why ``plan`` was not made for these runs, or None."""
    targets = sorted({r.pair.target for r in runs if r.pair})
    drafts = sorted({r.pair.draft for r in runs if r.pair})
    if plan.target is None:
        return f"it plans a target by size, the records measured {', '.join(targets)}"
    if not all(_same_model(plan.target, t) for t in targets):
        return f"its target is {plan.target}, the records measured {', '.join(targets)}"
    if plan.drafts and not all(any(_same_model(d, m) for d in plan.drafts) for m in drafts):
        return f"it ranked drafts {', '.join(plan.drafts)}, the records measured {', '.join(drafts)}"
    devices = {(r.setting("device"), r.device_name) for r in runs}
    for device, name in sorted(devices, key=str):
        if plan.profile and not _hardware_matches(plan.profile, device, name):
            return f"it plans for hardware {plan.profile}, the records ran on {name or device}"
    return None


def check_plans_match(plans: dict, records: list) -> None:
    runs = [r for r in records if isinstance(r, RunRecord)]
    for plan in plans.values():
        why = mismatch(plan, runs)
        if why is not None:
            raise SpecplanError(f"--plan {plan.path!r} was not made for these records: {why} (pass {FLAG} to "
                                "compare anyway)")
