"""The folder layout `fakeimg collection add` reads, written by the test rig's collections.

```
<out_dir>/<generator>/<index:05d>.png   one sub-folder of images per generator
<out_dir>/real/<index:05d>.png          optional real images
<out_dir>/generators.csv                generator,family,architecture,release_date,license
```
A collection is written whole into a staging folder beside `out_dir`, then swapped in
(`replace_folder`), so `out_dir` never holds half a collection. A folder that is not one of
ours (no marker file) is never replaced: it may hold someone's data.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fakeimg_assets.lib.leftovers import writer_id
from fakeimg_assets.lib.paths import name_problem
from fakeimg_assets.lib.png import encode_png

CSV_NAME = "generators.csv"
CSV_COLUMNS = ("generator", "family", "architecture", "release_date", "license")
REAL_FOLDER = "real"


def generator_name_problem(name: object) -> str | None:
    """Why `name` cannot be a generator's sub-folder, or None (Hub name rules, not 'real')."""
    problem = name_problem(name, "generator name")
    if problem is None and name == REAL_FOLDER:
        problem = f"generator name {REAL_FOLDER!r} is reserved for the real images' folder"
    return problem


def image_file(index: int) -> str:
    return f"{index:05d}.png"


def write_images(folder: Path, images: np.ndarray) -> None:
    """(n, H, W, 3) uint8 as `folder/00000.png`, ... with the platform's PNG encoder."""
    from PIL import Image

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (n, H, W, 3) uint8, got {images.dtype} {images.shape}")
    folder.mkdir(parents=True)
    for i, pixels in enumerate(images):
        (folder / image_file(i)).write_bytes(encode_png(Image.fromarray(pixels, mode="RGB")))


def write_generators_csv(folder: Path, rows: Sequence[Mapping[str, str]]) -> None:
    """`folder/generators.csv`: the header CSV_COLUMNS, then one row per generator."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([row.get(c, "") for c in CSV_COLUMNS])
    (folder / CSV_NAME).write_text(table.getvalue(), encoding="utf-8")


def check_rows(names: Sequence[str], rows: Sequence[Mapping[str, str]]) -> None:
    """Every generator name is a safe folder name and has exactly one CSV row."""
    for name in names:
        problem = generator_name_problem(name)
        if problem:
            raise ValueError(f"invalid generator name {name!r}: {problem}")
    named = [row.get("generator") for row in rows]
    if sorted(map(str, named)) != sorted(names) or len(set(named)) != len(named):
        raise ValueError(f"{CSV_NAME} rows {named} must name each generator "
                         f"{sorted(names)} exactly once")  # fmt: skip


def write_collection_folder(
    folder: Path, generators: Mapping[str, np.ndarray], rows: Sequence[Mapping[str, str]],
    reals: np.ndarray | None = None,
) -> None:
    """Write a collection into the new folder `folder`: one sub-folder per generator, `real/`
    when `reals` is given, and `generators.csv` with one row per generator (CSV_COLUMNS)."""
    check_rows(list(generators), rows)
    folder.mkdir(parents=True)
    for name, images in generators.items():
        write_images(folder / name, images)
    if reals is not None:
        write_images(folder / REAL_FOLDER, reals)
    write_generators_csv(folder, rows)


def folder_files(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` by relative path, dot-files (markers) left out."""
    out: dict[str, str] = {}
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def collection_path(out_dir: Path | str) -> Path:
    """`out_dir` made absolute without following links ('.' and '..' resolved), so its staging
    folder lies beside it, never inside it; a path with no folder name ('/') is refused."""
    path = Path(os.path.abspath(out_dir))
    if not path.name:
        raise ValueError(f"collection folder {str(out_dir)!r} names no folder")
    return path


def staging_folder(out_dir: Path) -> Path:
    """A fresh, empty-to-be staging path beside `out_dir` (same file system: rename works)."""
    out_dir = collection_path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = out_dir.parent / f".{out_dir.name}.staging-{writer_id()}"
    if staged.exists():
        shutil.rmtree(staged)
    return staged


def check_replaceable(out_dir: Path, marker: str) -> None:
    """Refuse an `out_dir` that is a file, or a non-empty folder without our `marker` file
    (someone's data we must not delete); an absent or empty folder is fine."""
    out_dir = collection_path(out_dir)
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise FileExistsError(f"{out_dir} exists and is not a folder; not replacing it")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / marker).is_file():
        raise FileExistsError(
            f"{out_dir} is a non-empty folder without {marker}: not a collection this tool "
            f"wrote, so it is not replaced; choose an empty or new folder"
        )


def replace_folder(staged: Path, out_dir: Path, marker: str) -> None:
    """Swap the complete `staged` folder in as `out_dir` (see `check_replaceable`)."""
    out_dir = collection_path(out_dir)
    check_replaceable(out_dir, marker)
    old = out_dir.parent / f".{out_dir.name}.old-{writer_id()}"
    if old.exists():
        shutil.rmtree(old)
    if out_dir.exists():
        out_dir.rename(old)
    Path(staged).rename(out_dir)
    if old.exists():
        shutil.rmtree(old)
