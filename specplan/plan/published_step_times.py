"""The bundled table of published decode step times (``published_step_times.yaml``): what the bundled GPU profiles'
latency terms are fitted to (``plan/step_time_fit.py``, ``benchmarks/step_time_fit.py``, docs/theory.md §5).

Each row is either a measured decode step of one model (``kind: step``, milliseconds per step) or a measured ratio c
of a draft's forward step over its target's (``kind: ratio``), with the GPU profile it belongs to, the engine,
precision, tensor parallelism, batch, context and the source the figure was read in.
"""

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from specplan.checks import load_yaml
from specplan.errors import SpecplanError
from specplan.plan import catalog
from specplan.plan.architecture import Architecture, from_config
from specplan.plan.hardware import BYTES_PER_PARAM

TABLE_FILE = "published_step_times.yaml"
KINDS = ("step", "ratio")
_REQUIRED = ("id", "kind", "profile", "gpu", "engine", "precision", "tp", "batch", "context_tokens", "read", "source")


@dataclass(frozen=True)
class PublishedRow:
    """One published figure. For a step row ``draft`` is None and ``value`` is ms per step; for a ratio row
    ``model`` is the target and ``value`` is c (draft step / target step)."""

    id: str
    kind: str
    model: str
    architecture: Architecture
    profile: str
    engine: str
    precision: str
    tp: int
    batch: int
    context_tokens: int
    value: float
    read: str
    source: str
    gpu: str
    gpu_stated: bool = True
    draft: str | None = None
    draft_architecture: Architecture | None = None
    draft_tp: int = 1
    how: str = ""
    held_out: str = ""  # why the fit leaves this row out ("" = fitted)

    @property
    def fitted(self) -> bool:
        return not self.held_out


def _architecture(hub_id: str, config_key: str | None, configs: dict, where: str) -> Architecture:
    """A row's model: its inline shape (``configs``) when named, else its catalog entry."""
    if config_key is not None:
        if config_key not in configs:
            raise SpecplanError(f"{where}: config {config_key!r} is not in the table's configs")
        return from_config(configs[config_key], f"{where} config {config_key}")
    entry = catalog.find(hub_id)
    if entry is None:
        raise SpecplanError(f"{where}: {hub_id!r} is neither in the catalog nor given a config")
    return entry.info().architecture


def _number(row: dict, key: str, where: str, integer: bool = False) -> float:
    value = row.get(key)
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not value > 0:
        raise SpecplanError(f"{where}: {key} must be a positive {'integer' if integer else 'number'}, got {value!r}")
    return value


def row_from_dict(row: dict, configs: dict) -> PublishedRow:
    """One table row, checked: every required field, a known kind and precision, positive numbers, a source."""
    where = f"{TABLE_FILE} row {row.get('id', '?')!r}"
    for key in _REQUIRED:
        if row.get(key) in (None, ""):
            raise SpecplanError(f"{where}: missing {key!r}")
    if row["kind"] not in KINDS:
        raise SpecplanError(f"{where}: kind {row['kind']!r} is not one of {', '.join(KINDS)}")
    if row["precision"] not in BYTES_PER_PARAM:
        raise SpecplanError(f"{where}: precision {row['precision']!r} is not one of {', '.join(BYTES_PER_PARAM)}")
    if row["read"] == "derived" and not row.get("how"):
        raise SpecplanError(f"{where}: a derived figure needs 'how'")
    common = dict(id=row["id"], kind=row["kind"], profile=row["profile"], engine=row["engine"],
                  precision=row["precision"], tp=_number(row, "tp", where, True),
                  batch=_number(row, "batch", where, True),
                  context_tokens=_number(row, "context_tokens", where, True), read=row["read"],
                  source=row["source"], gpu=row["gpu"], gpu_stated=row.get("gpu_stated", True), how=row.get("how", ""),
                  held_out=row.get("held_out", ""))
    if row["kind"] == "ratio":
        ratio = _number(row, "ratio", where)
        if ratio >= 1:
            raise SpecplanError(f"{where}: ratio must be below 1 (a draft step over its target's), got {ratio!r}")
        return PublishedRow(model=row["target"], draft=row["draft"], value=float(ratio),
                            architecture=_architecture(row["target"], row.get("target_config"), configs, where),
                            draft_architecture=_architecture(row["draft"], row.get("draft_config"), configs, where),
                            draft_tp=_number(row, "draft_tp", where, True), **common)
    if ("ms_per_step" in row) == ("tokens_per_s" in row):
        raise SpecplanError(f"{where}: give exactly one of ms_per_step and tokens_per_s")
    if "tokens_per_s" in row:
        if row["batch"] != 1:
            raise SpecplanError(f"{where}: tokens_per_s is read as per-sequence at batch 1 only")
        ms = 1000.0 / _number(row, "tokens_per_s", where)
    else:
        ms = float(_number(row, "ms_per_step", where))
    return PublishedRow(model=row["model"], value=ms,
                        architecture=_architecture(row["model"], row.get("config"), configs, where), **common)


def rows_from_data(data) -> tuple:
    """Every row of a parsed table (a mapping with ``rows`` and optional ``configs``)."""
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise SpecplanError(f"{TABLE_FILE}: expected a mapping with a list 'rows'")
    configs = data.get("configs") or {}
    rows = tuple(row_from_dict(row, configs) for row in data["rows"])
    ids = [row.id for row in rows]
    if len(set(ids)) != len(ids):
        raise SpecplanError(f"{TABLE_FILE}: row ids repeat")
    return rows


@lru_cache(maxsize=1)
def published_rows() -> tuple:
    """The bundled table, in file order."""
    text = resources.files("specplan.plan").joinpath(TABLE_FILE).read_text()
    return rows_from_data(load_yaml(text, TABLE_FILE))
