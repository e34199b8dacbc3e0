"""What the local Hub does with uploads: the LFS object store and applying a commit.

Uploaded bytes are never trusted: an LFS object is streamed to a staging file while its
sha256 is computed, and kept (under `ROOT/.lfs-objects/`, no valid org name, so never
served) only when size and sha256 match the oid the client announced. A commit's NDJSON is
checked whole before anything changes: every path is a plain relative path (no `..`, no
absolute path, no backslash or control character, nothing in the repo's hidden top-level
entries `.hub.json`/`.git`/`.cache`), every LFS oid names a stored object of that size.
Then each file is written to a temp file inside the repo's `.cache/` and renamed into
place; a path whose existing parent is a symlink or a file is refused, so nothing is ever
written outside the repo folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from fakeimg_assets.testbed.local_hub.protocol import HubError
from fakeimg_assets.testbed.local_hub.repo_folders import HIDDEN_TOP_LEVEL

OBJECTS_DIR = ".lfs-objects"
MAX_PATH_CHARS = 1000
MAX_COMMIT_LINES = 10_000
TICKET_TTL_S = 3600.0
_OID = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


def upload_path(path: object) -> str:
    """A path inside a repo as a commit names it, or HubError 400 naming it and why."""
    if not isinstance(path, str) or not path:
        raise HubError(400, f"invalid path in commit: {path!r} (expected a non-empty string)",
                       "BadRequest")
    shown = path[:200]
    pure = PurePosixPath(path)
    parts = path.split("/")
    why = (
        "too long" if len(path) > MAX_PATH_CHARS
        else "absolute" if path.startswith("/") or re.match(r"^[A-Za-z]:", path)
        else "backslash" if "\\" in path
        else "control character" if any(ord(c) < 32 or ord(c) == 127 for c in path)
        else "empty, '.' or '..' segment" if any(p in ("", ".", "..") for p in parts)
        else "hidden repo entry" if pure.parts[0] in HIDDEN_TOP_LEVEL
        else None
    )
    if why:
        raise HubError(400, f"invalid path in commit: {shown!r} ({why})", "BadRequest")
    return path


def parse_oid(value: object) -> str:
    if not isinstance(value, str) or not _OID.fullmatch(value):
        raise HubError(400, f"invalid LFS oid {str(value)[:80]!r}: expected 64 lowercase hex",
                       "BadRequest")
    return value


@dataclass(frozen=True)
class Ticket:
    oid: str
    size: int
    repo: str
    expires: float


class ObjectStore:
    """LFS objects by sha256 under `ROOT/.lfs-objects/`, and one-time upload tickets."""

    def __init__(self, root: Path, max_object_bytes: int) -> None:
        self.dir = root / OBJECTS_DIR
        self.max_object_bytes = max_object_bytes
        self._tickets: dict[str, Ticket] = {}
        self._lock = threading.Lock()

    def path(self, oid: str) -> Path:
        return self.dir / parse_oid(oid)

    def size_of(self, oid: str) -> int | None:
        p = self.path(oid)
        return p.stat().st_size if p.is_file() else None

    def ticket(self, oid: str, size: int, repo: str) -> str:
        """A secret for one upload of `oid` (the PUT carries no token, like a signed URL)."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            now = time.monotonic()
            for key in [k for k, t in self._tickets.items() if t.expires < now]:
                del self._tickets[key]
            self._tickets[token] = Ticket(oid, size, repo, now + TICKET_TTL_S)
        return token

    def take_ticket(self, token: str, oid: str) -> Ticket:
        with self._lock:
            t = self._tickets.pop(token, None)
        if t is None or t.oid != oid or t.expires < time.monotonic():
            raise HubError(403, "invalid or expired upload ticket", "Forbidden")
        return t

    def receive(self, stream: BinaryIO, length: int, ticket: Ticket) -> None:
        """Stream `length` bytes into the store; keep them only if size and sha256 match."""
        if length != ticket.size:
            raise HubError(400, f"upload of {length} bytes for an object announced as "
                           f"{ticket.size} bytes", "BadRequest")
        self.dir.mkdir(parents=True, exist_ok=True)
        staging = self.dir / f".incoming-{secrets.token_hex(8)}"
        sha = hashlib.sha256()
        got = 0
        try:
            with open(staging, "xb") as fh:
                while got < length:
                    chunk = stream.read(min(_CHUNK, length - got))
                    if not chunk:
                        raise ConnectionResetError(f"upload ended after {got} of {length} bytes")
                    sha.update(chunk)
                    fh.write(chunk)
                    got += len(chunk)
            if sha.hexdigest() != ticket.oid:
                raise HubError(400, f"uploaded bytes have sha256 {sha.hexdigest()}, not the "
                               f"announced oid {ticket.oid}", "BadRequest")
            os.replace(staging, self.path(ticket.oid))
        finally:
            staging.unlink(missing_ok=True)


@dataclass(frozen=True)
class Change:
    kind: str  # 'file', 'lfsFile', 'deletedFile', 'deletedFolder'
    path: str
    content: bytes | None = None
    oid: str | None = None


def parse_commit(body: bytes, store: ObjectStore, max_file_bytes: int) -> tuple[dict, list[Change]]:
    """The header and changes of a commit NDJSON, every line checked (HubError 400)."""
    lines = [ln for ln in body.split(b"\n") if ln.strip()]
    if not lines or len(lines) > MAX_COMMIT_LINES:
        raise HubError(400, f"a commit needs 1 to {MAX_COMMIT_LINES} NDJSON lines, got "
                       f"{len(lines)}", "BadRequest")
    header: dict[str, Any] = {}
    changes: list[Change] = []
    seen: set[str] = set()
    for n, raw in enumerate(lines, 1):
        try:
            item = json.loads(raw)
        except ValueError as exc:
            raise HubError(400, f"commit line {n} is not JSON", "BadRequest") from exc
        if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
            raise HubError(400, f"commit line {n}: expected {{key, value}}", "BadRequest")
        key, value = item.get("key"), item["value"]
        if key == "header":
            header = value
            continue
        if key not in ("file", "lfsFile", "deletedFile", "deletedFolder"):
            raise HubError(400, f"commit line {n}: unknown key {str(key)[:40]!r}", "BadRequest")
        path = upload_path(value.get("path"))
        if path in seen:
            raise HubError(400, f"commit names {path!r} twice", "BadRequest")
        seen.add(path)
        if key == "file":
            if value.get("encoding", "base64") != "base64":
                raise HubError(400, f"{path!r}: only base64 content is accepted", "BadRequest")
            text = value.get("content")
            if not isinstance(text, str) or len(text) > max_file_bytes * 4 // 3 + 4:
                raise HubError(400, f"{path!r}: missing or oversized content", "BadRequest")
            try:
                content = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise HubError(400, f"{path!r}: content is not base64", "BadRequest") from exc
            changes.append(Change(key, path, content=content))
        elif key == "lfsFile":
            oid = parse_oid(value.get("oid"))
            size = store.size_of(oid)
            if size is None:
                raise HubError(400, f"{path!r}: LFS object {oid} was never uploaded",
                               "BadRequest")
            if "size" in value and value["size"] != size:
                raise HubError(400, f"{path!r}: size {value['size']!r} does not match the "
                               f"stored object's {size}", "BadRequest")
            changes.append(Change(key, path, oid=oid))
        else:
            changes.append(Change(key, path.rstrip("/")))
    return header, changes


def _inside(repo_dir: Path, path: str, *, create: bool) -> Path:
    """`repo_dir/path`, refusing any existing component that is a symlink or not a folder."""
    here = repo_dir
    parts = path.split("/")
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink() or (here.exists() and not here.is_dir()):
            raise HubError(400, f"invalid path in commit: {path!r} (a parent is a file or "
                           "link)", "BadRequest")
        if create:
            here.mkdir(exist_ok=True)
    dest = here / parts[-1]
    if dest.is_symlink() or dest.is_dir():
        raise HubError(400, f"invalid path in commit: {path!r} (a folder or link is there)",
                       "BadRequest")
    return dest


def apply_commit(repo_dir: Path, changes: list[Change], store: ObjectStore) -> None:
    """Write the changes into the repo folder: temp file in `.cache/`, then rename."""
    for c in changes:  # check every destination before touching anything
        if c.kind in ("file", "lfsFile"):
            _inside(repo_dir, c.path, create=False)
        elif c.kind == "deletedFile" and not _inside(repo_dir, c.path, create=False).is_file():
            raise HubError(404, f"cannot delete {c.path!r}: no such file", "EntryNotFound")
    cache = repo_dir / ".cache"
    cache.mkdir(exist_ok=True)
    for c in changes:
        if c.kind == "deletedFile":
            _inside(repo_dir, c.path, create=False).unlink()
            continue
        if c.kind == "deletedFolder":
            folder = repo_dir / c.path
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder)
            continue
        tmp = cache / f"upload-{secrets.token_hex(8)}"
        try:
            if c.kind == "file":
                tmp.write_bytes(c.content or b"")
            else:
                shutil.copyfile(store.path(c.oid or ""), tmp)
                if _sha256(tmp) != c.oid:  # the store was tampered with: refuse, never serve
                    raise HubError(500, f"stored LFS object {c.oid} is damaged")
            os.replace(tmp, _inside(repo_dir, c.path, create=True))
        finally:
            tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
