"""Names of half-written files and folders, and whether their writer is still alive.

Every temporary name fakeimg writes starts with a dot and carries its writer's pid
(`.NAME.PID.HEX.tmp`, `.NAME.PID.tmp`, `.staging-PID-HEX`), so a later run can tell the
leftovers of a killed process from the work of a live one and remove only the former.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from pathlib import Path

_STAGING = re.compile(r"(?:^|\.)staging-(\d+)-[0-9a-f]+$")
_OLD = re.compile(r"^\..+\.old-[0-9a-f]+$")  # folders swapped out by the pre-versioning code
_WRITER_PART = re.compile(r"\d+(?:\.[0-9a-f]{8})?\.tmp(?:\.wal)?|staging-\d+-[0-9a-f]+")


def machine_tag() -> str:
    """This machine's name as it goes into a temp name on a folder several machines share
    (letters, digits and '-': no '.', which would split the name's pid part)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (ours included)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_pid(name: str) -> int | None:
    """The writer's pid embedded in a temporary name, None if it has none."""
    match = _STAGING.search(name)
    if match:
        return int(match.group(1))
    base = name[: -len(".wal")] if name.endswith(".wal") else name
    if not base.endswith(".tmp"):
        return None
    parts = base[: -len(".tmp")].split(".")
    if len(parts) >= 3 and len(parts[-1]) == 8 and parts[-2].isdigit():
        return int(parts[-2])
    if len(parts) >= 2 and parts[-1].isdigit():
        return int(parts[-1])
    return None


def is_temporary_name(name: str) -> bool:
    """A dot-name fakeimg uses only while writing (temp file, staging or swapped-out folder)."""
    if not name.startswith("."):
        return False
    return bool(
        name.endswith((".tmp", ".tmp.wal")) or _STAGING.search(name) or _OLD.match(name)
    )


def is_leftover(path: Path) -> bool:
    """A temporary name whose writer is gone (a live writer's files are work in progress)."""
    if not is_temporary_name(path.name):
        return False
    pid = owner_pid(path.name)
    return pid is None or not pid_alive(pid)


def remove_path(path: Path) -> None:
    """Delete a file or a whole folder; already gone is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_stale_temp_files(folder: Path, prefix: str, *, exact: bool = True,
                            idle_s: float = 0.0) -> list[Path]:
    """Remove leftovers in `folder` whose names start with `prefix` (dead writers only).

    `exact`: `prefix` is one name's (`.KEY.`), and only that name's temp files match: the
    rest must be the writer's own part (`PID.HEX.tmp`, `PID.tmp`, `.wal` after either, or
    `staging-PID-HEX`). So `.k.` never takes the files of `k.v2`, whose writer may be alive
    on another machine of a shared filesystem, where this machine's pids mean nothing.
    With `exact=False` (a prefix of many names, like "."), any name after it matches.
    `idle_s`: also untouched that long. A writer on another machine of a shared folder
    looks dead here (its pid means nothing on this one), but a live one keeps writing.

    Every partition write calls this on its table's folder, which holds thousands of files
    at research scale: names are matched as strings, and only a match becomes a Path."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.name.startswith(prefix)
                     and (not exact or _WRITER_PART.fullmatch(e.name[len(prefix):]))]
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for name in names:
        entry = folder / name
        if is_leftover(entry) and (idle_s <= 0 or _idle_for(entry) >= idle_s):
            remove_path(entry)
            removed.append(entry)
    return removed


def _idle_for(path: Path) -> float:
    """Seconds since `path` was last written (0 if it is gone)."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
