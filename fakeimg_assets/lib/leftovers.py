"""Names of half-written files and folders, and whether their writer is still alive.

Every temporary name fakeimg writes starts with a dot and carries its writer: its machine
and pid, `MACHINE~PID` (`writer_id`), as in `.NAME.MACHINE~PID.HEX.tmp`, `.NAME.MACHINE~PID.tmp`
and `.staging-MACHINE~PID-HEX`. So a later run can tell the leftovers of a killed process
from the work of a live one and remove only the former. A pid says something on its own
machine only: on a folder several machines share (a cluster's `$FAKEIMG_HOME`), another
machine's temp file is never taken for dead by its pid, and stays until its own machine
sweeps it (or, where a caller says so, until nothing has written to it for a while).
Names without a machine (`.NAME.PID.tmp`, written before machines were named) are judged
by their pid, as they always were.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

_WRITER = r"(?:[A-Za-z0-9-]{1,63}~)?\d+"  # MACHINE~PID, or a bare PID (older names)
_OWNER = re.compile(r"(?:([A-Za-z0-9-]{1,63})~)?(\d+)")
_STAGING = re.compile(rf"(?:^|\.)staging-({_WRITER})-[0-9a-f]+$")
_OLD = re.compile(r"^\..+\.old-[0-9a-f]+$")  # folders swapped out by the pre-versioning code
_WRITER_PART = re.compile(rf"{_WRITER}(?:\.[0-9a-f]{{8}})?\.tmp(?:\.wal)?|staging-{_WRITER}-[0-9a-f]+")


MACHINE_ENV = "FAKEIMG_MACHINE"  # names this machine where several share one host name
_MACHINE = re.compile(r"[A-Za-z0-9-]{1,63}")


def machine_tag() -> str:
    """This machine's name as it goes into a temp name on a folder several machines share
    (letters, digits and '-': no '.', which would split the name's pid part): the
    `FAKEIMG_MACHINE` environment variable, read when a name is made, else the host name."""
    given = os.environ.get(MACHINE_ENV)
    if given is not None:
        if not _MACHINE.fullmatch(given):
            raise ValueError(f"{MACHINE_ENV}={given!r}: a machine name is 1 to 63 letters, "
                             "digits or '-'")
        return given
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"


def writer_id() -> str:
    """This process's part of a temporary name: `MACHINE~PID`."""
    return f"{machine_tag()}~{os.getpid()}"


@dataclass(frozen=True)
class Writer:
    """Who wrote a temporary name: `machine` None for a name without one (older code)."""

    machine: str | None
    pid: int

    @property
    def here(self) -> bool:
        """Written on this machine (or by older code, which named no machine)."""
        return self.machine is None or self.machine == machine_tag()

    @property
    def dead(self) -> bool:
        """Known dead: this machine's, and its pid is gone. Another machine's never is."""
        return self.here and not pid_alive(self.pid)


def parse_writer(part: str) -> Writer | None:
    """`MACHINE~PID` or `PID` -> Writer; None if `part` is neither."""
    match = _OWNER.fullmatch(part)
    return Writer(match.group(1), int(match.group(2))) if match else None


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


def owner(name: str) -> Writer | None:
    """The writer embedded in a temporary name, None if it names none."""
    match = _STAGING.search(name)
    if match:
        return parse_writer(match.group(1))
    base = name[: -len(".wal")] if name.endswith(".wal") else name
    if not base.endswith(".tmp"):
        return None
    parts = base[: -len(".tmp")].split(".")
    if len(parts) >= 3 and len(parts[-1]) == 8 and parse_writer(parts[-2]):
        return parse_writer(parts[-2])
    if len(parts) >= 2:
        return parse_writer(parts[-1])
    return None


def is_temporary_name(name: str) -> bool:
    """A dot-name fakeimg uses only while writing (temp file, staging or swapped-out folder)."""
    if not name.startswith("."):
        return False
    return bool(
        name.endswith((".tmp", ".tmp.wal")) or _STAGING.search(name) or _OLD.match(name)
    )


def is_leftover(path: Path, *, other_idle_s: float | None = None) -> bool:
    """A temporary name whose writer is gone (a live writer's files are work in progress).

    Another machine's: its pid means nothing here, so never, unless `other_idle_s` is given
    and nothing has written to it that long (for files written all along, like a download)."""
    if not is_temporary_name(path.name):
        return False
    writer = owner(path.name)
    if writer is None:
        return True
    if writer.here:
        return writer.dead
    return other_idle_s is not None and _idle_for(path) >= other_idle_s


def other_machine(path: Path) -> str | None:
    """The machine that wrote this temporary name, when it is not this one."""
    writer = owner(path.name) if is_temporary_name(path.name) else None
    return writer.machine if writer is not None and not writer.here else None


def remove_path(path: Path) -> None:
    """Delete a file or a whole folder; already gone is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_stale_temp_files(folder: Path, prefix: str, *, exact: bool = True,
                            other_idle_s: float | None = None, locked: bool = False) -> list[Path]:
    """Remove leftovers in `folder` whose names start with `prefix` (dead writers only).

    `exact`: `prefix` is one name's (`.KEY.`), and only that name's temp files match: the
    rest must be the writer's own part (`WRITER.HEX.tmp`, `WRITER.tmp`, `.wal` after either,
    or `staging-WRITER-HEX`). So `.k.` never takes the files of `k.v2`.
    With `exact=False` (a prefix of many names, like "."), any name after it matches.
    Another machine's files stay (`is_leftover`), unless untouched for `other_idle_s`.
    `locked`: the caller holds the lock that every writer of these names holds while it
    writes, so none of them is alive, on any machine: all go.

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
        if (locked and is_temporary_name(name)) or is_leftover(entry, other_idle_s=other_idle_s):
            remove_path(entry)
            removed.append(entry)
    return removed


def _idle_for(path: Path) -> float:
    """Seconds since `path` was last written (0 if it is gone)."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
