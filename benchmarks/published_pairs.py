"""Published draft-model speculative decoding results beside what ``specplan plan`` predicts for them.

    python benchmarks/published_pairs.py            # the table, the ratios and the median |log ratio|
    python benchmarks/published_pairs.py --json     # the same as JSON

Each row is one published classic draft-model result (a separate smaller draft, not EAGLE/Medusa heads): target
and draft with their sizes, hardware, batch, γ, the acceptance it reported, its measured speedup, and the source.
Three modes set plan's acceptance. α-given: the reported acceptance where there is one (converted to the
i.i.d. α: an acceptance length through AL(γ) = (1 − α^(γ+1))/(1 − α), a draft acceptance rate through E[j]/γ),
else the SDSL law. Law: the SDSL law at the row's sizes and temperature on every row. Plan: what ``plan`` takes
from its published acceptance table (plan/published_alpha.py) with the row's own entries left out: another
entry of the pair, the family's offset fitted on the family's other entries, else the law. The speedup is at
the reported γ where there is one, else plan's own best γ (up to a published acceptance's γ); on the bundled
profile of the hardware, else a roofline profile written here from the device's datasheet with the bundled GPU
profiles' overhead estimates
(``INLINE_PROFILES``). Tensor parallelism (``tp``; the draft runs at the target's TP in these engines) is plan's
own (``--tensor-parallel``, all-reduce included) on a bundled profile; on an inline profile, which has no
interconnect figures, each device streams 1/tp of both models and communication is not modelled.

Rows of kind ``paper`` are held out: nothing in specplan was tuned on them. Rows of kind ``engine`` (engine PR
benchmarks, vendor blogs) are the ones the bundled GPU profiles' overheads are checked against (see each
profile's ``sources``). ``hardware_assumed`` marks a row whose hardware the source does not state.
"""

import argparse
import json
import math
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

try:  # an installed specplan (pip install -e . or a wheel); a bare checkout falls back to its own folder
    import specplan  # noqa: F401
except ImportError:  # putting the checkout first always would shadow the install's specplan.profiles
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from specplan.plan import acceptance_math, planner, published_alpha  # noqa: E402
from specplan.plan.scaling import AlphaLaw  # noqa: E402

LEVIATHAN = "Leviathan, Kalman, Matias 2023, Fast Inference from Transformers via Speculative Decoding (ICML), arXiv 2211.17192, Table 2"
CHEN = "Chen et al. 2023, Accelerating Large Language Model Decoding with Speculative Sampling, arXiv 2302.01318, Table 1"


@dataclass(frozen=True)
class Published:
    """One published result (sizes in parameters; speedup = target-alone time per token / speculative)."""

    label: str
    target: str
    target_params: float
    draft: str
    draft_params: float
    hardware: str
    profile: str  # bundled profile name or a key of INLINE_PROFILES
    dtype: str
    batch: int
    gamma: int | None  # None: not reported (plan's best γ is used)
    speedup: float
    source: str
    kind: str  # paper (held out) | engine
    alpha: float | None = None  # reported i.i.d. acceptance α
    acceptance_length: float | None = None  # reported mean tokens per round (needs γ)
    draft_acceptance_rate: float | None = None  # reported Σ accepted / Σ drafted (needs γ)
    tp: int = 1
    target_tokens: float = planner.DEFAULT_TARGET_TOKENS  # for the SDSL law when no acceptance is reported
    draft_tokens: float = planner.DEFAULT_DRAFT_TOKENS
    hardware_assumed: bool = False
    note: str = ""
    family: str | None = None  # the family the published acceptance table (and plan) knows the pair by
    task: str | None = None  # the task as the table names it (its entries of the same task come first)
    temperature: float = 0.0  # sampling temperature (0: greedy, or not stated)


# Datasheet rooflines for hardware without a bundled profile; overheads as the bundled GPU profiles' estimates.
_GPU_OVERHEADS = {"bandwidth_efficiency": 0.8, "compute_efficiency": 0.6, "step_overhead_us": 500,
                  "layer_overhead_us": 10}
INLINE_PROFILES = {
    "tpu-v4": {"name": "tpu-v4", "description": "Google TPU v4 (32 GiB HBM2)", "kind": "roofline", "dtype": "bf16",
               "memory_gb": 32, "memory_bandwidth_gb_s": 1200, "peak_tflops": {"bf16": 275, "int8": 275},
               **_GPU_OVERHEADS,
               "sources": "Google Cloud TPU v4 documentation: 1,200 GB/s HBM, 275 TFLOPS bf16/int8 per chip; "
                          "overheads: the bundled GPU profiles' estimates"},
    "rtx-3060": {"name": "rtx-3060", "description": "RTX 3060 12GB (GDDR6)", "kind": "roofline", "dtype": "int8",
                 "memory_gb": 12, "memory_bandwidth_gb_s": 360, "peak_tflops": {"fp16": 51.2, "int8": 102.4},
                 **_GPU_OVERHEADS,
                 "sources": "NVIDIA Ampere GA102/GA106 whitepaper, RTX 3060: 360 GB/s; 51.2 TFLOPS FP16 tensor "
                            "(FP16 accumulate), 102.4 INT8 TOPS (dense); overheads: bundled GPU estimates"},
    "m3-pro": {"name": "m3-pro", "description": "Apple M3 Pro (18-core GPU, unified memory)", "kind": "roofline",
               "dtype": "int4", "memory_gb": 36, "memory_bandwidth_gb_s": 150,
               "peak_tflops": {"fp16": 7.4, "int8": 7.4, "int4": 7.4},
               **_GPU_OVERHEADS,
               "sources": "Apple M3 Pro specifications: 150 GB/s unified memory; ~7.4 TFLOPS GPU (quantised "
                          "weights are dequantised to fp16, so int4/int8 compute at the fp16 rate); overheads: "
                          "bundled GPU estimates"},
    "a100-int4": {"name": "a100-int4", "description": "A100 80GB SXM4, int4 weights (gpt-fast G=32)",
                  "kind": "roofline", "dtype": "int4", "memory_gb": 80, "memory_bandwidth_gb_s": 2039,
                  "peak_tflops": {"bf16": 312, "int8": 624, "int4": 312}, **_GPU_OVERHEADS,
                  "sources": "NVIDIA A100 datasheet: 2,039 GB/s HBM2e, 312 TFLOPS BF16; int4 weights are "
                             "dequantised to bf16, so int4 computes at the bf16 rate; overheads: bundled GPU "
                             "estimates (gpt-fast ran power-limited to 330 W, not modelled)"},
}

ROWS = (
    # --- papers: held out -----------------------------------------------------------------------------------
    Published("T5 EnDe greedy, small", "T5-XXL", 11e9, "T5-small", 77e6, "TPU v4", "tpu-v4", "bf16", 1, 7, 3.4,
              LEVIATHAN, "paper", alpha=0.75, family="t5", task="WMT EnDe translation", temperature=0.0),
    Published("T5 EnDe greedy, base", "T5-XXL", 11e9, "T5-base", 250e6, "TPU v4", "tpu-v4", "bf16", 1, 7, 2.8,
              LEVIATHAN, "paper", alpha=0.80, family="t5", task="WMT EnDe translation", temperature=0.0),
    Published("T5 EnDe greedy, large", "T5-XXL", 11e9, "T5-large", 800e6, "TPU v4", "tpu-v4", "bf16", 1, 7, 1.7,
              LEVIATHAN, "paper", alpha=0.82, family="t5", task="WMT EnDe translation", temperature=0.0),
    Published("T5 EnDe T=1, small", "T5-XXL", 11e9, "T5-small", 77e6, "TPU v4", "tpu-v4", "bf16", 1, 7, 2.6,
              LEVIATHAN, "paper", alpha=0.62, family="t5", task="WMT EnDe translation", temperature=1.0),
    Published("T5 CNN/DM greedy, small", "T5-XXL", 11e9, "T5-small", 77e6, "TPU v4", "tpu-v4", "bf16", 1, 5, 3.1,
              LEVIATHAN, "paper", alpha=0.65, family="t5", task="CNN/DM summarisation", temperature=0.0),
    Published("T5 CNN/DM greedy, base", "T5-XXL", 11e9, "T5-base", 250e6, "TPU v4", "tpu-v4", "bf16", 1, 5, 3.0,
              LEVIATHAN, "paper", alpha=0.73, family="t5", task="CNN/DM summarisation", temperature=0.0),
    Published("T5 CNN/DM greedy, large", "T5-XXL", 11e9, "T5-large", 800e6, "TPU v4", "tpu-v4", "bf16", 1, 3, 2.2,
              LEVIATHAN, "paper", alpha=0.74, family="t5", task="CNN/DM summarisation", temperature=0.0),
    Published("T5 CNN/DM T=1, small", "T5-XXL", 11e9, "T5-small", 77e6, "TPU v4", "tpu-v4", "bf16", 1, 5, 2.3,
              LEVIATHAN, "paper", alpha=0.53, family="t5", task="CNN/DM summarisation", temperature=1.0),
    Published("Chinchilla XSum greedy", "Chinchilla 70B", 70e9, "Chinchilla-style 4B draft", 4e9, "16× TPU v4",
              "tpu-v4", "bf16", 1, 4, 2.01, CHEN, "paper", tp=16, target_tokens=1.4e12, draft_tokens=1.4e12,
              note="no acceptance reported: α from the SDSL law (draft tokens taken as the target's 1.4T)"),
    Published("Chinchilla HumanEval", "Chinchilla 70B", 70e9, "Chinchilla-style 4B draft", 4e9, "16× TPU v4",
              "tpu-v4", "bf16", 1, 4, 2.46, CHEN, "paper", tp=16, target_tokens=1.4e12, draft_tokens=1.4e12,
              note="sampled (T = 0.8, top-p 0.95); no acceptance reported: α from the SDSL law", temperature=0.8),
    # --- engine benchmarks and vendor blogs -------------------------------------------------------------------
    Published("SGLang STANDALONE 70B+1B", "Llama-3.1-70B-Instruct", 70.55e9, "Llama-3.2-1B-Instruct", 1.24e9,
              "not stated (H100 assumed)", "h100-sxm", "bf16", 1, 3, 173.38 / 63.87,
              "sgl-project/sglang PR #10090 (STANDALONE speculative decoding): 63.87 → 173.38 tok/s, accept "
              "length 3.85, default 3 steps", "engine", acceptance_length=3.85, tp=4, hardware_assumed=True,
              family="llama3", task="random 1024 in / 1024 out"),
    Published("llama.cpp 8B+1B Q8", "Llama-3.1-8B Q8_0", 8.03e9, "Llama-3.2-1B Q8_0", 1.24e9, "RTX 3060 12GB",
              "rtx-3060", "int8", 1, 5, 55.47 / 32.49,
              "ggml-org/llama.cpp discussion #5877 comment (llama-speculative): 32.49 → 55.47 t/s, accept 72%, "
              "n_draft 5", "engine", draft_acceptance_rate=0.72,
              note="llama.cpp may draft fewer than n_draft (p_min): the rate→α conversion assumes 5 a round",
              family="llama3", task="not stated"),
    Published("vLLM Qwen2.5-Coder 7B+0.5B", "Qwen2.5-Coder-7B", 7.62e9, "Qwen2.5-Coder-0.5B", 0.49e9,
              "RTX 4090", "rtx-4090", "bf16", 1, 4, 15.73 / 9.15,
              "vllm-project/vllm PR #13849: TPOT 15.73 → 9.15 ms at batch 1, k = 4", "engine",
              target_tokens=18e12, draft_tokens=18e12, note="no acceptance reported: α from the SDSL law",
              family="qwen2.5-coder"),
    Published("vLLM R1-Distill 32B+1.5B bs1", "DeepSeek-R1-Distill-Qwen-32B FP8", 32.76e9,
              "DeepSeek-R1-Distill-Qwen-1.5B", 1.78e9, "not stated (H100 assumed)", "h100-sxm", "fp8", 1, 7, 2.82,
              "vllm-project/vllm PR #42775: TPOT speedup 2.82× at batch 1, k = 7", "engine", target_tokens=18e12,
              draft_tokens=18e12, hardware_assumed=True, note="no acceptance reported: α from the SDSL law"),
    Published("vLLM R1-Distill 32B+1.5B bs4", "DeepSeek-R1-Distill-Qwen-32B FP8", 32.76e9,
              "DeepSeek-R1-Distill-Qwen-1.5B", 1.78e9, "not stated (H100 assumed)", "h100-sxm", "fp8", 4, 7, 1.98,
              "vllm-project/vllm PR #42775: TPOT speedup 1.98× at batch 4, k = 7", "engine", target_tokens=18e12,
              draft_tokens=18e12, hardware_assumed=True, note="no acceptance reported: α from the SDSL law"),
    Published("vLLM R1-Distill 32B+1.5B bs8", "DeepSeek-R1-Distill-Qwen-32B FP8", 32.76e9,
              "DeepSeek-R1-Distill-Qwen-1.5B", 1.78e9, "not stated (H100 assumed)", "h100-sxm", "fp8", 8, 5, 1.45,
              "vllm-project/vllm PR #42775: TPOT speedup ~1.45× at batch 8, k = 5", "engine", target_tokens=18e12,
              draft_tokens=18e12, hardware_assumed=True, note="no acceptance reported: α from the SDSL law"),
    Published("gpt-fast 70B+7B int4", "Llama-2-70B int4", 68.98e9, "Llama-2-7B int4", 6.74e9,
              "A100-80GB (330 W)", "a100-int4", "int4", 1, 4, 48.4 / 25.25,
              "pytorch-labs/gpt-fast README: Llama-2-70B int4 (G=32) alone 25.25 tok/s, speculative with a "
              "Llama-2-7B int4 draft 48.4 tok/s (scripts/speculate_70B_int4.sh, speculate_k 4)", "engine",
              target_tokens=2e12, draft_tokens=2e12, note="no acceptance reported: α from the SDSL law"),
    Published("LM Studio MLX 32B+0.5B", "Qwen2.5-32B-Instruct 4-bit", 32.76e9, "Qwen2.5-0.5B-Instruct 4-bit",
              0.49e9, "Apple M3 Pro", "m3-pro", "int4", 1, None, 17.74 / 7.30,
              "lmstudio.ai/blog/lmstudio-v0.3.10: 7.30 → 17.74 tok/s on a code prompt", "engine",
              target_tokens=18e12, draft_tokens=18e12, note="γ not reported: plan's best γ; α from the SDSL law",
              family="qwen2.5"),
    Published("mlx-engine 7B+0.5B", "Qwen2.5-7B-Instruct 4-bit", 7.62e9, "Qwen2.5-0.5B-Instruct 8-bit", 0.49e9,
              "Apple M3 Pro", "m3-pro", "int4", 1, None, 1.83,
              "lmstudio-ai/mlx-engine PR #83: 1.83×", "engine", target_tokens=18e12, draft_tokens=18e12,
              note="γ not reported: plan's best γ; α from the SDSL law; the 8-bit draft is charged as 4-bit",
              family="qwen2.5"),
)


def alpha_from_acceptance_length(length: float, gamma: int) -> float:
    """α with (1 − α^(γ+1))/(1 − α) = length (plan/acceptance_math.py)."""
    return float(acceptance_math.alpha_from_acceptance_length(length, gamma))


def alpha_from_draft_acceptance_rate(rate: float, gamma: int) -> float:
    """α whose expected accepted drafts per round, E[j] = AL(γ) − 1, equal rate·γ."""
    return float(acceptance_math.alpha_from_draft_acceptance_rate(rate, gamma))


def reported_alpha(row: Published) -> tuple:
    """(α or None, where it came from)."""
    if row.alpha is not None:
        return row.alpha, "reported α"
    if row.acceptance_length is not None and row.gamma:
        return alpha_from_acceptance_length(row.acceptance_length, row.gamma), f"from AL {row.acceptance_length}"
    if row.draft_acceptance_rate is not None and row.gamma:
        rate = row.draft_acceptance_rate
        return alpha_from_draft_acceptance_rate(rate, row.gamma), f"from accept rate {rate:.0%}"
    return None, "SDSL law"


def law_alpha(row: Published) -> float:
    """The SDSL law's α at the row's sizes, training tokens and temperature (as plan runs on its own)."""
    return published_alpha.law_alpha(AlphaLaw(), row.target_params, row.target_tokens, row.draft_params,
                                     row.draft_tokens, row.temperature)


def own_entries(row: Published, table) -> list:
    """The table's entries that are this row's own measurement (same pair, task and temperature)."""
    return [e for e in published_alpha.pair_entries(table, row.target, row.draft)
            if e.task == row.task and (e.temperature or 0.0) == row.temperature]


def plan_alpha(row: Published, table=None) -> tuple:
    """(α, source, γ cap) as plan takes it for the row's pair from the published table with the row's own
    entries left out (leave one out): another entry of the pair (nearest temperature and task), else the family's
    offset fitted on the family's other entries, else the law."""
    table = published_alpha.entries() if table is None else table
    own = own_entries(row, table)
    rest = tuple(e for e in table if e not in own)
    law = law_alpha(row)
    found = published_alpha.pair_alpha(row.target, row.draft, row.family, AlphaLaw(), law, row.temperature,
                                       row.task, rest)
    if found is None:
        return law, "SDSL law", None
    label = "entry" if found.kind == "published" else f"{row.family} offset"
    return found.alpha, label, found.gamma_cap


MODES = ("given", "law", "plan")


@dataclass(frozen=True)
class Checked:
    row: Published
    alpha: float
    alpha_source: str
    gamma: int
    predicted: float

    @property
    def ratio(self) -> float:
        """predicted / published."""
        return self.predicted / self.row.speedup


def profile_path(name: str, folder: Path) -> str:
    """A bundled profile's name, or the path of the inline profile written to ``folder``."""
    if name not in INLINE_PROFILES:
        return name
    path = folder / f"{name}.yaml"
    if not path.exists():
        path.write_text(yaml.safe_dump(INLINE_PROFILES[name], sort_keys=False))
    return str(path)


def row_alpha(row: Published, mode: str) -> tuple:
    """(α, source, γ cap) for one row in one mode: ``given`` the row's reported acceptance where it has one, else
    the law; ``law`` the SDSL law at the row's sizes and temperature; ``plan`` what plan takes from its published
    table with the row's own entries left out (``plan_alpha``)."""
    if mode == "plan":
        return plan_alpha(row)
    alpha, source = reported_alpha(row) if mode == "given" else (None, "SDSL law")
    return (law_alpha(row) if alpha is None else alpha), source, None


def check(row: Published, folder: Path, use_reported: bool = True, mode: str | None = None) -> Checked:
    """plan's prediction for one published row in ``mode`` (default: ``given``, or ``law`` when
    ``use_reported`` is False): at the row's γ, else plan's best γ (up to a published acceptance's γ)."""
    mode = mode or ("given" if use_reported else "law")
    alpha, source, cap = row_alpha(row, mode)
    native = row.tp > 1 and row.profile not in INLINE_PROFILES  # plan's own tensor parallelism (all-reduce too)
    share = 1 if native else row.tp  # else each device streams 1/tp of both models, no communication
    inputs = planner.PlanInputs(target_params=row.target_params / share, profile=profile_path(row.profile, folder),
                                dtype=row.dtype, batch_size=row.batch, draft_params=(row.draft_params / share,),
                                alpha=alpha, min_speedup=1.0, tensor_parallel=row.tp if native else None,
                                draft_tensor_parallel=row.tp if native else 1)
    candidate = planner.evaluate_draft(inputs, row.draft_params / share, row.gamma)
    gamma, speedup = candidate.gamma, candidate.speedup
    if row.gamma is None and cap and gamma > cap:  # plan's best γ within the published acceptance's γ
        speedups = candidate.speedup_by_gamma[:cap]
        gamma = max(range(1, cap + 1), key=lambda g: speedups[g - 1])
        speedup = speedups[gamma - 1]
    return Checked(row, alpha, source, gamma, speedup)


def check_all(rows=ROWS, use_reported: bool = True, mode: str | None = None) -> list:
    with tempfile.TemporaryDirectory(prefix="specplan-published-") as folder:
        return [check(row, Path(folder), use_reported, mode) for row in rows]


def has_acceptance(row: Published) -> bool:
    return reported_alpha(row)[0] is not None


def median_abs_log_ratio(checked: list) -> float | None:
    values = [abs(math.log(c.ratio)) for c in checked if c.predicted > 0]
    return statistics.median(values) if values else None


def groups(checked: list) -> dict:
    return {"paper rows (held out)": [c for c in checked if c.row.kind == "paper"],
              "engine rows, hardware stated": [c for c in checked if c.row.kind == "engine"
                                               and not c.row.hardware_assumed],
              "engine rows, hardware assumed": [c for c in checked if c.row.hardware_assumed],
              "all rows": checked}


def summary(checked: list) -> dict:
    """Per group: rows, median plan/published and median |log(plan/published)|."""
    return {name: {"rows": len(group), "median_abs_log_ratio": median_abs_log_ratio(group),
                   "median_ratio": statistics.median(c.ratio for c in group) if group else None}
            for name, group in groups(checked).items()}


def mode_summaries(given: list, law: list, plan: list | None = None) -> dict:
    """The modes by group: α-given over the rows that state an acceptance (α, AL or DAR); law over every row (the
    law's α even where the row states one); plan over every row (the published table with the row's own entries
    left out, as plan takes it: another entry of the pair, the family's offset, else the law)."""
    modes = {"alpha_given": summary([c for c in given if has_acceptance(c.row)]), "law": summary(law)}
    if plan is not None:
        modes["plan"] = summary(plan)
    return modes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args()
    checked = check_all()
    law = check_all(mode="law")
    plan = check_all(mode="plan")
    modes = mode_summaries(checked, law, plan)
    if args.json:
        print(json.dumps({"rows": [{**asdict(c.row), "alpha_used": c.alpha, "alpha_source": c.alpha_source,
                                    "gamma_used": c.gamma, "predicted_speedup": c.predicted, "ratio": c.ratio,
                                    "law_alpha": w.alpha, "law_predicted_speedup": w.predicted, "law_ratio": w.ratio,
                                    "plan_alpha": p.alpha, "plan_alpha_source": p.alpha_source,
                                    "plan_gamma": p.gamma, "plan_predicted_speedup": p.predicted,
                                    "plan_ratio": p.ratio}
                                   for c, w, p in zip(checked, law, plan)], "summary": summary(checked),
                          "modes": modes}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Published draft-model results vs specplan plan", title_justify="left")
    for column in ("row", "kind", "hardware", "batch", "γ", "α (source)", "published", "plan", "plan/published",
                   "law α", "law plan/published", "plan-mode α (source)", "plan-mode plan/published"):
        table.add_column(column, justify="left" if column in ("row", "kind", "hardware") else "right")
    for c, w, p in zip(checked, law, plan):
        gamma = str(c.gamma) if c.row.gamma else f"{c.gamma} (plan's)"
        table.add_row(c.row.label, c.row.kind, c.row.hardware + (f" TP{c.row.tp}" if c.row.tp > 1 else ""),
                      str(c.row.batch), gamma, f"{c.alpha:.3f} ({c.alpha_source})", f"{c.row.speedup:.2f}×",
                      f"{c.predicted:.2f}×", f"{c.ratio:.2f}", f"{w.alpha:.3f}", f"{w.ratio:.2f}",
                      f"{p.alpha:.3f} ({p.alpha_source})", f"{p.ratio:.2f}")
    console = Console(width=230)
    console.print(table)
    for mode, title in (("alpha_given", "α-given mode (rows stating an acceptance)"),
                        ("law", "law mode (the law's α on every row)"),
                        ("plan", "plan mode (the published table, each row's own entries left out; every row)")):
        console.print(title + ":")
        for name, s in modes[mode].items():
            if s["rows"]:
                console.print(f"  {name}: {s['rows']} rows, median plan/published {s['median_ratio']:.2f}, "
                              f"median |log ratio| {s['median_abs_log_ratio']:.3f}")
    console.print("Sources:")
    for c in checked:
        console.print(f"  {c.row.label}: {c.row.source}" + (f" — {c.row.note}" if c.row.note else ""))


if __name__ == "__main__":
    main()
