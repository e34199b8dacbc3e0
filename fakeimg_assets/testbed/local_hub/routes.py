"""The Hub API routes of the local server: which URL gets which answer.

`/api/models` search with cursor pages, repo info by revision, trees and paths-info,
refs, and file downloads (``HEAD``/``GET .../resolve/{rev}/{path}``, with ranges), for
model repos and for dataset repos under ``ROOT/datasets/``. Everything before the route
(Host check, body, injected route faults, visibility and gating) is `http_base`'s; body
faults (``truncate``, ``corrupt``) are applied here, while a file streams out.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import re
import stat
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from fakeimg_assets.testbed.local_hub.faults import corrupt_chunk
from fakeimg_assets.testbed.local_hub.files import CHUNK_BYTES
from fakeimg_assets.testbed.local_hub.http_base import BaseHandler
from fakeimg_assets.testbed.local_hub.protocol import (
    TRUE_VALUES,
    HubError,
    hub_date,
    repo_path,
)
from fakeimg_assets.testbed.local_hub.repo import Repo, string_list
from fakeimg_assets.testbed.local_hub.upload_routes import UploadRoutes

SORT_FIELDS = {  # `?sort=` values -> the Repo attribute they order by
    "createdAt": "created_ts",
    "created_at": "created_ts",
    "lastModified": "modified_ts",
    "last_modified": "modified_ts",
    "downloads": "downloads",
    "likes": "likes",
    "trendingScore": "trending_score",
    "trending_score": "trending_score",
}


class HubHandler(UploadRoutes, BaseHandler):
    """Answers one request of the Hub API (`http_base.BaseHandler` does the plumbing; the
    write routes are `upload_routes.UploadRoutes`')."""

    # ---- routing

    def _route(self, body: bytes) -> None:
        split = urlsplit(self.path)
        query = parse_qsl(split.query, keep_blank_values=True)
        segs = (
            [unquote(s) for s in split.path.strip("/").split("/")] if split.path.strip("/") else []
        )
        method = self.command
        self._repo_type = "model"
        if self._upload_route(segs, body):  # create repo, preupload, LFS, commit
            return
        if segs[:2] == ["api", "datasets"] and len(segs) >= 4:  # dataset repos: ROOT/datasets/
            self._repo_type = "dataset"
            self._api_repo(segs[2:], query, body)
            return
        if segs[:1] == ["datasets"] and len(segs) >= 5 and segs[3] == "resolve" and method in (
            "GET", "HEAD"
        ):
            self._repo_type = "dataset"
            self._resolve(segs[1], segs[2], segs[4], segs[5:])
            return
        if segs[:2] == ["api", "models"] and len(segs) == 2 and method in ("GET", "HEAD"):
            self._list_models(query)
            return
        if segs[:1] == ["api"] and len(segs) == 2 and segs[1] in ("datasets", "spaces"):
            self._send_json([])
            return
        if segs[:1] == ["api"] and len(segs) >= 3 and segs[1] in ("datasets", "spaces"):
            raise HubError(404, "Repository not found", "RepoNotFound")
        if segs[:2] == ["api", "models"] and len(segs) >= 3:
            self._api_repo(segs[2:], query, body)
            return
        if segs[:1] in (["datasets"], ["spaces"]) and "resolve" in segs:
            raise HubError(404, "Repository not found", "RepoNotFound")
        if len(segs) >= 4 and segs[2] == "resolve" and method in ("GET", "HEAD"):
            self._resolve(segs[0], segs[1], segs[3], segs[4:])
            return
        if len(segs) >= 2 and segs[1] == "resolve":
            raise HubError(404, f"Repository not found: {segs[0]!r}", "RepoNotFound")
        raise HubError(404, "Sorry, we can't find the page you are looking for.")

    def _api_repo(self, rest: list[str], query: list[tuple[str, str]], body: bytes) -> None:
        """``/api/models/{org}/{name}[/revision|tree|paths-info|refs|resolve/...]``."""
        if len(rest) < 2:
            raise HubError(404, f"Repository not found: {'/'.join(rest)!r}", "RepoNotFound")
        org, name, sub = rest[0], rest[1], rest[2:]
        params = dict(query)
        method = self.command
        if not sub and method in ("GET", "HEAD"):
            repo = self._repo(org, name)
            self._send_json(repo.info(blobs=params.get("blobs") in TRUE_VALUES))
            return
        kind = sub[0]
        if kind == "revision" and len(sub) >= 2 and method in ("GET", "HEAD"):
            repo = self._repo(org, name, "/".join(sub[1:]))
            self._send_json(repo.info(blobs=params.get("blobs") in TRUE_VALUES))
            return
        if kind == "tree" and len(sub) >= 2 and method in ("GET", "HEAD"):
            repo = self._repo(org, name, sub[1], files=True)
            path = repo_path(sub[2:]) if len(sub) > 2 else ""
            self._tree(repo, path, query)
            return
        if kind == "paths-info" and len(sub) == 2 and method == "POST":
            repo = self._repo(org, name, sub[1], files=True)
            self._paths_info(repo, body)
            return
        if kind == "refs" and len(sub) == 1 and method in ("GET", "HEAD"):
            repo = self._repo(org, name)
            self._send_json(
                {
                    "branches": [
                        {"name": "main", "ref": "refs/heads/main", "targetCommit": repo.sha}
                    ],
                    "converts": [],
                    "tags": [],
                    "pullRequests": [],
                }
            )
            return
        if kind == "resolve" and len(sub) >= 3 and method in ("GET", "HEAD"):
            self._resolve(org, name, sub[1], sub[2:])
            return
        raise HubError(404, f"Repository not found: {'/'.join(rest)!r}", "RepoNotFound")

    # ---- /api/models

    def _list_models(self, query: list[tuple[str, str]]) -> None:
        multi: dict[str, list[str]] = {}
        for key, value in query:
            multi.setdefault(key, []).append(value)
        one = {key: values[-1] for key, values in multi.items()}
        filters = [f for v in multi.get("filter", []) for f in v.split(",") if f]
        author = one.get("author", "").lower()
        search = one.get("search", "").lower()
        pipeline_tag = one.get("pipeline_tag")
        gated = one.get("gated")
        expand = set(multi.get("expand", []))

        sort_name = one.get("sort")
        if sort_name and sort_name not in SORT_FIELDS:
            raise HubError(400, f"Invalid sort {sort_name!r}: use one of {sorted(SORT_FIELDS)}")
        direction = one.get("direction", "-1")
        if direction not in ("-1", "1"):
            raise HubError(400, f"Invalid direction {direction!r}: use -1 or 1")
        limit = self._positive_int(one.get("limit"), "limit")
        page_size = min(limit or self.hub.page_size, self.hub.page_size)

        def key(repo: Repo) -> tuple[int, str]:
            if not sort_name:
                return (0, repo.repo_id)
            value = int(getattr(repo, SORT_FIELDS[sort_name]))
            return (value if direction == "1" else -value, repo.repo_id)

        repos: list[Repo] = []
        for org, name in self.hub._model_folders.repo_ids():
            if search and search not in f"{org}/{name}".lower():
                continue  # cheap: no need to hash a repo the search excludes
            repo = self.hub._model_folders.load(org, name)
            if repo is None:
                continue
            if author and repo.author.lower() != author:
                continue
            if repo.private and not self._authorized:
                continue
            if pipeline_tag and repo.pipeline_tag != pipeline_tag:
                continue
            if gated is not None and (gated in TRUE_VALUES) != bool(repo.gated):
                continue
            tags = set(repo.tags)
            if any(f not in tags and f != repo.library_name for f in filters):
                continue
            repos.append(repo)
        repos.sort(key=key)

        cursor = one.get("cursor")
        if cursor:
            after = _unb64(cursor)
            if not (isinstance(after, list) and len(after) == 2):
                raise HubError(400, f"invalid cursor {cursor!r}", "BadRequest")
            last = (int(after[0]), str(after[1]))
            repos = [r for r in repos if key(r) > last]

        page = repos[:page_size]
        headers: dict[str, str] = {}
        if len(repos) > page_size:
            params = [(k, v) for k, v in query if k != "cursor"]
            params.append(("cursor", _b64(list(key(page[-1])))))
            headers["Link"] = f'<{self._base_url}/api/models?{urlencode(params)}>; rel="next"'
        card = "cardData" in expand or any(one.get(k) in TRUE_VALUES for k in ("cardData", "full"))
        config = one.get("config") in TRUE_VALUES or "config" in expand
        self._send_json([r.summary(card=card, config=config) for r in page], headers=headers)

    @staticmethod
    def _positive_int(value: str | None, name: str) -> int | None:
        if value is None or value == "":
            return None
        if not value.isdigit() or int(value) < 1:
            raise HubError(400, f"Invalid {name} {value!r}: expected a positive integer")
        return int(value)

    # ---- tree and paths-info

    def _tree(self, repo: Repo, path: str, query: list[tuple[str, str]]) -> None:
        params = dict(query)
        recursive = params.get("recursive") in TRUE_VALUES
        expand = params.get("expand") in TRUE_VALUES
        if path and path not in repo.directories:
            if path in repo.files:
                raise HubError(404, f"{path!r} is a file, not a directory", "EntryNotFound")
            raise HubError(404, f"Entry not found: {path!r} in {repo.repo_id}", "EntryNotFound")
        prefix = f"{path}/" if path else ""
        entries: list[dict[str, Any]] = []
        for d, oid in repo.directories.items():
            rest = d[len(prefix) :]
            if d.startswith(prefix) and rest and (recursive or "/" not in rest):
                entry: dict[str, Any] = {"type": "directory", "oid": oid, "size": 0, "path": d}
                if expand:
                    entry["lastCommit"] = {
                        "id": repo.sha,
                        "title": f"Upload {d}",
                        "date": hub_date(repo.last_modified),
                    }
                entries.append(entry)
        for p, f in repo.files.items():
            rest = p[len(prefix) :]
            if p.startswith(prefix) and (recursive or "/" not in rest):
                entries.append(f.tree_entry(repo.sha, expand))
        entries.sort(key=lambda e: e["path"])

        cursor = params.get("cursor")
        if cursor:
            after = str(_unb64(cursor))
            entries = [e for e in entries if e["path"] > after]
        size = self.hub.tree_page_size
        page = entries[:size]
        headers: dict[str, str] = {}
        if len(entries) > size:
            others = [(k, v) for k, v in query if k != "cursor"]
            others.append(("cursor", _b64(page[-1]["path"])))
            url_path = quote(urlsplit(self.path).path)
            headers["Link"] = f'<{self._base_url}{url_path}?{urlencode(others)}>; rel="next"'
        self._send_json(page, headers=headers)

    def _paths_info(self, repo: Repo, body: bytes) -> None:
        ctype = self.headers.get("Content-Type", "")
        paths: list[str] = []
        expand = False
        if "json" in ctype:
            try:
                data = json.loads(body or b"{}")
            except ValueError as exc:
                raise HubError(400, "invalid JSON body", "BadRequest") from exc
            paths = string_list(data.get("paths"))
            expand = bool(data.get("expand"))
        else:
            for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
                if key in ("paths", "paths[]"):
                    paths.append(value)
                elif key == "expand":
                    expand = value in TRUE_VALUES
        out: list[dict[str, Any]] = []
        for raw in paths:
            p = raw.strip("/")
            if p in repo.files:
                out.append(repo.files[p].tree_entry(repo.sha, expand))
            elif p in repo.directories:
                out.append({"type": "directory", "oid": repo.directories[p], "size": 0, "path": p})
        self._send_json(out)

    # ---- resolve

    def _resolve(self, org: str, name: str, revision: str, segments: list[str]) -> None:
        repo = self._repo(org, name, revision, files=True)
        path = repo_path(segments)
        entry = repo.files.get(path)
        if entry is None:
            raise HubError(
                404,
                f"Entry not found: {path!r} in {repo.repo_id}",
                "EntryNotFound",
                {"X-Repo-Commit": repo.sha},
            )
        try:  # checked again now: the file may have become a symlink out of the repo
            real = entry.abspath.resolve(strict=True)
            st = real.stat()
        except (OSError, RuntimeError) as exc:
            raise HubError(404, f"Entry not found: {path!r}", "EntryNotFound") from exc
        if not real.is_relative_to(repo.directory) or not stat.S_ISREG(st.st_mode):
            raise HubError(404, f"Entry not found: {path!r}", "EntryNotFound")
        size = st.st_size
        start, end = 0, size - 1
        status = 200
        headers = {
            "X-Repo-Commit": repo.sha,
            "ETag": f'"{entry.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": mimetypes.guess_type(path)[0] or "application/octet-stream",
        }
        if entry.is_lfs:
            headers["X-Linked-Etag"] = f'"{entry.etag}"'
            headers["X-Linked-Size"] = str(size)
        span = self._parse_range(self.headers.get("Range"), size)
        if span == "unsatisfiable":
            raise HubError(
                416,
                f"Range not satisfiable for size {size}",
                None,
                {"Content-Range": f"bytes */{size}"},
            )
        if isinstance(span, tuple):
            start, end = span
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        fault = self.hub._faults.body_fault(
            self.command, self.path, is_lfs=entry.is_lfs, length=length
        )
        self._fault = fault
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD" or length == 0:
            return
        self._stream(real, start, length, fault)

    def _stream(self, path: Path, start: int, length: int, fault: str | None) -> None:
        """Send ``length`` bytes from ``start``; a fault cuts or flips them mid-way."""
        send = length // 2 if fault == "truncate" else length
        flip_at = length // 2 if fault == "corrupt" else -1
        sent = 0
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            fh.seek(start)
            while sent < send:
                chunk = fh.read(min(CHUNK_BYTES, send - sent))
                if not chunk:  # file shrank under us: the framing is broken, drop the socket
                    self.close_connection = True
                    return
                if flip_at >= 0:
                    chunk = corrupt_chunk(chunk, sent, flip_at)
                self.wfile.write(chunk)
                sent += len(chunk)
        if send < length:  # truncated: the client sees EOF before Content-Length is reached
            self.wfile.flush()
            self.close_connection = True

    @staticmethod
    def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
        """``bytes=a-b`` / ``a-`` / ``-n``; multi-ranges and junk are ignored like most servers."""
        if not header:
            return None
        match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
        if not match or (not match.group(1) and not match.group(2)):
            return None
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
            if last and int(last) < start:
                return None
        else:
            start, end = max(0, size - int(last)), size - 1
            if int(last) == 0:
                return "unsatisfiable"
        if start >= size:
            return "unsatisfiable"
        return start, end


# ---- cursors of paged answers (opaque to the client)


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _unb64(value: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError as exc:
        raise HubError(400, f"invalid cursor {value!r}", "BadRequest") from exc
