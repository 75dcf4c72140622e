"""What the sliding-window rollback costs: ``sd`` tokens/s on a Mistral pair with a sliding window smaller than
prompt + output, against the same pair (same weights) with full attention.

    flock /tmp/specplan-bench.lock python benchmarks/sliding_window_cost.py --threads 1

The sliding layers of ``sd``'s caches record their past between rollbacks (specplan/measure/engines/cache.py);
``ar`` never rolls back and runs without recording. Two drafts: a random one (almost every draft token rejected:
a rollback every round, the worst case) and the target itself (α = 1: no target rollback, only the recording).
Random weights: the figure is cost, not quality. The sliding model also attends to fewer keys, so compare the
sd/ar ratios between the two columns, not only the tokens/s.
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the byte-level tokenizer

from specplan.measure.loading import model_source  # noqa: E402
from specplan.measure.sweep import BenchConfig, run_bench  # noqa: E402


def save_mistral(folder: Path, seed: int, hidden: int, layers: int, window: int | None, tokenizer) -> str:
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    config = MistralConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=4 * hidden,
                           num_hidden_layers=layers, num_attention_heads=hidden // 64, num_key_value_heads=min(2, hidden // 64),
                           head_dim=64, max_position_embeddings=4096, sliding_window=window,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                           pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = MistralForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def tokens_per_s(records: list, engine: str) -> float:
    runs = [r for r in records if r.get("kind") == "run" and r["engine"] == engine]
    return sum(r["new_tokens"] for r in runs) / sum(r["wall_time_s"] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--gamma", type=int, default=4)
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from bench_fixtures import byte_tokenizer

    tokenizer = byte_tokenizer()
    root = Path(tempfile.mkdtemp(prefix="specplan-window-"))
    prompts = root / "prompts.txt"  # ~200-byte prompts: with the output, well past the window
    prompts.write_text("\n".join(f"def function_{i}(values):\\n    total = 0\\n    for v in values:\\n        "
                                 f"total += v * {i}\\n    return total  # a prompt of about two hundred bytes, {i}"
                                 for i in range(args.num_prompts)) + "\n")
    print(f"Mistral target {args.layers}×{args.hidden}, draft 2×{args.hidden // 2}, window {args.window} vs full; "
          f"γ={args.gamma}, {args.max_new_tokens} new tokens, {args.num_prompts} prompts × {args.repeats}, "
          f"threads {args.threads}")
    print(f"{'pair':<28}{'attention':<12}{'ar tok/s':>10}{'sd tok/s':>10}{'sd/ar':>8}{'accepted/round':>16}")
    for window in (args.window, None):
        label = f"sliding {window}" if window else "full"
        target = save_mistral(root / f"target-{label}", 0, args.hidden, args.layers, window, tokenizer)
        draft = save_mistral(root / f"draft-{label}", 1, args.hidden // 2, 2, window, tokenizer)
        for name, draft_folder in (("random draft", draft), ("identical draft (α = 1)", target)):
            config = BenchConfig(target=model_source("--target", target), draft=model_source("--draft", draft_folder),
                                 engines=("ar", "sd"), gammas=(args.gamma,), max_new_tokens=args.max_new_tokens,
                                 prompts_file=str(prompts), num_prompts=args.num_prompts, repeats=args.repeats,
                                 latency_samples=2, latency_context_tokens=16, threads=args.threads, device="cpu")
            records = run_bench(config).records
            sd = [r for r in records if r.get("kind") == "run" and r["engine"] == "sd"]
            assert all(r["exact"] for r in sd), "sd diverged from ar"
            rounds = [j for r in sd for j in r["rounds"]["accepted"]]
            ar_rate, sd_rate = tokens_per_s(records, "ar"), tokens_per_s(records, "sd")
            print(f"{name:<28}{label:<12}{ar_rate:>10.1f}{sd_rate:>10.1f}{sd_rate / ar_rate:>8.2f}"
                  f"{sum(rounds) / len(rounds):>16.2f}", flush=True)


if __name__ == "__main__":
    main()
