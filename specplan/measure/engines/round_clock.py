"""Per-round component times of the ``sd`` loop: draft steps, verification, and the rest of the round
(acceptance, KV-cache rollback, bookkeeping, the round's host sync). ``report`` decomposes the measured speedup
with them (docs/records.md, ``round_times``)."""

import time

from specplan.measure import devices

# On an accelerator a clock read needs a device sync; only every SAMPLE_EVERY-th round pays for it.
SAMPLE_EVERY = 4


class RoundClock:
    """Times rounds of one decode: call :meth:`begin` when the decode starts, :meth:`start` before the draft steps, :meth:`lap` after them and after
    the verification pass, :meth:`end` when the round is complete.

    On cpu every round is timed and nothing is synchronised (kernels run when called, so the clock reads finished
    work). On an accelerator the device is synchronised at the phase boundaries of every ``every``-th round only;
    the other rounds keep the loop's one host sync per round.
    """

    def __init__(self, device: str, every: int | None = None):
        self.device = device
        self.sync = not device.startswith("cpu")
        self.every = every or (SAMPLE_EVERY if self.sync else 1)
        self.index, self.timing, self.marks = -1, False, []
        self.record = {"every": self.every, "prefill_s": None, "rounds": [], "drafted": [], "draft_s": [],
                       "verify_s": [], "round_s": []}
        self.began = None

    def _now(self) -> float:
        if self.sync:
            devices.synchronize(self.device)
        return time.perf_counter()

    def begin(self) -> None:
        """The decode starts: the time until the first round is the prefills and the first token."""
        self.began = self._now()

    def start(self) -> None:
        self.index += 1
        self.timing = self.index % self.every == 0  # the first round always
        self.marks = [self._now()] if self.timing else []
        if self.index == 0 and self.began is not None:
            self.record["prefill_s"] = self.marks[0] - self.began

    def lap(self) -> None:
        if self.timing:
            self.marks.append(self._now())

    def end(self, drafted: int) -> None:
        if not self.timing:
            return
        start, drafted_at, verified_at, end = *self.marks, self._now()
        r = self.record
        r["rounds"].append(self.index)
        r["drafted"].append(drafted)
        r["draft_s"].append(drafted_at - start)
        r["verify_s"].append(verified_at - drafted_at)
        r["round_s"].append(end - start)


class NoClock:
    """The clock of a decode nobody times."""

    def begin(self) -> None:
        pass

    def start(self) -> None:
        pass

    def lap(self) -> None:
        pass

    def end(self, drafted: int) -> None:
        pass
