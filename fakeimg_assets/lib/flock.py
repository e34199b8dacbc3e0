"""Exclusive `flock` on a lock file: held until released or until the process dies (the
kernel drops it then), so a killed holder never leaves a lock behind."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def open_locked(path: Path, *, wait: bool, mode: int = 0o644) -> int | None:
    """Open `path` (created if missing, never through a symlink) and take its exclusive
    lock; returns the descriptor for `unlock`, or None when `wait` is False and another
    process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
