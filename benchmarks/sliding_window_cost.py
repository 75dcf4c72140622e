"""What the sliding-window rollback costs: ``sd`` tokens/s on a Mistral pair with a sliding window smaller than
prompt + output, against the same pair (same weights) with full attention.

    flock /tmp/specplan-bench.lock python benchmarks/sliding_window_cost.py

The sliding layers of ``sd``'s caches record their past between rollbacks (specplan/measure/engines/cache.py);
``ar`` never rolls back and runs without recording. Two drafts: a random one (almost every draft token rejected:
a rollback every round, the worst case) and the target itself (α = 1: no target rollback, only the recording).
Random weights: the figure is cost, not quality. Every (pair, engine) decode of a prompt runs back to back, so a
slow phase of a shared machine hits all alike. The sliding model also attends to fewer keys than the full one:
its sd/ar ratio against the full model's isolates what the rollback adds.
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the byte-level tokenizer

from specplan.measure.loading import model_source  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--gamma", type=int, default=4)
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from bench_fixtures import byte_tokenizer
    from specplan.measure.engines.ar import decode_ar
    from specplan.measure.engines.probs import Sampling
    from specplan.measure.engines.sd import decode_sd
    from specplan.measure.loading import load_pair
    from specplan.measure.timing import timed

    torch.set_num_threads(args.threads)
    tokenizer = byte_tokenizer()
    root = Path(tempfile.mkdtemp(prefix="specplan-window-"))
    pairs = {}  # (attention, draft kind) -> loaded pair; same seeds, so the same weights with and without window
    for window in (args.window, None):
        attention = f"sliding {window}" if window else "full"
        target = save_mistral(root / f"target-{attention}", 0, args.hidden, args.layers, window, tokenizer)
        draft = save_mistral(root / f"draft-{attention}", 1, args.hidden // 2, 2, window, tokenizer)
        for kind, draft_folder in (("random draft", draft), ("identical draft (α = 1)", target)):
            pairs[attention, kind] = load_pair(model_source("--target", target), model_source("--draft", draft_folder),
                                               "cpu", "fp32")
    prompts = [tokenizer(f"def function_{i}(values):\n    total = 0\n    for v in values:\n        total += v * {i}"
                         f"\n    return total  # a prompt of about two hundred bytes, number {i}, " * 2,
                         return_tensors="pt").input_ids for i in range(args.num_prompts)]
    print(f"Mistral target {args.layers}×{args.hidden}, draft 2×{args.hidden // 2}, window {args.window} vs full "
          f"attention (same weights); γ={args.gamma}, {args.max_new_tokens} new tokens, prompts of "
          f"{prompts[0].shape[1]} tokens, {args.num_prompts} prompts × {args.repeats} repeats, threads {args.threads}; "
          f"every (pair, engine) decode interleaved per prompt")
    for pair in pairs.values():  # untimed warm-up: kernels, allocator, lazy init
        decode_sd(pair.target, pair.draft, prompts[0], args.gamma, 8, Sampling(), torch.Generator(), pair.vocab_tokens)
        decode_ar(pair.target, prompts[0], 8, Sampling(), torch.Generator(), pair.vocab_tokens)
    seconds = {(key, engine): [] for key in pairs for engine in ("ar", "sd")}
    accepted = {key: [] for key in pairs}
    greedy = Sampling()
    for _ in range(args.repeats):
        for ids in prompts:
            for key, pair in pairs.items():
                ar, t_ar = timed("cpu", lambda: decode_ar(pair.target, ids, args.max_new_tokens, greedy,
                                                          torch.Generator(), pair.vocab_tokens))
                sd, t_sd = timed("cpu", lambda: decode_sd(pair.target, pair.draft, ids, args.gamma,
                                                          args.max_new_tokens, greedy, torch.Generator(),
                                                          pair.vocab_tokens))
                assert sd.output_ids == ar.output_ids, f"{key}: sd diverged from ar"
                seconds[key, "ar"].append(t_ar)
                seconds[key, "sd"].append(t_sd)
                accepted[key] += sd.accepted
    print(f"{'draft':<26}{'attention':<12}{'ar tok/s':>10}{'sd tok/s':>10}{'sd/ar':>8}{'accepted/round':>16}")
    for (attention, kind) in sorted(pairs, key=lambda key: (key[1], key[0] == "full")):
        key = (attention, kind)
        rate = {e: args.max_new_tokens * len(seconds[key, e]) / sum(seconds[key, e]) for e in ("ar", "sd")}
        print(f"{kind:<26}{attention:<12}{rate['ar']:>10.1f}{rate['sd']:>10.1f}{rate['sd'] / rate['ar']:>8.2f}"
              f"{sum(accepted[key]) / len(accepted[key]):>16.2f}")


if __name__ == "__main__":
    main()
