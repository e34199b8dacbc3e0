"""The lock of one image partition (`locks/images--<key>.lock`): a writer holds it for a
whole write (clean, stage, publish, prune); repair takes it, without waiting, before it
moves that partition's rows file, so it never moves a file a writer is replacing."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


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
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def release(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
