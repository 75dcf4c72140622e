"""The ``engine: vllm`` measured profile (written by ``specplan profile --engine vllm``): vLLM's own step times on
one device, read by plan through the :class:`specplan.plan.profile_kinds.Profile` protocol. No fitted curve: plan
interpolates the measured tables.

- ``batch_decode``: [{params, batch, step_s}]: one decode step of ``batch`` running requests (vLLM's per-step
  engine work included), per model size.
- ``verify``: [{params, tokens, step_s}]: a pass of ``tokens`` new tokens over a cached context (batch 1).
- ``prefill`` (optional): [{params, batch, tokens, prefill_s}]: a wave of ``batch`` fresh prompts of ``tokens``
  tokens generating their first token; plan scales it linearly to its --prompt-tokens.
- ``rounds``: [{target_params, draft_params, gamma, batch, round_s, acceptance}]: one speculative round of the
  pair at γ and batch B, measured with a random-weight draft that is rejected at the first position (every round
  drafts γ and verifies γ + 1; ``acceptance`` is vLLM's own count, ~0).

A step of k new tokens at batch B, size P: k = 1 reads ``batch_decode`` at B; B = 1 reads ``verify`` at k; other
steps read ``batch_decode`` at k·B tokens (as many query tokens over as many contexts' worth of attention). Between
measured points: linear in tokens, log-log in P; beyond them the nearest two points' line is extended.

The round overhead o(γ, B) (plan's per-round term, docs/theory.md §5) is what the measured round costs beyond the
forward steps plan charges for it on this same profile: o = round_s − γ·t(N, 1, B) − t(M, γ+1, B), so that plan's
round R = γ·t(N, 1, B) + t(M, γ+1, B) + o reproduces the measured round at the measured pair (o may be negative:
the tables' verification at k·B tokens over-counts attention reads). At the measured pair R is floored at one target
decode step t(M, 1, B), so no noise can make plan promise more than E(α, γ) tokens per target step.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from specplan.checks import is_finite_number, shown
from specplan.errors import SpecplanError
from specplan.plan.architecture import Architecture
from specplan.plan.hardware import check_mapping

ENGINE = "vllm"
MAX_STEP_S = 1000.0

# key -> (accepted types, required); the tables plan reads, then what is kept for people.
SCHEMA = {
    "name": (str, True), "kind": (str, True), "engine": (str, True), "dtype": (str, True),
    "batch_decode": (list, True), "verify": (list, True), "rounds": (list, True), "prefill": (list, False),
    "description": (str, False), "device": (str, False), "context_tokens": (int, False),
    "max_tokens": (int, False), "batch_sizes": (list, False), "settings": (dict, False), "skipped": (list, False),
    "environment": (dict, False), "created": (str, False), "partial": (bool, False), "notes": (list, False),
}
ROW_KEYS = {
    "batch_decode": ("params", "batch", "step_s"),
    "verify": ("params", "tokens", "step_s"),
    "rounds": ("target_params", "draft_params", "gamma", "batch", "round_s"),
    "prefill": ("params", "batch", "tokens", "prefill_s"),
}


def _line(xs, ys, x: float) -> float:
    """Piecewise-linear through (xs, ys) sorted by x, the end segments extended; one point is held."""
    if len(xs) == 1:
        return float(ys[0])
    i = int(np.clip(np.searchsorted(xs, x) - 1, 0, len(xs) - 2))
    x0, x1, y0, y1 = xs[i], xs[i + 1], ys[i], ys[i + 1]
    return float(y0 + (y1 - y0) * (x - x0) / (x1 - x0))


def _across_sizes(table: dict, params: float, read) -> float:
    """``read(xs, ys)`` of the size's own row of ``table`` (params -> (xs, ys)), else log-log between the two
    nearest measured sizes (the end pair's line extended beyond them); one size is held."""
    sizes = sorted(table)
    if params in table or len(sizes) == 1:
        return read(*table[params if params in table else sizes[0]])
    logs = np.log(sizes)
    i = int(np.clip(np.searchsorted(logs, math.log(params)) - 1, 0, len(sizes) - 2))
    ya, yb = (math.log(max(read(*table[s]), 1e-12)) for s in (sizes[i], sizes[i + 1]))
    return math.exp(ya + (yb - ya) * (math.log(params) - logs[i]) / (logs[i + 1] - logs[i]))


@dataclass(frozen=True)
class VllmProfile:
    """A device described by vLLM's measured steps and rounds (the module docstring)."""

    name: str
    dtype: str
    decode: dict  # params -> ((batch, ...), (step_s, ...)) sorted by batch
    verify: dict  # params -> ((tokens, ...), (step_s, ...)) sorted by tokens
    rounds: tuple  # (target_params, draft_params, gamma, batch, round_s)
    prefill: tuple = ()  # (params, batch, tokens, prefill_s)
    description: str = ""
    extra: dict = field(default_factory=dict)
    kind: str = "measured"
    engine: str = ENGINE

    # vLLM's per-step work is inside every measured step and round: no separate loop terms, no cold step.
    loop_step_overhead_s = 0.0
    round_overhead_s = 0.0
    memory_gb = None
    interconnect = ""
    interconnect_bandwidth_gb_s = None
    interconnect_latency_us = None

    @property
    def dtypes(self) -> tuple:
        return (self.dtype,)

    def check_dtype(self, dtype: str | None) -> str:
        if dtype not in (None, self.dtype):
            raise SpecplanError(f"--dtype {dtype!r}: profile {self.name!r} was measured in {self.dtype}")
        return self.dtype

    @property
    def measured_tokens(self) -> int:
        """The largest verification the rounds covered, K·B_max tokens (K the largest pass measured, γ ≤ K − 1 at
        B ≤ B_max): beyond it plan extends the tables' last segments, and says so."""
        return max(max(tokens) for tokens, _ in self.verify.values()) * max(self.batch_sizes)

    @property
    def measured_params(self) -> tuple:
        return (min(self.decode), max(self.decode))

    @property
    def batch_sizes(self) -> tuple:
        return tuple(sorted({b for batches, _ in self.decode.values() for b in batches}))

    def tokens_s(self, params: float, tokens: int, batch: int) -> float:
        """Seconds of one step of ``batch`` sequences with ``tokens`` new tokens each, for a model of ``params``."""
        if tokens == 1 or batch > 1:
            return _across_sizes(self.decode, params, lambda xs, ys: _line(xs, ys, tokens * batch))
        return _across_sizes(self.verify, params, lambda xs, ys: _line(xs, ys, tokens))

    def step_s(self, arch: Architecture, tokens: int, batch: int, dtype: str | None, context_tokens: int, tp: int,
               aspect_ratio: float | None = None) -> float:
        self.check_dtype(dtype)
        self._check_one_device(tp)
        return self.tokens_s(arch.params_active, tokens, batch)

    @property
    def prefill_per_param_token_s(self) -> float | None:
        """The measured prefill per parameter and prompt token at batch 1 (largest size); None where not measured
        (plan then says its prefill is the step tables extrapolated)."""
        rows = [r for r in self.prefill if r[1] == 1]
        if not rows:
            return None
        params, _, tokens, seconds = max(rows)
        return seconds / (params * tokens)

    def prefill_s(self, arch: Architecture, tokens: int, batch: int, dtype: str | None, tp: int,
                  aspect_ratio: float | None = None) -> float:
        """A wave of ``batch`` prompts of ``tokens`` tokens to their first token: the ``prefill`` table at B (linear
        in B between measured batch sizes, log-log in size), scaled by tokens / the tokens measured; without the
        table, the step tables at ``tokens·batch`` tokens."""
        self.check_dtype(dtype)
        self._check_one_device(tp)
        if not self.prefill:
            return self.tokens_s(arch.params_active, tokens * batch, 1)
        table = _table([(p, b, s / t) for p, b, t, s in self.prefill])  # seconds per prompt token
        return tokens * _across_sizes(table, arch.params_active, lambda xs, ys: _line(xs, ys, batch))

    def round_overhead_at(self, gamma: int, batch: int) -> float:
        """o(γ, B) in seconds (module docstring), the mean over the measured pairs at the nearest measured γ;
        linear in B between measured batch sizes, the end values held beyond them."""
        gammas = sorted({r[2] for r in self.rounds})
        g = min(gammas, key=lambda x: (abs(x - gamma), -x))
        by_batch = {}
        for target, draft, _, b, round_s in (r for r in self.rounds if r[2] == g):
            modelled = g * self.tokens_s(draft, 1, b) + self.tokens_s(target, g + 1, b)
            floor = self.tokens_s(target, 1, b) - modelled  # a round costs at least one target decode step
            by_batch.setdefault(b, []).append(max(round_s - modelled, floor))
        batches = sorted(by_batch)
        values = [float(np.mean(by_batch[b])) for b in batches]
        return float(np.interp(batch, batches, values))

    def _check_one_device(self, tp: int) -> None:
        if tp != 1:
            raise SpecplanError(f"profile {self.name!r} was measured on one device: tensor parallelism {tp} needs a "
                                "roofline profile with interconnect figures")

    def cold_step_extra_s(self, params: float) -> float:
        return 0.0  # inside the measured rounds

    def leave_one_out_error(self, params: float) -> None:
        return None

    def key_figures(self) -> dict:
        smallest = min(self.decode)
        return {"dtype": self.dtype, "step_overhead_us": self.tokens_s(smallest, 1, 1) * 1e6,
                "layer_overhead_us": None}


def _rows(data: dict, key: str, where: str) -> list:
    """The table ``key``: a non-empty list of mappings with positive finite figures (counts as integers ≥ 1)."""
    rows = data[key]
    if not rows:
        raise SpecplanError(f"{where}: {key} is empty; re-run `specplan profile --engine vllm`")
    out = []
    for row in rows:
        if not isinstance(row, dict):
            raise SpecplanError(f"{where}: {key} rows must be mappings, got {shown(row)}")
        values = []
        for name in ROW_KEYS[key]:
            value = row.get(name)
            counted = name in ("batch", "tokens", "gamma")
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1 if counted else \
                is_finite_number(value) and 0 < value < (MAX_STEP_S if name.endswith("_s") else math.inf)
            if not ok:
                raise SpecplanError(f"{where}: {key}.{name} must be a positive {'integer' if counted else 'number'}, "
                                    f"got {shown(value)}")
            values.append(float(value) if not counted else value)
        out.append(tuple(values))
    return out


def _table(rows: list) -> dict:
    """params -> (sorted xs, their seconds); a repeated (params, x) is averaged."""
    grouped = {}
    for params, x, seconds in rows:
        grouped.setdefault(params, {}).setdefault(x, []).append(seconds)
    return {p: (tuple(sorted(xs)), tuple(float(np.mean(xs[x])) for x in sorted(xs))) for p, xs in grouped.items()}


def vllm_profile_from_dict(data: dict, where: str) -> VllmProfile:
    """Validate an ``engine: vllm`` profile mapping and build it; every bad value is named in one line."""
    check_mapping(data, SCHEMA, where)
    decode = _table(_rows(data, "batch_decode", where))
    verify = _table(_rows(data, "verify", where))
    rounds = tuple(_rows(data, "rounds", where))
    prefill = tuple(_rows(data, "prefill", where)) if data.get("prefill") else ()
    if set(verify) != set(decode):
        raise SpecplanError(f"{where}: verify and batch_decode must hold the same model sizes")
    if len(decode) < 2:
        raise SpecplanError(f"{where}: measured on one model size only ({shown(next(iter(decode)))} parameters), so "
                            "it cannot interpolate to other sizes; re-run `specplan profile --engine vllm` with two "
                            "or more sizes")
    for params in decode:
        if 1 not in decode[params][0]:
            raise SpecplanError(f"{where}: batch_decode has no batch-1 step for {params:g} parameters")
    known = {"name", "kind", "engine", "dtype", "batch_decode", "verify", "rounds", "prefill", "description"}
    return VllmProfile(name=data["name"], dtype=data["dtype"], decode=decode, verify=verify, rounds=rounds,
                       prefill=prefill,
                       description=data.get("description", ""),
                       extra={k: v for k, v in data.items() if k not in known})

