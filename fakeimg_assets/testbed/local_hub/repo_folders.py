"""The served folder's repos: `ROOT/{org}/{name}/` folders, re-read only when they change.

What a folder holds beyond the repo's own files: `.hub.json` (Hub-side metadata, never
served) and top-level `.git` / `.cache` folders (never repo content). Org and repo names
follow the Hub's rules, so a name never walks the tree.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.local_hub.files import HashCache, RepoFile
from fakeimg_assets.testbed.local_hub.repo import Repo

log = logging.getLogger(__name__)

HUB_META_FILE = ".hub.json"
# Top-level entries of a repo dir that are not repo content (git internals, local_dir caches).
HIDDEN_TOP_LEVEL = frozenset({HUB_META_FILE, ".git", ".cache"})
# Hub repo-name rules, simplified: no leading dot/dash, no "..", so a name never walks the tree.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def valid_name(part: str) -> bool:
    """An org or repo name that is safe to join onto ROOT (also for repos created by upload)."""
    return bool(_NAME_RE.fullmatch(part)) and ".." not in part


class RepoFolders:
    """Finds repos under ROOT on every call, so repos copied in show up at once.

    A repo is re-read only when its fingerprint (every file's path, size and mtime_ns, plus
    ``.hub.json``'s) changed; unchanged repos cost one stat per file.

    A repo folder (or its org folder) that is a symlink resolving outside ``boundary`` (the
    server's root) is neither listed nor loaded: it answers like a missing repo.
    """

    def __init__(
        self,
        root: Path,
        skip: frozenset[str] = frozenset({"datasets", "spaces"}),
        boundary: Path | None = None,
    ) -> None:
        self.root = root
        self.skip = skip  # top-level folders that are not orgs (ROOT/datasets holds datasets)
        self.boundary = (boundary or root).resolve()
        self.hashes = HashCache()
        self._lock = threading.Lock()
        self._repos: dict[str, tuple[tuple[Any, ...], Repo]] = {}

    def repo_ids(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        try:
            orgs = sorted(self.root.iterdir())
        except OSError:
            return out
        for org in orgs:
            if not valid_name(org.name) or not org.is_dir() or org.name in self.skip:
                continue
            try:
                names = sorted(org.iterdir())
            except OSError:
                continue
            out.extend(
                (org.name, r.name)
                for r in names
                if valid_name(r.name) and self.repo_dir(org.name, r.name) is not None
            )
        with self._lock:  # forget repos that were removed
            for gone in set(self._repos) - {f"{o}/{n}" for o, n in out}:
                del self._repos[gone]
        return out

    def repo_dir(self, org: str, name: str) -> Path | None:
        """The repo's real folder, or None when missing, not a folder, or outside the root."""
        try:
            real = (self.root / org / name).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symlink loop
            return None
        if not real.is_relative_to(self.boundary) or real == self.boundary:
            return None  # a symlink out of the served root is never served
        return real if real.is_dir() else None

    def load(self, org: str, name: str) -> Repo | None:
        if not (valid_name(org) and valid_name(name)) or org in self.skip:
            return None
        repo_id = f"{org}/{name}"
        real = self.repo_dir(org, name)
        if real is None:
            return None
        try:
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
            return cached[1] if cached[1].published() else None
        meta: dict[str, Any] = {}
        if meta_st is not None:
            try:
                loaded = json.loads(meta_path.read_text(encoding="utf-8"))
                meta = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable %s: %s", meta_path, exc)
        files: dict[str, RepoFile] = {}
        for rel, target, st in listing:
            try:
                digest = self.hashes.digest(Path(target), st)
            except OSError:
                continue
            files[rel] = RepoFile(rel, Path(target), st.st_size, st.st_mtime, digest)
        repo = Repo(repo_id, real, files, meta, dir_st.st_mtime)
        with self._lock:
            self._repos[repo_id] = (fingerprint, repo)
        return repo if repo.published() else None  # not yet published: 404, not listed

    @staticmethod
    def _scan(real: Path) -> list[tuple[str, str, os.stat_result]]:
        """Regular files under ``real``, sorted; symlinks only when they stay inside it."""
        found: list[tuple[str, str, os.stat_result]] = []
        pending: list[tuple[str, str]] = [(str(real), "")]
        while pending:
            directory, prefix = pending.pop()
            with os.scandir(directory) as entries:
                for entry in entries:
                    if not prefix and entry.name in HIDDEN_TOP_LEVEL:
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
