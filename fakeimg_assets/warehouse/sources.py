"""The files a relation's view reads, as the `read_parquet(...)` expression DuckDB is given.

Two hazards decide the expression:

- DuckDB reads every path handed to `read_parquet` as a glob pattern, quoted or not: `[`,
  `]`, `*`, `?` (and `{}`) in a home's path match OTHER folders (a home `h[o]me` read the
  files of `home`), and a listed file that does not exist is globbed too. So every path is
  escaped (`duckdb_path`): each special character becomes a one-character class (`[[]`),
  which matches only itself. DuckDB's glob cannot match a folder name holding a backslash
  at all, so such a home gets the literal paths of its files (read as they are while they
  exist) and never a folder glob. (Left: a listed file of a home holding both a backslash
  and a glob character, removed between listing and query, is globbed by DuckDB with the
  backslash read as `/`; DuckDB offers no way to turn globbing off.)
- One damaged file fails the whole glob ("No magic bytes"), so a relation with a damaged
  file is read from an explicit list of its readable files, and the damaged ones are
  named (`integrity.parquet_health`).

Otherwise the expression is the folder's escaped glob: a partition written later is read
without rebuilding anything, which is what keeps `warehouse.duckdb` current under many
parallel writers and while a user holds it open.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.integrity.parquet_health import footer_damage

GLOB_CHARS = frozenset("[]*?{}")


def sql_str(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def globbable(path: Path) -> bool:
    """DuckDB's glob can match this folder (it never matches a name holding a backslash)."""
    return "\\" not in path.as_posix()


def duckdb_path(path: Path) -> str:
    """`path` as a pattern DuckDB matches to exactly this path.

    Glob characters become one-character classes; a path with a backslash stays literal
    (DuckDB reads an existing literal path as is, and its glob cannot match a backslash
    name, so a missing file fails instead of matching another one).
    """
    text = path.as_posix()
    if not globbable(path):
        return text
    return "".join(f"[{c}]" if c in GLOB_CHARS else c for c in text)


@dataclass(frozen=True)
class RelationFiles:
    """A storage table's Parquet files, sorted into readable and damaged (with why)."""

    folder: Path
    readable: tuple[Path, ...]
    damaged: tuple[tuple[Path, str], ...]

    def read_parquet_sql(self) -> str:
        """`read_parquet(...)` over the readable files: the folder's escaped glob when every
        file is readable and the folder is globbable, else their explicit list."""
        if not self.damaged and globbable(self.folder):
            pattern = duckdb_path(self.folder) + "/*.parquet"
            return f"read_parquet({sql_str(pattern)}, union_by_name = true)"
        listed = ", ".join(sql_str(duckdb_path(p)) for p in self.readable)
        return f"read_parquet([{listed}], union_by_name = true)"


def parquet_names(folder: Path) -> list[str]:
    """Names in `folder` a `*.parquet` glob reads (temp files of writers start with '.')."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.endswith(".parquet") and not n.startswith("."))


def scan(folder: Path) -> RelationFiles:
    """Check every Parquet file of a storage table's folder (footer check, cached).

    The folder's zero-row schema file must exist (the store writes it first), so the list
    is never empty; a file removed meanwhile is left out.
    """
    readable: list[Path] = []
    damaged: list[tuple[Path, str]] = []
    for name in parquet_names(folder):
        path = folder / name
        try:
            detail = footer_damage(path)
        except FileNotFoundError:
            continue
        if detail is None:
            readable.append(path)
        else:
            damaged.append((path, detail))
    return RelationFiles(folder, tuple(readable), tuple(damaged))
