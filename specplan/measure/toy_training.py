"""Train the toy model ladder: a byte-level corpus from the Python standard library, Llama-shaped models, a training
loop, distillation of drafts from the target, and held-out perplexity.

Why: randomly initialised models accept almost nothing and no model hub is reachable everywhere, so specplan trains
its own small family (one tokenizer, one corpus, as the SDSL acceptance law assumes) and ships a trained pair as
``bench``'s embedded default. ``benchmarks/train_toy_models.py`` drives this module.

torch / transformers / tokenizers are imported inside the functions that need them, so importing this module is cheap.
"""

import hashlib
import json
import math
import sysconfig
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from specplan.errors import SpecplanError
from specplan.plan.shapes import HEAD_DIM, shape_for_params

BYTE_VOCAB = 256
EOS_ID = 256  # separates source files; the only token that is not a byte
VOCAB_SIZE = 257
EOS_TOKEN = "<|endoftext|>"


# ---------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Corpus:
    """Token ids (bytes, files separated by EOS) of the training and held-out files."""

    train_ids: np.ndarray  # (T_train,) uint16
    heldout_ids: np.ndarray  # (T_heldout,) uint16
    train_files: int
    heldout_files: int
    root: str


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def source_files(root: Path) -> list[Path]:
    """Every ``.py`` file under ``root`` except installed packages, sorted for a deterministic order."""
    return sorted(p for p in root.rglob("*.py") if "site-packages" not in p.relative_to(root).parts and p.is_file())


def is_heldout(relative_path: str, heldout_fraction: float) -> bool:
    """Deterministic split by a hash of the file's relative path: the same files are held out on every machine and
    in every run (a file never leaks between splits, unlike a split by position)."""
    digest = hashlib.sha256(relative_path.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < heldout_fraction


def load_corpus(root: Path | None = None, heldout_fraction: float = 0.05) -> Corpus:
    root = Path(root) if root else stdlib_root()
    files = source_files(root)
    if not files:
        raise SpecplanError(f"no .py files under {str(root)!r}")
    parts = {True: [], False: []}
    for path in files:
        held = is_heldout(path.relative_to(root).as_posix(), heldout_fraction)
        parts[held].append(np.frombuffer(path.read_bytes(), dtype=np.uint8).astype(np.uint16))
        parts[held].append(np.array([EOS_ID], dtype=np.uint16))
    if not parts[True] or not parts[False]:
        raise SpecplanError(f"held-out fraction {heldout_fraction} leaves one split empty")
    return Corpus(train_ids=np.concatenate(parts[False]), heldout_ids=np.concatenate(parts[True]),
                  train_files=len(parts[False]) // 2, heldout_files=len(parts[True]) // 2, root=str(root))


def heldout_snippets(corpus: Corpus, count: int, chars: int) -> list[str]:
    """``count`` prompts of about ``chars`` characters from evenly spaced places in the held-out files (valid
    UTF-8): prompts in the toy models' own domain, never seen in training. A prompt starts at a line and stops
    mid-line after a word: stopping at a line break makes a weak model indent forever (greedy all-space output)."""
    data = bytes(corpus.heldout_ids[corpus.heldout_ids < BYTE_VOCAB].astype(np.uint8))
    snippets = []
    for start in np.linspace(0, len(data) - 4 * chars, count).astype(int):
        line_start = data.rfind(b"\n", 0, start) + 1
        text = data[line_start:line_start + 2 * chars].decode("utf-8", errors="ignore")
        cut = max(text.rfind(c, 0, chars) for c in "(.= ")
        while cut > 0 and text[cut - 1].isspace():  # not inside the indentation
            cut = max(text.rfind(c, 0, cut - 1) for c in "(.= ")
        snippets.append(text[:cut + 1] if cut > 0 else text[:chars])
    return snippets


def encode_bytes(text: str) -> list[int]:
    """Token ids of ``text`` under the byte-level tokenizer: its UTF-8 bytes (what :func:`build_tokenizer` does)."""
    return list(text.encode("utf-8"))


# ---------------------------------------------------------------- tokenizer


def build_tokenizer():
    """A byte-level tokenizer whose token id is the byte value (0..255) plus EOS = 256, built locally with the
    ``tokenizers`` library (GPT-2's byte-to-unicode map, no merges) and wrapped as a PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_chars = pre_tokenizers.ByteLevel.alphabet()  # the 256 printable stand-ins, one per byte
    vocab = {_byte_char(b): b for b in range(BYTE_VOCAB)}
    assert set(vocab) == set(byte_chars)
    vocab[EOS_TOKEN] = EOS_ID
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([EOS_TOKEN])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS_TOKEN, pad_token=EOS_TOKEN,
                                   model_max_length=1 << 30)


def _byte_char(b: int) -> str:
    """GPT-2's reversible byte → printable character map (the one ByteLevel pre-tokenisation uses)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    if b in printable:
        return chr(b)
    return chr(256 + sum(1 for x in range(b) if x not in printable))


# ---------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSpec:
    """A ladder rung: a name and a requested parameter count, shaped by the shape rule (specplan/plan/shapes.py)."""

    name: str
    params: float
    aspect_ratio: float = 100.0


def llama_config(spec: ModelSpec, max_positions: int):
    """LlamaConfig for ``spec``: layers and width from the shape rule, heads of 64, a gated MLP of ≈ 8/3·width
    (so a layer holds ≈ 12·width² parameters, as the rule assumes), the byte vocabulary."""
    from transformers import LlamaConfig

    shape = shape_for_params(spec.params, spec.aspect_ratio)
    return LlamaConfig(
        vocab_size=VOCAB_SIZE, hidden_size=shape.width, num_hidden_layers=shape.layers,
        intermediate_size=HEAD_DIM * round(8 * shape.width / 3 / HEAD_DIM), num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads, head_dim=HEAD_DIM, max_position_embeddings=max_positions,
        tie_word_embeddings=False, bos_token_id=None, eos_token_id=EOS_ID, pad_token_id=EOS_ID,
    )


def build_model(spec: ModelSpec, max_positions: int, seed: int):
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)  # initial weights depend only on the seed
    return LlamaForCausalLM(llama_config(spec, max_positions)).float()


# ---------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    batch_size: int = 16
    seq_tokens: int = 256
    lr: float = 1e-3
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    kd_weight: float = 0.8  # distillation: weight of KL(target ‖ draft) vs. the corpus cross-entropy
    seed: int = 0


@dataclass
class TrainLog:
    losses: list = field(default_factory=list)  # (step, loss) every log interval
    seconds: float = 0.0


def batch_starts(corpus_tokens: int, settings: TrainSettings, step: int) -> np.ndarray:
    """Window starts of one batch, a pure function of (seed, step): data order is deterministic and resumable."""
    rng = np.random.default_rng([settings.seed, step])
    return rng.integers(0, corpus_tokens - settings.seq_tokens - 1, size=settings.batch_size)


def get_batch(ids: np.ndarray, starts: np.ndarray, seq_tokens: int):
    import torch

    windows = np.stack([ids[s:s + seq_tokens + 1] for s in starts]).astype(np.int64)
    return torch.from_numpy(windows)  # (B, T+1)


def lr_at(step: int, settings: TrainSettings) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio``·lr."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    return settings.lr * (settings.min_lr_ratio + (1 - settings.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model, settings: TrainSettings):
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]  # norms: no weight decay
    return torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr, betas=(0.9, 0.95))


def next_token_loss(logits, tokens):
    """Mean cross-entropy (nats/token) of logits (B, T, V) against the next tokens (B, T)."""
    import torch.nn.functional as F

    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens.reshape(-1))


def distillation_loss(draft_logits, target_logits, tokens, kd_weight: float):
    """kd_weight · KL(p_target ‖ q_draft) + (1 − kd_weight) · CE(corpus): the draft learns the target's own soft
    predictions (what speculative acceptance rewards, β = Σ min(p, q)), anchored on the corpus."""
    import torch.nn.functional as F

    vocab = draft_logits.shape[-1]
    log_q = F.log_softmax(draft_logits.reshape(-1, vocab).float(), dim=-1)
    log_p = F.log_softmax(target_logits.reshape(-1, vocab).float(), dim=-1)
    kl = F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")
    return kd_weight * kl + (1 - kd_weight) * F.nll_loss(log_q, tokens.reshape(-1))


def train(model, ids: np.ndarray, settings: TrainSettings, teacher=None, log_every: int = 50,
          on_log: Callable[[int, float, float], None] | None = None) -> TrainLog:
    """Train ``model`` on random windows of ``ids``; with a ``teacher``, distil from its logits (teacher frozen)."""
    return train_many([model], ids, settings, teacher, log_every, on_log)


def train_many(models: Sequence, ids: np.ndarray, settings: TrainSettings, teacher=None, log_every: int = 50,
               on_log: Callable[[int, float, float], None] | None = None) -> TrainLog:
    """Train several models on the same batches; a teacher's forward pass is computed once per batch and shared
    (distilling a ladder of drafts costs little more than one)."""
    import torch

    optimizers = [make_optimizer(m, settings) for m in models]
    log, start, running = TrainLog(), time.perf_counter(), [0.0] * len(models)
    for m in models:
        m.train()
    for step in range(settings.steps):
        batch = get_batch(ids, batch_starts(len(ids), settings, step), settings.seq_tokens)
        inputs, labels = batch[:, :-1], batch[:, 1:]  # (B, T)
        teacher_logits = None
        if teacher is not None:
            with torch.no_grad():
                teacher_logits = teacher(input_ids=inputs).logits  # (B, T, V)
        for i, (m, opt) in enumerate(zip(models, optimizers)):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, settings)
            logits = m(input_ids=inputs).logits
            loss = (next_token_loss(logits, labels) if teacher_logits is None
                    else distillation_loss(logits, teacher_logits, labels, settings.kd_weight))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            running[i] += loss.item()
        if (step + 1) % log_every == 0 or step + 1 == settings.steps:
            count = (step % log_every) + 1
            log.losses.append((step + 1, [r / count for r in running]))
            if on_log:
                on_log(step + 1, running[0] / count, time.perf_counter() - start)
            running = [0.0] * len(models)
    log.seconds = time.perf_counter() - start
    for m in models:
        m.eval()
    return log


# ---------------------------------------------------------------- evaluation


def eval_windows(ids: np.ndarray, seq_tokens: int, max_windows: int) -> np.ndarray:
    """Evenly spaced, non-overlapping window starts over ``ids``: the same windows for every model."""
    count = min(max_windows, (len(ids) - 1) // (seq_tokens + 1))
    if count < 1:
        raise SpecplanError(f"held-out text of {len(ids)} tokens is shorter than one window of {seq_tokens + 1}")
    return np.linspace(0, len(ids) - seq_tokens - 1, count).astype(np.int64)


def perplexity(model, ids: np.ndarray, seq_tokens: int = 256, max_windows: int = 64, batch_size: int = 16) -> float:
    """exp(mean next-token negative log-likelihood, nats) over fixed windows of ``ids`` (every window position
    scored, each window starting from an empty context)."""
    import torch

    starts = eval_windows(ids, seq_tokens, max_windows)
    total_nll, total_tokens = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(starts), batch_size):
            batch = get_batch(ids, starts[i:i + batch_size], seq_tokens)
            logits = model(input_ids=batch[:, :-1]).logits
            total_nll += next_token_loss(logits, batch[:, 1:]).item() * batch[:, 1:].numel()
            total_tokens += batch[:, 1:].numel()
    return math.exp(total_nll / total_tokens)


def greedy_agreement(target, draft, ids: np.ndarray, seq_tokens: int = 256, max_windows: int = 16) -> float:
    """Fraction of held-out positions where the draft's argmax equals the target's: a teacher-forced proxy of
    greedy acceptance α (the bench measures the real one)."""
    import torch

    starts = eval_windows(ids, seq_tokens, max_windows)
    batch = get_batch(ids, starts, seq_tokens)[:, :-1]
    with torch.no_grad():
        agree = target(input_ids=batch).logits.argmax(-1) == draft(input_ids=batch).logits.argmax(-1)
    return agree.float().mean().item()


# ---------------------------------------------------------------- saving


def save_model(model, tokenizer, folder: Path, storage_dtype: str = "float32") -> None:
    """save_pretrained (safetensors) with the weights stored in ``storage_dtype`` (float16 halves the size) while
    config.dtype stays float32, so ``from_pretrained`` (dtype "auto") loads float32, the fast dtype on CPU."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stored = type(model)(model.config)
    stored.load_state_dict(model.state_dict())
    stored = stored.to(getattr(torch, storage_dtype))
    stored.generation_config.pad_token_id = EOS_ID
    stored.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    # save_pretrained writes the storage dtype into config.json; "auto" loading would then give slow float16 on CPU
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["dtype"] = "float32"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def load_model(folder: Path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
