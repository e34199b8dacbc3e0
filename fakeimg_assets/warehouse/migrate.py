"""Homes written before every table had one owning asset: split the shared folders.

The old layout kept `parquet/images` (fakes and reals), `parquet/image_stats`,
`parquet/detector_runs` (main, scaling and protocol detectors) and `parquet/eval_results`
(before the cross-dataset comparison wrote rows too) as one folder each; those names are
union views now (`schemas.UNION_VIEWS`). Each old file moves, under the same
name, into the storage table its writer owns, decided by its key. A move never loses a
row: a file that already exists at the destination was written by the new code (so it
is newer) and wins; the old one is deleted. Safe to interrupt and rerun, and to run from
several processes at once. The cheap path is one `is_dir` per old folder.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from fakeimg_assets.lib.leftovers import remove_stale_temp_files


def _images_table(stem: str) -> str:
    return "real_images" if stem.startswith("real--") else "fake_images"


def _stats_table(stem: str) -> str:
    return "real_image_stats" if stem.startswith("real--") else "fake_image_stats"


def _runs_table(stem: str) -> str:
    if stem.startswith("scaling-"):  # scaling_study wrote its study id (`scaling-...`)
        return "scaling_detectors"
    if stem.endswith("-protocols"):  # detector_evaluation wrote `<run_id>-protocols`
        return "protocol_detectors"
    return "trained_detectors"  # detector wrote its run id (`<backbone>-<time>-<run>`)


def _eval_table(stem: str) -> str:
    return "detector_eval_results"  # detector_evaluation was its only writer


# old folder -> the storage table a file (by its key) belongs to now
LEGACY_FOLDERS: dict[str, Callable[[str], str]] = {
    "images": _images_table,
    "image_stats": _stats_table,
    "detector_runs": _runs_table,
    "eval_results": _eval_table,
}


def needs_migration(parquet_root: Path) -> bool:
    """True while any old shared folder exists (a few stats: called on first use)."""
    return any((parquet_root / old).is_dir() for old in LEGACY_FOLDERS)


def _move_no_clobber(src: Path, dest: Path) -> bool:
    """Move `src` to `dest` unless `dest` exists (then `dest` is newer: drop `src`).

    A hard link creates `dest` only if it is absent, atomically, so a new-code write of
    the same key landing meanwhile is never overwritten; where links are not supported,
    falls back to `os.replace` after an existence check. Returns True if `src` moved.
    """
    try:
        os.link(src, dest)
    except FileExistsError:
        src.unlink(missing_ok=True)  # keep the newer destination
        return False
    except FileNotFoundError:
        return False  # another process moved it first
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK):
            raise
        if dest.exists():
            src.unlink(missing_ok=True)
            return False
        try:
            os.replace(src, dest)
        except FileNotFoundError:
            return False
        return True
    src.unlink(missing_ok=True)  # interrupted here: the rerun finds dest and drops src
    return True


def migrate_legacy_layout(parquet_root: Path, schema_file: str = "_schema.parquet") -> list[Path]:
    """Move every old shared folder's files into their storage tables; returns the new paths.

    The old folder's zero-row schema file and dead writers' temp files go; the folder is
    removed once empty (a live old-code writer's temp file keeps it, the next use retries).
    """
    moved: list[Path] = []
    for old, table_of in LEGACY_FOLDERS.items():
        folder = parquet_root / old
        if not folder.is_dir():
            continue
        for src in sorted(folder.glob("*.parquet")):
            if src.name.startswith(("_", ".")):
                continue
            dest_dir = parquet_root / table_of(src.stem)
            dest_dir.mkdir(parents=True, exist_ok=True)
            if _move_no_clobber(src, dest_dir / src.name):
                moved.append(dest_dir / src.name)
        (folder / schema_file).unlink(missing_ok=True)
        remove_stale_temp_files(folder, ".", exact=False)
        try:
            folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            pass  # not empty: a live writer's temp file or a user's file; the next use retries
    return moved
