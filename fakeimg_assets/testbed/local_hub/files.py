"""Repo files as the Hub describes them: content hashes, git-lfs pointers, tree entries."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.local_hub.protocol import hub_date

CHUNK_BYTES = 1024 * 1024  # reads of repo files: hashing here, streaming in the routes
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
    ".png",  # the Hub's default .gitattributes stores images with LFS (dataset repos)
    ".jpg",
    ".jpeg",
    ".webp",
    ".parquet",  # the Hub's default .gitattributes: data files of dataset repos
    ".arrow",
)
_LFS_MIN_SIZE = 10 * 1024 * 1024


def is_lfs_path(path: str, size: int) -> bool:
    """Whether the Hub stores a file of this name and size with git-lfs (by suffix or size)."""
    return path.lower().endswith(_LFS_SUFFIXES) or size > _LFS_MIN_SIZE


@dataclass(frozen=True)
class Digest:
    """A file's git blob id (of its content) and sha256."""

    git_sha1: str
    sha256: str


class HashCache:
    """Content hashes keyed on (path, size, mtime_ns) so big weights are hashed once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, int, Digest]] = {}

    def digest(self, path: Path, st: os.stat_result) -> Digest:
        key = str(path)
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        git = hashlib.sha1(b"blob %d\0" % st.st_size)
        sha = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                git.update(chunk)
                sha.update(chunk)
        result = Digest(git.hexdigest(), sha.hexdigest())
        with self._lock:
            self._entries[key] = (st.st_size, st.st_mtime_ns, result)
        return result


@dataclass(frozen=True)
class RepoFile:
    """One file of a repo, with what the Hub's API says about it."""

    path: str
    abspath: Path
    size: int
    mtime: float
    digest: Digest

    @property
    def is_lfs(self) -> bool:
        return is_lfs_path(self.path, self.size)

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
                "date": hub_date(datetime.fromtimestamp(self.mtime, UTC)),
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
