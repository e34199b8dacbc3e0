"""Listing routes of the local Hub: ``/api/models`` search and repo trees / paths-info."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fakeimg_assets.testbed.local_hub.common import (
    _SORT_FIELDS,
    _TRUE,
    HubError,
    _as_tags,
    _b64,
    _iso,
    _unb64,
)
from fakeimg_assets.testbed.local_hub.http_base import _BaseHandler
from fakeimg_assets.testbed.local_hub.repo import _Repo


class _ListingRoutes(_BaseHandler):
    """Mixin of the handler: model search, tree and paths-info."""

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
        if sort_name and sort_name not in _SORT_FIELDS:
            raise HubError(400, f"Invalid sort {sort_name!r}: use one of {sorted(_SORT_FIELDS)}")
        direction = one.get("direction", "-1")
        if direction not in ("-1", "1"):
            raise HubError(400, f"Invalid direction {direction!r}: use -1 or 1")
        limit = self._positive_int(one.get("limit"), "limit")
        page_size = min(limit or self.hub.page_size, self.hub.page_size)

        def key(repo: _Repo) -> tuple[int, str]:
            if not sort_name:
                return (0, repo.repo_id)
            value = int(getattr(repo, _SORT_FIELDS[sort_name]))
            return (value if direction == "1" else -value, repo.repo_id)

        repos: list[_Repo] = []
        for org, name in self.hub._catalog.repo_ids():
            if search and search not in f"{org}/{name}".lower():
                continue  # cheap: no need to hash a repo the search excludes
            repo = self.hub._catalog.load(org, name)
            if repo is None:
                continue
            if author and repo.author.lower() != author:
                continue
            if repo.private and not self._authorized:
                continue
            if pipeline_tag and repo.pipeline_tag != pipeline_tag:
                continue
            if gated is not None and (gated in _TRUE) != bool(repo.gated):
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
        card = one.get("cardData") in _TRUE or one.get("full") in _TRUE or "cardData" in expand
        config = one.get("config") in _TRUE or "config" in expand
        self._send_json([r.summary(card=card, config=config) for r in page], headers=headers)

    @staticmethod
    def _positive_int(value: str | None, name: str) -> int | None:
        if value is None or value == "":
            return None
        if not value.isdigit() or int(value) < 1:
            raise HubError(400, f"Invalid {name} {value!r}: expected a positive integer")
        return int(value)

    # ---- tree and paths-info

    def _tree(self, repo: _Repo, path: str, query: list[tuple[str, str]]) -> None:
        params = dict(query)
        recursive = params.get("recursive") in _TRUE
        expand = params.get("expand") in _TRUE
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
                        "date": _iso(repo.last_modified),
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

    def _paths_info(self, repo: _Repo, body: bytes) -> None:
        ctype = self.headers.get("Content-Type", "")
        paths: list[str] = []
        expand = False
        if "json" in ctype:
            try:
                data = json.loads(body or b"{}")
            except ValueError as exc:
                raise HubError(400, "invalid JSON body", "BadRequest") from exc
            paths = _as_tags(data.get("paths"))
            expand = bool(data.get("expand"))
        else:
            for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
                if key in ("paths", "paths[]"):
                    paths.append(value)
                elif key == "expand":
                    expand = value in _TRUE
        out: list[dict[str, Any]] = []
        for raw in paths:
            p = raw.strip("/")
            if p in repo.files:
                out.append(repo.files[p].tree_entry(repo.sha, expand))
            elif p in repo.directories:
                out.append({"type": "directory", "oid": repo.directories[p], "size": 0, "path": p})
        self._send_json(out)
