"""The photos of a folder, read without leaving it: each image file's bytes and caption as
a `RawPhoto`, one at a time, nothing decoded yet.

A folder is listed up front (names only) and each photo's bytes are read when it is asked
for, so a run holds one photo at a time however large the folder. Nothing outside the folder
(or `within`) is read (`folder_files.py`); a photo whose file or caption cannot be used comes
with the error and its screening reason (`screen.py`), never read further.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.real.captions import CaptionError, CaptionTables, caption_for, caption_tables
from fakeimg_assets.real.folder_files import (
    MAX_PHOTO_BYTES,
    FolderEntry,
    FolderFileError,
    list_folder,
    read_confined,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class RawPhoto:
    """One source photo before screening: its name in the source, caption and file bytes."""

    name: str
    caption: str
    data: bytes
    error: str | None = None  # why the file could not even be fetched (screened out)
    reason: str = "unreadable"  # the screening reason that goes with `error`


def _is_image(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def image_entries(folder: Path, within: Path | None = None) -> list[FolderEntry]:
    """Image files under `folder` (recursively, sorted, hidden folders skipped), each with
    the error that keeps it from being read (a symlink out of `within`, default `folder`)."""
    within = (within or folder).resolve()
    return list_folder(Path(folder), within, _is_image, report_dirs=True)


def folder_photos(folder: Path, within: Path | None = None) -> Iterator[RawPhoto]:
    """Every image under `folder`, one at a time; captions from .txt/.json beside it or a
    caption table. Nothing outside `within` (default: the folder itself) is ever read."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"real image folder {folder} does not exist")
    within = (within or folder).resolve()
    entries = image_entries(folder, within)
    if not entries:
        raise ValueError(
            f"real image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})"
        )
    tables = caption_tables(folder, within)
    for entry in entries:
        yield _read_photo(entry, tables, within)


def _read_photo(entry: FolderEntry, tables: CaptionTables, within: Path) -> RawPhoto:
    if entry.error is not None:
        return RawPhoto(entry.rel, "", b"", error=str(entry.error), reason=entry.error.reason)
    try:
        caption = caption_for(entry.path, entry.rel, tables, within)
    except CaptionError as exc:  # the photo is not read: its caption would be a bad prompt
        return RawPhoto(entry.rel, "", b"", error=str(exc), reason="bad_caption")
    try:
        data = read_confined(entry.path, within, MAX_PHOTO_BYTES, f"photo {entry.rel!r}")
    except FolderFileError as exc:
        return RawPhoto(entry.rel, caption, b"", error=str(exc), reason=exc.reason)
    return RawPhoto(entry.rel, caption, data)
