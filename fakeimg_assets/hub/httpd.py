"""The listening socket: a threaded HTTP server with a bounded number of connections.

Each connection holds one thread for its keep-alive life. At most ``max_connections`` are
served at once; a new one waits up to ``queue_timeout_s`` for a slot (while it waits, busy
handlers close their keep-alive connections after the current answer), and is then refused
with ``503 Retry-After: 1``. The kernel's listen backlog bounds the queue itself.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeimg_assets.hub.server import HubServer


class ConnectionSlots:
    """A counting semaphore that also says whether anyone is waiting for a slot."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._waiting = 0
        self.rejected = 0

    def acquire(self, timeout: float) -> bool:
        if self._slots.acquire(blocking=False):
            return True
        with self._lock:
            self._waiting += 1
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
    slots: ConnectionSlots

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
