"""The files of a warm sampling worker (`worker.py`): where it listens, its key, pid and log,
shared by the worker process and the runs that call it (`worker_client.py`)."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.integrity.leftovers import pid_alive

HANG_GRACE_S = 60.0  # past the request's own time budget before the worker counts as hung
START_TIMEOUT_S = 120.0  # a new worker must listen within this long


class WorkerError(RuntimeError):
    """The warm worker could not be started or died; names its log."""


@dataclass(frozen=True)
class WorkerAddress:
    """Where one worker listens, keeps its key, pid and log."""

    socket: Path
    key: Path
    pid: Path
    log: Path


def code_fingerprint() -> str:
    """Changes whenever any fakeimg source file changes, so a worker never runs stale code."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def worker_address(home: Path, device: str, dtype: str) -> WorkerAddress:
    """A short socket path (AF_UNIX paths are limited to 107 bytes) in a private folder."""
    folder = Path(tempfile.gettempdir()) / f"fakeimg-workers-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise WorkerError(f"{folder} is not a private folder of this user; remove it")
    ident = f"{Path(home).resolve()}|{device}|{dtype}|{code_fingerprint()}|{sys.prefix}"
    name = hashlib.sha256(ident.encode()).hexdigest()[:16]
    logs = Path(home) / "logs"
    return WorkerAddress(folder / f"{name}.sock", folder / f"{name}.key", folder / f"{name}.pid",
                         logs / f"sampling-worker-{name}.log")


# -- the worker process ---------------------------------------------------------------------

def remove_own_files(address: WorkerAddress) -> None:
    """Remove socket and pid file only if they are still this process's."""
    try:
        if int(address.pid.read_text()) != os.getpid():
            return
    except (OSError, ValueError):
        return
    for path in (address.socket, address.pid, address.key):
        path.unlink(missing_ok=True)




def worker_pid(address: WorkerAddress) -> int | None:
    try:
        return int(address.pid.read_text())
    except (OSError, ValueError):
        return None




def sweep(folder: Path) -> int:
    """Remove what dead workers left (killed or crashed: no exit handler ran): a gone pid's
    socket, pid and key files, and keys of starts that never listened. Returns files removed."""
    removed = 0
    for pid_file in folder.glob("*.pid"):
        try:
            alive = pid_alive(int(pid_file.read_text()))
        except (OSError, ValueError):
            alive = False
        if not alive:
            for suffix in (".sock", ".pid", ".key"):
                path = pid_file.with_suffix(suffix)
                removed += path.exists()
                path.unlink(missing_ok=True)
    for key in folder.glob("*.key"):
        try:
            stale = (not key.with_suffix(".pid").exists()
                     and time.time() - key.stat().st_mtime > START_TIMEOUT_S)
        except OSError:
            continue
        if stale:
            key.unlink(missing_ok=True)
            removed += 1
    return removed
