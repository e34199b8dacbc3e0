"""The platform's error taxonomy: what failed, and whether trying again can help.

A failure is *transient* when the same call may succeed later (429, 5xx, timeouts,
truncated transfers) and *permanent* when the repo itself is the problem (unsafe,
over a limit, malformed). Dagster retries the first kind and never the second.
"""

from __future__ import annotations


class FakeimgError(Exception):
    """Base of the platform's own errors; `transient` says whether a retry can help."""

    transient: bool = False


class TransientError(FakeimgError):
    """A flaky network or Hub answer: retried with back-off, never final on the first try."""

    transient = True

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ResourceLimitError(FakeimgError, ValueError):
    """A repo asks for more than a configured limit (bytes, pixels, seconds): permanent."""


class DownloadVerificationError(FakeimgError):
    """A downloaded file does not match the Hub listing (sha256, size, file set)."""
