"""Replacing a collection's folder so that a failed or interrupted add never loses or
half-writes the collection already there.

Everything is written into `collections/.<name>.staging-<pid>-<hex>` (a sibling of the
target, so renames stay on one file system). `publish()` flushes the files to disk, moves an
existing `collections/<name>` aside to `.<name>.old-<hex>`, renames the staging folder in and
only then deletes the old one. An add that fails, or is killed, before `publish()` leaves the
old collection untouched; a kill between the two renames leaves the old one complete under
`.old-`, and the next add of that name puts it back before doing anything else.
Adds of one name are serialized by a lock file (`collections/.<name>.lock`, released by the
kernel when the process dies), so any staging or `.old-` folder seen with the lock held
belongs to a dead add and is removed. The temporary names follow `integrity/leftovers.py`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from pathlib import Path

from fakeimg_assets.collections.manifest import MANIFEST_NAME, collection_dir
from fakeimg_assets.lib.leftovers import writer_id


class CollectionSwap:
    """`with CollectionSwap(home, name) as swap:` write into `swap.staging`, then
    `swap.publish()`; leaving the block without publishing removes the staging folder."""

    def __init__(self, home: str | os.PathLike[str], name: str) -> None:
        self.target = collection_dir(home, name)  # validates the name
        self.root = self.target.parent
        self.name = name
        self.staging = self.root / f".{name}.staging-{writer_id()}-{uuid.uuid4().hex[:8]}"
        self.published = False
        self._lock_fd: int | None = None

    def __enter__(self) -> CollectionSwap:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / f".{self.name}.lock",
                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        try:
            self.recover()
            self.staging.mkdir()
        except BaseException:
            self._release()
            raise
        return self

    def recover(self) -> list[Path]:
        """Put back an old collection an interrupted swap left aside; remove dead leftovers.
        Call with the lock held. Returns the paths removed."""
        olds = sorted(self.root.glob(f".{self.name}.old-*"), key=lambda p: p.stat().st_mtime)
        if not self.target.exists():
            for old in reversed(olds):
                if (old / MANIFEST_NAME).is_file():
                    os.rename(old, self.target)
                    olds.remove(old)
                    break
        removed = [*olds, *self.root.glob(f".{self.name}.staging-*")]
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        return removed

    def publish(self) -> None:
        """Swap the staging folder in as the collection (its manifest written last)."""
        if not (self.staging / MANIFEST_NAME).is_file():
            raise RuntimeError(f"refusing to publish {self.staging}: it has no {MANIFEST_NAME}")
        os.sync()  # the image files reach the disk before any rename makes them the collection
        old = None
        if self.target.exists():
            old = self.root / f".{self.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(self.target, old)
        os.rename(self.staging, self.target)
        _fsync_dir(self.root)
        self.published = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        try:
            if not self.published:
                shutil.rmtree(self.staging, ignore_errors=True)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
