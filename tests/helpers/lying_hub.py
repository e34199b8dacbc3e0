"""A Hub endpoint that lies: a loopback proxy in front of the local Hub server that rewrites
its answers, one kind of lie per repo alias.

Each alias (`liar/...`) serves an upstream repo of the tiny zoo under its own id, and tells
one lie the real Hub never tells: a commit sha that is a path, an `X-Repo-Commit` or `ETag`
header that is a path, another repo's id, a size that is not the listing's, a body longer
than announced, a redirect to a `file://` URL, a card whose base model lies in turn. An
alias without a lie is the control that proves the proxy itself serves a working Hub.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit


@dataclass(frozen=True)
class Lie:
    """What one alias lies about (None: tells the truth about it)."""

    sha: str | None = None  # model_info's `sha`
    repo_id: str | None = None  # model_info's `id`
    commit_header: str | None = None  # X-Repo-Commit on file answers
    etag: str | None = None  # ETag (and X-Linked-Etag) on file answers
    head_size: int | None = None  # the size a HEAD announces (Content-Length / X-Linked-Size)
    endless_body: bool = False  # GET streams chunked bytes far past the announced size
    redirect: str | None = None  # file answers redirect here
    base_model: str | None = None  # the card's base_model (a LoRA's base)
    lfs_sha: str | None = None  # the listing's LFS sha256 of every LFS file
    file: str | None = None  # only this file's answers lie (None: every file)


ENDLESS_BYTES = 8 * 2**20  # what an endless body sends before the proxy gives up


class LyingHub:
    """`with LyingHub(upstream_url, {alias: (upstream_id, Lie())}) as hub: hub.url`."""

    def __init__(self, upstream: str, aliases: dict[str, tuple[str, Lie]]) -> None:
        self.upstream = urlsplit(upstream)
        self.aliases = aliases
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.handle(self)

            def do_HEAD(self) -> None:
                outer.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LyingHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- upstream ---------------------------------------------------------------------------
    def fetch(self, method: str, path: str, headers: dict[str, str] | None = None
              ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            conn.request(method, path, headers={"Host": self.upstream.netloc, **(headers or {})})
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, {k: v for k, v in resp.getheaders()}, body
        finally:
            conn.close()

    def info_json(self, alias: str, upstream_id: str, lie: Lie, suffix: str, query: str
                  ) -> tuple[int, dict]:
        status, _, body = self.fetch("GET", f"/api/models/{upstream_id}{suffix}?{query}")
        data = json.loads(body)
        if status != 200:
            return status, data
        data["id"] = data["modelId"] = lie.repo_id or alias
        if lie.sha is not None:
            data["sha"] = lie.sha
        if lie.base_model is not None:
            data.setdefault("cardData", {})["base_model"] = lie.base_model
            data["tags"] = [t for t in data.get("tags", []) if not t.startswith("base_model:")]
        if lie.lfs_sha is not None:
            for s in data.get("siblings", []):
                if "lfs" in s:
                    s["lfs"]["sha256"] = lie.lfs_sha
        return 200, data

    # -- routes -----------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler) -> None:
        self.requests.append(f"{h.command} {h.path}")
        parts = urlsplit(h.path)
        segments = [s for s in parts.path.split("/") if s]
        try:
            if segments[:2] == ["api", "models"] and len(segments) == 2:
                return self.listing(h)
            if segments[:2] == ["api", "models"] and len(segments) >= 4:
                alias = "/".join(segments[2:4])
                if alias in self.aliases:
                    upstream_id, lie = self.aliases[alias]
                    suffix = "/" + "/".join(segments[4:]) if len(segments) > 4 else ""
                    if suffix.startswith("/revision/"):
                        suffix = ""  # any revision of an alias is its upstream's only one
                    status, data = self.info_json(alias, upstream_id, lie, suffix, parts.query)
                    return self.send_json(h, status, data)
            if len(segments) >= 4 and segments[2] == "resolve":
                alias = "/".join(segments[:2])
                if alias in self.aliases:
                    return self.resolve(h, alias, "/".join(segments[4:]))
            return self.send_json(h, 404, {"error": "not found"}, {"X-Error-Code": "RepoNotFound"})
        except (BrokenPipeError, ConnectionResetError):
            return None

    def listing(self, h: BaseHTTPRequestHandler) -> None:
        out = []
        for alias, (upstream_id, _lie) in sorted(self.aliases.items()):
            # the listing tells the truth (crawl-time checks are tested apart): each alias's
            # lie is in its own repo and file answers
            status, data = self.info_json(alias, upstream_id, Lie(), "", "")
            if status == 200:
                data.pop("siblings", None)
                out.append(data)
        self.send_json(h, 200, out)

    def resolve(self, h: BaseHTTPRequestHandler, alias: str, path: str) -> None:
        upstream_id, lie = self.aliases[alias]
        lies_here = lie.file is None or lie.file == path
        status, headers, body = self.fetch(
            h.command, f"/{upstream_id}/resolve/main/{quote(path)}",
            {k: v for k, v in h.headers.items() if k.lower() == "range"},
        )
        out = {k: v for k, v in headers.items()
               if k.lower() in ("x-repo-commit", "etag", "x-linked-etag", "x-linked-size",
                                "content-length", "accept-ranges", "content-type",
                                "content-range", "x-error-code")}
        if lies_here and lie.redirect is not None and status == 200:
            h.send_response(302)
            h.send_header("Location", lie.redirect)
            h.send_header("X-Repo-Commit", headers.get("X-Repo-Commit", ""))
            h.send_header("ETag", headers.get("ETag", ""))
            h.send_header("X-Linked-Size", headers.get("Content-Length", "0"))
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if lies_here and lie.commit_header is not None:
            out["X-Repo-Commit"] = lie.commit_header
        if lies_here and lie.etag is not None:
            out["ETag"] = f'"{lie.etag}"'
            if "X-Linked-Etag" in out:
                out["X-Linked-Etag"] = f'"{lie.etag}"'
        if lies_here and lie.head_size is not None and h.command == "HEAD":
            out["Content-Length"] = str(lie.head_size)
            out.pop("X-Linked-Size", None)
        if lies_here and lie.endless_body and h.command == "GET" and status in (200, 206):
            out.pop("Content-Length", None)
            h.send_response(status)
            for k, v in out.items():
                h.send_header(k, v)
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            chunk = body or b"\0"
            sent = 0
            while sent < ENDLESS_BYTES:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            h.wfile.write(b"0\r\n\r\n")
            return
        h.send_response(status)
        for k, v in out.items():
            h.send_header(k, v)
        if "Content-Length" not in out:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command == "GET":
            h.wfile.write(body)

    @staticmethod
    def send_json(h: BaseHTTPRequestHandler, status: int, data: object,
                  headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)
