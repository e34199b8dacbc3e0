"""Reading one request within a total deadline, not only a per-read idle time-out.

A per-``recv`` time-out alone lets a client that sends a byte every few seconds keep a
connection (and its thread) forever: each read succeeds just in time. ``DeadlineReader`` is
the raw stream under the handler's ``rfile``: between requests a read may wait up to the
idle time-out; from the first byte of a request on, the request line, headers and body must
all arrive within ``request_timeout_s`` in total, or the read raises ``RequestTimeout`` (the
handler answers ``408`` and closes the connection).
"""

from __future__ import annotations

import io
import socket
import time

REQUEST_TIMEOUT_S = 10.0  # loopback requests arrive in milliseconds; bodies are capped at 1 MiB


class RequestTimeout(Exception):
    """The request was not received in full within the server's request time-out."""


class DeadlineReader(io.RawIOBase):
    """``recv`` with a per-read idle time-out and a per-request total deadline."""

    def __init__(self, sock: socket.socket, idle_timeout_s: float, request_timeout_s: float):
        super().__init__()
        self._sock = sock
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self._deadline: float | None = None

    def begin_request(self) -> None:
        """The next request starts: its clock starts with its first byte."""
        self._deadline = None

    def allow(self, seconds: float) -> None:
        """Give the request in progress `seconds` more from now (a large upload body)."""
        self._deadline = time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        wait, by_deadline = self.idle_timeout_s, False
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise self._expired()
            wait, by_deadline = min(wait, left), left <= wait
        self._sock.settimeout(wait)
        try:
            n = self._sock.recv_into(buffer)
        except TimeoutError:
            if by_deadline:
                raise self._expired() from None
            raise  # idle too long between reads: the handler closes quietly
        finally:
            self._sock.settimeout(self.idle_timeout_s)  # writes keep the idle time-out
        if n and self._deadline is None:
            self._deadline = time.monotonic() + self.request_timeout_s
        return n

    def _expired(self) -> RequestTimeout:
        return RequestTimeout(
            f"request not received in full within {self.request_timeout_s:g} s "
            "(request line, headers and body together)"
        )
