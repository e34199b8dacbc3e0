"""Damaged Parquet files are moved aside, never deleted, and their partitions marked.

Layout: `$FAKEIMG_HOME/quarantine/parquet/<relation>/<key>/<UTC time>-<hex>.parquet`, the
file exactly as it was found, beside a `.json` note (where it came from, why, when, and
what re-creates it). Each move gets a new name, so an earlier quarantined copy of the same
key is never overwritten. To restore one, copy it back to `parquet/<relation>/<key>.parquet`.

While a key's rows cannot be read, nobody can prove which image files they listed: the
rows of an image partition are "unproven" when its file is damaged in place, or when a
copy was quarantined and no readable file has been written for the key since (a re-run
writes one). Repair and the writer's clean-up then keep that partition's files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.integrity.parquet_health import footer_damage
from fakeimg_assets.lib.paths import atomic_write_bytes

QUARANTINE_ROOT = Path("quarantine") / "parquet"
_TIME = "%Y%m%dT%H%M%S%f"


@dataclass(frozen=True)
class QuarantinedCopy:
    """One quarantined file: its relation and key, where it lies, when it was moved."""

    relation: str
    key: str
    path: Path
    moved_at: dt.datetime


def _check_name(value: str, what: str) -> str:
    if not value or "/" in value or "\\" in value or value.startswith("."):
        raise ValueError(f"invalid {what} {value!r} for a quarantine path")
    return value


def quarantine_folder(home: Path, relation: str, key: str) -> Path:
    """`quarantine/parquet/<relation>/<key>`: every quarantined copy of one file."""
    return (Path(home) / QUARANTINE_ROOT / _check_name(relation, "relation")
            / _check_name(key, "partition key"))


def quarantine_file(home: Path, src: Path, relation: str, key: str, detail: str,
                    rerun: str, inode: int) -> Path | None:
    """Move `src` into quarantine under a new name (no copy is ever overwritten) with a note
    beside it; returns the new path.

    `inode` is the file that was found damaged: the move is one rename (atomic, on the
    home's file system), and if a writer replaced `src` just before it, the file moved is
    not that one, so it goes back (unless a newer one is there already) and None is
    returned: nothing of a live writer is ever taken away.
    """
    folder = quarantine_folder(home, relation, key)
    folder.mkdir(parents=True, exist_ok=True)
    moved_at = dt.datetime.now(dt.UTC)
    dest = folder / f"{moved_at.strftime(_TIME)}-{uuid.uuid4().hex[:8]}.parquet"
    if dest.exists():
        raise FileExistsError(f"quarantine copy {dest} already exists")
    os.rename(src, dest)
    if os.stat(dest).st_ino != inode:  # replaced by a writer meanwhile: not ours to move
        try:
            os.link(dest, src)  # back, unless an even newer file is there
        except FileExistsError:
            pass  # then ours is superseded: it stays, readable, in quarantine
        else:
            os.unlink(dest)
            return None
    note = {"original": src.relative_to(home).as_posix(), "relation": relation, "key": key,
            "error": detail, "moved_at": moved_at.isoformat(), "rerun": rerun}
    atomic_write_bytes(dest.with_suffix(".json"), json.dumps(note, indent=1).encode())
    return dest


def quarantined_copies(home: Path, relation: str, key: str) -> list[QuarantinedCopy]:
    """Every quarantined copy of `relation`/`key`, oldest first."""
    folder = quarantine_folder(home, relation, key)
    if not folder.is_dir():
        return []
    out = []
    for entry in folder.iterdir():
        if entry.suffix != ".parquet" or entry.name.startswith("."):
            continue
        try:
            moved = dt.datetime.strptime(entry.name.split("-", 1)[0], _TIME).replace(
                tzinfo=dt.UTC)
        except ValueError:  # not a name repair wrote (a user's copy): as old as its mtime
            moved = dt.datetime.fromtimestamp(entry.stat().st_mtime, dt.UTC)
        out.append(QuarantinedCopy(relation, key, entry, moved))
    return sorted(out, key=lambda c: c.moved_at)


def quarantined_keys(home: Path, relation: str) -> list[str]:
    """Keys of `relation` with at least one quarantined copy."""
    folder = Path(home) / QUARANTINE_ROOT / relation
    if not folder.is_dir():
        return []
    return sorted(e.name for e in folder.iterdir()
                  if e.is_dir() and not e.name.startswith(".") and not e.is_symlink())


def unproven_rows(home: Path, relation: str, key: str) -> str | None:
    """Why the rows of `relation`/`key` cannot say which files the partition holds, or None
    when its current file (or its absence) is the truth.

    Unproven: the file is damaged in place, or a copy was quarantined and no readable file
    was written for the key after that (a re-run, or a restore by copying it back).
    """
    current = Path(home) / "parquet" / relation / f"{key}.parquet"
    try:
        damage = footer_damage(current)
    except FileNotFoundError:
        damage, current_mtime = None, None
    else:
        current_mtime = current.stat().st_mtime if damage is None else None
    rel = f"parquet/{relation}/{key}.parquet"
    if damage is not None:
        return f"{rel} is damaged ({damage})"
    copies = quarantined_copies(home, relation, key)
    if not copies:
        return None
    last = copies[-1]
    if current_mtime is not None and current_mtime > last.moved_at.timestamp():
        return None  # written again after the quarantine: the new rows are the truth
    shown = last.path.relative_to(home).as_posix()
    return f"{rel} was damaged and quarantined as {shown}; not re-written since"
