"""The listening socket: a threaded HTTP server with a bounded number of connections.

Each connection holds one thread for its keep-alive life. At most ``max_connections`` are
served at once; a new one waits up to ``queue_timeout_s`` for a slot (while it waits, one
idle keep-alive connection is closed and busy handlers close theirs after the current
answer), and is then refused with ``503 Retry-After: 1``. The kernel's listen backlog bounds the queue itself.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeimg_assets.hub.server import HubServer


# A keep-alive connection idle this long may be closed when another one waits for a slot.
EVICT_AFTER_S = 0.5


class Connections:
    """Connection slots (a counting semaphore) plus the open sockets, idle or busy."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._waiting = 0
        self._open: set[socket.socket] = set()
        self._idle_since: dict[socket.socket, float] = {}  # between two requests, since when
        self.rejected = 0

    def acquire(self, timeout: float) -> bool:
        if self._slots.acquire(blocking=False):
            return True
        with self._lock:
            self._waiting += 1
        self.evict_idle()  # an idle keep-alive connection gives its slot to the new one
        try:
            ok = self._slots.acquire(timeout=timeout)
        finally:
            with self._lock:
                self._waiting -= 1
        if not ok:
            with self._lock:
                self.rejected += 1
        return ok

    def release(self) -> None:
        self._slots.release()

    @property
    def waiting(self) -> bool:
        with self._lock:
            return self._waiting > 0

    def add(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.add(conn)
            self._idle_since[conn] = time.monotonic()

    def remove(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)
            self._idle_since.pop(conn, None)

    def mark_busy(self, conn: socket.socket, busy: bool) -> None:
        with self._lock:
            if busy:
                self._idle_since.pop(conn, None)
            elif conn in self._open:
                self._idle_since[conn] = time.monotonic()

    def evict_idle(self) -> None:
        """Close the connection idle longest (at least EVICT_AFTER_S): clients reconnect."""
        now = time.monotonic()
        with self._lock:
            ready = [(t, id(c), c) for c, t in self._idle_since.items() if now - t >= EVICT_AFTER_S]
            idle = min(ready)[2] if ready else None
            if idle is not None:
                self._idle_since.pop(idle, None)
        if idle is not None:
            _shutdown(idle)

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


def busy_response(limit: int) -> bytes:
    """A complete ``503`` answer, written straight to a socket no handler thread will serve."""
    message = (
        f"The local hub is serving its maximum of {limit} connections; retry shortly "
        "(fakeimg hub serve --max-connections)."
    )
    body = json.dumps({"error": message}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        "Retry-After: 1\r\n"
        f"X-Error-Message: {message}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _HTTPServer(ThreadingHTTPServer):
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


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6
