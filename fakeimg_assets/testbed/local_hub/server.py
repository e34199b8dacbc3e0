"""A local server speaking the Hugging Face Hub HTTP API over a folder of repos.

It is the test fixture and the offline demo: the unmodified ``huggingface_hub`` client
(``HfApi(endpoint=url)``, ``hf_hub_download``, ``snapshot_download``) and diffusers'
``from_pretrained`` (with ``HF_ENDPOINT`` set before import) work against it.

Layout of ROOT: each model repo is a directory ``ROOT/{org}/{name}/`` holding the repo files as
in git. Hub-side metadata that is not repo content lives in ``ROOT/{org}/{name}/.hub.json``
(never served). Top-level ``.git`` and ``.cache`` folders of a repo are not repo content either.
Repos are rediscovered on every request; file hashes are cached on (path, size, mtime_ns).

Hardened for a machine with a browser on it: loopback binding only, a Host-header check
(DNS rebinding), gated/private repos unlocked only by listed tokens, capped request bodies,
a bounded number of connections with idle time-outs, a total time-out for receiving each
request (so clients trickling bodies a byte at a time neither hold connection slots nor
threads), repo folders and files never served from outside ROOT (symlinks), and private
repos indistinguishable from missing ones without a listed token. Faults can be injected on purpose
(``faults.py``) and every request is logged (``reqlog.py``).

Run it: ``fakeimg hub serve ROOT`` or
``python -m fakeimg_assets.testbed.local_hub.server ROOT --port 8765``.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from fakeimg_assets.testbed.local_hub.deadline import REQUEST_TIMEOUT_S
from fakeimg_assets.testbed.local_hub.faults import FaultInjector, FaultPlan
from fakeimg_assets.testbed.local_hub.guards import MAX_BODY_BYTES, normalize_tokens
from fakeimg_assets.testbed.local_hub.httpd import Connections, HubHTTPServer, HubHTTPServer6
from fakeimg_assets.testbed.local_hub.options import add_serve_arguments, server_options
from fakeimg_assets.testbed.local_hub.protocol import HubError
from fakeimg_assets.testbed.local_hub.repo import Repo
from fakeimg_assets.testbed.local_hub.repo_folders import RepoFolders
from fakeimg_assets.testbed.local_hub.reqlog import RequestLog, RequestRecord
from fakeimg_assets.testbed.local_hub.routes import HubHandler
from fakeimg_assets.testbed.local_hub.upload_store import ObjectStore

__all__ = [
    "HubServer", "FaultPlan", "HubError", "RequestRecord", "serve_forever", "serve_from_args",
    "main",
]


def _check_loopback(host: str) -> None:
    """Refuse to expose the folder beyond this machine."""
    if host == "localhost":
        return
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"HubServer only binds loopback addresses; refusing host {host!r}")


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


class HubServer:
    """Serve ``root`` with the Hub's HTTP API on a loopback port, in a daemon thread.

    ``tokens``: the only bearer tokens that unlock gated and private repos (none: never).
    ``faults``: a ``FaultPlan`` of deterministic 429/5xx/stall/truncate/corrupt faults.
    ``request_log``: a file that gets one JSON line per request (``server.requests`` always).
    ``fail_every`` (every Nth request) and ``.hub.json``'s ``fail_first_n_requests`` answer 429
    with ``Retry-After``/``RateLimit`` headers, for older fault-tolerance tests.
    ``max_connections`` connections are open at once; ``idle_timeout_s`` bounds each read and
    the wait between requests, ``request_timeout_s`` the whole of one request's line, headers
    and body (then ``408``); ``queue_timeout_s`` is how long a new connection may wait for a
    slot before ``503``; ``max_body_bytes`` caps a request body (``413``), but a commit's
    (``max_commit_bytes``) and an LFS upload's (``max_upload_bytes``, streamed to disk).
    Uploads (``upload_routes.py``) need one of ``tokens``; without tokens it is read-only.
    """

    def __init__(
        self,
        root: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 100,
        *,
        tree_page_size: int = 1000,
        verbose: bool = False,
        fail_every: int | None = None,
        retry_after_s: int = 1,
        tokens: Iterable[str] | None = None,
        faults: FaultPlan | None = None,
        request_log: Path | str | None = None,
        max_connections: int = 32,
        queue_timeout_s: float = 5.0,
        idle_timeout_s: float = 30.0,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_commit_bytes: int = 64 * 2**20,
        max_upload_bytes: int = 8 * 2**30,
    ) -> None:
        _check_loopback(host)
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"Hub root folder does not exist or is not a directory: {self.root}"
            )
        if page_size < 1 or tree_page_size < 1:
            raise ValueError("page_size and tree_page_size must be >= 1")
        if fail_every is not None and fail_every < 1:
            raise ValueError("fail_every must be >= 1 or None")
        if faults is not None and not isinstance(faults, FaultPlan):
            raise TypeError(f"faults must be a FaultPlan, got {type(faults).__name__}")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ValueError(f"max_connections must be an integer, got {max_connections!r}")
        _positive("max_connections", max_connections)
        _positive("idle_timeout_s", idle_timeout_s)
        _positive("request_timeout_s", request_timeout_s)
        _positive("max_body_bytes", max_body_bytes)
        _positive("max_commit_bytes", max_commit_bytes)
        _positive("max_upload_bytes", max_upload_bytes)
        if queue_timeout_s < 0:
            raise ValueError(f"queue_timeout_s must be >= 0, got {queue_timeout_s!r}")
        self.host = host
        self.port = port
        self.page_size = page_size
        self.tree_page_size = tree_page_size
        self.verbose = verbose
        self.fail_every = fail_every
        self.retry_after_s = retry_after_s
        self.tokens = normalize_tokens(tokens)
        self.max_connections = max_connections
        self.queue_timeout_s = float(queue_timeout_s)
        self.idle_timeout_s = float(idle_timeout_s)
        self.request_timeout_s = float(request_timeout_s)
        self.max_body_bytes = int(max_body_bytes)
        self.max_commit_bytes = int(max_commit_bytes)  # a commit's NDJSON (regular files inline)
        self._uploads = ObjectStore(self.root, int(max_upload_bytes))  # LFS objects received
        self._write_lock = threading.Lock()  # one commit or repo creation at a time
        self._faults = FaultInjector(faults)
        self._requests_log = RequestLog(request_log)
        self._conns = Connections(max_connections)
        self._model_folders = RepoFolders(self.root)
        self._dataset_folders = RepoFolders(  # dataset repos, never served from outside ROOT
            self.root / "datasets", skip=frozenset(), boundary=self.root
        )
        self._httpd: HubHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._requests = 0
        self._repo_hits: dict[str, int] = {}

    @property
    def url(self) -> str:
        """Base URL to pass as ``endpoint=`` / ``HF_ENDPOINT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port_bound}"

    @property
    def port_bound(self) -> int:
        """The port actually listened on (``port=0`` picks a free one at bind time)."""
        if self._httpd is None:
            if self.port == 0:
                raise RuntimeError("HubServer.url is known once start() has bound a port")
            return self.port
        return int(self._httpd.server_address[1])

    @property
    def faults(self) -> FaultPlan:
        return self._faults.plan

    @property
    def fault_counts(self) -> dict[str, int]:
        """Injected faults so far, per kind (every kind present, zero when none)."""
        return self._faults.counts

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log: ``(method, path, status)`` per answered request."""
        return self._requests_log.snapshot()

    @property
    def rejected_connections(self) -> int:
        """Connections refused with 503 because every slot stayed busy."""
        return self._conns.rejected

    def bind(self) -> HubServer:
        """Open the listening socket (``start`` does this; ``serve_forever`` needs it alone)."""
        if self._httpd is None:
            cls = HubHTTPServer6 if ":" in self.host else HubHTTPServer
            httpd = cls((self.host, self.port), HubHandler)
            httpd.hub = self
            httpd.slots = self._conns
            self._httpd = httpd
            self._requests_log.open()
        return self

    def start(self) -> HubServer:
        """Serve in a daemon thread; returns self so ``HubServer(root).start().url`` works."""
        if self._thread is not None:
            return self
        httpd = self.bind()._httpd
        assert httpd is not None
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"hub-server-{self.url}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop kept-alive client connections so nothing answers afterwards."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        if thread is not None:
            httpd.shutdown()
            thread.join(timeout=5)
        self._conns.shutdown_all()
        httpd.server_close()
        self._requests_log.close()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "not started"
        return f"HubServer(root={str(self.root)!r}, {where})"

    # ---- internals used by the handler

    def _saturated(self) -> bool:
        """A connection waits for a slot: keep-alive connections should let go."""
        return self._conns.queued

    def _should_fail_globally(self) -> bool:
        with self._lock:
            self._requests += 1
            return self.fail_every is not None and self._requests % self.fail_every == 0

    def _should_fail_repo(self, repo: Repo) -> bool:
        limit = repo.fail_first_n_requests
        if limit <= 0:
            return False
        with self._lock:
            hits = self._repo_hits.get(repo.repo_id, 0) + 1
            self._repo_hits[repo.repo_id] = hits
        return hits <= limit


def serve_forever(
    root: Path | str, host: str = "127.0.0.1", port: int = 8765, **options: object
) -> None:
    """Serve ``root`` in the foreground until Ctrl-C; ``options`` go to ``HubServer``."""
    server = HubServer(root, host=host, port=port, **options).bind()  # type: ignore[arg-type]
    httpd = server._httpd
    assert httpd is not None
    repos = len(server._model_folders.repo_ids())
    print(f"Local Hugging Face Hub serving {server.root} ({repos} repos) at {server.url}")
    print(f"  export HF_ENDPOINT={server.url}")
    print(f"  gated/private repos: {len(server.tokens)} token(s) accepted")
    if server.faults.rates:
        print(f"  injecting faults: {server.faults.describe()}")
    if server._requests_log.path is not None:
        print(f"  request log: {server._requests_log.path}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("\nstopping hub server", flush=True)
    finally:
        counts = {k: n for k, n in server.fault_counts.items() if n}
        if counts:
            print(f"faults injected: {counts}", flush=True)
        server.stop()


def serve_from_args(args: argparse.Namespace) -> int:
    """Run the server in the foreground; 2 with a one-line error on bad arguments."""
    try:
        options = server_options(args)
        serve_forever(Path(args.dir), host=args.host, port=args.port, **options)
    except (FileNotFoundError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m fakeimg_assets.testbed.local_hub.server ROOT [options of fakeimg hub
    serve]``."""
    parser = argparse.ArgumentParser(description="Serve a folder of repos with the HF Hub API.")
    add_serve_arguments(parser)
    return serve_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
