"""Where ``--target`` / ``--draft ID|FOLDER`` come from: a local folder, the local model cache, the bundled catalog,
or the hub when online — in that order — always read as plain ``config.json`` (json, no transformers).

The hub is tried only when ``huggingface_hub`` is installed and ``HF_HUB_OFFLINE`` is not set, after a 3-second
connection probe, so that an offline machine gets its one-line error at once instead of the client's retries.
"""

import importlib.util
import os
import re
from pathlib import Path

from specplan.checks import check_name, read_text_file
from specplan.errors import SpecplanError
from specplan.plan import catalog
from specplan.plan.architecture import from_config
from specplan.plan.catalog import ModelInfo
from specplan.plan.model_config import read_config

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
HUB_CONNECT_TIMEOUT_S = 3.0  # a hub that does not answer a connection within this is taken as offline


def is_hub_id(spec: str) -> bool:
    """The one folder-vs-hub-id rule: ``spec`` names a hub model ``ORG/NAME`` (nothing on disk by that name, no
    path prefix); anything else names a local folder."""
    path = Path(spec).expanduser()
    return not path.exists() and not spec.startswith((".", "/", "~")) and bool(_HUB_ID.match(spec))


def distinct_specs(specs) -> list:
    """``specs`` without repeats, a local folder compared by its canonical path (``d``, ``d/`` and ``d/./`` are one
    folder); the first spelling given is kept."""
    seen, kept = set(), []
    for spec in specs:
        path = Path(spec).expanduser()
        key = os.path.realpath(path) if spec and path.exists() else spec
        if key not in seen:
            seen.add(key)
            kept.append(spec)
    return kept


def resolve(spec: str, option: str) -> ModelInfo:
    """The model ``spec`` names, for the command-line ``option`` that gave it (named in every error)."""
    check_name(spec, option)
    if not spec.strip():
        raise SpecplanError(f"{option} {spec!r} is empty: give a model folder (with config.json) or a hub id ORG/NAME")
    path = Path(spec).expanduser()
    if path.is_dir():
        return _from_folder(path, spec, option)
    if not is_hub_id(spec):
        raise SpecplanError(f"{option} {spec!r}: not a model folder (a folder with config.json) nor a hub id ORG/NAME")
    entry = catalog.find(spec)
    cached = cached_config_path(spec)
    if cached is not None:
        info = _info_from_config(cached, spec, option, "model cache")
        if entry is not None:  # the real config's shape, the catalog's tokenizer, family and tokens
            meta = entry.info(entry.variant_of(spec), name=spec)
            return ModelInfo(**{**meta.__dict__, "architecture": info.architecture, "origin": "model cache"})
        return info
    if entry is not None:
        return entry.info(entry.variant_of(spec), name=spec)
    return _info_from_config(_hub_config(spec, option), spec, option, "hub")


def _from_folder(path: Path, spec: str, option: str) -> ModelInfo:
    config = path / "config.json"
    if not config.is_file():
        raise SpecplanError(f"{option} {spec!r}: the folder has no config.json")
    info = _info_from_config(config, spec, option, "folder")
    match = catalog_match(info)
    return match or info


def catalog_match(info: ModelInfo) -> ModelInfo | None:
    """A folder whose config has the exact shape of a catalog model (same type, parameters and embedding rows)
    takes that model's tokenizer, family and training tokens; the first match in catalog order wins."""
    arch = info.architecture
    for entry in catalog.catalog():
        known = entry.info().architecture
        if (known.model_type, known.params_total, known.vocab_rows) == (arch.model_type, arch.params_total,
                                                                         arch.vocab_rows):
            meta = entry.info(name=info.name)
            return ModelInfo(**{**meta.__dict__, "architecture": arch, "origin": f"{info.origin}, shape of {entry.name}"})
    return None


def _info_from_config(path: Path, spec: str, option: str, origin: str) -> ModelInfo:
    where = f"{option} {spec!r}"
    config = read_config(path, where)
    return ModelInfo(name=spec, architecture=from_config(config, f"{where} ({path})"), origin=origin)


def hub_cache_dir() -> Path:
    """The local model cache: ``HF_HUB_CACHE``, else ``HF_HOME``/hub, else ``$XDG_CACHE_HOME``/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def cached_config_path(hub_id: str) -> Path | None:
    """``models--ORG--NAME/snapshots/<rev>/config.json``: the revision refs/main points at, else the newest."""
    repo = hub_cache_dir() / ("models--" + hub_id.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo / "refs" / "main"
    if ref.is_file():
        revision = read_text_file(ref, f"model cache ref of {hub_id}", max_bytes=1024).strip()
        candidate = snapshots / revision / "config.json"
        if revision and "/" not in revision and revision not in (".", "..") and candidate.is_file():
            return candidate
    configs = [p for p in snapshots.glob("*/config.json") if p.is_file()]
    return max(configs, key=lambda p: p.stat().st_mtime) if configs else None


def hub_offline_set() -> bool:
    """HF_HUB_OFFLINE is set to a true value (the hub client's own switch)."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def hub_unreachable() -> str | None:
    """Why the model hub (HF_ENDPOINT, default huggingface.co) cannot be reached: its host does not accept a
    connection within ``HUB_CONNECT_TIMEOUT_S``; None when it does. Shared by plan and bench."""
    import socket  # only on the way to the hub: plan's start-up stays lean
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = url.hostname or "huggingface.co"
    try:
        socket.create_connection((host, url.port or 443), timeout=HUB_CONNECT_TIMEOUT_S).close()
    except OSError:
        return f"{host} is unreachable"
    return None


def _offline_reason() -> str | None:
    if hub_offline_set():
        return "HF_HUB_OFFLINE is set"
    if importlib.util.find_spec("huggingface_hub") is None:
        return "huggingface_hub is not installed"
    return hub_unreachable()


def _hub_config(hub_id: str, option: str) -> Path:
    reason = _offline_reason()
    if reason:
        raise SpecplanError(f"{option} {hub_id!r}: not in the catalog (see `specplan models`) nor in the model cache "
                            f"({hub_cache_dir()}), and {reason}; give a local folder or download its config.json")
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(hub_id, "config.json", etag_timeout=10))
    except Exception as exc:  # the client raises many types (gated, missing, network): report the first line
        raise SpecplanError(f"{option} {hub_id!r}: the hub did not give config.json "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
