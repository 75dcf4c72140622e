"""Devices for the measuring commands (``profile``, ``bench``): resolve ``--device``, synchronise, describe, size.

torch is imported inside the functions, so importing this module stays cheap (``plan`` never needs it).
"""

import os
import platform
import time

from specplan.errors import SpecplanError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
# --dtype names (as in the hardware profiles) of the dtypes a forward step can run in.
TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
DEFAULT_DTYPE = {"cuda": "bf16", "mps": "fp16", "cpu": "fp32"}
MAX_THREADS = 4096


def _available(kind: str) -> bool:
    import torch

    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return kind == "cpu"


def resolve_device(name: str) -> str:
    """``auto`` picks cuda, then mps, then cpu; a named device that is missing is a one-line :class:`SpecplanError`.
    ``cuda:N`` selects one GPU."""
    kind, _, index = name.partition(":")
    if kind not in DEVICE_CHOICES or (index and (kind != "cuda" or not index.isdigit())):
        raise SpecplanError(f"--device {name!r} is not one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    if kind == "auto":
        return next(k for k in ("cuda", "mps", "cpu") if _available(k))
    if not _available(kind):
        raise SpecplanError(f"--device {name!r} is not available on this machine (torch sees no {kind} device)")
    if index:
        import torch

        if int(index) >= torch.cuda.device_count():
            raise SpecplanError(f"--device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return name


def resolve_dtype(name: str | None, device: str):
    """The torch dtype for ``--dtype`` (fp32, bf16, fp16; default per device: cuda bf16, mps fp16, cpu fp32)."""
    import torch

    name = DEFAULT_DTYPE[device.partition(":")[0]] if name in (None, "auto") else name
    if name not in TORCH_DTYPES:
        raise SpecplanError(f"--dtype {name!r} is not one of {', '.join(TORCH_DTYPES)}")
    return name, getattr(torch, TORCH_DTYPES[name])


def synchronize(device: str) -> None:
    """Wait for queued device work, so that a clock read after it counts the work (no-op on cpu)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()


def timed(device: str, work):
    """(result, seconds) of ``work()``, with the device synchronised before and after so the clock reads finished
    work (metrics.md: timings synchronise the device before reading the clock)."""
    synchronize(device)
    start = time.perf_counter()
    result = work()
    synchronize(device)
    return result, time.perf_counter() - start


def device_name(device: str) -> str:
    """A human name: the GPU's marketing name, or the CPU model and the threads torch uses."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    if device == "mps":
        return f"Apple MPS ({platform.machine()})"
    threads = torch.get_num_threads()
    return f"{_cpu_model()} ({threads} thread{'s' if threads != 1 else ''})"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def software_versions() -> dict:
    """The library and platform versions every measurement record carries (records.md ``environment``)."""
    import torch
    import transformers

    from specplan import __version__

    return {"torch": str(torch.__version__), "transformers": str(transformers.__version__), "specplan": __version__,
            "python": platform.python_version(), "platform": platform.platform()}


def memory_bytes(device: str) -> int:
    """Memory a model on ``device`` can use: GPU memory, the MPS recommended maximum, or physical RAM."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_properties(device).total_memory
    if device == "mps" and hasattr(torch.mps, "recommended_max_memory"):
        return int(torch.mps.recommended_max_memory())
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the allocation failures of cuda, mps and cpu (each raises a different type or message)."""
    if isinstance(exc, MemoryError):
        return True
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def free_memory(device: str) -> None:
    """Return cached blocks to the device after a model is dropped (or after an out-of-memory error)."""
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    elif device == "mps":
        torch.mps.empty_cache()


def set_cpu_threads(threads: int | None) -> None:
    """Threads torch's CPU kernels use (None: torch's default, one per core). Fewer threads time more steadily
    on a machine shared with other work: a parallel kernel waits for its slowest thread."""
    if threads is None:
        return
    check_threads(threads)
    import torch

    torch.set_num_threads(threads)


def check_threads(threads: int | None) -> None:
    """``--threads``: None (torch's default) or 1 … ``MAX_THREADS``; checked before torch loads."""
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise SpecplanError(f"--threads {threads!r} must be from 1 to {MAX_THREADS}")
