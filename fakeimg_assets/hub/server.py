"""A local server speaking the Hugging Face Hub HTTP API over a folder of repos.

It is the test fixture and the offline demo: the unmodified ``huggingface_hub`` client
(``HfApi(endpoint=url)``, ``hf_hub_download``, ``snapshot_download``) and diffusers'
``from_pretrained`` (with ``HF_ENDPOINT`` set before import) work against it.

Layout of ROOT: each model repo is a directory ``ROOT/{org}/{name}/`` holding the repo files as
in git. Hub-side metadata that is not repo content lives in ``ROOT/{org}/{name}/.hub.json``
(never served). Top-level ``.git`` and ``.cache`` folders of a repo are not repo content either.
Repos are rediscovered on every request; file hashes are cached on (path, size, mtime_ns).

Run it: ``python -m fakeimg_assets.hub.server ROOT --port 8765``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import ipaddress
import json
import logging
import mimetypes
import os
import re
import socket
import stat
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

try:  # pyyaml ships with huggingface_hub; the fallback keeps the server stdlib-only.
    import yaml
except ImportError:  # pragma: no cover - exercised only without pyyaml
    yaml = None  # type: ignore[assignment]

__all__ = ["HubServer", "serve_forever", "main"]

log = logging.getLogger(__name__)

HUB_META_FILE = ".hub.json"
# Top-level entries of a repo dir that are not repo content (git internals, local_dir caches).
_HIDDEN_TOP_LEVEL = frozenset({HUB_META_FILE, ".git", ".cache"})
# Files the Hub stores with git-lfs (diffusers/transformers repos' .gitattributes) or by size.
_LFS_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".ckpt",
    ".pt",
    ".pth",
    ".msgpack",
    ".h5",
    ".onnx",
    ".model",
    ".gguf",
)
_LFS_MIN_SIZE = 10 * 1024 * 1024
_CHUNK = 1024 * 1024
# Hub repo-name rules, simplified: no leading dot/dash, no "..", so a name never walks the tree.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_MAIN_REFS = frozenset({"main", "refs/heads/main"})
_SORT_FIELDS = {
    "createdAt": "created_ts",
    "created_at": "created_ts",
    "lastModified": "modified_ts",
    "last_modified": "modified_ts",
    "downloads": "downloads",
    "likes": "likes",
    "trendingScore": "trending_score",
    "trending_score": "trending_score",
}
_TRUE = frozenset({"1", "true", "True", "yes"})


class HubError(Exception):
    """An error answered the way the Hub does: status, ``X-Error-Code`` and a JSON message."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


# --------------------------------------------------------------------------- hashing


@dataclass(frozen=True)
class _Digest:
    git_sha1: str
    sha256: str


class _HashCache:
    """Content hashes keyed on (path, size, mtime_ns) so big weights are hashed once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, int, _Digest]] = {}

    def digest(self, path: Path, st: os.stat_result) -> _Digest:
        key = str(path)
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        git = hashlib.sha1(b"blob %d\0" % st.st_size)
        sha = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                git.update(chunk)
                sha.update(chunk)
        result = _Digest(git.hexdigest(), sha.hexdigest())
        with self._lock:
            self._entries[key] = (st.st_size, st.st_mtime_ns, result)
        return result


# --------------------------------------------------------------------------- repo model


def _iso(when: datetime) -> str:
    """Hub date format (milliseconds, ``Z``), the one ``huggingface_hub.parse_datetime`` reads."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _parse_when(value: Any) -> datetime | None:
    """Accept ISO strings (``Z`` or offsets), dates, datetimes and epoch numbers."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _front_matter(text: str) -> dict[str, Any]:
    """YAML metadata at the top of README.md (the model card's ``cardData``)."""
    match = re.match(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*$", text, re.S | re.M)
    if not match:
        return {}
    body = match.group(1)
    if yaml is None:
        return _mini_yaml(body)
    try:
        data = yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _mini_yaml(body: str) -> dict[str, Any]:
    """Flat ``key: value`` / ``key: [a, b]`` / ``- item`` YAML, for when pyyaml is missing."""
    out: dict[str, Any] = {}
    key: str | None = None
    for line in body.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("- ") and key is not None:
            out.setdefault(key, [])
            if isinstance(out[key], list):
                out[key].append(line.lstrip()[2:].strip().strip("'\""))
            continue
        if ":" in line and not line[0].isspace():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if value.startswith("[") and value.endswith("]"):
                out[key] = [v.strip().strip("'\"") for v in value[1:-1].split(",") if v.strip()]
            elif value:
                out[key] = value.strip("'\"")
            else:
                out[key] = []
    return out


def _as_tags(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return []


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


@dataclass(frozen=True)
class _File:
    path: str
    abspath: Path
    size: int
    mtime: float
    digest: _Digest

    @property
    def is_lfs(self) -> bool:
        return self.path.lower().endswith(_LFS_SUFFIXES) or self.size > _LFS_MIN_SIZE

    @cached_property
    def pointer(self) -> bytes:
        """The git-lfs pointer file git stores instead of the content."""
        return (
            "version https://git-lfs.github.com/spec/v1\n"
            f"oid sha256:{self.digest.sha256}\nsize {self.size}\n"
        ).encode()

    @property
    def oid(self) -> str:
        """Git blob id as the Hub reports it: of the pointer for LFS files, else of the content."""
        if self.is_lfs:
            return hashlib.sha1(b"blob %d\0" % len(self.pointer) + self.pointer).hexdigest()
        return self.digest.git_sha1

    @property
    def etag(self) -> str:
        """The client names cache blobs by ETag: sha256 for LFS files, git sha1 otherwise."""
        return self.digest.sha256 if self.is_lfs else self.digest.git_sha1

    def tree_entry(self, sha: str, expand: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": "file",
            "oid": self.oid,
            "size": self.size,
            "path": self.path,
        }
        if self.is_lfs:
            entry["lfs"] = {
                "oid": self.digest.sha256,
                "size": self.size,
                "pointerSize": len(self.pointer),
            }
        if expand:
            entry["lastCommit"] = {
                "id": sha,
                "title": f"Upload {self.path}",
                "date": _iso(datetime.fromtimestamp(self.mtime, UTC)),
            }
        return entry

    def sibling(self, blobs: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"rfilename": self.path}
        if blobs:
            out["size"] = self.size
            out["blobId"] = self.oid
            if self.is_lfs:
                out["lfs"] = {
                    "sha256": self.digest.sha256,
                    "size": self.size,
                    "pointerSize": len(self.pointer),
                }
        return out


@dataclass
class _Repo:
    """One repo as found on disk right now."""

    repo_id: str
    directory: Path
    files: dict[str, _File]
    meta: dict[str, Any]
    dir_mtime: float
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        commit = hashlib.sha1()
        for path in sorted(self.files):
            commit.update(f"{path}\0{self.files[path].digest.sha256}\n".encode())
        self.sha = commit.hexdigest()

    # ---- metadata with defaults

    @cached_property
    def card_data(self) -> dict[str, Any]:
        readme = self.files.get("README.md")
        if readme is None:
            return {}
        try:
            return _front_matter(readme.abspath.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return {}

    @cached_property
    def model_index(self) -> dict[str, Any] | None:
        entry = self.files.get("model_index.json")
        if entry is None:
            return None
        try:
            data = json.loads(entry.abspath.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _meta_or_card(self, key: str) -> Any:
        value = self.meta.get(key)
        return value if value is not None else self.card_data.get(key)

    @property
    def author(self) -> str:
        return str(self.meta.get("author") or self.repo_id.split("/")[0])

    @property
    def library_name(self) -> str | None:
        value = self._meta_or_card("library_name")
        if value is None and self.model_index is not None:
            return "diffusers"  # the Hub infers diffusers from model_index.json
        return str(value) if value is not None else None

    @property
    def pipeline_tag(self) -> str | None:
        value = self._meta_or_card("pipeline_tag")
        return str(value) if value is not None else None

    @property
    def license(self) -> str | None:
        value = self._meta_or_card("license")
        return str(value) if isinstance(value, str) else None

    @property
    def class_name(self) -> str | None:
        value = (self.model_index or {}).get("_class_name")
        return value if isinstance(value, str) else None

    @property
    def tags(self) -> list[str]:
        own = (
            _as_tags(self.meta["tags"])
            if "tags" in self.meta
            else _as_tags(self.card_data.get("tags"))
        )
        extra = [self.library_name or "", *own, self.pipeline_tag or ""]
        if any(p.endswith(".safetensors") for p in self.files):
            extra.append("safetensors")
        if self.license:
            extra.append(f"license:{self.license}")
        if self.class_name and self.library_name == "diffusers":
            extra.append(f"diffusers:{self.class_name}")
        return _dedupe(extra)

    @property
    def gated(self) -> str | bool:
        value = self.meta.get("gated", False)
        if value in ("auto", "manual"):
            return value
        return "auto" if value is True else False

    @property
    def private(self) -> bool:
        return bool(self.meta.get("private", False))

    def _int(self, *keys: str) -> int:
        for key in keys:
            value = self.meta.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return int(value)
        return 0

    @property
    def downloads(self) -> int:
        return self._int("downloads")

    @property
    def likes(self) -> int:
        return self._int("likes")

    @property
    def trending_score(self) -> int:
        return self._int("trending_score", "trendingScore")

    @property
    def fail_first_n_requests(self) -> int:
        return self._int("fail_first_n_requests")

    def _mtimes(self) -> list[float]:
        return [f.mtime for f in self.files.values()] or [self.dir_mtime]

    @cached_property
    def created_at(self) -> datetime:
        when = _parse_when(self.meta.get("created_at") or self.meta.get("createdAt"))
        return when or datetime.fromtimestamp(min(self._mtimes()), UTC)

    @cached_property
    def last_modified(self) -> datetime:
        when = _parse_when(self.meta.get("last_modified") or self.meta.get("lastModified"))
        return when or datetime.fromtimestamp(max(self._mtimes()), UTC)

    @property
    def created_ts(self) -> int:
        return int(self.created_at.timestamp() * 1_000_000)

    @property
    def modified_ts(self) -> int:
        return int(self.last_modified.timestamp() * 1_000_000)

    @property
    def used_storage(self) -> int:
        return sum(f.size for f in self.files.values())

    @cached_property
    def directories(self) -> dict[str, str]:
        """Every folder path -> a deterministic tree id over what it holds."""
        members: dict[str, list[str]] = {}
        for path, entry in self.files.items():
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                members.setdefault("/".join(parts[:depth]), []).append(f"{path}\0{entry.oid}")
        return {
            d: hashlib.sha1("\n".join(sorted(m)).encode()).hexdigest() for d, m in members.items()
        }

    # ---- JSON shapes

    def summary(self, *, card: bool, config: bool) -> dict[str, Any]:
        """An item of ``GET /api/models`` with every field ``ModelInfo`` reads."""
        out: dict[str, Any] = {
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": self.author,
            "sha": self.sha,
            "createdAt": _iso(self.created_at),
            "lastModified": _iso(self.last_modified),
            "private": self.private,
            "gated": self.gated,
            "disabled": False,
            "downloads": self.downloads,
            "likes": self.likes,
            "trendingScore": self.trending_score,
            "tags": self.tags,
            "pipeline_tag": self.pipeline_tag,
            "library_name": self.library_name,
            "siblings": [f.sibling(False) for f in self.files.values()],
        }
        if card and self.card_data:
            out["cardData"] = self.card_data
        if config and self.config:
            out["config"] = self.config
        return out

    @property
    def config(self) -> dict[str, Any] | None:
        if self.class_name is None:
            return None
        return {"diffusers": {"_class_name": self.class_name}}

    def info(self, *, blobs: bool) -> dict[str, Any]:
        """``GET /api/models/{id}``: the summary plus card, config, storage and blob details."""
        out = self.summary(card=True, config=True)
        out["siblings"] = [f.sibling(blobs) for f in self.files.values()]
        out["usedStorage"] = self.used_storage
        out["spaces"] = []
        return out


class _Catalog:
    """Finds repos under ROOT on every call, so repos copied in show up at once.

    A repo is re-read only when its fingerprint (every file's path, size and mtime_ns, plus
    ``.hub.json``'s) changed; unchanged repos cost one stat per file.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hashes = _HashCache()
        self._lock = threading.Lock()
        self._repos: dict[str, tuple[tuple[Any, ...], _Repo]] = {}

    def repo_ids(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        try:
            orgs = sorted(self.root.iterdir())
        except OSError:
            return out
        for org in orgs:
            if not _valid_name(org.name) or not org.is_dir():
                continue
            try:
                names = sorted(org.iterdir())
            except OSError:
                continue
            out.extend((org.name, r.name) for r in names if _valid_name(r.name) and r.is_dir())
        with self._lock:  # forget repos that were removed
            for gone in set(self._repos) - {f"{o}/{n}" for o, n in out}:
                del self._repos[gone]
        return out

    def load(self, org: str, name: str) -> _Repo | None:
        if not (_valid_name(org) and _valid_name(name)):
            return None
        repo_id = f"{org}/{name}"
        try:
            real = (self.root / org / name).resolve(strict=True)
            dir_st = real.stat()
            if not stat.S_ISDIR(dir_st.st_mode):
                return None
            listing = self._scan(real)
            meta_path = real / HUB_META_FILE
            meta_st = meta_path.stat() if meta_path.is_file() else None
        except OSError:
            return None  # missing, or vanished while scanning
        fingerprint = (
            str(real),
            dir_st.st_mtime_ns,
            (meta_st.st_size, meta_st.st_mtime_ns) if meta_st else None,
            tuple((rel, t, st.st_size, st.st_mtime_ns) for rel, t, st in listing),
        )
        with self._lock:
            cached = self._repos.get(repo_id)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        meta: dict[str, Any] = {}
        if meta_st is not None:
            try:
                loaded = json.loads(meta_path.read_text(encoding="utf-8"))
                meta = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable %s: %s", meta_path, exc)
        files: dict[str, _File] = {}
        for rel, target, st in listing:
            try:
                digest = self.hashes.digest(Path(target), st)
            except OSError:
                continue
            files[rel] = _File(rel, Path(target), st.st_size, st.st_mtime, digest)
        repo = _Repo(repo_id, real, files, meta, dir_st.st_mtime)
        with self._lock:
            self._repos[repo_id] = (fingerprint, repo)
        return repo

    @staticmethod
    def _scan(real: Path) -> list[tuple[str, str, os.stat_result]]:
        """Regular files under ``real``, sorted; symlinks only when they stay inside it."""
        found: list[tuple[str, str, os.stat_result]] = []
        pending: list[tuple[str, str]] = [(str(real), "")]
        while pending:
            directory, prefix = pending.pop()
            with os.scandir(directory) as entries:
                for entry in entries:
                    if not prefix and entry.name in _HIDDEN_TOP_LEVEL:
                        continue
                    rel = prefix + entry.name
                    try:
                        rel.encode("utf-8")
                        if entry.is_symlink():
                            target = Path(entry.path).resolve(strict=True)
                            if not target.is_relative_to(real):
                                continue  # never serve content from outside the repo
                            st = target.stat()
                            if stat.S_ISREG(st.st_mode):  # symlinked folders are not followed
                                found.append((rel, str(target), st))
                        elif entry.is_dir(follow_symlinks=False):
                            pending.append((entry.path, rel + "/"))
                        elif entry.is_file(follow_symlinks=False):
                            found.append((rel, entry.path, entry.stat(follow_symlinks=False)))
                    except (OSError, RuntimeError, UnicodeEncodeError):
                        continue
        found.sort(key=lambda item: item[0])
        return found


def _valid_name(part: str) -> bool:
    """An org or repo name that is safe to join onto ROOT."""
    return bool(_NAME_RE.match(part)) and ".." not in part


# --------------------------------------------------------------------------- HTTP


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _unb64(value: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError as exc:
        raise HubError(400, f"invalid cursor {value!r}", "BadRequest") from exc


def _ascii(text: str) -> str:
    """Header-safe text (HTTP headers are latin-1)."""
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\n", " ")


def _repo_path(segments: list[str]) -> str:
    """A path inside a repo from URL segments; refuses anything that could escape it."""
    path = "/".join(segments)
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or "\\" in path
        or "\0" in path
        or re.match(r"^[A-Za-z]:", path)
    ):
        raise HubError(400, f"Invalid path in repo: {path!r}", "BadRequest")
    return path


class _Handler(BaseHTTPRequestHandler):
    """Routes Hub API requests; HTTP/1.1 keep-alive so the client's connection pool is reused."""

    protocol_version = "HTTP/1.1"
    server_version = "fakeimg-hub/1.0"
    timeout = 60  # idle keep-alive connections close after this
    server: _HTTPServer

    # ---- plumbing

    @property
    def hub(self) -> HubServer:
        return self.server.hub

    def setup(self) -> None:
        super().setup()
        self.hub._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.hub._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.hub.verbose:
            sys.stderr.write(f"[hub] {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        self._status_sent = False
        body = self._read_body()
        try:
            self._route(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            if self._status_sent:  # mid-body: an error page would corrupt the framing
                log.warning("hub server aborted %s %s: %s", self.command, self.path, exc)
                self.close_connection = True
            elif isinstance(exc, HubError):
                self._send_error(exc)
            else:  # answer 500 rather than drop the socket
                log.exception("hub server error on %s %s", self.command, self.path)
                self._send_error(HubError(500, f"Internal error: {exc}"))

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status_sent = True
        super().send_response(code, message)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > 0:
            return self.rfile.read(int(length))
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # unsupported framing: do not reuse the socket
        return b""

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
        headers = {"X-Error-Message": _ascii(err.message), **err.headers}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._send_json({"error": err.message}, err.status, headers)

    @property
    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth.lower().startswith("bearer ") and bool(auth[7:].strip())

    @property
    def _base_url(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.hub.url

    # ---- routing

    def _route(self, body: bytes) -> None:
        split = urlsplit(self.path)
        query = parse_qsl(split.query, keep_blank_values=True)
        segs = (
            [unquote(s) for s in split.path.strip("/").split("/")] if split.path.strip("/") else []
        )
        if self.hub._should_fail_globally():
            raise self._rate_limited()
        method = self.command
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

    def _rate_limited(self) -> HubError:
        wait = self.hub.retry_after_s
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

    def _repo(self, org: str, name: str, revision: str = "main", files: bool = False) -> _Repo:
        """Load a repo and enforce visibility, revision, gating and fault injection."""
        repo_id = f"{org}/{name}"
        repo = self.hub._catalog.load(org, name)
        if repo is None or (repo.private and not self._authorized):
            raise HubError(
                401 if repo is not None else 404,
                f"Repository not found: {repo_id!r}",
                "RepoNotFound",
            )
        if self.hub._should_fail_repo(repo):
            raise self._rate_limited()
        if revision not in _MAIN_REFS and revision != repo.sha:
            raise HubError(
                404, f"Invalid rev id: {revision!r} (only 'main' or {repo.sha})", "RevisionNotFound"
            )
        if files and repo.gated and not self._authorized:
            raise HubError(
                401,
                f"Access to model {repo_id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in.",
                "GatedRepo",
            )
        return repo

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

    # ---- resolve

    def _resolve(self, org: str, name: str, revision: str, segments: list[str]) -> None:
        repo = self._repo(org, name, revision, files=True)
        path = _repo_path(segments)
        entry = repo.files.get(path)
        if entry is None:
            raise HubError(
                404,
                f"Entry not found: {path!r} in {repo.repo_id}",
                "EntryNotFound",
                {"X-Repo-Commit": repo.sha},
            )
        try:
            st = entry.abspath.stat()
        except OSError as exc:
            raise HubError(404, f"Entry not found: {path!r}", "EntryNotFound") from exc
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
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD" or length == 0:
            return
        with open(entry.abspath, "rb") as fh:
            fh.seek(start)
            remaining = length
            while remaining:
                chunk = fh.read(min(_CHUNK, remaining))
                if not chunk:  # file shrank under us: the framing is broken, drop the socket
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
                remaining -= len(chunk)

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


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: HubServer


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


# --------------------------------------------------------------------------- public API


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


class HubServer:
    """Serve ``root`` with the Hub's HTTP API on a loopback port, in a daemon thread.

    ``fail_every`` (every Nth request) and ``.hub.json``'s ``fail_first_n_requests`` answer 429
    with ``Retry-After``/``RateLimit`` headers, for fault-tolerance tests.
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
        self.host = host
        self.port = port
        self.page_size = page_size
        self.tree_page_size = tree_page_size
        self.verbose = verbose
        self.fail_every = fail_every
        self.retry_after_s = retry_after_s
        self._catalog = _Catalog(self.root)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._requests = 0
        self._repo_hits: dict[str, int] = {}
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        """Base URL to pass as ``endpoint=`` / ``HF_ENDPOINT``."""
        if self._httpd is None:
            if self.port == 0:
                raise RuntimeError("HubServer.url is known once start() has bound a port")
            port = self.port
        else:
            port = self._httpd.server_address[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    def bind(self) -> HubServer:
        """Open the listening socket (``start`` does this; ``serve_forever`` needs it alone)."""
        if self._httpd is None:
            cls = _HTTPServer6 if ":" in self.host else _HTTPServer
            httpd = cls((self.host, self.port), _Handler)
            httpd.hub = self
            self._httpd = httpd
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
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
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

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _should_fail_globally(self) -> bool:
        with self._lock:
            self._requests += 1
            return self.fail_every is not None and self._requests % self.fail_every == 0

    def _should_fail_repo(self, repo: _Repo) -> bool:
        limit = repo.fail_first_n_requests
        if limit <= 0:
            return False
        with self._lock:
            hits = self._repo_hits.get(repo.repo_id, 0) + 1
            self._repo_hits[repo.repo_id] = hits
        return hits <= limit


def serve_forever(root: Path | str, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve ``root`` in the foreground until Ctrl-C (the offline demo's hub)."""
    server = HubServer(root, host=host, port=port).bind()
    httpd = server._httpd
    assert httpd is not None
    repos = len(server._catalog.repo_ids())
    print(f"Local Hugging Face Hub serving {server.root} ({repos} repos) at {server.url}")
    print(f"  export HF_ENDPOINT={server.url}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("\nstopping hub server", flush=True)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m fakeimg_assets.hub.server ROOT [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(description="Serve a folder of repos with the HF Hub API.")
    parser.add_argument("root", type=Path, help="folder holding {org}/{name}/ repos")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    try:
        serve_forever(args.root, host=args.host, port=args.port)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
