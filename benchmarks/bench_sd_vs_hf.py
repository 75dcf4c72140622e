"""specplan's speculative loop (sd) against transformers' assisted generation (hf), and measured against predicted
speedup, side by side in one run.

    python benchmarks/bench_sd_vs_hf.py                       # tiny random pair + identical draft (α = 1), CPU
    python benchmarks/bench_sd_vs_hf.py --target T --draft D  # any pair, e.g. the trained toy pair:
    python benchmarks/bench_sd_vs_hf.py --target specplan/assets/toy-target --draft specplan/assets/toy-draft \
        --prompts specplan/assets/toy-prompts.jsonl --prompt-bytes 128 --threads 1

    python benchmarks/bench_sd_vs_hf.py ... --compiled-gamma 2,4  # + the compiled engine beside eager (one run)

Goals: sd tokens/s ≥ 1.3 × hf tokens/s at every γ; measured speedup within 5% of the speedup predicted with the
loop's own terms, S_loop = E(α̂, γ) / (γ·c_loop + v_loop + o_round + f_round) (report's "Where the time goes",
specplan.report.decompose), beside the isolated-latency prediction S = E·t_target(1) / (γ·t_draft(1) +
t_verify(γ+1)) (docs/theory.md §1).
Without --target/--draft it builds tiny random LLaMAs (tests/bench_fixtures.py): the random draft accepts almost
nothing, so the identical draft (α = 1) is the case where the prediction is sharp.

With --compiled-gamma, a second table times the compiled engine (specplan.measure.engines.compiled: static cache,
torch.compile) interleaved with eager ar, sd and hf on the same prompts (paired per prompt and repeat): compiled sd
vs eager hf (goal ≥ 1.3×) and vs eager sd, compiled ar vs eager ar, exact = the same tokens as eager ar, and the
loop's non-forward work (each round's time outside its draft steps and verification, the RoundClock's "rest")
as a share of sd's decode time, eager and compiled (goal ≤ 5%). Compile and warm-up are timed apart, before.
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
    prompts = args.cut_prompts or args.prompts
    config = BenchConfig(model_source("--target", target), model_source("--draft", draft),
                         engines=("ar", "sd", "hf"),
                         gammas=tuple(args.gamma), max_new_tokens=args.max_new_tokens, num_prompts=args.num_prompts,
                         repeats=args.repeats, prompts_file=str(prompts) if prompts else None, device=args.device, dtype=args.dtype, threads=args.threads,
                         latency_samples=args.latency_samples, latency_context_tokens=args.latency_context)
    return aggregate(run_bench(config).records)


def compiled_runs(args, target: str, draft: str) -> tuple:
    """Interleaved timed decodes of eager ar/sd/hf and compiled ar/sd: (runs, compile report). A run is a dict
    with engine, gamma, prompt, repeat, seconds, tokens and, for sd, the decode's non-forward share."""
    import time

    import torch

    from specplan.measure.devices import resolve_device, set_cpu_threads, synchronize
    from specplan.measure.engines import compiled
    from specplan.measure.engines.ar import decode_ar
    from specplan.measure.engines.hf import decode_hf
    from specplan.measure.engines.probs import Sampling
    from specplan.measure.engines.round_clock import RoundClock
    from specplan.measure.engines.sd import decode_sd
    from specplan.measure.loading import load_pair
    from specplan.measure.prompts import load_prompts

    set_cpu_threads(args.threads)
    device = resolve_device(args.device)
    pair = load_pair(model_source("--target", target), model_source("--draft", draft), device,
                     None if args.dtype == "auto" else args.dtype)
    prompts = load_prompts(str(args.cut_prompts) if args.cut_prompts else args.prompts, args.num_prompts)
    ids = [pair.tokenizer(p.text, return_tensors="pt").input_ids.to(pair.device) for p in prompts]
    greedy, new, vocab, gammas = Sampling(), args.max_new_tokens, pair.vocab_tokens, args.compiled_gamma
    report = compiled.prepare(pair.target, pair.draft, ids[0], new, gammas, greedy, vocab,
                              max_prompt_tokens=max(i.shape[1] for i in ids))

    def rest_share(clock, seconds):
        r = clock.record
        return sum(t - d - v for t, d, v in zip(r["round_s"], r["draft_s"], r["verify_s"])) / seconds

    def work(index, engine, gamma):
        gen, p = torch.Generator(device=pair.device).manual_seed(index), ids[index]
        clock = RoundClock(pair.device)
        if engine == "ar":
            return decode_ar(pair.target, p, new, greedy, gen, vocab), None
        if engine == "ar_c":
            return compiled.decode_ar(pair.target, p, new, greedy, gen, vocab), None
        if engine == "hf":
            return decode_hf(pair.target, pair.draft, p, gamma, new, greedy, seed=index), None
        decode = decode_sd if engine == "sd" else compiled.decode_sd
        return decode(pair.target, pair.draft, p, gamma, new, greedy, gen, vocab, clock=clock), clock

    engines = [("ar", None), ("ar_c", None)] + [(e, g) for g in gammas for e in ("sd", "hf", "sd_c")]
    runs = []
    for repeat in range(args.repeats):
        for index in range(len(ids)):
            for engine, gamma in engines:
                synchronize(pair.device)
                start = time.perf_counter()
                decoded, clock = work(index, engine, gamma)
                synchronize(pair.device)
                seconds = time.perf_counter() - start
                runs.append({"engine": engine, "gamma": gamma, "prompt": index, "repeat": repeat,
                             "seconds": seconds, "tokens": decoded.output_ids,
                             "rest": rest_share(clock, seconds) if clock else None})
    return runs, compiled.compile_report(pair.target, pair.draft)


def compiled_table(runs: list, report, gammas: list) -> tuple:
    """The compiled engine beside eager: a table and one line for ar."""
    import statistics

    reference = {(r["prompt"], r["repeat"]): r["tokens"] for r in runs if r["engine"] == "ar"}

    def group(engine, gamma=None):
        return [r for r in runs if r["engine"] == engine and r["gamma"] == gamma]

    def tps(rs):
        return statistics.median(len(r["tokens"]) / r["seconds"] for r in rs)

    def paired(a, b):  # a's speed over b's: median over (prompt, repeat) of b's time / a's time
        times = {(r["prompt"], r["repeat"]): r["seconds"] for r in b}
        return statistics.median(times[(r["prompt"], r["repeat"])] / r["seconds"] for r in a)

    def exact(rs):
        return f"{sum(r['tokens'] == reference[(r['prompt'], r['repeat'])] for r in rs)}/{len(rs)}"

    out = Table(title="compiled engine (static cache + torch.compile) beside eager, paired runs",
                title_justify="left")
    for column in ("γ", "sd_c tok/s", "hf tok/s", "sd tok/s", "sd_c/hf", "sd_c/sd", "sd/hf", "exact sd_c",
                   "exact sd", "exact hf", "rest/sd eager", "rest/sd_c"):
        out.add_column(column, justify="right")
    for g in gammas:
        sd, hf, sd_c = group("sd", g), group("hf", g), group("sd_c", g)
        out.add_row(str(g), f"{tps(sd_c):.1f}", f"{tps(hf):.1f}", f"{tps(sd):.1f}", f"{paired(sd_c, hf):.2f}×",
                    f"{paired(sd_c, sd):.2f}×", f"{paired(sd, hf):.2f}×", exact(sd_c), exact(sd), exact(hf),
                    f"{statistics.median(r['rest'] for r in sd):.1%}",
                    f"{statistics.median(r['rest'] for r in sd_c):.1%}")
    ar, ar_c = group("ar"), group("ar_c")
    line = (f"ar: eager {tps(ar):.1f} tok/s, compiled {tps(ar_c):.1f} tok/s, compiled/eager {paired(ar_c, ar):.2f}× "
            f"(exact {exact(ar_c)}); compile {report.total_compile_s:.0f} s ("
            + ", ".join(f"{k} {v:.0f}" for k, v in report.compile_s.items())
            + f"), warm-up {report.warmup_s:.1f} s, mode {report.mode}, both timed apart; "
              "rest = a round's time outside its draft steps and verification (acceptance, rollback, bookkeeping, "
              "the round's sync), summed over rounds, over the decode's time")
    return out, line


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
    parser.add_argument("--compiled-gamma", type=lambda t: [int(g) for g in t.split(",")], default=[],
                        help="also time the compiled engine at these γ (e.g. 2,4) [default: not]")
    args = parser.parse_args()
    args.cut_prompts = None
    if args.prompt_bytes:  # byte-level toy models: keep prompt + new tokens + γ inside their 256 positions
        from close_the_loop import cut_prompts

        args.cut_prompts = Path(tempfile.mkdtemp(prefix="specplan-prompts-")) / "prompts.jsonl"
        cut_prompts(Path(args.prompts), args.cut_prompts, args.num_prompts, args.prompt_bytes)
    if (args.target is None) != (args.draft is None):
        parser.error("give both --target and --draft, or neither")
    console = Console(width=190)
    for label, target, draft in pairs(args):
        console.print(table(label, measure(args, target, draft)))
        if args.compiled_gamma:
            runs, report = compiled_runs(args, target, draft)
            compiled, line = compiled_table(runs, report, args.compiled_gamma)
            console.print(compiled)
            console.print(line)
    console.print("predicted S = E·t_target(1) / (γ·t_draft(1) + t_verify(γ+1)), E = (1 − α̂^(γ+1))/(1 − α̂); "
                  "with loop terms = E / (γ·c_loop + v_loop + o_round + f_round), in units of the AR loop's s/token "
                  "(specplan.report.decompose); measured S = paired geometric mean of AR/SD time per token "
                  "(specplan.report.metrics).")


if __name__ == "__main__":
    main()
