"""The files of a warm sampling worker (`worker.py`): where it listens, its key, pid and log,
shared by the worker process and the runs that call it (`worker_client.py`).

They live in a private folder under the temp dir, which other local users can write to. So
the folder is checked without following links (`lstat`/`O_NOFOLLOW`): a symlink, a folder of
another user, or one with any group/other permission is refused, never used or swept. Inside
it every file is opened and removed through the folder's descriptor with `O_NOFOLLOW`, so a
planted `x.pid` or `x.key` link is never followed; the key must be a regular 0600 file of
this user, checked by the run before connecting and by the worker before listening.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.lib.leftovers import pid_alive

HANG_GRACE_S = 60.0  # past the request's own time budget before the worker counts as hung
START_TIMEOUT_S = 120.0  # a new worker must listen within this long
KEY_BYTES = 32  # the HMAC key; an empty key would switch authentication off altogether
_NAME = re.compile(r"^[0-9a-f]{16}\.(sock|pid|key)$")  # the only names sweep ever touches
_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


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


def _refuse_folder(folder: Path, st: os.stat_result) -> None:
    """Raise WorkerError naming the folder when it is not a private folder of this user."""
    fix = ("remove it (it may be another user's trap; if you cannot, set TMPDIR to a private "
           "folder) and run again")
    if stat.S_ISLNK(st.st_mode):
        raise WorkerError(f"{folder} (the sampling worker's folder) is a symlink; it is never "
                          f"followed: {fix}")
    if not stat.S_ISDIR(st.st_mode):
        raise WorkerError(f"{folder} (the sampling worker's folder) is not a folder: {fix}")
    if st.st_uid != os.getuid():
        raise WorkerError(f"{folder} (the sampling worker's folder) is owned by uid {st.st_uid}, "
                          f"not by you (uid {os.getuid()}): {fix}")
    if st.st_mode & 0o077:
        raise WorkerError(
            f"{folder} (the sampling worker's folder) has mode {stat.S_IMODE(st.st_mode):#o}: "
            f"group or others may enter it; it must be 0700. Remove it, or "
            f"`chmod 700 {folder}` if it is yours, and run again")


@contextmanager
def open_folder(folder: Path) -> Iterator[int]:
    """The worker folder's descriptor, after checking (through it) that it is still private.

    Opened with `O_NOFOLLOW`: a symlink put in its place is refused, never entered."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    except OSError as exc:
        try:
            _refuse_folder(folder, os.lstat(folder))
        except FileNotFoundError:
            pass
        raise WorkerError(f"{folder} (the sampling worker's folder) cannot be opened: {exc}") from exc
    try:
        _refuse_folder(folder, os.fstat(fd))
        yield fd
    finally:
        os.close(fd)


def worker_folder() -> Path:
    """This user's private folder of worker files, created 0700 if missing, else checked."""
    folder = Path(tempfile.gettempdir()) / f"fakeimg-workers-{os.getuid()}"
    try:
        os.mkdir(folder, 0o700)  # never follows: an existing link makes this fail, not enter
    except FileExistsError:
        pass
    _refuse_folder(folder, os.lstat(folder))
    return folder


def worker_address(home: Path, device: str, dtype: str) -> WorkerAddress:
    """A short socket path (AF_UNIX paths are limited to 107 bytes) in a private folder."""
    folder = worker_folder()
    ident = f"{Path(home).resolve()}|{device}|{dtype}|{code_fingerprint()}|{sys.prefix}"
    name = hashlib.sha256(ident.encode()).hexdigest()[:16]
    logs = Path(home) / "logs"
    return WorkerAddress(folder / f"{name}.sock", folder / f"{name}.key", folder / f"{name}.pid",
                         logs / f"sampling-worker-{name}.log")


# -- files in the folder: opened and removed through its descriptor, never following links --

def _lstat(fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _unlink(fd: int, name: str) -> bool:
    """Remove the entry itself (a link, never its target); False if it was not there."""
    try:
        os.unlink(name, dir_fd=fd)
        return True
    except FileNotFoundError:
        return False


def _read_small(fd: int, name: str, limit: int) -> bytes:
    """At most `limit` bytes of a regular file, not through a link (OSError otherwise)."""
    file_fd = os.open(name, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    try:
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            raise OSError(f"{name} is not a regular file")
        return os.read(file_fd, limit)
    finally:
        os.close(file_fd)


def write_key(address: WorkerAddress) -> bytes:
    """A fresh random key in a new 0600 file (a stale file or link there is replaced)."""
    key = secrets.token_bytes(KEY_BYTES)
    with open_folder(address.key.parent) as fd:
        _unlink(fd, address.key.name)
        file_fd = os.open(address.key.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW,
                          0o600, dir_fd=fd)
        try:
            os.fchmod(file_fd, 0o600)  # exactly 0600 whatever the umask
            os.write(file_fd, key)
        finally:
            os.close(file_fd)
    return key


def read_key(address: WorkerAddress) -> bytes:
    """The worker's key, refused (WorkerError naming the file and the fix) unless it is a
    regular file of this user with no group/other permission and of the right length."""
    path = address.key
    fix = (f"stop the worker (fakeimg_assets.sampling.worker_client.stop_worker) or delete "
           f"{path}; the next run starts a fresh worker with a new key")
    with open_folder(path.parent) as fd:
        try:
            file_fd = os.open(path.name, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        except OSError as exc:
            st = _lstat(fd, path.name)
            if st is not None and stat.S_ISLNK(st.st_mode):
                raise WorkerError(f"{path} (the sampling worker's key) is a symlink; it is never "
                                  f"followed: {fix}") from exc
            raise
        try:
            st = os.fstat(file_fd)
            if not stat.S_ISREG(st.st_mode):
                raise WorkerError(f"{path} (the sampling worker's key) is not a regular file: {fix}")
            if st.st_uid != os.getuid():
                raise WorkerError(f"{path} (the sampling worker's key) is owned by uid "
                                  f"{st.st_uid}, not by you (uid {os.getuid()}): {fix}")
            if st.st_mode & 0o077:
                raise WorkerError(
                    f"{path} (the sampling worker's key) has mode {stat.S_IMODE(st.st_mode):#o}; "
                    f"it must be 0600 (others may have read it and submitted work): {fix}")
            key = os.read(file_fd, KEY_BYTES + 1)
        finally:
            os.close(file_fd)
    if len(key) != KEY_BYTES:
        raise WorkerError(f"{path} (the sampling worker's key) holds {len(key)} bytes, not "
                          f"{KEY_BYTES}: {fix}")
    return key


def socket_ready(address: WorkerAddress) -> bool:
    """The socket is there as a socket (not a link) and so is the key."""
    with open_folder(address.socket.parent) as fd:
        sock, key = _lstat(fd, address.socket.name), _lstat(fd, address.key.name)
    return sock is not None and stat.S_ISSOCK(sock.st_mode) and key is not None


def write_pid(address: WorkerAddress) -> None:
    with open_folder(address.pid.parent) as fd:
        _unlink(fd, address.pid.name)
        file_fd = os.open(address.pid.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW,
                          0o600, dir_fd=fd)
        try:
            os.write(file_fd, str(os.getpid()).encode())
        finally:
            os.close(file_fd)


def _pid_in(fd: int, name: str) -> int | None:
    try:
        text = _read_small(fd, name, 32).decode("ascii")
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and 0 < int(text) < 2**31 else None


def worker_pid(address: WorkerAddress) -> int | None:
    """The pid in the worker's pid file; None if missing, a link or not a pid."""
    with open_folder(address.pid.parent) as fd:
        return _pid_in(fd, address.pid.name)


def remove_files(address: WorkerAddress) -> None:
    """Remove the worker's socket, pid and key entries (links themselves, never targets)."""
    with open_folder(address.socket.parent) as fd:
        for path in (address.socket, address.pid, address.key):
            _unlink(fd, path.name)


def remove_socket(address: WorkerAddress) -> None:
    """Remove a stale socket entry before listening (a link there goes, not its target)."""
    with open_folder(address.socket.parent) as fd:
        _unlink(fd, address.socket.name)


def remove_own_files(address: WorkerAddress) -> None:
    """Remove socket, pid and key only if they are still this process's."""
    try:
        if worker_pid(address) != os.getpid():
            return
        remove_files(address)
    except (OSError, WorkerError):
        return


def sweep(folder: Path) -> int:
    """Remove what dead workers left (killed or crashed: no exit handler ran): a gone pid's
    socket, pid and key files, and keys of starts that never listened. Only worker file names
    are touched, links are removed as links. Returns the entries removed."""
    removed = 0
    with open_folder(folder) as fd:
        names = sorted(n for n in os.listdir(fd) if _NAME.match(n))
        for name in (n for n in names if n.endswith(".pid")):
            pid = _pid_in(fd, name)
            if pid is None or not pid_alive(pid):
                stem = name[: -len(".pid")]
                removed += sum(_unlink(fd, stem + s) for s in (".sock", ".pid", ".key"))
        for name in (n for n in names if n.endswith(".key")):
            stem = name[: -len(".key")]
            st = _lstat(fd, name)
            if (st is not None and _lstat(fd, stem + ".pid") is None
                    and time.time() - st.st_mtime > START_TIMEOUT_S):
                removed += _unlink(fd, name)
    return removed
