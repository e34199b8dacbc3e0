"""HTTP plumbing of the local Hub: guards, fault injection, error answers, request log.

Every request goes through ``_dispatch``: Host check, body-size check and body (all of the
request within the request time-out, ``deadline.py``), then injected faults, then the route
(``routes.py``), and finally one record in the request log. Only once its body is in does
a connection count as busy (``httpd.py``): one still sending its request can be evicted.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from fakeimg_assets.testbed.local_hub.deadline import DeadlineReader, RequestTimeout
from fakeimg_assets.testbed.local_hub.guards import (
    bearer_token,
    body_length,
    check_host,
    token_allowed,
)
from fakeimg_assets.testbed.local_hub.httpd import HubHTTPServer, canned_response
from fakeimg_assets.testbed.local_hub.protocol import MAIN_REFS, HubError, header_text
from fakeimg_assets.testbed.local_hub.repo import Repo

if TYPE_CHECKING:
    from fakeimg_assets.testbed.local_hub.server import HubServer

log = logging.getLogger(__name__)


class BaseHandler(BaseHTTPRequestHandler):
    """One connection's requests, HTTP/1.1 keep-alive so the client's connection pool is
    reused; `routes.HubHandler` adds the answers (`_route`)."""

    protocol_version = "HTTP/1.1"
    server_version = "fakeimg-hub/1.0"
    server: HubHTTPServer

    # ---- plumbing

    @property
    def hub(self) -> HubServer:
        return self.server.hub

    def setup(self) -> None:
        self.timeout = self.hub.idle_timeout_s  # idle or slow connections close after this
        super().setup()
        self.rfile.close()  # reads go through the request deadline instead
        self._reader = DeadlineReader(
            self.connection, self.hub.idle_timeout_s, self.hub.request_timeout_s
        )
        self.rfile = io.BufferedReader(self._reader)
        self.hub._conns.add(self.connection)

    def handle_one_request(self) -> None:
        """One request; a request line or headers not in within the time-out get ``408``."""
        self._reader.begin_request()
        try:
            super().handle_one_request()
        except RequestTimeout as exc:
            self.close_connection = True
            self.hub._requests_log.record("-", "-", 408)
            try:
                self.wfile.write(canned_response("408 Request Timeout", str(exc)))
            except OSError:
                pass
        except OSError:  # reset or evicted mid-request: nothing left to answer
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.hub._conns.remove(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.hub.verbose:
            sys.stderr.write(f"[hub] {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:  # LFS uploads: the route streams the body itself
        self._dispatch()

    def _route(self, body: bytes) -> None:  # pragma: no cover - defined by the handler
        raise NotImplementedError

    def _dispatch(self) -> None:
        self._status_sent = False
        self._status = 0
        self._fault: str | None = None
        self._recorded = False
        try:
            check_host(self.headers.get("Host"), self.hub.port_bound)
            body = self._read_body()
            self.hub._conns.mark_busy(self.connection, True)  # received in full: not evictable
            self._route_faults()
            self._route(body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as exc:
            self.hub._conns.mark_busy(self.connection, True)  # answering now, even if refused
            if self._status_sent:  # mid-body: an error page would corrupt the framing
                log.warning("hub server aborted %s %s: %s", self.command, self.path, exc)
                self.close_connection = True
            elif isinstance(exc, HubError):
                self._send_error(exc)
            else:  # answer 500 rather than drop the socket
                log.exception("hub server error on %s %s", self.command, self.path)
                self._send_error(HubError(500, f"Internal error: {exc}"))
        finally:
            self.hub._conns.mark_busy(self.connection, False)
            self._record()  # no answer was sent at all (status 0), e.g. the client vanished
            if self.hub._saturated():
                self.close_connection = True  # free this slot for a queued connection

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status_sent = True
        self._status = code
        self._record()  # before the body: whoever reads the answer finds it logged already
        super().send_response(code, message)

    def _record(self) -> None:
        if not self._recorded:
            self._recorded = True
            self.hub._requests_log.record(self.command, self.path, self._status, self._fault)

    def _body_limit(self) -> int:
        """The largest body this request may have (a route may allow more)."""
        return self.hub.max_body_bytes

    def _read_body(self) -> bytes:
        """The body, after refusing (without reading) garbage or oversized Content-Length;
        ``408`` when it does not arrive within the request time-out. A PUT's body is left
        to its route, which streams it to disk."""
        if self.command == "PUT":
            return b""
        length = body_length(self.headers, self._body_limit())
        if length > 0:
            try:
                body = self.rfile.read(length)
            except RequestTimeout as exc:
                raise HubError(408, str(exc), "RequestTimeout", {"Connection": "close"}) from exc
            if len(body) < length:  # the client hung up (or was evicted) mid-body
                raise ConnectionResetError(f"body ended after {len(body)} of {length} bytes")
            return body
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # unsupported framing: do not reuse the socket
        return b""

    def _route_faults(self) -> None:
        """Injected ``stall``, ``429`` and ``5xx`` (any route), then the legacy ``fail_every``."""
        faults, method, target = self.hub._faults, self.command, self.path
        if faults.take("stall", method, target):
            self._fault = "stall"
            time.sleep(faults.plan.stall_s)
        if faults.take("429", method, target):
            self._fault = "429"
            raise self._rate_limited(faults.plan.retry_after_s)
        if faults.take("5xx", method, target):
            self._fault = "5xx"
            status = faults.plan.status_5xx(method, target)
            raise HubError(
                status,
                f"Injected server error {status} (fault injection by the local hub).",
                None,
                {"Retry-After": str(faults.plan.retry_after_s)} if status == 503 else None,
            )
        if self.hub._should_fail_globally():
            raise self._rate_limited(self.hub.retry_after_s)

    def _send_bytes(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(
        self, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(data, default=str).encode()
        self._send_bytes(
            status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        )

    def _send_error(self, err: HubError) -> None:
        headers = {"X-Error-Message": header_text(err.message), **err.headers}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._send_json({"error": err.message}, err.status, headers)

    @property
    def _token(self) -> str | None:
        return bearer_token(self.headers.get("Authorization"))

    @property
    def _authorized(self) -> bool:
        """Only a token the server was given unlocks private and gated repos."""
        return token_allowed(self._token, self.hub.tokens)

    @property
    def _base_url(self) -> str:
        host = self.headers.get("Host")  # already checked to be loopback with our port
        return f"http://{host}" if host else self.hub.url

    # ---- access control shared by the routes

    def _rate_limited(self, wait: int) -> HubError:
        return HubError(
            429,
            "You have been rate-limited (fault injection by the local hub).",
            None,
            {
                "Retry-After": str(wait),
                "RateLimit": f'"api";r=0;t={wait}',
                "RateLimit-Policy": '"fixed window";"api";q=500;w=300',
            },
        )

    def _repo(self, org: str, name: str, revision: str = "main", files: bool = False) -> Repo:
        """Load a repo and enforce visibility, revision, gating and fault injection."""
        repo_id = f"{org}/{name}"
        datasets = getattr(self, "_repo_type", "model") == "dataset"
        folders = self.hub._dataset_folders if datasets else self.hub._model_folders
        repo = folders.load(org, name)
        if repo is None or (repo.private and not self._authorized):
            # Like the Hub: a private repo without a listed token is indistinguishable from a
            # missing one (same status, code, message and body), so names cannot be probed.
            raise HubError(404, f"Repository not found: {repo_id!r}", "RepoNotFound")
        if self.hub._should_fail_repo(repo):
            raise self._rate_limited(self.hub.retry_after_s)
        if revision not in MAIN_REFS and revision != repo.sha:
            raise HubError(
                404, f"Invalid rev id: {revision!r} (only 'main' or {repo.sha})", "RevisionNotFound"
            )
        if files and repo.gated and not self._authorized:
            if self._token is None:
                raise HubError(
                    401,
                    f"Access to model {repo_id} is restricted. You must have access to it and be "
                    "authenticated to access it. Please log in.",
                    "GatedRepo",
                )
            raise HubError(
                403,
                f"Access to model {repo_id} is restricted and your token is not in the "
                "authorized list of this server (fakeimg hub serve --token).",
                "GatedRepo",
            )
        return repo
