"""Exact, verified downloads: planned names are file names (never patterns), and what lands
on disk is exactly the plan, byte for byte as the Hub listing describes it.

`fetch_verified` drives any single-file fetcher (`cache_writer.download_to_cache` in
production): each planned file is fetched by its exact name, its size (and for LFS files its
sha256 from the listing) checked; a bad file is deleted and re-fetched once, then the
download fails with the file, the expected and the actual value. Finally the snapshot folder
must hold exactly the planned files, nothing more and nothing less.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fakeimg_assets.lib.errors import DownloadVerificationError
from fakeimg_assets.lib.paths import sha256_file

GLOB_CHARS = "*?[]"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class RepoFile:
    """One planned file as the Hub listing describes it (sha256 only for LFS files)."""

    path: str
    size: int
    sha256: str | None = None


def unsafe_name_reason(path: str) -> str | None:
    """Why a repo file name cannot be fetched as an exact name, or None if it can."""
    if not isinstance(path, str) or not path:
        return "empty file name"
    if _CONTROL.search(path):
        return "control character in file name"
    bad = sorted({c for c in path if c in GLOB_CHARS})
    if bad:
        return f"glob character(s) {''.join(bad)!r} in file name"
    if "\\" in path:
        return "backslash in file name"
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return "absolute path"
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "empty, '.' or '..' path segment"
    return None


def snapshot_files(folder: Path) -> set[str]:
    """Every file (or link, dangling included) under a snapshot folder, as posix paths."""
    out: set[str] = set()
    for root, dirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        for name in files:
            out.add((rel_root / name).as_posix())
        for name in dirs:  # links to folders are not descended into: report them as entries
            if (Path(root) / name).is_symlink():
                out.add((rel_root / name).as_posix())
    return out


def _remove_cached(path: Path) -> None:
    """Delete a snapshot entry and, for a Hub-cache link, the blob it points to."""
    if path.is_symlink():
        target = path.resolve()
        path.unlink()
        if target.is_file() and target.parent.name == "blobs":  # only the Hub cache's own blobs
            target.unlink()
    elif path.exists():
        path.unlink()


def prune_unplanned(folder: Path, planned: Iterable[str]) -> list[str]:
    """Remove stale entries an earlier plan left in this snapshot; returns their names."""
    if not folder.is_dir():
        return []
    extra = sorted(snapshot_files(folder) - set(planned))
    for rel in extra:
        _remove_cached(folder / rel)
    return extra


def check_exact_file_set(folder: Path, planned: Iterable[str], *, what: str) -> None:
    """The snapshot must hold exactly the planned files, else DownloadVerificationError."""
    have, want = snapshot_files(folder), set(planned)
    extra, missing = sorted(have - want), sorted(want - have)
    if extra or missing:
        raise DownloadVerificationError(
            f"{what}: snapshot does not match the plan: unplanned files {extra[:10]}, "
            f"missing files {missing[:10]}"
        )


def file_mismatch(path: Path, expected: RepoFile) -> tuple[str, str, str] | None:
    """`(what, expected, actual)` when a local file differs from the listing, else None."""
    if not path.is_file():
        return ("presence", "a file", "nothing")
    size = path.stat().st_size
    if size != expected.size:
        return ("size", str(expected.size), str(size))
    if expected.sha256:
        actual = sha256_file(path)
        if actual != expected.sha256:
            return ("sha256", expected.sha256, actual)
    return None


def fetch_verified(
    fetch: Callable[[str, bool], Path],
    files: Sequence[RepoFile],
    *,
    what: str,
    revision: str,
    snapshot: Path,
) -> Path:
    """Fetch each file by exact name, verify, re-fetch a bad one once, check the file set.

    `fetch(path, force)` downloads one repo file of the pinned revision and returns its local
    path inside `snapshot`. Returns `snapshot`.
    """
    if not _COMMIT.fullmatch(revision or ""):
        raise ValueError(f"{what}: downloads need a pinned 40-hex commit sha, got {revision!r}")
    if not files:
        raise ValueError(f"{what}: nothing to download: empty file list")
    for f in files:
        reason = unsafe_name_reason(f.path)
        if reason:
            raise DownloadVerificationError(f"{what}: refusing to fetch {f.path!r}: {reason}")
        if f.sha256 is not None and not _SHA256.fullmatch(f.sha256):
            raise DownloadVerificationError(
                f"{what}: listing gives {f.path!r} a malformed sha256 {f.sha256!r}"
            )
    prune_unplanned(snapshot, [f.path for f in files])
    for f in files:
        for attempt in (1, 2):
            try:
                local = _fetch_into(fetch, f, force=attempt > 1, snapshot=snapshot, what=what)
            except DownloadVerificationError as exc:  # a body that did not hash to its ETag
                if not getattr(exc, "refetch", False):
                    raise
                if attempt == 2:
                    raise DownloadVerificationError(
                        f"{what}: {f.path!r} failed verification after one re-fetch: {exc}"
                    ) from exc
                continue
            bad = file_mismatch(local, f)
            if bad is None:
                break
            _remove_cached(local)
            if attempt == 2:
                kind, want, got = bad
                raise DownloadVerificationError(
                    f"{what}: {f.path!r} failed verification after one re-fetch: {kind} "
                    f"expected {want}, got {got}"
                )
    check_exact_file_set(snapshot, [f.path for f in files], what=what)
    return snapshot


def _fetch_into(
    fetch: Callable[[str, bool], Path], f: RepoFile, *, force: bool, snapshot: Path, what: str
) -> Path:
    local = Path(fetch(f.path, force))
    expected = snapshot.joinpath(*PurePosixPath(f.path).parts)
    if os.path.abspath(local) != os.path.abspath(expected):
        raise DownloadVerificationError(
            f"{what}: {f.path!r} landed at {local}, outside the snapshot {snapshot}"
        )
    return local


def remove_weights(snapshot: Path, files: Iterable[str], is_weight: Callable[[str], bool]) -> int:
    """Delete downloaded weight files (links and blobs) of a snapshot; returns bytes freed."""
    freed = 0
    for rel in files:
        if not is_weight(rel):
            continue
        path = snapshot.joinpath(*PurePosixPath(rel).parts)
        try:
            freed += path.resolve().stat().st_size if path.exists() else 0
        except OSError:
            pass
        _remove_cached(path)
    return freed
