"""``acceptance``: measure a pair's acceptance without running the speculative loop.

The target continues each prompt once (per temperature, sampling at it; or once greedily for all); one
teacher-forced pass of each model over prompt + continuation gives both distributions at every position, and from
them, for each temperature and engine rule, the chance that a draft token is accepted at that position: on average
over the token the round emits, and given that it emits the text's token (what the rounds simulated along the text,
``specplan.plan.acceptance_math``, need). Positions go through the models in chunks, so no positions ×
vocabulary tensor exceeds :data:`LOGITS_BUDGET_BYTES`. torch is imported inside functions only.
"""

from dataclasses import dataclass

from specplan.checks import count_in, number_in
from specplan.errors import SpecplanError
from specplan.measure.loading import ModelSource
from specplan.plan.temperature import ARGMAX_DRAFT, GREEDY, LOSSLESS

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
    continuations_file: str | None = None  # read the texts from records instead of decoding them

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


def greedy_match(target_logits, draft_logits, greedy_tokens=None):
    """[argmax p = argmax q]: greedy acceptance, 1.0 or 0.0 per position; argmax p is ``greedy_tokens`` where
    ``target_logits`` is None (the target's own greedy text: its argmax at every position)."""
    target_argmax = target_logits.argmax(dim=-1) if target_logits is not None else greedy_tokens
    return (target_argmax == draft_logits.argmax(dim=-1)).float()


def lossless_given(p, q, token):
    """P(accept | the round's token is x) = min(p, q)(x) / p(x) under rejection sampling: x comes out accepted
    with q(x) · min(1, p(x)/q(x)) = min(p, q)(x) and in all with p(x) (Leviathan et al. 2023, Algorithm 1); 0 where
    p(x) = 0 (a token the loop never emits)."""
    import torch

    pick = token.unsqueeze(-1)
    px, qx = p.gather(-1, pick).squeeze(-1), q.gather(-1, pick).squeeze(-1)
    return torch.where(px > 0, torch.minimum(px, qx) / px.clamp_min(1e-30), torch.zeros_like(px))


def argmax_given(draft_token, token):
    """P(accept | the round's token is x) = [x = argmax q] under argmax drafting: the proposal is accepted
    exactly when the emitted token is the proposal (a rejection resamples from p without it)."""
    return (draft_token == token).float()


def rule_columns(target_logits, draft_logits, columns: list, top_p: float, tokens=None):
    """Acceptance at each position for each (temperature, rule) of ``columns``, from (positions, V) logits of
    both models: ``(mean, given)``, each (positions, M).

    ``mean`` is the chance a draft token is accepted there, over the token the round emits (Σ min(p, q),
    p(argmax q), [argmax p = argmax q]); ``given`` the chance given that the emitted token is ``tokens``' (the
    text's, (positions,)): min(p, q)(x) / p(x), [x = argmax q], and the greedy rule unchanged. Rounds simulated
    along a text sampled from the target need ``given``: E_x~p[given] = mean at each position, but the text's
    later positions depend on its token here, so a run's chance is the product of the given chances, not of the
    means. ``target_logits`` None: every column greedy, ``tokens`` the target's greedy text."""
    import torch

    from specplan.measure.engines.probs import Sampling, probabilities

    draft_token = draft_logits.argmax(dim=-1)
    mean, given, cached = [], [], {}
    for temperature, rule in columns:
        if rule == GREEDY:
            mean.append(greedy_match(target_logits, draft_logits, tokens))
            given.append(mean[-1])
            continue
        if temperature not in cached:
            cached.clear()  # one temperature's p (and q) alive at a time
            sampling = Sampling(temperature, top_p)
            cached[temperature] = (probabilities(target_logits, sampling), sampling)
        p, sampling = cached[temperature]
        if rule == ARGMAX_DRAFT:
            mean.append(argmax_draft(p, draft_token))
            given.append(mean[-1] if tokens is None else argmax_given(draft_token, tokens))
        else:
            q = probabilities(draft_logits, sampling)
            mean.append(lossless(p, q))
            given.append(mean[-1] if tokens is None else lossless_given(p, q, tokens))
            del q
    return torch.stack(mean, dim=-1), torch.stack(given, dim=-1)


def chunk_positions(vocab_rows: int, budget_bytes: int = LOGITS_BUDGET_BYTES) -> int:
    """Positions per chunk so that the chunk's float32 positions × vocabulary tensors stay within the budget."""
    return max(1, budget_bytes // (vocab_rows * 4 * _TENSORS_PER_CHUNK))


def position_acceptance(target, draft, prompt_ids, continuation: list, columns: list, top_p: float,
                        vocab_tokens: int, chunk: int, seconds: dict | None = None, greedy_text: bool = False):
    """``(mean, given)`` numpy (N − 1, M) each (see :func:`rule_columns`; ``given`` conditions on the text's own
    tokens): acceptance of a draft token for continuation index 1 … N − 1 under each column, from one
    teacher-forced pass of each model over prompt + continuation, ``chunk`` positions at a time (each model keeps
    its KV cache across chunks). ``greedy_text``: the continuation is the target's own greedy text and every
    column greedy, so argmax p is the text's next token and only the draft runs. ``seconds``, if given, gains the
    time of the passes (``teacher_forced``) and of the rules (``rules``)."""
    import time

    import torch

    from specplan.measure.engines.cache import new_cache
    from specplan.measure.engines.step import forward

    def now():
        if prompt_ids.device.type == "cuda":
            torch.cuda.synchronize(prompt_ids.device)
        return time.perf_counter()

    spent = {"teacher_forced": 0.0, "rules": 0.0}
    with torch.inference_mode():
        started = now()
        models = (draft,) if greedy_text and all(rule == GREEDY for _, rule in columns) else (target, draft)
        caches = [new_cache(m, rollback=False) for m in models]
        ids = torch.tensor(continuation, dtype=torch.long, device=prompt_ids.device)
        means, givens = [], []
        for start in range(0, len(ids) - 1, chunk):
            piece = ids[start:min(start + chunk, len(ids) - 1)].view(1, -1)
            # the first chunk is the prefill too: prompt + piece, keeping the piece's logits (the prompt's last
            # logits predict token 0, which no round drafts)
            fed = torch.cat([prompt_ids, piece], dim=1) if start == 0 else piece
            logits = [forward(m, fed, c, piece.shape[1], vocab_tokens) for m, c in zip(models, caches)]
            logits = [None, *logits] if len(models) == 1 else logits
            scored = now()
            spent["teacher_forced"] += scored - started
            emitted = ids[start + 1:start + 1 + piece.shape[1]]  # the text's token at each scored position
            mean, given = rule_columns(logits[0], logits[1], columns, top_p, emitted)
            means.append(mean.cpu())
            givens.append(given.cpu())
            del logits
            started = now()
            spent["rules"] += started - scored
    if seconds is not None:
        for key, value in spent.items():
            seconds[key] = seconds.get(key, 0.0) + value
    return torch.cat(means).double().numpy(), torch.cat(givens).double().numpy()
