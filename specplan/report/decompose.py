"""Where a speculative run's time goes: the measured speedup decomposed into the loop's own terms.

A run of R rounds that drafted K tokens in all and emitted N tokens in T seconds spends F seconds before its first
round (both prefills and the first token), d·K on draft steps, R·v_s on verification passes and the rest,
T − F − d·K − R·v_s, on everything else a round does (acceptance, KV-cache rollback, bookkeeping, the round's
host sync). Divided by the AR loop's seconds per token t_AR (the paired ``ar`` runs, their prefill included):

    c_loop = d / t_AR,   v_loop = v_s / t_AR,   o_round = (T − F − d·K − R·v_s) / (R·t_AR),   f_round = F / (R·t_AR)

and the speedup is, exactly, S = t_AR / (T/N) = (N/R) / ((K/R)·c_loop + v_loop + o_round + f_round). The
loop-term prediction replaces the measured tokens per round N/R by E(α̂, γ) and K/R by γ (docs/theory.md §1):
S_loop = E(α̂, γ) / (γ·c_loop + v_loop + o_round + f_round). Beside c and v measured in isolation (latency
records) these terms say which part of a gap is the draft step in the loop, the verification in the loop, the
round's own overhead or the prefills (f_round shrinks as runs get longer; plan leaves it out). Pure Python, no torch.
"""

import statistics
from dataclasses import dataclass

from specplan.plan import theory
from specplan.records import typed


@dataclass(frozen=True)
class LoopTerms:
    """Pooled sums of one row's timed ``sd`` runs and their paired ``ar`` runs (seconds, counts)."""

    ar_s_per_token: float  # t_AR: Σ AR wall time / Σ AR tokens
    draft_step_s: float  # d: mean seconds of one draft step inside the loop (timed rounds)
    verify_s: float  # v_s: mean seconds of one verification pass inside the loop (timed rounds)
    rounds: int  # R
    drafted: int  # K
    tokens: int  # N
    seconds: float  # T
    prefill_s: float = 0.0  # F: before the first round (prefills, first token); 0 where not recorded

    @property
    def c_loop(self) -> float:
        return self.draft_step_s / self.ar_s_per_token

    @property
    def v_loop(self) -> float:
        return self.verify_s / self.ar_s_per_token

    @property
    def overhead_s(self) -> float:
        """Seconds per round outside the draft steps, the verification pass and the prefills."""
        rest = self.seconds - self.prefill_s - self.draft_step_s * self.drafted - self.verify_s * self.rounds
        return rest / self.rounds

    @property
    def o_round(self) -> float:
        return self.overhead_s / self.ar_s_per_token

    @property
    def f_round(self) -> float:
        return self.prefill_s / (self.rounds * self.ar_s_per_token)

    @property
    def pooled_speedup(self) -> float:
        """t_AR / (T/N): the measured speedup of the pooled sums."""
        return self.ar_s_per_token * self.tokens / self.seconds

    def speedup(self, tokens_per_round: float, drafts_per_round: float) -> float:
        """E / (γ·c_loop + v_loop + o_round + f_round) for the given tokens and drafts per round."""
        return tokens_per_round / (drafts_per_round * self.c_loop + self.v_loop + self.o_round + self.f_round)

    def measured_terms_speedup(self) -> float:
        """The decomposition fed its own measured N/R and K/R: equals :attr:`pooled_speedup` (up to rounding)."""
        return self.speedup(self.tokens / self.rounds, self.drafted / self.rounds)

    def predicted_speedup(self, alpha: float, gamma: int) -> float:
        """S_loop = E(α̂, γ) / (γ·c_loop + v_loop + o_round + f_round)."""
        return self.speedup(theory.expected_tokens_per_round(alpha, gamma), gamma)


def first_step_split(terms: list) -> tuple | None:
    """(x, d) for one pair's rows at several γ: a round's draft time, c_loop·K/R in t_AR, as a line x + d·(K/R)
    over the rows' mean drafts per round K/R (least squares). d is a draft step in the loop, x what the first step
    of each round costs beyond it (plan's x(N), the cold step of a measured profile; docs/theory.md §5). None with
    fewer than two distinct K/R."""
    points = [(t.drafted / t.rounds, t.c_loop * t.drafted / t.rounds) for t in terms if t.rounds]
    if len({round(k, 9) for k, _ in points}) < 2:
        return None
    line = statistics.linear_regression(*zip(*points))
    return line.intercept, line.slope


def loop_terms(paired: list) -> LoopTerms | None:
    """The terms of (ar record, sd record) pairs whose sd records carry ``round_times`` (docs/records.md);
    None when no run was timed per round. ``prefill_s`` counts where every timed run recorded it."""
    paired = [tuple(typed(pair)) for pair in paired]
    timed = [(ar, sd) for ar, sd in paired if sd.round_times is not None and sd.round_times.rounds]
    if not timed:
        return None
    ar_seconds = sum(ar.wall_time_s for ar, _ in timed)
    ar_tokens = sum(ar.new_tokens for ar, _ in timed)
    clocks = [sd.round_times for _, sd in timed]
    timed_drafts = sum(sum(c.drafted) for c in clocks)
    timed_rounds = sum(len(c.rounds) for c in clocks)
    if not (ar_seconds > 0 and ar_tokens and timed_drafts):
        return None
    return LoopTerms(
        ar_s_per_token=ar_seconds / ar_tokens,
        draft_step_s=sum(sum(c.draft_s) for c in clocks) / timed_drafts,
        verify_s=sum(sum(c.verify_s) for c in clocks) / timed_rounds,
        rounds=sum(len(sd.rounds.accepted) for _, sd in timed),  # round_times index these rounds: never empty
        drafted=sum(sum(sd.rounds.drafted) for _, sd in timed),
        tokens=sum(sd.new_tokens for _, sd in timed),
        seconds=sum(sd.wall_time_s for _, sd in timed),
        prefill_s=sum(c.prefill_s or 0.0 for c in clocks),
    )
