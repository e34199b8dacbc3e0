"""The lock of one image partition (`locks/images--<key>.lock`): a writer holds it for a
whole write (clean, stage, publish, prune); repair takes it, without waiting, before it
moves that partition's rows file, so it never moves a file a writer is replacing."""

from __future__ import annotations

from pathlib import Path

from fakeimg_assets.lib.flock import open_locked, unlock


def partition_lock_path(home: Path, key: str) -> Path:
    """The lock file of the image partition whose Parquet key is `key` (`fake--org--name`)."""
    if not key or "/" in key or "\\" in key or key.startswith("."):
        raise ValueError(f"invalid partition key {key!r} for a lock file")
    return Path(home) / "locks" / f"images--{key}.lock"


def acquire(home: Path, key: str, *, wait: bool = True) -> int | None:
    """Take the partition's lock (released by the kernel if the process dies); returns the
    descriptor to `release`, or None when `wait` is False and another process holds it."""
    path = partition_lock_path(home, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    return open_locked(path, wait=wait)


def release(fd: int) -> None:
    unlock(fd)
