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

A union view (`images`, ...) reads the loose files of all its storage tables in one
`read_parquet` (`union_sql`): each scan has a fixed cost (glob, footer, bind), which at
3 M rows was most of a selective query's time.
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
ROW_MARK = "_fakeimg_row"  # a constant leading a union's branches (the views never select it)


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

    def loose_paths(self) -> list[str]:
        """What `read_parquet` is given for the readable loose files, as SQL strings: the
        folder's escaped glob when every file is readable and the folder is globbable, else
        the files one by one."""
        if not self.damaged and globbable(self.folder):
            return [sql_str(duckdb_path(self.folder) + "/*.parquet")]
        return [sql_str(duckdb_path(p)) for p in self.readable]

    def loose_keys_sql(self) -> str:
        """The partition file keys that have a loose file (readable or not), as a subquery:
        listed by DuckDB at query time where the folder is globbable."""
        if globbable(self.folder):
            pattern = sql_str(duckdb_path(self.folder) + "/*.parquet")
            return f"SELECT parse_filename(file, true) FROM glob({pattern})"
        names = [p.stem for p in self.readable] + [
            p.stem for p, _ in self.damaged if p.parent == self.folder]  # not `_compacted/`
        return "SELECT unnest([" + ", ".join(sql_str(n) for n in names) + "]::VARCHAR[])"

    def compacted_rows_sql(self) -> str | None:
        """The compacted rows of the keys without a loose file, as the part of a SELECT after
        its select list (`EXCLUDE`, FROM and WHERE), so a caller chooses what leads the row;
        None when not compacted."""
        if self.compacted is None:
            return None
        compacted = sql_str(duckdb_path(self.compacted))
        keys = f"({self.loose_keys_sql()}) AS loose(k)"
        # two scalar subqueries, each run once: while no loose file but `_schema` (never a
        # compacted key: compaction folds no `_` file) is there, the first is true and DuckDB
        # checks no row; else each row's key is looked up in the list of loose keys. (`NOT IN
        # (subquery)` hashed all 3 M keys of every query.)
        return (f"* EXCLUDE ({PARTITION_COLUMN}) FROM read_parquet({compacted}) WHERE "
                f"(SELECT count(*) = 0 FROM {keys} WHERE NOT starts_with(k, '_')) OR NOT "
                f"list_contains((SELECT coalesce(list(k), []::VARCHAR[]) FROM {keys}), "
                f"{PARTITION_COLUMN})")

    def read_parquet_sql(self) -> str:
        """A FROM item over every current row: the loose files, plus the compacted rows of
        the keys without a loose file when the folder was compacted."""
        return union_sql([self])


def union_sql(tables: list[RelationFiles]) -> str:
    """A FROM item over every current row of storage tables sharing one schema (a union
    view's parts, or one table): all their loose files in ONE `read_parquet` (each scan has
    a fixed cost, most of a selective query's time at research scale), plus each compacted
    table's rows of the keys without a loose file."""
    loose = f"read_parquet([{', '.join(p for t in tables for p in t.loose_paths())}], " \
            "union_by_name = true)"
    compacted = [sql for t in tables if (sql := t.compacted_rows_sql()) is not None]
    if not compacted:
        return loose
    # each branch leads with a constant: a count(*) over the union keeps one column per
    # branch, the first, which was `image_id`, 3 M long strings read for nothing (44 ms -> 12)
    lead = f"SELECT NULL::BOOLEAN AS {ROW_MARK}, "
    branches = [f"{lead}* FROM {loose}", *(lead + rows for rows in compacted)]
    return "(" + " UNION ALL BY NAME ".join(branches) + ")"


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
