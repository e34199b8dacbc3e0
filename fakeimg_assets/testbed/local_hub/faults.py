"""Deterministic fault injection, so users can rehearse an outage and the chaos test can finish.

A fault of kind K with rate R hits the fraction R of *distinct* requests, chosen by hashing
``(seed, K, method, path+query)``: the same seed faults the same requests in every run. A
chosen request fails only its first ``times`` attempts and then succeeds, so a client that
retries always gets through: hostile, yet finishable.

Kinds: ``429`` (``Retry-After`` and ``RateLimit`` headers), ``5xx`` (500/502/503),
``stall`` (sleep before answering, then answer normally), ``truncate`` (full
``Content-Length``, connection closed after about half the body) and ``corrupt`` (same
length, a few bytes flipped). ``truncate`` and ``corrupt`` apply to file bodies
(``GET .../resolve/...``); ``corrupt`` only to LFS files, the ones whose sha256 the listing
publishes, so exactly a sha256 check notices it. The others apply to any route.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FAULT_KINDS = ("stall", "429", "5xx", "truncate", "corrupt")
# Checked before routing, in this order; the first error fault that fires answers the request.
ROUTE_FAULTS = ("stall", "429", "5xx")
BODY_FAULTS = ("truncate", "corrupt")
_5XX = (500, 502, 503)
CORRUPT_BYTES = 4  # how many consecutive bytes a corrupt body has flipped


@dataclass(frozen=True)
class FaultPlan:
    """Which faults to inject and how often: ``rates`` maps a kind to a fraction in (0, 1]."""

    rates: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    times: int = 1
    stall_s: float = 2.0
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        for kind, rate in self.rates.items():
            if kind not in FAULT_KINDS:
                raise ValueError(
                    f"unknown fault kind {kind!r}: use one of {', '.join(FAULT_KINDS)}"
                )
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
                raise ValueError(f"fault rate for {kind!r} must be in (0, 1], got {rate!r}")
        if self.times < 1:
            raise ValueError(f"fault times must be >= 1, got {self.times!r}")
        if not 0 <= self.stall_s <= 3600:
            raise ValueError(f"stall seconds must be in [0, 3600], got {self.stall_s!r}")
        if self.retry_after_s < 0:
            raise ValueError(f"retry_after_s must be >= 0, got {self.retry_after_s!r}")

    @classmethod
    def from_specs(
        cls,
        specs: Iterable[str],
        *,
        seed: int = 0,
        times: int = 1,
        stall_s: float = 2.0,
        retry_after_s: int = 1,
    ) -> FaultPlan:
        """Parse CLI ``KIND[:RATE]`` strings (rate defaults to 1: every distinct request)."""
        rates: dict[str, float] = {}
        for spec in specs:
            kind, sep, rate_text = spec.strip().partition(":")
            if kind not in FAULT_KINDS:
                raise ValueError(
                    f"--fault {spec!r}: unknown kind {kind!r}, use one of {', '.join(FAULT_KINDS)}"
                )
            try:
                rate = float(rate_text) if sep else 1.0
            except ValueError:
                raise ValueError(f"--fault {spec!r}: rate {rate_text!r} is not a number") from None
            if not 0 < rate <= 1:
                raise ValueError(f"--fault {spec!r}: rate must be in (0, 1]")
            rates[kind] = rate
        return cls(rates, seed=seed, times=times, stall_s=stall_s, retry_after_s=retry_after_s)

    def selects(self, kind: str, method: str, target: str) -> bool:
        """Whether this distinct request is one the plan faults with ``kind`` (pure function)."""
        rate = self.rates.get(kind, 0.0)
        if rate <= 0:
            return False
        return _unit(self.seed, kind, method, target) < rate

    def status_5xx(self, method: str, target: str) -> int:
        """The 5xx status a faulted request gets, fixed per request."""
        return _5XX[int(_unit(self.seed, "5xx-status", method, target) * len(_5XX))]

    def describe(self) -> str:
        kinds = ", ".join(f"{k}:{self.rates[k]:g}" for k in FAULT_KINDS if k in self.rates)
        return f"{kinds} (seed {self.seed}, each faulted request fails {self.times}x)"


def _unit(seed: int, kind: str, method: str, target: str) -> float:
    """A uniform number in [0, 1) from sha256 of the request's identity."""
    digest = hashlib.sha256(f"{seed}\0{kind}\0{method}\0{target}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FaultInjector:
    """A plan plus its state: attempts seen per faulted request and counts per kind."""

    def __init__(self, plan: FaultPlan | None) -> None:
        self.plan = plan or FaultPlan()
        self._lock = threading.Lock()
        self._attempts: dict[tuple[str, str, str], int] = {}
        self._counts: dict[str, int] = {}

    def take(self, kind: str, method: str, target: str) -> bool:
        """True (and counted) when this attempt of the request must get ``kind``."""
        if not self.plan.selects(kind, method, target):
            return False
        key = (kind, method, target)
        with self._lock:
            seen = self._attempts.get(key, 0)
            if seen >= self.plan.times:
                return False
            self._attempts[key] = seen + 1
            self._counts[kind] = self._counts.get(kind, 0) + 1
        return True

    def body_fault(self, method: str, target: str, *, is_lfs: bool, length: int) -> str | None:
        """``truncate``/``corrupt``/None for a file body about to be sent."""
        if method != "GET" or length < 2:
            return None
        if self.take("truncate", method, target):
            return "truncate"
        if is_lfs and self.take("corrupt", method, target):
            return "corrupt"
        return None

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return {kind: self._counts.get(kind, 0) for kind in FAULT_KINDS}


def corrupt_chunk(chunk: bytes, chunk_start: int, flip_at: int) -> bytes:
    """Flip ``CORRUPT_BYTES`` bytes from body offset ``flip_at`` where they fall in this chunk."""
    lo = max(flip_at, chunk_start)
    hi = min(flip_at + CORRUPT_BYTES, chunk_start + len(chunk))
    if lo >= hi:
        return chunk
    data = bytearray(chunk)
    for offset in range(lo, hi):
        data[offset - chunk_start] ^= 0xFF
    return bytes(data)
