"""vLLM's CPU build and sampled speculation: a check, and where it fails a repair, of the CPU stand-in for the
kernel that rejection sampling uses to expand each request's temperature (and top-p) to its draft positions.

vLLM 0.32's CPU build replaces that Triton kernel (``vllm.v1.sample.rejection_sampler.expand_kernel``) with
``vllm.utils.cpu_triton_utils._expand_kernel_impl``, which hands int64 *copies* of its tensors to a C++ kernel: for a
float output (the temperatures) the copy is written and the output itself is left as ``torch.empty`` made it. At
T > 0 the target's logits at the draft positions are then divided by whatever that memory held, and almost no draft
is accepted (docs/vllm-batch-sweep.md: DAR 0.33 at γ 2, 0 at position 2). Greedy runs never reach this kernel.

:func:`check` calls the installed function on a tiny known input and, only when it leaves the output wrong,
replaces it with :func:`expand_per_token` (written here from the kernel's contract, not vLLM's code) for the engines
this process starts. The ``engine`` record says what was found (``cpu_sampling``). vLLM is imported inside
functions only.
"""

import os

from specplan.record_types import CPU_SAMPLING_STATES as STATES

KERNEL = "vllm.v1.sample.rejection_sampler.expand_kernel"
# What the engine record's ``cpu_sampling`` says (docs/records.md): ok (the installed function expands correctly,
# nothing done), repaired (it did not; replaced for the engines this process starts), bug-kept (it did not and was
# left as it is: --no-vllm-cpu-repair, or the engine in another process), not-cpu (a GPU run: the Triton kernel
# itself runs), not-used (a CPU build with Triton: vLLM runs the kernel, not the stand-in).
OK, REPAIRED, KEPT, NOT_CPU, NOT_USED = STATES


def expand_per_token(output, input_val, cu_num_tokens, replace_from, replace_to, MAX_NUM_TOKENS=None):  # noqa: N803
    """The kernel's contract: request i's value fills positions ``cu[i-1]:cu[i]`` of ``output`` (``cu[-1] = 0``),
    a value equal to ``replace_from`` written as ``replace_to`` (vLLM: greedy requests' temperature 0 → 1).
    In place, in the output's own dtype; ``MAX_NUM_TOKENS`` (the Triton block size) is not needed."""
    import torch

    ends = cu_num_tokens.to(torch.int64)
    if ends.numel() == 0:
        return
    counts = torch.diff(ends, prepend=ends.new_zeros(1))
    values = torch.where(input_val == replace_from, torch.full_like(input_val, replace_to), input_val)
    output[: int(ends[-1])] = torch.repeat_interleave(values, counts).to(output.dtype)


def expands_correctly(function) -> bool:
    """Does ``function`` fill a float and an int32 output as the kernel must? Outputs start as NaN / −7, so an
    output left unwritten shows."""
    import torch

    cu = torch.tensor([2, 3, 5], dtype=torch.int32)
    cases = ((torch.tensor([0.5, 2.0, 0.0]), torch.full((5,), float("nan")), 0, 1, [0.5, 0.5, 2.0, 1.0, 1.0]),
             (torch.tensor([3, 4, 0], dtype=torch.int32), torch.full((5,), -7, dtype=torch.int32), 0, 9,
              [3, 3, 4, 9, 9]))
    try:
        for values, output, replace_from, replace_to, expected in cases:
            function(output, values, cu, replace_from, replace_to)
            if output.tolist() != expected:
                return False
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def in_process() -> bool:
    """Does the engine core run in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, bench's CPU default)?"""
    return os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0"


def check(on_cpu: bool, repair: bool = True) -> str:
    """One of :data:`STATES`: the installed CPU stand-in checked, and replaced when wrong and ``repair`` is on and
    the engine runs in this process. Registered before vLLM's worker registers its overrides, the replacement is
    what the worker picks up (it reads the module's attribute); an engine started earlier in this process has
    its override re-pointed too."""
    if not on_cpu:
        return NOT_CPU
    from vllm.triton_utils import HAS_TRITON

    if HAS_TRITON:
        return NOT_USED
    from vllm.platforms import current_platform
    from vllm.utils import cpu_triton_utils

    current_platform.import_kernels()  # the C++ kernels the stand-in calls (vLLM picks the build for this CPU)

    if expands_correctly(cpu_triton_utils._expand_kernel_impl):
        return OK
    if not (repair and in_process()):
        return KEPT
    cpu_triton_utils._expand_kernel_impl = expand_per_token
    from vllm.triton_utils import dispatcher

    if KERNEL in dispatcher._registry:
        dispatcher.register_kernels({KERNEL: expand_per_token})
    return REPAIRED
