"""Whether a Parquet file can be read, and the warning a reader gives when it cannot.

A truncated or overwritten Parquet file (a disk fault, a copy cut short, a user's editor)
makes DuckDB's `read_parquet` fail for every file of its glob ("No magic bytes"), so every
reader first sorts a relation's files into readable and damaged, then reads only the
readable ones and warns, naming the damaged file and the command that fixes it.

The check parses the file's footer (its magic bytes and metadata: what a truncation or an
overwrite destroys), about 50 µs a file, and is cached per process on (path, inode, size,
mtime_ns): views are built for every query, and a file fakeimg writes is replaced (new
inode, new mtime), never edited in place. A file whose footer parses but whose pages do
not (bit rot) fails a query, often without naming the file: the reader then decodes every
file once (`decode_damage`, cached alike), marks the bad ones (`mark_damaged`) and runs
the query again without them. `fakeimg verify` reads every file in full.
Paths are always taken literally (polars, like DuckDB, globs `[`, `*`, `?` in a path).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import polars as pl

FIX_COMMAND = "fakeimg verify --repair"
_CACHE_LIMIT = 200_000
_cache: dict[tuple[str, int, int, int], str | None] = {}  # footer checks
_decoded: dict[tuple[str, int, int, int], str | None] = {}  # full decodes


class DamagedParquetWarning(UserWarning):
    """A reader skipped a Parquet file it could not read."""


def _version_key(path: Path) -> tuple[str, int, int, int]:
    """Names one version of a file: a replaced or truncated file gets a new key."""
    st = os.stat(path)
    return (os.fspath(path), st.st_ino, st.st_size, st.st_mtime_ns)


def footer_damage(path: Path) -> str | None:
    """None when the file's footer parses, else why not (the reader's error, one line).

    Raises FileNotFoundError when the file is gone (a reader just skips it then).
    """
    key = _version_key(path)
    if key in _cache:
        return _cache[key]
    try:
        with open(path, "rb") as f:  # a file object: polars globs a path (`[`, `*`, `?`)
            pl.read_parquet_schema(f)
        damage = None
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to parse is the finding
        damage = one_line(exc)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[key] = damage
    return damage


def mark_damaged(path: Path, detail: str) -> None:
    """Record that this version of `path` failed to read (until it is replaced)."""
    key = _version_key(path)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[key] = detail


def decode_damage(path: Path) -> str | None:
    """Like `footer_damage`, but every page is decoded (the whole file is read): for the
    rare query that fails on a file with a sound footer. Cached the same way."""
    key = _version_key(path)
    if key not in _decoded:
        if len(_decoded) >= _CACHE_LIMIT:
            _decoded.clear()
        _decoded[key] = full_read_damage(path)[1]
    return _decoded[key]


def full_read_damage(path: Path, columns: list[str] | None = None) -> tuple[pl.DataFrame | None,
                                                                              str | None]:
    """Read the whole file (every page decoded): (frame, None), or (None, why not)."""
    try:
        return read_parquet_file(path, columns), None
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to decode is the finding
        return None, one_line(exc)


def read_parquet_file(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """One Parquet file, its path taken literally (polars globs paths by default, so a
    home named `h[o]me` would read the files of `home`)."""
    return pl.read_parquet(path, columns=columns, glob=False)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def damage_message(path: Path, detail: str, home: Path | None = None) -> str:
    """What a reader says about a file it skipped: the file, why, and the fix."""
    where = f"FAKEIMG_HOME={home} " if home is not None else ""
    return (
        f"skipped damaged Parquet file {path} ({detail}); its rows are left out of every "
        f"query until it is fixed: run `{where}{FIX_COMMAND}` to move it to quarantine "
        "and mark its partition for re-run"
    )


def warn_damaged(path: Path, detail: str, home: Path | None = None) -> None:
    """Warn (DamagedParquetWarning) that a reader skipped `path`."""
    warnings.warn(DamagedParquetWarning(damage_message(path, detail, home)), stacklevel=3)
