"""Progress for long commands when stdout is not a terminal (CI logs, ``| tee``): a plain line every few seconds,
where a terminal gets rich's live bar (which a log would not show until the end)."""

import time

from rich.markup import escape

PROGRESS_EVERY_S = 5.0


class ProgressLines:
    """``[done/total] label, elapsed`` at the first step, then at most every ``PROGRESS_EVERY_S`` seconds and at
    the last step; nothing on a terminal (the live bar shows it there)."""

    def __init__(self, console, every_s: float = PROGRESS_EVERY_S, clock=time.monotonic):
        self.console, self.every_s, self.clock = console, every_s, clock
        self.enabled = not console.is_terminal
        self.total, self.done, self.started, self.last = None, 0, clock(), None

    def start(self, total: int) -> None:
        self.total, self.started = total, self.clock()
        if self.enabled:
            self.console.print(f"[0/{total}] started", soft_wrap=True, highlight=False)

    def advance(self, label: str, steps: int = 1) -> None:
        self.done += steps
        now = self.clock()
        final = self.total is not None and self.done >= self.total
        if not self.enabled or not (final or self.last is None or now - self.last >= self.every_s):
            return
        self.last = now
        total = "?" if self.total is None else self.total
        self.console.print(f"[{self.done}/{total}] {escape(label)}, {now - self.started:.0f} s", soft_wrap=True,
                           highlight=False)
