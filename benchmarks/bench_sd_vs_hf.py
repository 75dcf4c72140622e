"""specplan's speculative loop (sd) against transformers' assisted generation (hf), and measured against predicted
speedup, side by side in one run.

    python benchmarks/bench_sd_vs_hf.py                       # tiny random pair + identical draft (α = 1), CPU
    python benchmarks/bench_sd_vs_hf.py --target T --draft D  # any pair, e.g. the trained toy pair:
    python benchmarks/bench_sd_vs_hf.py --target specplan/assets/toy-target --draft specplan/assets/toy-draft \
        --prompts specplan/assets/toy-prompts.jsonl --prompt-bytes 128 --threads 1

Goals: sd tokens/s ≥ 1.3 × hf tokens/s at every γ; measured speedup within 5% of the speedup predicted with the
loop's own terms, S_loop = E(α̂, γ) / (γ·c_loop + v_loop + o_round + f_round) (report's "Where the time goes",
specplan.report.decompose), beside the isolated-latency prediction S = E·t_target(1) / (γ·t_draft(1) +
t_verify(γ+1)) (docs/theory.md §1).
Without --target/--draft it builds tiny random LLaMAs (tests/bench_fixtures.py): the random draft accepts almost
nothing, so the identical draft (α = 1) is the case where the prediction is sharp.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tiny-model builder

from specplan.report.aggregate import aggregate  # noqa: E402
from specplan.measure.bench import BenchConfig, run_bench  # noqa: E402
from specplan.measure.loading import model_source  # noqa: E402
from specplan.plan.theory import speedup_latency  # noqa: E402


def pairs(args) -> list:
    """(label, target folder, draft folder) to measure."""
    if args.target:
        return [("given pair", args.target, args.draft)]
    from bench_fixtures import save_tiny_llama

    root = Path(tempfile.mkdtemp(prefix="specplan-bench-"))
    target = str(save_tiny_llama(root / "target", seed=0, hidden=args.tiny_hidden, layers=args.tiny_layers))
    draft = str(save_tiny_llama(root / "draft", seed=1, hidden=args.tiny_hidden // 4, layers=1))
    return [("random draft", target, draft), ("identical draft (α = 1)", target, target)]


def measure(args, target: str, draft: str) -> list:
    prompts = args.prompts
    if args.prompt_bytes:  # byte-level toy models: keep prompt + new tokens + γ inside their 256 positions
        from close_the_loop import cut_prompts

        prompts = Path(tempfile.mkdtemp(prefix="specplan-prompts-")) / "prompts.jsonl"
        cut_prompts(Path(args.prompts), prompts, args.num_prompts, args.prompt_bytes)
    config = BenchConfig(model_source("--target", target), model_source("--draft", draft),
                         engines=("ar", "sd", "hf"),
                         gammas=tuple(args.gamma), max_new_tokens=args.max_new_tokens, num_prompts=args.num_prompts,
                         repeats=args.repeats, prompts_file=str(prompts) if prompts else None, device=args.device, dtype=args.dtype, threads=args.threads,
                         latency_samples=args.latency_samples, latency_context_tokens=args.latency_context)
    return aggregate(run_bench(config).records)


def table(label: str, rows: list) -> Table:
    by = {(r.engine, r.gamma): r for r in rows}
    out = Table(title=f"{label}", title_justify="left")
    for column in ("γ", "sd tok/s", "hf tok/s", "sd/hf", "sd/hf, rest free", "α̂ (sd)", "AL", "c", "c_loop", "verify", "v_loop",
                   "o_round", "f_round", "predicted S", "with loop terms", "measured S [95% CI]", "measured/predicted",
                   "measured/loop"):
        out.add_column(column, justify="right")
    for gamma in sorted({r.gamma for r in rows if r.gamma}):
        sd, hf = by.get(("sd", gamma)), by.get(("hf", gamma))
        predicted = speedup_latency(sd.alpha_iid, gamma, 1.0, sd.cost_ratio, sd.verify_cost_ratio)
        loop = sd.loop.predicted_speedup(sd.alpha_iid, gamma)
        s = sd.speedup
        # The ceiling of trimming the loop: sd/hf if each round's rest (acceptance, rollback, bookkeeping, sync)
        # took no time and only the prefills, draft steps and verification passes remained.
        free = sd.loop.seconds / (sd.loop.seconds - sd.loop.overhead_s * sd.loop.rounds)
        interval = f" [{s.low:.2f}, {s.high:.2f}]" if s.low is not None else ""
        out.add_row(str(gamma), f"{sd.tokens_per_s:.1f}", f"{hf.tokens_per_s:.1f}",
                    f"{sd.tokens_per_s / hf.tokens_per_s:.2f}", f"{free * sd.tokens_per_s / hf.tokens_per_s:.2f}",
                    f"{sd.alpha_iid:.3f}", f"{sd.acceptance_length:.2f}",
                    f"{sd.cost_ratio:.3f}", f"{sd.loop.c_loop:.3f}", f"{sd.verify_cost_ratio:.2f}",
                    f"{sd.loop.v_loop:.2f}", f"{sd.loop.o_round:.3f}",
                    f"{sd.loop.f_round:.3f}", f"{predicted:.2f}×", f"{loop:.2f}×",
                    f"{s.value:.2f}×{interval}", f"{s.value / predicted - 1:+.1%}", f"{s.value / loop - 1:+.1%}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target")
    parser.add_argument("--draft")
    parser.add_argument("--prompts", help="prompts file (.txt or .jsonl) [default: bench's built-in set]")
    parser.add_argument("--prompt-bytes", type=int, default=0,
                        help="cut each prompt of a .jsonl --prompts file to its last N bytes [default: whole prompts]")
    parser.add_argument("--gamma", type=lambda t: [int(g) for g in t.split(",")], default=[1, 2, 4, 8])
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [default: torch's]")
    parser.add_argument("--latency-samples", type=int, default=30)
    parser.add_argument("--latency-context", type=int, default=64)
    parser.add_argument("--tiny-hidden", type=int, default=256, help="width of the tiny random target")
    parser.add_argument("--tiny-layers", type=int, default=6, help="depth of the tiny random target")
    args = parser.parse_args()
    if (args.target is None) != (args.draft is None):
        parser.error("give both --target and --draft, or neither")
    console = Console(width=190)
    for label, target, draft in pairs(args):
        console.print(table(label, measure(args, target, draft)))
    console.print("predicted S = E·t_target(1) / (γ·t_draft(1) + t_verify(γ+1)), E = (1 − α̂^(γ+1))/(1 − α̂); "
                  "with loop terms = E / (γ·c_loop + v_loop + o_round + f_round), in units of the AR loop's s/token "
                  "(specplan.report.decompose); measured S = paired geometric mean of AR/SD time per token "
                  "(specplan.report.metrics).")


if __name__ == "__main__":
    main()
