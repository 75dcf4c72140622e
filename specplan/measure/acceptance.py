"""``acceptance``: measure a pair's acceptance without running the speculative loop.

The target continues each prompt once (per temperature, sampling at it; or once greedily for all); one
teacher-forced pass of each model over prompt + continuation gives both distributions at every position, and from
them, for each temperature, the chance that a draft token is accepted at that position under each engine rule. The rounds of the loop are then simulated along
the text (``specplan.plan.acceptance_math``). Positions go through the models in chunks, so no positions ×
vocabulary tensor exceeds :data:`LOGITS_BUDGET_BYTES`. torch is imported inside functions only.
"""

from dataclasses import dataclass

from specplan.checks import count_in, number_in
from specplan.errors import SpecplanError
from specplan.measure.loading import ModelSource

LOSSLESS, ARGMAX_DRAFT, GREEDY = "lossless", "argmax_draft", "greedy"
# Bytes of float32 positions × vocabulary tensors alive at once per chunk (both models' logits, p, q and min(p, q)
# for one temperature, with room for softmax temporaries): 8 such tensors.
LOGITS_BUDGET_BYTES = 256 * 2 ** 20
_TENSORS_PER_CHUNK = 8
MAX_TEMPERATURES = 64
CONTINUATIONS = ("sampled", "greedy")
MAX_NEW_TOKENS = 1 << 16


@dataclass(frozen=True)
class AcceptanceConfig:
    """Every user setting of one ``specplan acceptance`` invocation."""

    target: ModelSource
    draft: ModelSource
    temperatures: tuple = (0.0, 1.0)
    top_p: float = 1.0
    max_new_tokens: int = 64
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    prompts_file: str | None = None
    num_prompts: int = 8
    bootstrap: int = 1000
    seed: int = 0
    continuation: str = "sampled"  # sampled: one text per temperature, sampled at it; greedy: one greedy text

    def __post_init__(self):
        if self.continuation not in CONTINUATIONS:
            raise SpecplanError(f"--continuation {self.continuation!r}: choose from {', '.join(CONTINUATIONS)}")
        if not self.temperatures:
            raise SpecplanError("--temperature: give at least one temperature (0 = greedy)")
        count_in(len(self.temperatures), "--temperature (count)", 1, MAX_TEMPERATURES)
        for t in self.temperatures:
            number_in(t, "--temperature", 0.0, 1e6)
        number_in(self.top_p, "--top-p", 0.0, 1.0, low_open=True)
        count_in(self.max_new_tokens, "--max-new-tokens", 2, MAX_NEW_TOKENS)
        count_in(self.num_prompts, "--num-prompts", 1, 1_000_000)
        count_in(self.bootstrap, "--bootstrap", 10, 1_000_000)
        count_in(self.seed, "--seed", 0, (1 << 63) - 1)


def series(temperatures: tuple) -> list[tuple[float, str]]:
    """(temperature, rule) of every result column. At T = 0 the lossless and argmax-drafting rules both reduce to
    the greedy rule (one-hot p and q), so it is the one rule there."""
    out = []
    for t in temperatures:
        out += [(t, GREEDY)] if t == 0.0 else [(t, LOSSLESS), (t, ARGMAX_DRAFT)]
    return out


def lossless(p, q):
    """Σ_v min(p(v), q(v)) over the last axis: acceptance of rejection sampling with draft probabilities q
    (Leviathan et al. 2023, β = 1 − TV(p, q))."""
    import torch

    return torch.minimum(p, q).sum(dim=-1)


def argmax_draft(p, draft_token):
    """p(argmax q): the draft proposes its argmax and is judged as one-hot, accepted with p(x) (vLLM's default
    ``draft_sample_method: "greedy"``)."""
    return p.gather(-1, draft_token.unsqueeze(-1)).squeeze(-1)


def greedy_match(target_logits, draft_logits):
    """[argmax p = argmax q]: greedy acceptance, 1.0 or 0.0 per position."""
    return (target_logits.argmax(dim=-1) == draft_logits.argmax(dim=-1)).float()


def rule_columns(target_logits, draft_logits, columns: list, top_p: float):
    """(positions, M) acceptance of the draft token at each position for each (temperature, rule) of ``columns``,
    from (positions, V) logits of both models."""
    import torch

    from specplan.measure.engines.probs import Sampling, probabilities

    draft_token = draft_logits.argmax(dim=-1)
    out, cached = [], {}
    for temperature, rule in columns:
        if rule == GREEDY:
            out.append(greedy_match(target_logits, draft_logits))
            continue
        if temperature not in cached:
            cached.clear()  # one temperature's p (and q) alive at a time
            sampling = Sampling(temperature, top_p)
            cached[temperature] = (probabilities(target_logits, sampling), sampling)
        p, sampling = cached[temperature]
        if rule == ARGMAX_DRAFT:
            out.append(argmax_draft(p, draft_token))
        else:
            out.append(lossless(p, probabilities(draft_logits, sampling)))
    return torch.stack(out, dim=-1)


def chunk_positions(vocab_rows: int, budget_bytes: int = LOGITS_BUDGET_BYTES) -> int:
    """Positions per chunk so that the chunk's float32 positions × vocabulary tensors stay within the budget."""
    return max(1, budget_bytes // (vocab_rows * 4 * _TENSORS_PER_CHUNK))


def position_acceptance(target, draft, prompt_ids, continuation: list, columns: list, top_p: float,
                        vocab_tokens: int, chunk: int):
    """(N − 1, M) numpy: acceptance of a draft token for continuation index 1 … N − 1 under each column, from one
    teacher-forced pass of each model over prompt + continuation, ``chunk`` positions at a time (each model keeps
    its KV cache across chunks)."""
    import torch

    from specplan.measure.engines.cache import new_cache
    from specplan.measure.engines.step import forward

    with torch.inference_mode():
        caches = (new_cache(target, rollback=False), new_cache(draft, rollback=False))
        for model, cache in zip((target, draft), caches):
            forward(model, prompt_ids, cache, 1, vocab_tokens)  # prefill; its logits predict token 0 (no round)
        ids = torch.tensor(continuation[:-1], dtype=torch.long, device=prompt_ids.device)
        parts = []
        for start in range(0, len(ids), chunk):
            piece = ids[start:start + chunk].view(1, -1)
            logits = [forward(m, piece, c, piece.shape[1], vocab_tokens) for m, c in zip((target, draft), caches)]
            parts.append(rule_columns(logits[0], logits[1], columns, top_p).cpu())
            del logits
        return torch.cat(parts).double().numpy()
