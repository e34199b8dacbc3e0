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

Once the folder has been compacted (`warehouse.compaction`), its rows also come from
`_compacted/data.parquet`, whose `_partition` column names each row's partition file key:
the expression is the loose files' rows UNION the compacted rows of every key that has no
loose file now. A key written (or deleted: a zero-row file) after the compaction therefore
shadows its compacted rows at once, with no rebuild; DuckDB's `glob()` lists the loose
names at query time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.integrity.parquet_health import footer_damage

GLOB_CHARS = frozenset("[]*?{}")
COMPACTED_DIR = "_compacted"  # parquet/<table>/_compacted/data.parquet (not matched by *.parquet)
COMPACTED_FILE = "data.parquet"
PARTITION_COLUMN = "_partition"  # the compacted rows' partition file key


def compacted_path(folder: Path) -> Path:
    """Where a storage table's compacted rows live (whether or not they exist yet)."""
    return folder / COMPACTED_DIR / COMPACTED_FILE


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
    compacted: Path | None = None  # the compacted rows' file, when the folder has one

    def loose_sql(self) -> str:
        """`read_parquet(...)` over the readable loose files: the folder's escaped glob when
        every file is readable and the folder is globbable, else their explicit list."""
        if not self.damaged and globbable(self.folder):
            pattern = duckdb_path(self.folder) + "/*.parquet"
            return f"read_parquet({sql_str(pattern)}, union_by_name = true)"
        listed = ", ".join(sql_str(duckdb_path(p)) for p in self.readable)
        return f"read_parquet([{listed}], union_by_name = true)"

    def loose_keys_sql(self) -> str:
        """The partition file keys that have a loose file (readable or not), as a subquery:
        listed by DuckDB at query time where the folder is globbable."""
        if globbable(self.folder):
            pattern = sql_str(duckdb_path(self.folder) + "/*.parquet")
            return f"SELECT parse_filename(file, true) FROM glob({pattern})"
        names = [p.stem for p in self.readable] + [
            p.stem for p, _ in self.damaged if p.parent == self.folder]  # not `_compacted/`
        return "SELECT unnest([" + ", ".join(sql_str(n) for n in names) + "]::VARCHAR[])"

    def read_parquet_sql(self) -> str:
        """A FROM item over every current row: the loose files, plus the compacted rows of
        the keys without a loose file when the folder was compacted."""
        if self.compacted is None:
            return self.loose_sql()
        compacted = sql_str(duckdb_path(self.compacted))
        return (f"(SELECT * FROM {self.loose_sql()} UNION ALL BY NAME "
                f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM read_parquet({compacted}) "
                f"WHERE {PARTITION_COLUMN} NOT IN ({self.loose_keys_sql()}))")


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
    compacted: Path | None = compacted_path(folder)
    try:
        detail = footer_damage(compacted)
    except FileNotFoundError:
        compacted = None
    else:
        if detail is not None:  # its rows are left out, named, until `fakeimg verify --repair`
            damaged.append((compacted, detail))
            compacted = None
    return RelationFiles(folder, tuple(readable), tuple(damaged), compacted)
