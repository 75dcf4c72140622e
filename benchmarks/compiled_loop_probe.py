"""Probe: does a gpt-fast-style variant (transformers ``StaticCache`` + ``torch.compile`` of the forward) speed up the
``ar`` and ``sd`` loops on this machine, and would ``sd`` then beat transformers' assisted generation (``hf``) by
≥ 1.3×? A standalone measurement; nothing in ``specplan/`` uses it.

    flock /tmp/specplan-bench.lock python benchmarks/compiled_loop_probe.py            # toy pair, 1 thread, CPU

Part A: per-forward latency of the target and the draft, for a 1-token decode step and a (γ+1)-token verification
step at a ~100-token context, interleaved: eager + DynamicCache (specplan's ``forward`` / ``drop_last``, what ``sd``
does now), eager + StaticCache, compiled + StaticCache (one compiled callable per model and torch.compile mode);
medians, and the compile time of each (model, shape, mode) separately.

Part B (when the compiled 1-token step is ≥ --loop-threshold × faster than eager + DynamicCache, or --force-loop):
complete greedy loops with StaticCache + compiled forwards, ``ar_c`` and ``sd_c`` (draft steps of 1 token; after a
fully accepted round the draft catches up its 2 unseen tokens as two 1-token steps, so its compiled shape never
changes), timed interleaved with specplan's eager ``decode_ar`` / ``decode_sd`` and ``decode_hf`` per prompt and
repeat; every greedy output is compared token for token with eager ``decode_ar``.

StaticCache rollback: every layer's write position is the 0-d tensor ``layer.cumulative_length`` (transformers 5.x
derives position ids from ``cache.get_seq_length()``, i.e. that tensor, and the causal mask hides the slots at or
past it), so dropping the last n fed tokens is ``layer.cumulative_length.sub_(n)`` on every layer, in place (the
tensor is marked as a static address for the compiled graph). One StaticCache per model serves every variant and
loop (reset = write position 0), so the compiled graphs see the same cache tensors and never recompile for a new one.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from specplan.measure.engines.ar import decode_ar  # noqa: E402
from specplan.measure.engines.cache import drop_last, new_cache  # noqa: E402
from specplan.measure.engines.hf import decode_hf  # noqa: E402
from specplan.measure.engines.probs import Sampling  # noqa: E402
from specplan.measure.engines.sd import decode_sd  # noqa: E402
from specplan.measure.engines.step import forward  # noqa: E402

GREEDY = Sampling()


# ---------------------------------------------------------------- static cache helpers

def static_cache(model, max_cache_len: int):
    from transformers import StaticCache

    return StaticCache(config=model.config, max_cache_len=max_cache_len)


def rewind(cache, tokens: int) -> None:
    """Drop the last ``tokens`` fed tokens of a StaticCache: move every layer's write position back."""
    if tokens:
        for layer in cache.layers:
            layer.cumulative_length.sub_(tokens)


def restart(cache) -> None:
    """An empty StaticCache again, same tensors (stale slots past the write position are masked out)."""
    for layer in cache.layers:
        layer.cumulative_length.zero_()


def call(fn, ids: torch.Tensor, cache, keep: int, vocab: int) -> torch.Tensor:
    """(keep, V) logits of ``fn`` (a model's forward, eager or compiled) for (1, T) ids appended to ``cache``."""
    return fn(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=keep).logits[0, -keep:, :vocab]


def graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


# ---------------------------------------------------------------- the compiled loops

@torch.inference_mode()
def decode_ar_static(model, fn, cache, prompt_ids: torch.Tensor, max_new_tokens: int, vocab: int) -> list:
    """Greedy AR: eager prefill into the StaticCache, then ``fn`` (compiled) 1-token steps."""
    restart(cache)
    logits = call(model.forward, prompt_ids, cache, 1, vocab)
    tokens = []
    for _ in range(max_new_tokens):
        token = logits[-1].argmax(dim=-1)
        tokens.append(token)
        if len(tokens) < max_new_tokens:
            logits = call(fn, token.view(1, 1), cache, 1, vocab)
    return torch.stack(tokens).tolist()


@torch.inference_mode()
def decode_sd_static(target, draft, fn_target, fn_draft, target_cache, draft_cache, prompt_ids: torch.Tensor,
                     gamma: int, max_new_tokens: int, vocab: int) -> tuple[list, list]:
    """Greedy speculative decoding on StaticCaches with compiled forwards; the same invariants as ``decode_sd``:
    the target lacks only the last committed token between rounds, the draft lacks the tokens in ``pending``
    (1, or 2 after a fully accepted round, fed as 1-token steps). Returns (tokens, accepted per round)."""
    restart(target_cache)
    restart(draft_cache)
    first = call(target.forward, prompt_ids, target_cache, 1, vocab)[-1].argmax(dim=-1)  # eager prefills
    call(draft.forward, prompt_ids, draft_cache, 1, vocab)
    tokens, accepted, pending, last = [first], [], [first], first
    emitted = 1
    while emitted < max_new_tokens:
        k = min(gamma, max_new_tokens - emitted - 1)
        drafts = []
        if k > 0:
            for unseen in pending[:-1]:  # catch-up after a fully accepted round
                call(fn_draft, unseen.view(1, 1), draft_cache, 1, vocab)
            x = call(fn_draft, pending[-1].view(1, 1), draft_cache, 1, vocab)[-1].argmax(dim=-1)
            drafts.append(x)
            for _ in range(k - 1):
                x = call(fn_draft, x.view(1, 1), draft_cache, 1, vocab)[-1].argmax(dim=-1)
                drafts.append(x)
        verify_ids = torch.stack([last, *drafts]).view(1, -1)  # (1, k+1)
        target_argmax = call(fn_target, verify_ids, target_cache, k + 1, vocab).argmax(dim=-1).tolist()
        proposed = verify_ids[0, 1:].tolist()
        j = 0
        while j < k and proposed[j] == target_argmax[j]:
            j += 1
        next_token = torch.tensor(target_argmax[j])
        rewind(target_cache, k - j)  # keep the last committed token + j accepted drafts
        if j < k:
            rewind(draft_cache, k - 1 - j)  # the draft ran on pending + x_1..x_{k-1}; keep x_1..x_j
            pending = [next_token]
        else:
            pending = ([drafts[-1]] if k > 0 else pending) + [next_token]
        tokens.extend(drafts[:j])
        tokens.append(next_token)
        last = next_token
        accepted.append(j)
        emitted += j + 1
    return torch.stack(tokens).tolist(), accepted


# ---------------------------------------------------------------- compile

def keep_mask_when_compiling() -> None:
    """transformers 5.19's sdpa mask skips materialising a causal mask for a multi-token step when the cache is
    empty (``q_offset == 0``); with a StaticCache that offset is a tensor, and the test is a data-dependent branch
    (a graph break: fullgraph fails on the γ+1 verification step). It already never skips for 1-token steps on a
    compileable cache. Here, only while dynamo traces, the mask is always built (``allow_is_causal_skip=False``);
    eager calls are unchanged. A local override on the mask registry instance masking_utils reads."""
    from transformers import masking_utils

    original = masking_utils.ALL_MASK_ATTENTION_FUNCTIONS["sdpa"]

    def sdpa_mask_no_skip_when_compiling(*args, **kwargs):
        if torch.compiler.is_compiling():
            kwargs["allow_is_causal_skip"] = False
        return original(*args, **kwargs)

    masking_utils.ALL_MASK_ATTENTION_FUNCTIONS["sdpa"] = sdpa_mask_no_skip_when_compiling


def compile_forward(model, mode: str, fullgraph: bool):
    kwargs = {"fullgraph": fullgraph, "dynamic": False}
    if mode != "default":
        kwargs["mode"] = mode
    return torch.compile(model.forward, **kwargs)


def first_call(fn, model, cache, n: int, vocab: int, notes: list, label: str) -> float:
    """Compile ``fn`` for an n-token step (timed), at the cache's current position, then rewind."""
    ids = torch.randint(0, vocab, (1, n))
    start = time.perf_counter()
    try:
        call(fn, ids, cache, n, vocab)
    except Exception as exc:  # report, do not hide
        notes.append(f"{label}: compile/run failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        raise
    seconds = time.perf_counter() - start
    rewind(cache, n)
    return seconds


# ---------------------------------------------------------------- part A

@torch.inference_mode()
def part_a(models: dict, vocab: int, context: torch.Tensor, verify_n: int, samples: int, modes: list,
           fullgraph: bool, cache_len: int, notes: list) -> tuple[dict, dict, dict, dict]:
    """Median ms per (model, n, variant); compile seconds per (model, mode, n); the compiled callables and caches."""
    compiled, compile_s, caches = {}, {}, {}
    states = {}
    for name, model in models.items():
        dynamic = new_cache(model)  # specplan's cache for sd (rollback on)
        forward(model, context, dynamic, 1, vocab)
        static = static_cache(model, cache_len)
        call(model.forward, context, static, 1, vocab)
        caches[name] = static
        states[name] = dynamic
        for mode in modes:
            fn = None
            for full in ([True, False] if fullgraph else [False]):
                try:
                    fn = compile_forward(model, mode, full)
                    for n in (1, verify_n):
                        compile_s.setdefault((name, mode, n), first_call(fn, model, static, n, vocab, notes,
                                                                f"{name} {mode} fullgraph={full} n={n}"))
                    notes.append(f"{name} {mode}: compiled with fullgraph={full}")
                    break
                except Exception:
                    fn = None
            if fn is not None:
                compiled[(name, mode)] = fn
                for n in (1, verify_n):  # same step eager and compiled, from the same cache position
                    ids = torch.randint(0, vocab, (1, n))
                    eager = call(model.forward, ids, static, n, vocab)
                    rewind(static, n)
                    other = call(fn, ids, static, n, vocab)
                    rewind(static, n)
                    notes.append(f"{name} {mode} n={n}: max |compiled − eager| logit {(eager - other).abs().max():.2e}"
                                 f", argmax equal {bool((eager.argmax(-1) == other.argmax(-1)).all())}")
    variants = [("eager+dynamic", None), ("eager+static", None)] + [(f"compiled+static {m}", m) for m in modes
                                                                    if any(k[1] == m for k in compiled)]
    times = {}
    graphs_before = graphs()
    for _ in range(3):  # warm-up rounds, untimed
        _a_round(models, vocab, verify_n, variants, compiled, caches, states, None)
    for _ in range(samples):
        _a_round(models, vocab, verify_n, variants, compiled, caches, states, times)
    if graphs() != graphs_before:
        notes.append(f"part A: {graphs() - graphs_before} graphs compiled during the timed steps (recompiles)")
    return {key: statistics.median(v) * 1e3 for key, v in times.items()}, compile_s, compiled, caches


def _a_round(models, vocab, verify_n, variants, compiled, caches, states, times) -> None:
    for name, model in models.items():
        for n in (1, verify_n):
            ids = torch.randint(0, vocab, (1, n))
            for variant, mode in variants:
                if variant == "eager+dynamic":
                    cache = states[name]
                    start = time.perf_counter()
                    forward(model, ids, cache, n if n > 1 else 1, vocab)
                    seconds = time.perf_counter() - start
                    drop_last(cache, n)
                else:
                    cache = caches[name]
                    fn = model.forward if mode is None else compiled[(name, mode)]
                    start = time.perf_counter()
                    call(fn, ids, cache, n, vocab)
                    seconds = time.perf_counter() - start
                    rewind(cache, n)
                if times is not None:
                    times.setdefault((name, n, variant), []).append(seconds)


# ---------------------------------------------------------------- part B

def load_prompts(path: Path, count: int, keep_bytes: int) -> list:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()][:count]
    return [p["prompt"].encode()[-keep_bytes:].decode(errors="ignore") for p in lines]


def part_b(target, draft, tokenizer, vocab, args, fn_target, fn_draft, target_cache, draft_cache, notes) -> dict:
    prompts = [tokenizer(text, return_tensors="pt").input_ids
               for text in load_prompts(Path(args.prompts), args.num_prompts, args.prompt_bytes)]
    longest = max(p.shape[1] for p in prompts) + args.max_new_tokens + max(args.gamma) + 2
    if longest > args.cache_len:
        raise SystemExit(f"--cache-len {args.cache_len} < {longest} needed")
    max_new = args.max_new_tokens
    generator = torch.Generator()

    def engines(prompt_ids, seed):
        out = [("ar", None, lambda: decode_ar(target, prompt_ids, max_new, GREEDY, generator, vocab).output_ids),
               ("ar_c", None, lambda: decode_ar_static(target, fn_target, target_cache, prompt_ids, max_new, vocab))]
        for g in args.gamma:
            out += [("sd", g, lambda g=g: _sd_eager(target, draft, prompt_ids, g, max_new, generator, vocab)),
                    ("hf", g, lambda g=g: _hf(target, draft, prompt_ids, g, max_new, seed)),
                    ("sd_c", g, lambda g=g: decode_sd_static(target, draft, fn_target, fn_draft, target_cache,
                                                             draft_cache, prompt_ids, g, max_new, vocab))]
        return out

    # warm-up: compile every target verification shape 1..γmax+1 (the last rounds shrink k), then one decode each
    with torch.inference_mode():
        restart(target_cache)
        call(target.forward, prompts[0], target_cache, 1, vocab)
        restart(draft_cache)
        call(draft.forward, prompts[0], draft_cache, 1, vocab)
        for n in range(1, max(args.gamma) + 2):
            start = time.perf_counter()
            call(fn_target, torch.randint(0, vocab, (1, n)), target_cache, n, vocab)
            seconds = time.perf_counter() - start
            rewind(target_cache, n)
            notes.append(f"part B warm-up: target n={n} first call {seconds:.2f} s")
        call(fn_draft, torch.randint(0, vocab, (1, 1)), draft_cache, 1, vocab)
    for engine, gamma, work in engines(prompts[0], 0):
        work()
    graphs_before = graphs()
    runs = []  # dicts: engine, gamma, prompt, repeat, seconds, tokens, accepted
    for repeat in range(args.repeats):
        for index, prompt_ids in enumerate(prompts):
            seed = 1009 * index + 7919 * repeat
            for engine, gamma, work in engines(prompt_ids, seed):
                start = time.perf_counter()
                result = work()
                seconds = time.perf_counter() - start
                tokens, accepted = result if isinstance(result, tuple) else (result, None)
                runs.append({"engine": engine, "gamma": gamma, "prompt": index, "repeat": repeat,
                             "seconds": seconds, "tokens": tokens, "accepted": accepted})
    if graphs() != graphs_before:
        notes.append(f"part B: {graphs() - graphs_before} graphs compiled during the timed decodes (recompiles)")
    return {"runs": runs, "prompt_tokens": [int(p.shape[1]) for p in prompts]}


def _sd_eager(target, draft, prompt_ids, gamma, max_new, generator, vocab):
    decoded = decode_sd(target, draft, prompt_ids, gamma, max_new, GREEDY, generator, vocab)
    return decoded.output_ids, decoded.accepted


def _hf(target, draft, prompt_ids, gamma, max_new, seed):
    decoded = decode_hf(target, draft, prompt_ids, gamma, max_new, GREEDY, seed)
    return decoded.output_ids, decoded.accepted


# ---------------------------------------------------------------- report

def report_a(ms: dict, compile_s: dict, verify_n: int, context: int) -> list:
    lines = ["", f"Part A: median ms per forward step at a {context}-token context, n = new tokens (1 = decode, {verify_n} = verify γ+1)"]
    variants = sorted({v for (_, _, v) in ms}, key=lambda v: (v != "eager+dynamic", v != "eager+static", v))
    lines.append(f"{'model':7} {'n':>2} " + " ".join(f"{v:>38}" for v in variants))
    for name in ("target", "draft"):
        for n in (1, verify_n):
            base = ms[(name, n, "eager+dynamic")]
            cells = [f"{ms[(name, n, v)]:8.3f} ms ({base / ms[(name, n, v)]:4.2f}× vs dyn)" for v in variants]
            lines.append(f"{name:7} {n:>2} " + " ".join(f"{c:>38}" for c in cells))
    lines.append("compile seconds (first call) per model / mode / n: " + ", ".join(
        f"{name} {mode} n={n}: {s:.1f}" for (name, mode, n), s in compile_s.items()))
    return lines


def report_b(result: dict, gammas: list) -> tuple[list, dict]:
    runs = result["runs"]
    reference = {(r["prompt"], r["repeat"]): r["tokens"] for r in runs if r["engine"] == "ar"}
    lines = ["", f"Part B: prompts of {result['prompt_tokens']} tokens; tokens/s = new tokens / decode wall time "
                 "(prefill included), median over prompts × repeats; exact = same tokens as eager ar"]
    summary = {}

    def group(engine, gamma):
        return [r for r in runs if r["engine"] == engine and r["gamma"] == gamma]

    def tps(rs):
        return statistics.median(len(r["tokens"]) / r["seconds"] for r in rs)

    def exact(rs):
        return sum(r["tokens"] == reference[(r["prompt"], r["repeat"])] for r in rs), len(rs)

    def paired(a, b):  # median over runs of (b's time / a's time) = a's speed over b's
        times = {(r["prompt"], r["repeat"]): r["seconds"] for r in b}
        return statistics.median(times[(r["prompt"], r["repeat"])] / r["seconds"] for r in a)

    def mean_accept(rs):
        values = [j for r in rs for j in (r["accepted"] or [])]
        return statistics.mean(values) if values else float("nan")

    ar, ar_c = group("ar", None), group("ar_c", None)
    e, n = exact(ar_c)
    lines.append(f"ar (eager, DynamicCache): {tps(ar):7.1f} tok/s;  ar_c (static+compiled): {tps(ar_c):7.1f} tok/s;  "
                 f"ar_c/ar {paired(ar_c, ar):.2f}× (paired);  ar_c exact {e}/{n}")
    summary["ar"], summary["ar_c"] = tps(ar), tps(ar_c)
    header = (f"{'γ':>2} {'sd':>7} {'hf':>7} {'sd_c':>7} | {'sd/hf':>6} {'sd_c/hf':>7} {'sd_c/sd':>7} | "
              f"{'sd/ar':>6} {'sd_c/ar_c':>9} | {'mean j sd':>9} {'sd_c':>5} {'hf':>5} | exact sd, sd_c, hf")
    lines.append(header)
    for g in gammas:
        sd, hf, sd_c = group("sd", g), group("hf", g), group("sd_c", g)
        row = {"sd": tps(sd), "hf": tps(hf), "sd_c": tps(sd_c), "sd/hf": paired(sd, hf), "sd_c/hf": paired(sd_c, hf),
               "sd_c/sd": paired(sd_c, sd), "sd/ar": paired(sd, ar), "sd_c/ar_c": paired(sd_c, ar_c)}
        summary[g] = row
        ex = [exact(x) for x in (sd, sd_c, hf)]
        lines.append(f"{g:>2} {row['sd']:7.1f} {row['hf']:7.1f} {row['sd_c']:7.1f} | {row['sd/hf']:5.2f}× "
                     f"{row['sd_c/hf']:6.2f}× {row['sd_c/sd']:6.2f}× | {row['sd/ar']:5.2f}× {row['sd_c/ar_c']:8.2f}× | "
                     f"{mean_accept(sd):9.2f} {mean_accept(sd_c):5.2f} {mean_accept(hf):5.2f} | "
                     + ", ".join(f"{a}/{b}" for a, b in ex))
    lines.append("ratios: paired per prompt and repeat (median of time ratios); mean j = accepted drafts per round")
    return lines, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=str(REPO / "specplan/assets/toy-target"))
    parser.add_argument("--draft", default=str(REPO / "specplan/assets/toy-draft"))
    parser.add_argument("--prompts", default=str(REPO / "specplan/assets/toy-prompts.jsonl"))
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("--prompt-bytes", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--gamma", type=lambda t: [int(g) for g in t.split(",")], default=[1, 2, 4, 8])
    parser.add_argument("--verify-gamma", type=int, default=4, help="part A's verification step is γ+1 tokens")
    parser.add_argument("--context", type=int, default=100, help="part A's context tokens")
    parser.add_argument("--samples", type=int, default=40, help="part A's timed steps per variant")
    parser.add_argument("--repeats", type=int, default=3, help="part B's repeats per prompt")
    parser.add_argument("--cache-len", type=int, default=208, help="StaticCache max_cache_len")
    parser.add_argument("--modes", default="default", help="torch.compile modes, comma-separated "
                        "(e.g. default,max-autotune-no-cudagraphs)")
    parser.add_argument("--loop-mode", default="default", help="the torch.compile mode part B uses")
    parser.add_argument("--no-fullgraph", action="store_true")
    parser.add_argument("--mask-skip", action="store_true", help="leave transformers' sdpa mask skip on under "
                        "compile (the γ+1 step then breaks the graph)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--loop-threshold", type=float, default=1.3)
    parser.add_argument("--force-loop", action="store_true", help="run part B whatever part A found")
    parser.add_argument("--skip-loop", action="store_true")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    torch._dynamo.config.recompile_limit = 64  # target verification shapes 1..γ+1, per mode
    torch.manual_seed(0)
    target = AutoModelForCausalLM.from_pretrained(args.target, dtype=torch.float32).eval()
    draft = AutoModelForCausalLM.from_pretrained(args.draft, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.target)
    vocab = min(target.config.vocab_size, draft.config.vocab_size)
    modes = args.modes.split(",")
    if not args.mask_skip:
        keep_mask_when_compiling()
    notes = [f"torch {torch.__version__}, threads {torch.get_num_threads()}, cache_len {args.cache_len}"]

    first = tokenizer(load_prompts(Path(args.prompts), 1, 10_000)[0], return_tensors="pt").input_ids[0]
    context = first.repeat(-(-args.context // first.shape[0]))[:args.context].view(1, -1)
    ms, compile_s, compiled, caches = part_a({"target": target, "draft": draft}, vocab, context,
                                             args.verify_gamma + 1, args.samples, modes, not args.no_fullgraph,
                                             args.cache_len, notes)
    lines = report_a(ms, compile_s, args.verify_gamma + 1, args.context)
    out = {"part_a_ms": {f"{k[0]} n={k[1]} {k[2]}": v for k, v in ms.items()},
           "compile_s": {f"{k[0]} {k[1]} n={k[2]}": v for k, v in compile_s.items()}}
    speedup = ms[("target", 1, "eager+dynamic")] / ms.get(("target", 1, f"compiled+static {args.loop_mode}"),
                                                          float("inf"))
    draft_speedup = ms[("draft", 1, "eager+dynamic")] / ms.get(("draft", 1, f"compiled+static {args.loop_mode}"),
                                                               float("inf"))
    lines.append(f"compiled 1-token step vs eager+dynamic: target {speedup:.2f}×, draft {draft_speedup:.2f}×")
    print("\n".join(lines), flush=True)
    if not args.skip_loop and (args.force_loop or max(speedup, draft_speedup) >= args.loop_threshold):
        result = part_b(target, draft, tokenizer, vocab, args, compiled[("target", args.loop_mode)],
                        compiled[("draft", args.loop_mode)], caches["target"], caches["draft"], notes)
        more, summary = report_b(result, args.gamma)
        print("\n".join(more), flush=True)
        out["part_b"] = {str(k): v for k, v in summary.items()}
        out["runs"] = result["runs"]
    elif not args.skip_loop:
        print(f"part B skipped: no compiled 1-token step ≥ {args.loop_threshold}× (use --force-loop)")
    print("\nnotes:\n  " + "\n  ".join(notes))
    out["notes"] = notes
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
