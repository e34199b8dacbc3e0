"""Files of a real-photo folder, listed and read without ever leaving the folder.

Users point `--real-folder` at folders they did not fill themselves (downloads, shared
drives, a Hub dataset snapshot). A symlink, to a file or a folder, that resolves outside the
folder is never followed: it is listed with the reason instead, so the photo (or the caption
it would have given) is screened out by name and its target is never opened. Symlinks that
stay inside are read through their target; symlinked folders are never descended (what they
hold inside the folder is reached through its real place). Every read is capped in size and
re-checks containment at open time, so a file swapped for a symlink, a folder or a device
after listing is refused rather than read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MAX_PHOTO_BYTES = 256 * 2**20  # one photo file; decoding is capped separately (pixels)
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO named like a photo must not block the step
    | getattr(os, "O_CLOEXEC", 0)
)


class FolderFileError(ValueError):
    """A file of the folder that is not read; `reason` is the screening reason it gets:
    'unsafe_path' (a symlink out of the folder), 'too_large' or 'unreadable'."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FolderEntry:
    """A file (or a refused symlinked folder) found in the folder, not read yet."""

    rel: str  # POSIX path relative to the listed folder
    path: Path  # where it was found (not resolved)
    error: FolderFileError | None = None


def confined(path: Path, within: Path, what: str) -> Path:
    """The real path behind `path`, refusing one that resolves outside `within` (resolved)."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        if path.is_symlink():
            raise FolderFileError(f"{what} is a broken or looping symlink", "unreadable") from exc
        raise FolderFileError(f"{what} cannot be read: {exc}", "unreadable") from exc
    if not real.is_relative_to(within):
        raise FolderFileError(
            f"{what} is a symlink to {real}, outside {within}: refused, not read", "unsafe_path"
        )
    return real


def read_confined(path: Path, within: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file inside `within`, at most `limit` of them, else an error."""
    real = confined(path, within, what)
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        raise FolderFileError(f"{what} cannot be opened: {exc.strerror}", "unreadable") from exc
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FolderFileError(f"{what} is not a regular file", "unreadable")
        if st.st_size > limit:
            raise FolderFileError(
                f"{what} is {st.st_size} bytes, over the limit of {limit} bytes", "too_large"
            )
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise FolderFileError(f"{what} cannot be read: {exc.strerror}", "unreadable") from exc
    if len(data) > limit:  # grew while being read
        raise FolderFileError(f"{what} is over the limit of {limit} bytes", "too_large")
    return data


def list_folder(
    folder: Path, within: Path, wanted: Callable[[str], bool], *, report_dirs: bool
) -> list[FolderEntry]:
    """Files under `folder` whose name is `wanted`, sorted by path; hidden folders skipped.

    A symlink is listed only when it resolves to a regular file inside `within`; one that
    leaves it (or is broken, or is no regular file) is listed with its error. A symlinked
    folder is never descended; with `report_dirs`, one pointing outside `within` is listed
    as refused too, so the user learns why its photos are missing.
    """
    found: list[FolderEntry] = []
    pending: list[tuple[Path, str]] = [(Path(folder), "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel, path = prefix + entry.name, Path(entry.path)
            try:
                if entry.is_symlink():
                    found.extend(_symlink_entry(rel, path, within, wanted, report_dirs))
                elif entry.is_dir(follow_symlinks=False):
                    pending.append((path, rel + "/"))
                elif wanted(entry.name):
                    error = None
                    if not entry.is_file(follow_symlinks=False):
                        error = FolderFileError(f"{rel!r} is not a regular file", "unreadable")
                    found.append(FolderEntry(rel, path, error))
            except OSError as exc:
                if wanted(entry.name):
                    found.append(FolderEntry(rel, path, FolderFileError(
                        f"{rel!r} cannot be listed: {exc.strerror}", "unreadable")))
    return sorted(found, key=lambda e: e.rel)


def _symlink_entry(
    rel: str, path: Path, within: Path, wanted: Callable[[str], bool], report_dirs: bool
) -> list[FolderEntry]:
    try:
        real = confined(path, within, repr(rel))
    except FolderFileError as exc:
        target_is_dir = _points_to_dir(path)
        if wanted(path.name) or (report_dirs and target_is_dir):
            return [FolderEntry(rel, path, exc)]
        return []
    if real.is_dir() or not wanted(path.name):
        return []  # a folder inside: its files are listed where they really are
    if not real.is_file():
        return [FolderEntry(rel, path, FolderFileError(f"{rel!r} is not a regular file",
                                                       "unreadable"))]
    return [FolderEntry(rel, path)]


def _points_to_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False
