"""Rate and ETA lines for long loops (sampling a partition, training a detector), one line
per batch in the run log: `sampled 8/16 images, 3.2 img/s, ETA 2.5 s`.

The caller hands in where lines go (a Dagster run's `context.log.info`, else this module's
logger); `every_s` throttles fast loops to one line per that many seconds, the last batch
always logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


def duration_text(seconds: float) -> str:
    """Seconds for reading: '0.4 s', '12 s', '3 min 05 s', '2 h 07 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        m, s = divmod(round(seconds), 60)
        return f"{m} min {s:02d} s"
    h, m = divmod(round(seconds / 60), 60)
    return f"{h} h {m:02d} min"


def rate_text(rate: float) -> str:
    """A rate for reading: 3 significant digits at most ('0.052', '3.2', '41', '1250')."""
    if rate >= 100:
        return f"{rate:.0f}"
    if rate >= 10:
        return f"{rate:.1f}".rstrip("0").rstrip(".")
    return f"{rate:.2g}" if rate < 1 else f"{rate:.1f}"


class RateMeter:
    """Counts work done out of `total` and logs `<verb> done/total <unit>, R <short>/s, ETA T`
    after each `update`, at most once per `every_s` seconds (0: every update)."""

    def __init__(self, total: int, *, verb: str = "sampled", unit: str = "images",
                 short: str = "img", log: Callable[[str], None] | None = None,
                 every_s: float = 0.0, prefix: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.verb, self.unit, self.short = total, verb, unit, short
        self.log = log or logger.info
        self.every_s, self.prefix, self.clock = every_s, prefix, clock
        self.start = clock()
        self.done = 0
        self.last_logged: float | None = None

    def rate(self) -> float:
        elapsed = self.clock() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate()
        left = max(0, self.total - self.done)
        eta = duration_text(left / rate) if rate > 0 else "unknown"
        return (f"{self.prefix}{self.verb} {self.done}/{self.total} {self.unit}, "
                f"{rate_text(rate)} {self.short}/s, ETA {eta}")

    def update(self, n: int, *, force: bool = False) -> str | None:
        """Count `n` more; log and return the line when due (always at the total or `force`)."""
        self.done += n
        now = self.clock()
        due = (force or self.done >= self.total or self.last_logged is None
               or now - self.last_logged >= self.every_s)
        if not due:
            return None
        self.last_logged = now
        text = self.line()
        self.log(text)
        return text


__all__ = ["RateMeter", "duration_text", "rate_text"]
