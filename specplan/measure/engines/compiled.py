"""The compiled engine: ``ar`` and ``sd`` as a serving engine runs them, in plain PyTorch (gpt-fast style): a static
KV cache sized for the workload (:mod:`specplan.measure.engines.static_cache`) and every forward step compiled once
per shape — the 1-token decode step, the γ+1-token verification, the prefill — with CUDA graphs on CUDA
(``torch.compile(mode="reduce-overhead")``) and inductor's default on the CPU. A rollback moves the cache's write
position; nothing is copied.

:func:`decode_ar` and :func:`decode_sd` take the arguments of :func:`~specplan.measure.engines.ar.decode_ar` and
:func:`~specplan.measure.engines.sd.decode_sd` and return the same :class:`~specplan.measure.engines.step.Decoded`,
with the same acceptance rule (:mod:`~specplan.measure.engines.accept`) and probabilities
(:mod:`~specplan.measure.engines.probs`): greedy output equals eager ``ar``'s, sampled output follows the target.
Call :func:`prepare` first (untimed): it builds the caches, compiles every shape and runs one warm-up decode per
engine, and returns the :class:`CompileReport` that is recorded apart from the timed runs. A decode that meets a
shape or a length :func:`prepare` did not cover compiles it on the spot and says so in :func:`compile_report`.

Shapes: the draft runs 1-token steps only (after a fully accepted round it catches up its unseen last draft as a
1-token step, as gpt-fast does); the target verifies γ+1 tokens in every round, also the last, shortened ones
(rows past the round's k drafts are ignored, so tokens and counts are those of eager ``sd``), and takes a 1-token
step when a round has no draft (k = 0) and in ``ar``. The prefill is compiled with a dynamic length (one graph
for every prompt length, no CUDA graph).
"""

import time
import weakref
from dataclasses import dataclass, field

import torch

from specplan.measure import devices
from specplan.measure.engines.accept import accept, accept_greedy
from specplan.measure.engines.probs import Sampling, choose, probabilities, sample
from specplan.measure.engines.round_clock import NoClock
from specplan.measure.engines.static_cache import (
    keep_mask_when_compiling, missing_internals, new_static_cache, restart, rewind, unsupported_layer_types)
from specplan.measure.engines.step import Decoded, cache_argument

NAME = "compiled"
RECOMPILE_LIMIT = 256  # graphs per code object: transformers wraps every forward in one decorator, so the limit
# counts shapes × roles × models of the whole process (a test run or a survey compiles dozens)
# Model types whose transformers forward does not compile as one graph with a static cache (measured over the
# architecture matrix of tests/architectures.py on transformers 5.24 / torch 2.13; docs/compiled.md).
NOT_ONE_GRAPH = {"opt": "its learned positions are cut at the cache length, a tensor in a static cache (a data-dependent "
                        "slice that does not compile as one graph)"}


@dataclass(frozen=True)
class CompileReport:
    """What preparing the compiled engine cost, kept apart from the timed runs: the torch.compile mode, the cache
    length, the seconds of each model's first call per shape (compilation + one run), and the warm-up decodes."""

    mode: str
    positions: dict  # role -> static cache length
    compile_s: dict  # "target 1", "target 5", "target prefill", "draft 1", ... -> seconds
    warmup_s: float
    late_compiles: tuple = ()  # shapes first met inside a decode (their compile time was inside that run)

    @property
    def total_compile_s(self) -> float:
        return sum(self.compile_s.values())

    def as_dict(self) -> dict:
        return {"engine": NAME, "mode": self.mode, "positions": dict(self.positions),
                "compile_s": dict(self.compile_s), "total_compile_s": self.total_compile_s,
                "warmup_s": self.warmup_s, "late_compiles": list(self.late_compiles)}


def refuses(config) -> str | None:
    """One line when the compiled path cannot run a model of ``config`` (no weights needed), else None."""
    missing = missing_internals()
    if missing:
        return f"{missing}: the compiled engine needs it; use the eager engines"
    architecture = (getattr(config, "architectures", None) or [type(config).__name__])[0]
    model = f"a {config.model_type} model ({architecture})"
    kinds = unsupported_layer_types(config)
    if kinds:
        return (f"{model} with cache layers of type {', '.join(kinds)}: the compiled engine's static cache rolls "
                f"back attention layers only; use the eager engines")
    if config.model_type in NOT_ONE_GRAPH:
        return f"{model}: {NOT_ONE_GRAPH[config.model_type]}; use the eager engines"
    return None


@dataclass
class _Model:
    """One model's static cache and compiled steps (by new-token count, and ``"prefill"``)."""

    cache: object
    positions: int
    mode: str
    backend: str = "inductor"  # torch.compile's; "eager" / "aot_eager" capture the same graphs without codegen
    argument: str = "past_key_values"  # the name model.forward takes its cache under
    steps: dict = field(default_factory=dict)
    compile_s: dict = field(default_factory=dict)
    late: list = field(default_factory=list)
    warmup_s: float = 0.0  # the target's: the warm-up decodes of the last prepare

    @property
    def how(self) -> str:
        """The torch.compile mode, or the backend when it is not inductor."""
        return self.mode if self.backend == "inductor" else self.backend


# model -> role ("target" | "draft") -> its state: a model used as its own draft gets a second cache
_STATE = weakref.WeakKeyDictionary()


def mode_for(device) -> str:
    return "reduce-overhead" if torch.device(device).type == "cuda" else "default"


def prepare(target, draft, prompt_ids: torch.Tensor, max_new_tokens: int, gammas, sampling: Sampling,
            vocab_tokens: int, max_prompt_tokens: int | None = None, engines=("ar", "sd"),
            backend: str = "inductor") -> CompileReport:
    """Size both caches for the workload (the longest prompt + ``max_new_tokens`` + the largest γ + 1), compile
    every step shape the engines will take, then run one untimed decode per engine (and γ) on ``prompt_ids``.
    ``backend``: torch.compile's; "eager" / "aot_eager" capture the same single graphs without generating kernels
    (cheap, for checking an architecture compiles; their timings are not a compiled engine's)."""
    gammas = tuple(gammas) if "sd" in engines else ()
    positions = (max_prompt_tokens or prompt_ids.shape[1]) + max_new_tokens + max(gammas, default=0) + 1
    for role, model, shapes in (("target", target, (1, *(g + 1 for g in gammas))), ("draft", draft, (1,))):
        if role == "draft" and not gammas:
            continue
        state = _ready(model, role, positions, backend)
        for n in ("prefill", *sorted(set(shapes))):
            _compiled(state, model, n, prompt_ids, vocab_tokens, late=False)
    start = time.perf_counter()
    generator = torch.Generator(device=prompt_ids.device).manual_seed(0)
    if "ar" in engines:
        decode_ar(target, prompt_ids, max_new_tokens, sampling, generator, vocab_tokens)
    for gamma in gammas:
        decode_sd(target, draft, prompt_ids, gamma, max_new_tokens, sampling, generator, vocab_tokens)
    devices.synchronize(str(prompt_ids.device))
    _STATE[target]["target"].warmup_s = time.perf_counter() - start
    return compile_report(target, draft if gammas else None)


def compile_report(target, draft=None) -> CompileReport:
    """Everything compiled so far for ``target`` (and ``draft``), and the warm-up of the last :func:`prepare`."""
    roles = [("target", target)] + ([("draft", draft)] if draft is not None else [])
    states = [(role, _STATE[model][role]) for role, model in roles if role in _STATE.get(model, {})]
    if not states:
        return CompileReport(mode_for(target.device), {}, {}, 0.0)
    return CompileReport(states[0][1].how, {role: s.positions for role, s in states},
                         {f"{role} {n}": sec for role, s in states for n, sec in s.compile_s.items()},
                         states[0][1].warmup_s, tuple(f"{role} {n}" for role, s in states for n in s.late))


@torch.inference_mode()
def decode_ar(target, prompt_ids: torch.Tensor, max_new_tokens: int, sampling: Sampling,
              generator: torch.Generator, vocab_tokens: int) -> Decoded:
    """:func:`specplan.measure.engines.ar.decode_ar` on the static cache with compiled steps."""
    state = _ready(target, "target", prompt_ids.shape[1] + max_new_tokens + 1)
    restart(state.cache)
    logits = _prefill(state, target, prompt_ids, vocab_tokens)
    tokens = []
    for _ in range(max_new_tokens):
        token = choose(logits[-1], sampling, generator)
        tokens.append(token)
        if len(tokens) < max_new_tokens:
            logits = _step(state, target, token.view(1, 1), vocab_tokens)
    return Decoded(torch.stack(tokens).tolist())


@torch.inference_mode()
def decode_sd(target, draft, prompt_ids: torch.Tensor, gamma: int, max_new_tokens: int, sampling: Sampling,
              generator: torch.Generator, vocab_tokens: int, on_round=None, clock=None) -> Decoded:
    """:func:`specplan.measure.engines.sd.decode_sd` on static caches with compiled steps; the same invariant
    between rounds (the target lacks the last committed token, the draft the 1 or 2 tokens in ``pending``)."""
    clock = clock or NoClock()
    clock.begin()
    positions = prompt_ids.shape[1] + max_new_tokens + gamma + 1
    t_state, d_state = _ready(target, "target", positions), _ready(draft, "draft", positions)
    restart(t_state.cache)
    restart(d_state.cache)
    first = choose(_prefill(t_state, target, prompt_ids, vocab_tokens)[-1], sampling, generator)
    _prefill(d_state, draft, prompt_ids, vocab_tokens)
    tokens, drafted, accepted = [first.view(1)], [], []
    pending, last, emitted = [first], first, 1
    while emitted < max_new_tokens:
        k = min(gamma, max_new_tokens - emitted - 1)  # the drafts this round counts (eager sd's k)
        clock.start()
        if k:
            drafts, q = _propose(d_state, draft, pending, gamma, sampling, generator, vocab_tokens)
        else:  # the last token of a run: no draft, one target step
            drafts = torch.empty(0, dtype=torch.long, device=first.device)
            q = None if sampling.argmax else torch.empty(0, vocab_tokens, device=first.device)
        clock.lap()
        verify_ids = torch.cat([last.view(1), drafts]).view(1, -1)  # (1, γ+1), or (1, 1) when k = 0
        logits = _step(t_state, target, verify_ids, vocab_tokens)
        clock.lap()
        j, next_token = _verdict(logits[:k + 1], None if q is None else q[:k], drafts[:k], sampling, generator)
        rewind(t_state.cache, verify_ids.shape[1] - 1 - j)  # keep the last committed token + j accepted drafts
        if j < drafts.shape[0]:
            rewind(d_state.cache, drafts.shape[0] - 1 - j)  # the draft ran on x_1..x_{γ-1}; keep x_1..x_j
            pending = [next_token]
        else:  # all γ accepted: the draft never ran on x_γ (nor on the pending tokens, when k = 0)
            pending = ([drafts[-1]] if k else pending) + [next_token]
        tokens.append(torch.cat([drafts[:j], next_token.view(1)]))
        drafted.append(k)
        accepted.append(j)
        emitted += j + 1
        last = next_token
        clock.end(k)
        if on_round is not None:
            on_round(t_state.cache, d_state.cache, emitted, len(pending))
    return Decoded(torch.cat(tokens).tolist(), drafted, accepted)


def _verdict(logits, q, draft_tokens, sampling: Sampling, generator) -> tuple[int, torch.Tensor]:
    if sampling.argmax:
        return accept_greedy(logits.argmax(dim=-1), draft_tokens)
    return accept(probabilities(logits, sampling), q, draft_tokens, generator)


def _propose(state, draft, pending: list, gamma: int, sampling: Sampling, generator, vocab_tokens: int):
    """γ draft tokens (γ,) and, when sampling, the (γ, V) probabilities they were drawn from; the draft first
    catches up on its unseen tokens (all of ``pending`` but the last) with 1-token steps."""
    for unseen in pending[:-1]:
        _step(state, draft, unseen.view(1, 1), vocab_tokens)
    x, proposed, q_rows = pending[-1], [], []
    for _ in range(gamma):
        logits = _step(state, draft, x.view(1, 1), vocab_tokens)[-1]
        if sampling.argmax:
            x = logits.argmax(dim=-1)
        else:
            q_rows.append(probabilities(logits, sampling))
            x = sample(q_rows[-1], generator)
        proposed.append(x)
    return torch.stack(proposed), (torch.stack(q_rows) if q_rows else None)


# ---------------------------------------------------------------- the compiled steps

def _ready(model, role: str, positions: int, backend: str | None = None) -> _Model:
    """The model's state in ``role`` with a cache of at least ``positions`` (and ``backend``, when given); a longer
    workload gets a new cache (and so new graphs)."""
    state = _STATE.setdefault(model, {}).get(role)
    if state is None or state.positions < positions or backend not in (None, state.backend):
        configure()
        state = _Model(new_static_cache(model, positions), positions, mode_for(model.device), backend or "inductor",
                       cache_argument(model))
        _STATE[model][role] = state
    return state


def configure() -> None:
    """What every compiled step needs before it is traced: the sdpa mask kept while compiling, and dynamo's
    recompile limits raised to ``RECOMPILE_LIMIT`` (idempotent)."""
    keep_mask_when_compiling()
    dynamo = torch._dynamo.config
    dynamo.recompile_limit = max(dynamo.recompile_limit, RECOMPILE_LIMIT)
    dynamo.accumulated_recompile_limit = max(dynamo.accumulated_recompile_limit, 8 * RECOMPILE_LIMIT)


def _compiled(state: _Model, model, n, sample_ids: torch.Tensor, vocab_tokens: int, late: bool):
    """The compiled step for ``n`` new tokens (or the prefill), compiled and run once (timed) if new."""
    if n in state.steps:
        return state.steps[n]
    if n == "prefill":  # one graph for every prompt length; no CUDA graph (one per length would be recorded)
        fn = torch.compile(model.forward, fullgraph=True, dynamic=True, backend=state.backend)
        ids = sample_ids
    else:
        options = {} if state.mode == "default" or state.backend != "inductor" else {"mode": state.mode}
        fn = torch.compile(model.forward, fullgraph=True, dynamic=False, backend=state.backend, **options)
        ids = torch.zeros((1, n), dtype=torch.long, device=model.device)
    start = time.perf_counter()
    with torch.inference_mode():
        call(state, fn, ids, 1 if n == "prefill" else n, vocab_tokens)
    devices.synchronize(str(model.device))
    state.compile_s[n] = time.perf_counter() - start
    rewind(state.cache, ids.shape[1])
    state.steps[n] = fn
    if late:
        state.late.append(n)
    return fn


def call(state, fn, ids: torch.Tensor, keep: int, vocab_tokens: int) -> torch.Tensor:
    """(keep, V) logits of one compiled step ``fn`` on ``state``'s static cache (``state``: a :class:`_Model`, or
    anything with its ``cache``, ``argument``, ``mode`` and ``backend``); a CUDA graph's output is cloned."""
    graphs = state.mode == "reduce-overhead" and state.backend == "inductor"
    if graphs:
        torch.compiler.cudagraph_mark_step_begin()  # the previous step's outputs are consumed
    logits = fn(input_ids=ids, **{state.argument: state.cache}, use_cache=True, logits_to_keep=keep).logits
    logits = logits[0, -keep:, :vocab_tokens]
    return logits.clone() if graphs else logits  # a CUDA graph reuses its output


def _step(state: _Model, model, ids: torch.Tensor, vocab_tokens: int) -> torch.Tensor:
    """(n, V) logits for (1, n) ids appended to the model's static cache."""
    n = ids.shape[1]
    fn = state.steps.get(n) or _compiled(state, model, n, ids, vocab_tokens, late=True)
    return call(state, fn, ids, n, vocab_tokens)


def _prefill(state: _Model, model, prompt_ids: torch.Tensor, vocab_tokens: int) -> torch.Tensor:
    fn = state.steps.get("prefill") or _compiled(state, model, "prefill", prompt_ids, vocab_tokens, late=True)
    return call(state, fn, prompt_ids, 1, vocab_tokens)
