"""The listening socket: a threaded HTTP server with a bounded number of connections.

Each connection holds one thread for its keep-alive life. At most ``max_connections`` are
open at once. A connection is *busy* only while a request it sent in full is being answered;
between requests, and while its request line, headers or body are still arriving, it is
*waiting*. A new connection that finds every slot taken closes the connection that has been
waiting longest (at least ``EVICT_AFTER_S``), retrying until ``queue_timeout_s`` is over,
and is then refused with ``503 Retry-After: 1``. So clients that trickle their request
bodies a byte at a time cannot hold the slots against a normal request: they are waiting,
and the oldest of them make room; ``deadline.py`` cuts each of them off after the request
time-out anyway. The kernel's listen backlog bounds the queue itself.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeimg_assets.testbed.local_hub.server import HubServer


# A connection waiting this long (idle, or still sending its request) may be closed when a
# new one needs its slot; the new one retries the eviction every EVICT_POLL_S.
EVICT_AFTER_S = 0.5
EVICT_POLL_S = 0.05


class Connections:
    """Connection slots (a counting semaphore) plus the open sockets, waiting or busy."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._queued = 0  # new connections waiting for a slot
        self._open: set[socket.socket] = set()
        self._waiting_since: dict[socket.socket, float] = {}  # not being answered, since when
        self.rejected = 0

    def acquire(self, timeout: float) -> bool:
        if self._slots.acquire(blocking=False):
            return True
        with self._lock:
            self._queued += 1
        deadline = time.monotonic() + timeout
        ok = False
        try:
            while not ok:
                self.evict_waiting()  # a waiting connection gives its slot to the new one
                wait = min(EVICT_POLL_S, max(0.0, deadline - time.monotonic()))
                ok = self._slots.acquire(timeout=wait)
                if time.monotonic() >= deadline:
                    break
        finally:
            with self._lock:
                self._queued -= 1
        if not ok:
            with self._lock:
                self.rejected += 1
        return ok

    def release(self) -> None:
        self._slots.release()

    @property
    def queued(self) -> bool:
        """A new connection waits for a slot (busy handlers then close theirs after answering)."""
        with self._lock:
            return self._queued > 0

    def add(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.add(conn)
            self._waiting_since[conn] = time.monotonic()

    def remove(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)
            self._waiting_since.pop(conn, None)

    def mark_busy(self, conn: socket.socket, busy: bool) -> None:
        """Busy: a request was received in full and is being answered (never evicted)."""
        with self._lock:
            if busy:
                self._waiting_since.pop(conn, None)
            elif conn in self._open:
                self._waiting_since[conn] = time.monotonic()

    def evict_waiting(self) -> None:
        """Close the connection waiting longest (at least EVICT_AFTER_S), idle or mid-request.

        An idle keep-alive client reconnects; one still sending its request after that long
        is too slow for a loopback server and loses its place to the new connection.
        """
        now = time.monotonic()
        with self._lock:
            ready = [
                (t, id(c), c) for c, t in self._waiting_since.items() if now - t >= EVICT_AFTER_S
            ]
            oldest = min(ready)[2] if ready else None
            if oldest is not None:
                self._waiting_since.pop(oldest, None)
        if oldest is not None:
            _shutdown(oldest)

    def shutdown_all(self) -> None:
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            _shutdown(conn)


def _shutdown(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def canned_response(status: str, message: str, headers: dict[str, str] | None = None) -> bytes:
    """A complete JSON error answer that closes the connection, for raw socket writes."""
    body = json.dumps({"error": message}).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"{extra}"
        f"X-Error-Message: {message}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def busy_response(limit: int) -> bytes:
    """A complete ``503`` answer, written straight to a socket no handler thread will serve."""
    message = (
        f"The local hub is serving its maximum of {limit} connections; retry shortly "
        "(fakeimg hub serve --max-connections)."
    )
    return canned_response("503 Service Unavailable", message, {"Retry-After": "1"})


class HubHTTPServer(ThreadingHTTPServer):
    """The listening socket: one handler thread per connection, at most `slots.limit`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog: connections queued by the kernel
    hub: HubServer
    slots: Connections

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a handler thread only when a connection slot is free (or frees up soon)."""
        if not self.slots.acquire(self.hub.queue_timeout_s):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()  # no thread started: give the slot back
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def _refuse(self, request: socket.socket) -> None:
        try:
            request.settimeout(1.0)
            request.sendall(busy_response(self.slots.limit))
            request.shutdown(socket.SHUT_WR)
            request.settimeout(0.05)
            request.recv(65536)  # drain the request so closing does not reset the answer away
        except OSError:
            pass
        finally:
            request.close()


class HubHTTPServer6(HubHTTPServer):
    """The same on an IPv6 loopback address."""

    address_family = socket.AF_INET6
