"""Request routing of the local Hub: which URL shape goes to which answer."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

from fakeimg_assets.testbed.local_hub.common import _TRUE, HubError, _repo_path
from fakeimg_assets.testbed.local_hub.listing import _ListingRoutes
from fakeimg_assets.testbed.local_hub.resolve import _ResolveRoute


class _Handler(_ListingRoutes, _ResolveRoute):
    """Routes Hub API requests to the listing and file routes."""

    # ---- routing

    def _route(self, body: bytes) -> None:
        split = urlsplit(self.path)
        query = parse_qsl(split.query, keep_blank_values=True)
        segs = (
            [unquote(s) for s in split.path.strip("/").split("/")] if split.path.strip("/") else []
        )
        method = self.command
        self._repo_type = "model"
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
            self._send_json(repo.info(blobs=params.get("blobs") in _TRUE))
            return
        kind = sub[0]
        if kind == "revision" and len(sub) >= 2 and method in ("GET", "HEAD"):
            repo = self._repo(org, name, "/".join(sub[1:]))
            self._send_json(repo.info(blobs=params.get("blobs") in _TRUE))
            return
        if kind == "tree" and len(sub) >= 2 and method in ("GET", "HEAD"):
            repo = self._repo(org, name, sub[1], files=True)
            path = _repo_path(sub[2:]) if len(sub) > 2 else ""
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
