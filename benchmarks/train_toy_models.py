"""Train specplan's toy model ladder on the Python standard library's source and write the embedded default pair.

    python benchmarks/train_toy_models.py --out out/toy                    # full run (see toy-pair.json: ~1 h, 1 core)
    python benchmarks/train_toy_models.py --out out/toy --verify specplan/assets/toy-pair.json
    python benchmarks/train_toy_models.py --check specplan/assets          # re-evaluate the shipped pair only

Phases: (1) the target is trained on the corpus; (2) every draft of the ladder is distilled from the target's soft
predictions on the same batches (one teacher pass shared by all drafts); (3) every model is saved (safetensors,
float16 weights, loaded as float32) and scored on the held-out files; toy-pair.json records sizes, steps, time,
perplexities, seed and the command. Seeded; data order is a pure function of (seed, step).
"""

import argparse
import json
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from specplan.measure import toy_training  # noqa: E402
from specplan.measure.random_models import count_params  # noqa: E402
from specplan.cli.options import parse_count_option  # noqa: E402
from specplan.units import format_count  # noqa: E402

TOLERANCE = 0.05  # reproduced perplexities must be within 5% of the shipped ones


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("out/toy"), help="output folder (default out/toy)")
    p.add_argument("--steps", type=int, default=1000, help="target training steps (default 1000)")
    p.add_argument("--draft-steps", type=int, default=500, help="draft distillation steps (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per step (default 8)")
    p.add_argument("--seq-tokens", type=int, default=256, help="tokens (bytes) per training window (default 256)")
    p.add_argument("--lr", type=float, default=1.5e-3, help="target peak learning rate (default 1.5e-3)")
    p.add_argument("--draft-lr", type=float, default=3e-3, help="draft peak learning rate (default 3e-3)")
    p.add_argument("--kd-weight", type=float, default=0.8, help="distillation KL weight vs corpus CE (default 0.8)")
    p.add_argument("--target-params", default="10M", help="target size (default 10M)")
    p.add_argument("--draft-params", default="0.3M,1M,2.5M", help="ladder of draft sizes (default 0.3M,1M,2.5M)")
    p.add_argument("--ship-draft", default="1M", help="which ladder draft forms the shipped pair (default 1M)")
    p.add_argument("--max-positions", type=int, default=256,
                   help="max_position_embeddings: the trained context, = --seq-tokens (default 256)")
    p.add_argument("--eval-windows", type=int, default=64, help="held-out windows scored (default 64)")
    p.add_argument("--reuse-target", action="store_true", help="reuse OUT/target if it exists (skip phase 1)")
    p.add_argument("--ship", type=Path, help="also copy the shipped pair and toy-pair.json into this folder")
    p.add_argument("--verify", type=Path, metavar="JSON",
                   help="after training, compare held-out perplexities with this toy-pair.json (within 5%%)")
    p.add_argument("--eval-files", type=Path, metavar="DIR",
                   help="only write DIR/heldout.txt (held-out text for bench --perplexity-text) and DIR/prompts.jsonl "
                        "(held-out code prompts for bench --prompts); no training")
    p.add_argument("--check", type=Path, metavar="ASSETS",
                   help="only re-evaluate the pair in ASSETS (toy-target/, toy-draft/, toy-pair.json); no training")
    return p.parse_args(argv)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def count(text: str) -> float:
    return float(parse_count_option(text))


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.check:
        return check_shipped(args.check, args.eval_windows, args.seq_tokens)
    if args.eval_files:
        return write_eval_files(args.eval_files)
    started = time.perf_counter()
    corpus = toy_training.load_corpus()
    say(f"corpus {corpus.root}: {corpus.train_files} train files ({len(corpus.train_ids):,} bytes), "
        f"{corpus.heldout_files} held-out files ({len(corpus.heldout_ids):,} bytes)")
    tokenizer = toy_training.build_tokenizer()
    target, target_log = train_target(args, corpus)
    drafts, draft_log = distil_drafts(args, corpus, target)
    summary = save_and_score(args, corpus, tokenizer, target, drafts, target_log, draft_log)
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    (args.out / "toy-pair.json").write_text(json.dumps(summary, indent=2) + "\n")
    say(f"done in {summary['total_seconds'] / 60:.1f} min; wrote {args.out / 'toy-pair.json'}")
    if args.ship:
        ship(args.out, args.ship, summary)
    return verify(summary, json.loads(args.verify.read_text())) if args.verify else 0


def train_target(args, corpus):
    spec = toy_training.ModelSpec("target", count(args.target_params))
    folder = args.out / "checkpoints" / "target"
    settings = toy_training.TrainSettings(steps=args.steps, batch_size=args.batch_size, seq_tokens=args.seq_tokens,
                                      lr=args.lr, seed=args.seed)
    if args.reuse_target and folder.is_dir():
        say(f"reusing the target in {folder}")
        meta = json.loads((folder / "train.json").read_text())
        return toy_training.load_model(folder), meta
    model = toy_training.build_model(spec, args.max_positions, args.seed)
    say(f"phase 1: target {format_count(count_params(model))} parameters, {args.steps} steps")
    log = toy_training.train(model, corpus.train_ids, settings, on_log=progress("target", args.steps))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # full precision, so phase 2 can be rerun with --reuse-target
    meta = {"steps": args.steps, "seconds": round(log.seconds, 1), "losses": log.losses, "settings": vars_of(settings)}
    (folder / "train.json").write_text(json.dumps(meta))
    return model, meta


def distil_drafts(args, corpus, target):
    specs = [toy_training.ModelSpec(f"draft-{size}", count(size)) for size in args.draft_params.split(",")]
    # each draft gets its own seed offset so that the ladder does not share initial weights by accident
    drafts = [toy_training.build_model(s, args.max_positions, args.seed + 1 + i) for i, s in enumerate(specs)]
    settings = toy_training.TrainSettings(steps=args.draft_steps, batch_size=args.batch_size, seq_tokens=args.seq_tokens,
                                      lr=args.draft_lr, kd_weight=args.kd_weight, seed=args.seed + 1000)
    sizes = ", ".join(format_count(count_params(d)) for d in drafts)
    say(f"phase 2: distilling drafts ({sizes}) from the target, {args.draft_steps} steps")
    for p in target.parameters():
        p.requires_grad_(False)
    log = toy_training.train_many(drafts, corpus.train_ids, settings, teacher=target.eval(),
                              on_log=progress("drafts", args.draft_steps))
    meta = {"steps": args.draft_steps, "seconds": round(log.seconds, 1), "losses": log.losses,
            "settings": vars_of(settings)}
    return dict(zip([s.name for s in specs], drafts)), meta


def save_and_score(args, corpus, tokenizer, target, drafts, target_log, draft_log) -> dict:
    models = {"target": target, **drafts}
    scores = {}
    for name, model in models.items():
        folder = args.out / name
        toy_training.save_model(model, tokenizer, folder, storage_dtype="float16")
        reloaded = toy_training.load_model(folder)  # score what ships: float16-rounded weights, loaded as float32
        scores[name] = {
            "params": count_params(reloaded),
            "layers": reloaded.config.num_hidden_layers,
            "width": reloaded.config.hidden_size,
            "heldout_perplexity": round(toy_training.perplexity(reloaded, corpus.heldout_ids, args.seq_tokens,
                                                            args.eval_windows), 4),
        }
        if name != "target":
            scores[name]["greedy_agreement"] = round(toy_training.greedy_agreement(
                toy_training.load_model(args.out / "target"), reloaded, corpus.heldout_ids, args.seq_tokens), 4)
        say(f"{name}: {scores[name]}")
    return {
        "shipped": {"target": "target", "draft": f"draft-{args.ship_draft}"},
        "models": scores,
        "target_training": {k: target_log[k] for k in ("steps", "seconds", "settings")},
        "draft_distillation": {k: draft_log[k] for k in ("steps", "seconds", "settings")},
        "seed": args.seed,
        "threads": args.threads,
        "corpus": {"source": "Python standard library *.py (site-packages excluded)",
                   "python": platform.python_version(), "train_files": corpus.train_files,
                   "heldout_files": corpus.heldout_files, "train_bytes": int(len(corpus.train_ids)),
                   "heldout_bytes": int(len(corpus.heldout_ids)), "heldout_fraction": 0.05},
        "eval": {"seq_tokens": args.seq_tokens, "windows": args.eval_windows},
        "tokenizer": "byte-level (id = byte value, EOS = 256), built with `tokenizers`",
        "command": "python benchmarks/train_toy_models.py " + " ".join(map(shlex.quote, sys.argv[1:])),
    }


def ship(out: Path, assets: Path, summary: dict) -> None:
    """Copy the shipped pair to ASSETS/toy-target, ASSETS/toy-draft and ASSETS/toy-pair.json."""
    for role in ("target", "draft"):
        destination = assets / f"toy-{role}"
        shutil.rmtree(destination, ignore_errors=True)
        shutil.copytree(out / summary["shipped"][role], destination)
    (assets / "toy-pair.json").write_text(json.dumps(summary, indent=2) + "\n")
    say(f"shipped the pair into {assets}")


def verify(summary: dict, shipped: dict) -> int:
    """0 when every model's held-out perplexity is within 5% of the shipped JSON's, else 1."""
    worst = 0.0
    for name, reference in shipped["models"].items():
        if name not in summary["models"]:
            say(f"verify: {name} missing from this run")
            return 1
        got, want = summary["models"][name]["heldout_perplexity"], reference["heldout_perplexity"]
        worst = max(worst, abs(got / want - 1))
        say(f"verify: {name} perplexity {got:.4f} vs shipped {want:.4f} ({got / want - 1:+.2%})")
    say(f"verify: {'PASS' if worst <= TOLERANCE else 'FAIL'} (worst {worst:.2%}, tolerance {TOLERANCE:.0%})")
    return 0 if worst <= TOLERANCE else 1


def check_shipped(assets: Path, windows: int, seq_tokens: int) -> int:
    """Re-score the shipped pair on this machine's held-out files and compare with toy-pair.json."""
    shipped = json.loads((assets / "toy-pair.json").read_text())
    corpus = toy_training.load_corpus()
    models = {}
    for role in ("target", "draft"):
        name = shipped["shipped"][role]
        model = toy_training.load_model(assets / f"toy-{role}")
        models[name] = {"heldout_perplexity": toy_training.perplexity(model, corpus.heldout_ids, seq_tokens, windows)}
    return verify({"models": models}, {"models": {n: shipped["models"][n] for n in models}})


def write_eval_files(folder: Path, prompts: int = 16, prompt_chars: int = 200, text_bytes: int = 32_000) -> int:
    """Held-out material for bench: Python source the toy models never trained on."""
    corpus = toy_training.load_corpus()
    folder.mkdir(parents=True, exist_ok=True)
    text = bytes(corpus.heldout_ids[corpus.heldout_ids < 256][:text_bytes].astype("uint8"))
    (folder / "heldout.txt").write_text(text.decode("utf-8", errors="ignore"))
    lines = [json.dumps({"prompt": s, "category": "code"}) for s in toy_training.heldout_snippets(corpus, prompts,
                                                                                                 prompt_chars)]
    (folder / "prompts.jsonl").write_text("\n".join(lines) + "\n")
    say(f"wrote {folder / 'heldout.txt'} and {folder / 'prompts.jsonl'} ({prompts} prompts)")
    return 0


def progress(name: str, steps: int):
    def report(step: int, loss: float, seconds: float) -> None:
        eta = seconds / step * (steps - step)
        say(f"{name} step {step}/{steps} loss {loss:.4f} ({seconds / step:.2f} s/step, {eta / 60:.1f} min left)")
    return report


def vars_of(settings) -> dict:
    from dataclasses import asdict

    return asdict(settings)


if __name__ == "__main__":
    sys.exit(main())
