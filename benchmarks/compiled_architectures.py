"""Which families of the architecture matrix (tests/architectures.py) the compiled engine runs: for each, the
refusal (``specplan.measure.engines.compiled.refuses``) or a compiled greedy ``ar`` and ``sd`` (γ 2) compared token
for token with eager ``ar``. Compiled with ``--backend`` (default eager: the single graphs dynamo captures for
inductor, run without generating kernels, so a family takes minutes on a small CPU, not tens).

    python benchmarks/compiled_architectures.py [--backend inductor] [--families llama,mistral]
"""

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from architectures import FAMILIES, matrix_tokenizer, save_tiny  # noqa: E402
from bench_fixtures import load  # noqa: E402

PROMPT = "def add(a, b):\n    return a + b\n"


def check(family: str, root: Path, backend: str) -> str:
    import torch

    from specplan.measure.engines import compiled
    from specplan.measure.engines.ar import decode_ar
    from specplan.measure.engines.probs import Sampling

    tokenizer = matrix_tokenizer()
    kind = FAMILIES[family][2]
    target = save_tiny(root / f"{family}-t", family, 2, 0, tokenizer)
    draft = save_tiny(root / f"{family}-d", family, 2 if kind in ("recurrent", "conv") else 1, 1, tokenizer)
    from transformers import AutoConfig

    refusal = compiled.refuses(AutoConfig.from_pretrained(target))
    if refusal:
        return f"refused: {refusal}"
    pair = load(target, draft)
    ids = pair.tokenizer(PROMPT, return_tensors="pt").input_ids
    greedy, new = Sampling(), 12
    start = time.perf_counter()
    compiled.prepare(pair.target, pair.draft, ids, new, (2,), greedy, pair.vocab_tokens, backend=backend)
    seconds = time.perf_counter() - start
    ar = decode_ar(pair.target, ids, new, greedy, torch.Generator(), pair.vocab_tokens).output_ids
    c_ar = compiled.decode_ar(pair.target, ids, new, greedy, torch.Generator(), pair.vocab_tokens).output_ids
    c_sd = compiled.decode_sd(pair.target, pair.draft, ids, 2, new, greedy, torch.Generator(), pair.vocab_tokens)
    return (f"compiles ({seconds:.0f} s): ar {'==' if c_ar == ar else '!='} eager ar, "
            f"sd {'==' if c_sd.output_ids == ar else '!='} eager ar (accepted {sum(c_sd.accepted)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="specplan-compiled-"))
    for family in args.families.split(","):
        try:
            verdict = check(family, root, args.backend)
        except Exception as exc:  # report, go on with the next family
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if "transformers" in f.filename][-1:]
            where = f" at {Path(frames[0].filename).name}:{frames[0].lineno}" if frames else ""
            verdict = f"FAILS: {type(exc).__name__}: {' '.join(str(exc).split())[:240]}{where}"
        print(f"{family:13} {FAMILIES[family][2]:15} {verdict}", flush=True)


if __name__ == "__main__":
    main()
