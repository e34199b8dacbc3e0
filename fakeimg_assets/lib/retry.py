"""Transient or permanent? And how long to wait before trying again.

One classification serves the Hub client wrapper (`call_with_retries`), the failure rows
(`model_failures.transient`), Dagster step retries and the sensor's re-requests, so a 429
is retried everywhere and a hostile repo nowhere.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from fakeimg_assets.lib.errors import FakeimgError, TransientError

T = TypeVar("T")
log = logging.getLogger(__name__)

# 408 request timeout, 425 too early, 429 rate limited, every 5xx: the server may answer later
TRANSIENT_STATUS = frozenset({408, 425, 429})
# class names matched along the MRO, so no optional HTTP library has to be imported
_TRANSIENT_NAMES = frozenset(
    {
        "TransportError",  # httpx/httpx2: connect/read/write errors, timeouts, protocol errors
        "TimeoutException",
        "IncompleteRead",  # http.client: truncated body
        "ChunkedEncodingError",  # requests: truncated chunked body
        "ReadTimeoutError",  # urllib3
        "ProtocolError",  # urllib3: connection broken mid-body
    }
)
_PERMANENT_NAMES = frozenset({"OfflineModeIsEnabled"})  # a ConnectionError that never heals
# Raised as a decision about the input, even while handling a network error.
_PERMANENT_TYPES: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    NotImplementedError,
    MemoryError,
    AssertionError,
)
_TRUNCATION_MARKERS = ("Consistency check failed",)  # never "truncated": a corrupt upload is permanent


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then its `__cause__` (or unsuppressed `__context__`), and so on; cycle-safe."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        nxt = current.__cause__
        if nxt is None and not current.__suppress_context__:
            nxt = current.__context__
        current = nxt


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a huggingface_hub / httpx error (`exc.response.status_code`)."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _verdict(exc: BaseException) -> bool | None:
    """True/False when this one exception decides; None to look at what caused it."""
    if isinstance(exc, FakeimgError):
        return exc.transient
    status = http_status(exc)
    if status is not None:
        return status in TRANSIENT_STATUS or 500 <= status <= 599
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _PERMANENT_NAMES:
        return False
    if names & _TRANSIENT_NAMES or isinstance(exc, TimeoutError | ConnectionError):
        return True
    if isinstance(exc, _PERMANENT_TYPES):
        return False
    if isinstance(exc, OSError) and any(m in str(exc) for m in _TRUNCATION_MARKERS):
        return True  # huggingface_hub: "Consistency check failed: file should be of size ..."
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same call again later can succeed.

    Walks the cause chain from the outside in; the first exception that decides wins, so
    an UnsafeRepoError raised while handling a timeout stays permanent, and a generic
    OSError wrapping a 503 is transient. Undecided chains are permanent: retrying an
    unknown error wastes time, and the sensor would re-request it forever.
    """
    for item in exception_chain(exc):
        verdict = _verdict(item)
        if verdict is not None:
            return verdict
    return False


def _parse_retry_after(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (`Retry-After`, or a spent `RateLimit` window)."""
    for item in exception_chain(exc):
        if isinstance(item, TransientError) and item.retry_after_s is not None:
            return float(item.retry_after_s)
        headers = getattr(getattr(item, "response", None), "headers", None)
        if headers is None:
            continue
        seconds = _parse_retry_after(headers.get("retry-after"))
        if seconds is not None:
            return seconds
        try:
            from huggingface_hub.utils import parse_ratelimit_headers

            info = parse_ratelimit_headers(headers)
        except Exception:  # noqa: BLE001 - a malformed header is no reason to fail
            info = None
        if info is not None and info.remaining == 0:
            return float(info.reset_in_seconds)
    return None


@dataclass(frozen=True)
class RetrySettings:
    """Bounded retries: `attempts` calls in all, exponential back-off with jitter, capped."""

    attempts: int = 4
    base_s: float = 0.5
    cap_s: float = 8.0
    retry_after_cap_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts must be >= 1, got {self.attempts}")
        if min(self.base_s, self.cap_s, self.retry_after_cap_s) < 0:
            raise ValueError(f"retry waits must be >= 0: {self}")


def backoff_seconds(
    attempt: int,
    exc: BaseException | None = None,
    settings: RetrySettings = RetrySettings(),
    rng: Callable[[], float] = random.random,
) -> float:
    """Wait after failed attempt number `attempt` (1-based).

    A server's Retry-After wins (up to `retry_after_cap_s`); otherwise "equal jitter":
    half of the capped exponential step, plus a random part of the other half.
    """
    asked = retry_after_seconds(exc) if exc is not None else None
    if asked is not None:
        return min(asked, settings.retry_after_cap_s)
    step = min(settings.cap_s, settings.base_s * 2 ** max(attempt - 1, 0))
    return step / 2 + rng() * step / 2


def call_with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    settings: RetrySettings = RetrySettings(),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn`; retry transient errors up to `settings.attempts` calls in all.

    Permanent errors propagate at once, untouched. When every attempt failed transiently
    the last error is raised as a TransientError naming `what`, so a Dagster step retry
    (or the sensor) can try again later.
    """
    for attempt in range(1, settings.attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt >= settings.attempts:
                raise TransientError(
                    f"{what}: still failing after {attempt} attempts: {exc}",
                    retry_after_s=retry_after_seconds(exc),
                ) from exc
            wait = backoff_seconds(attempt, exc, settings)
            log.warning("%s: transient %s (%s); retry %d in %.1fs",
                        what, type(exc).__name__, exc, attempt, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
