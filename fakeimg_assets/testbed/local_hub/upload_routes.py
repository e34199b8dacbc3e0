"""The local Hub's write routes, the ones `HfApi.create_repo` / `create_commit` /
`upload_folder` (LFS route) call:

- ``POST /api/repos/create``: a model or dataset repo folder under ROOT;
- ``POST /api/validate-yaml``: the README's front matter must parse;
- ``GET /api/{type}s/{org}/{name}/xet-write-token/{rev}``: 404, no Xet storage here, so
  clients that ask first (fakeimg's push) take the LFS route;
- ``POST /api/{type}s/{org}/{name}/preupload/{rev}``: 'lfs' or 'regular' per file, with the
  remote oid so unchanged files are skipped;
- ``POST /[datasets/]{org}/{name}.git/info/lfs/objects/batch``: the LFS batch API, basic
  transfer, each upload href carrying a one-time ticket (the client's PUT has no token);
- ``PUT /api/lfs-upload/{oid}?ticket=``: the bytes, streamed and sha256-checked;
- ``POST /api/{type}s/{org}/{name}/commit/{rev}``: the NDJSON commit, checked whole, then
  written into the served repo folder (`upload_store.py`).
Every write needs a token the server was started with (`--token`); without any, the server
is read-only.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fakeimg_assets.testbed.local_hub.files import is_lfs_path
from fakeimg_assets.testbed.local_hub.guards import body_length
from fakeimg_assets.testbed.local_hub.protocol import HubError
from fakeimg_assets.testbed.local_hub.repo_folders import valid_name
from fakeimg_assets.testbed.local_hub.upload_store import (
    apply_commit,
    parse_commit,
    parse_oid,
    upload_path,
)

UPLOAD_MIN_RATE = 10 * 2**20  # bytes/s an upload body must keep up on loopback


class UploadRoutes:
    """Mixed into `routes.HubHandler`: answers the write routes, or returns False."""

    def _upload_route(self, segs: list[str], body: bytes) -> bool:
        method = self.command  # type: ignore[attr-defined]
        if segs == ["api", "repos", "create"] and method == "POST":
            self._create_repo(self._json(body))
            return True
        if segs == ["api", "validate-yaml"] and method == "POST":
            self._validate_yaml(self._json(body))
            return True
        if segs[:2] == ["api", "lfs-upload"] and len(segs) == 3 and method == "PUT":
            self._lfs_put(segs[2])
            return True
        if segs[:1] == ["api"] and len(segs) >= 6 and segs[1] in ("models", "datasets"):
            kind, org, name, action = segs[1][:-1], segs[2], segs[3], segs[4]
            if action == "xet-write-token" and method == "GET":
                raise HubError(404, "no Xet storage on this server: use the LFS batch API",
                               "XetNotAvailable")
            if action in ("preupload", "commit") and method == "POST":
                self._repo_type = kind  # type: ignore[attr-defined]
                rev = "/".join(segs[5:])
                if action == "preupload":
                    self._preupload(org, name, rev, self._json(body))
                else:
                    self._commit(org, name, rev, body)
                return True
        lfs = segs[1:] if segs[:1] == ["datasets"] else segs
        if (len(lfs) == 6 and lfs[1].endswith(".git") and lfs[2:] == ["info", "lfs", "objects",
                                                                         "batch"]
                and method == "POST"):
            self._repo_type = "dataset" if segs[:1] == ["datasets"] else "model"  # type: ignore[attr-defined]
            self._lfs_batch(lfs[0], lfs[1][:-4], self._json(body))
            return True
        return False

    # ---- helpers

    def _json(self, body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body or b"{}")
        except ValueError as exc:
            raise HubError(400, "invalid JSON body", "BadRequest") from exc
        if not isinstance(data, dict):
            raise HubError(400, "expected a JSON object", "BadRequest")
        return data

    def _require_writer(self) -> None:
        if not self.hub.tokens:  # type: ignore[attr-defined]
            raise HubError(403, "this server is read-only: start it with --token to accept "
                           "uploads", "Forbidden")
        if not self._authorized:  # type: ignore[attr-defined]
            raise HubError(401, "uploads need a token this server was started with",
                           "Unauthorized")

    def _write_repo(self, org: str, name: str, rev: str):
        self._require_writer()
        return self._repo(org, name, rev)  # type: ignore[attr-defined]

    # ---- routes

    def _create_repo(self, data: dict[str, Any]) -> None:
        self._require_writer()
        org, name, kind = data.get("organization"), data.get("name"), data.get("type") or "model"
        if kind not in ("model", "dataset"):
            raise HubError(400, f"repo type {str(kind)[:20]!r}: this server holds 'model' and "
                           "'dataset' repos", "BadRequest")
        for part, what in ((org, "organization"), (name, "name")):
            if not isinstance(part, str) or not valid_name(part):
                raise HubError(400, f"invalid repo {what} {str(part)[:100]!r}", "BadRequest")
        hub = self.hub  # type: ignore[attr-defined]
        base = hub.root / "datasets" if kind == "dataset" else hub.root
        url = f"{self._base_url}/{'datasets/' if kind == 'dataset' else ''}{org}/{name}"  # type: ignore[attr-defined]
        with hub._write_lock:
            folder = base / org / name
            if folder.exists() or folder.is_symlink():
                self._send_json({"error": "You already created this repo", "url": url}, 409)  # type: ignore[attr-defined]
                return
            folder.mkdir(parents=True)
        self._send_json({"url": url, "name": f"{org}/{name}"})  # type: ignore[attr-defined]

    def _validate_yaml(self, data: dict[str, Any]) -> None:
        import yaml

        content = data.get("content")
        if not isinstance(content, str):
            raise HubError(400, "validate-yaml needs `content`", "BadRequest")
        errors = []
        if content.startswith("---"):
            front = content.split("\n---", 1)[0][3:]
            try:
                parsed = yaml.safe_load(front)
                if parsed is not None and not isinstance(parsed, dict):
                    errors.append({"message": "the front matter is not a mapping"})
            except yaml.YAMLError as exc:
                errors.append({"message": f"invalid YAML: {str(exc)[:300]}"})
        self._send_json({"errors": errors, "warnings": []}, 400 if errors else 200)  # type: ignore[attr-defined]

    def _preupload(self, org: str, name: str, rev: str, data: dict[str, Any]) -> None:
        repo = self._write_repo(org, name, rev)
        files = data.get("files")
        if not isinstance(files, list) or len(files) > 1000:
            raise HubError(400, "preupload needs a list of at most 1000 files", "BadRequest")
        out = []
        for f in files:
            if not isinstance(f, dict):
                raise HubError(400, "preupload: each file is an object", "BadRequest")
            path, size = upload_path(f.get("path")), f.get("size")
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise HubError(400, f"preupload: invalid size for {path!r}", "BadRequest")
            lfs = size > 0 and is_lfs_path(path, size)
            existing = repo.files.get(path)
            oid = existing.etag if existing is not None and existing.is_lfs == lfs else None
            out.append({"path": path, "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": False, "oid": oid})
        self._send_json({"files": out, "commitOid": repo.sha})  # type: ignore[attr-defined]

    def _lfs_batch(self, org: str, name: str, data: dict[str, Any]) -> None:
        repo = self._write_repo(org, name, "main")
        if data.get("operation") != "upload":
            raise HubError(400, "this server's LFS batch API only takes uploads", "BadRequest")
        objects = data.get("objects")
        if not isinstance(objects, list) or len(objects) > 1000:
            raise HubError(400, "LFS batch needs a list of at most 1000 objects", "BadRequest")
        store = self.hub._uploads  # type: ignore[attr-defined]
        out = []
        for obj in objects:
            if not isinstance(obj, dict):
                raise HubError(400, "LFS batch: each object is an object", "BadRequest")
            oid, size = parse_oid(obj.get("oid")), obj.get("size")
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise HubError(400, f"LFS batch: invalid size for {oid}", "BadRequest")
            if size > store.max_object_bytes:
                out.append({"oid": oid, "size": size, "error": {
                    "code": 422, "message": f"over this server's {store.max_object_bytes}-byte "
                    "object limit"}})
                continue
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if store.size_of(oid) != size:
                ticket = store.ticket(oid, size, repo.repo_id)
                entry["actions"] = {"upload": {
                    "href": f"{self._base_url}/api/lfs-upload/{oid}?ticket={ticket}",  # type: ignore[attr-defined]
                    "expires_in": 3600}}
            out.append(entry)
        body = json.dumps({"transfer": "basic", "objects": out, "hash_algo": "sha256"}).encode()
        self._send_bytes(200, body, {"Content-Type": "application/vnd.git-lfs+json"})  # type: ignore[attr-defined]

    def _lfs_put(self, oid_text: str) -> None:
        oid = parse_oid(oid_text)
        query = dict(parse_qsl(urlsplit(self.path).query))  # type: ignore[attr-defined]
        store = self.hub._uploads  # type: ignore[attr-defined]
        if self.headers.get("Transfer-Encoding"):  # type: ignore[attr-defined]
            self.close_connection = True  # type: ignore[attr-defined]
            raise HubError(411, "an upload needs a Content-Length", "LengthRequired")
        length = body_length(self.headers, store.max_object_bytes)  # type: ignore[attr-defined]
        ticket = store.take_ticket(query.get("ticket", ""), oid)
        self._reader.allow(self.hub.request_timeout_s + length / UPLOAD_MIN_RATE)  # type: ignore[attr-defined]
        try:
            store.receive(self.rfile, length, ticket)  # type: ignore[attr-defined]
        except HubError:
            self.close_connection = True  # type: ignore[attr-defined]  # body may be unread
            raise
        self._send_json({})  # type: ignore[attr-defined]

    def _commit(self, org: str, name: str, rev: str, body: bytes) -> None:
        repo = self._write_repo(org, name, rev)
        hub = self.hub  # type: ignore[attr-defined]
        header, changes = parse_commit(body, hub._uploads, hub.max_commit_bytes)
        parent = header.get("parentCommit")
        with hub._write_lock:
            if parent is not None and parent != repo.sha:
                raise HubError(412, f"parent commit {str(parent)[:40]!r} is not the head "
                               f"{repo.sha}", "PreconditionFailed")
            apply_commit(repo.directory, changes, hub._uploads)
        folders = hub._dataset_folders if self._repo_type == "dataset" else hub._model_folders  # type: ignore[attr-defined]
        now = folders.load(org, name)
        sha = now.sha if now is not None else repo.sha
        prefix = "datasets/" if self._repo_type == "dataset" else ""  # type: ignore[attr-defined]
        self._send_json({"success": True, "commitOid": sha, "hookOutput": "",  # type: ignore[attr-defined]
                         "commitUrl": f"{self._base_url}/{prefix}{org}/{name}/commit/{sha}"})  # type: ignore[attr-defined]

    def _body_limit(self) -> int:
        if self.command == "POST" and "/commit/" in urlsplit(self.path).path:  # type: ignore[attr-defined]
            return self.hub.max_commit_bytes  # type: ignore[attr-defined]
        return super()._body_limit()  # type: ignore[misc]
