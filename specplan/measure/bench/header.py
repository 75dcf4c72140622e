"""What every record of one ``bench`` run carries (docs/records.md): the pair, the effective settings, the
environment and the run id; the one function that builds records; the check that ``--resume`` continues the same
run."""

from datetime import datetime, timezone

from specplan.errors import SpecplanError
from specplan.measure.bench.config import BenchConfig
from specplan.measure.engines import registry
from specplan.measure.prompts import BUILTIN


def effective_settings(config: BenchConfig, device: str, dtype: str, num_prompts: int, threads: int) -> dict:
    """Every setting that shaped the measurements (records.md ``settings``), each engine's own included."""
    settings = {
        "max_new_tokens": config.max_new_tokens, "temperature": config.temperature, "top_p": config.top_p,
        "seed": config.seed, "device": device, "dtype": dtype, "device_map": config.device_map,
        "prompts": config.prompts_file or BUILTIN, "num_prompts": num_prompts, "repeats": config.repeats,
        "gammas": list(config.gammas), "engines": list(config.engines), "stop_at_eos": False, "threads": threads,
        "latency_context_tokens": config.latency_context_tokens, "latency_samples": config.latency_samples,
        "perplexity_text": (config.perplexity_text or BUILTIN) if config.perplexity else None,
    }
    for name, engine in registry.ENGINES.items():
        settings |= engine.settings(config) if name in config.engines else engine.absent_settings()
    return settings | registry.compiled_settings(config, device)


def environment(device: str, engines: tuple = ()) -> dict:
    from specplan.measure.devices import device_name, software_versions

    extra = {}
    for name in engines:
        extra |= registry.get(name).environment()
    return {"device_name": device_name(device), **software_versions(), **extra}


def resume_header(existing: list, pair: dict, settings: dict) -> str | None:
    """The run_id to continue, after checking the file was written by the same pair and settings; None if empty."""
    if not existing:
        return None
    first = existing[0]
    if first.get("pair") != pair:
        raise SpecplanError(f"--resume: the file holds pair {first.get('pair')}, not {pair}")
    old = first.get("settings") or {}
    changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
    if changed:
        raise SpecplanError(f"--resume: settings differ from the file's ({', '.join(changed)}); "
                            "use the same options or another --output")
    return first.get("run_id")


def record_maker(header: dict):
    """``record(kind, **fields)``: a record with the run's header and the time it was made. Every record bench
    writes is built here."""

    def record(kind: str, **fields) -> dict:
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return {"kind": kind, "run_id": header["run_id"], "created": created, "pair": header["pair"],
                "settings": header["settings"], "environment": header["environment"], **fields}

    return record
