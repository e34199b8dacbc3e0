"""Registry of real-photo sources: a local folder, a Hub dataset repo, the bundled demo photos.

A source yields `RawPhoto`s: the photo file's bytes plus its caption, nothing decoded yet,
so one unreadable file is screened out with a reason (`screen.py`) instead of failing the
step. Sources are lazy: a folder is listed up front (names only) and each photo's bytes are
read when it is asked for, so a run holds one photo at a time, however large the folder.
A folder is read without leaving it (`folder_files.py`); a photo whose file or caption
cannot be used comes with the error and its screening reason, never read further.
`make_source(name, ...)` fails loudly on an unknown source kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakeimg_assets.real.captions import CaptionError, CaptionTables, caption_for, caption_tables
from fakeimg_assets.real.folder_files import (
    MAX_PHOTO_BYTES,
    FolderEntry,
    FolderFileError,
    list_folder,
    read_confined,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")

# Photographs shipped inside the scikit-image wheel (no download), with captions. Grayscale,
# tiny and duplicate ones stay listed on purpose: the demo shows them skipped with a reason.
SKIMAGE_PHOTOS: dict[str, str] = {
    "astronaut": "a portrait of an astronaut in a white spacesuit in front of a flag",
    "chelsea": "a close-up photo of a tabby cat with green eyes",
    "cat": "a photo of a ginger cat looking at the camera",  # the same picture as chelsea
    "coffee": "a cup of coffee with latte art on a saucer",
    "rocket": "a rocket standing on the launch pad under a blue sky",
    "hubble_deep_field": "a deep field telescope image of distant galaxies",
    "immunohistochemistry": "a microscope image of stained tissue",
    "retina": "a medical photograph of the retina of a human eye",
    "stereo_motorcycle": "a photo of a red motorcycle parked in a workshop",
    "camera": "a black and white photo of a man with a camera on a tripod",
    "moon": "a black and white photo of the cratered surface of the moon",
    "coins": "a black and white photo of old coins laid out on a table",
    "grass": "a close-up photo of grass",
    "gravel": "a close-up photo of gravel",
    "brick": "a photo of a brick wall",
    "cell": "a microscope image of a living cell",
    "microaneurysms": "a retinal scan showing small red dots",
}
DEMO_DATASET_ID = "fakeimg/demo-photos"


@dataclass(frozen=True)
class RawPhoto:
    """One source photo before screening: its name in the source, caption and file bytes."""

    name: str
    caption: str
    data: bytes
    error: str | None = None  # why the file could not even be fetched (screened out)
    reason: str = "unreadable"  # the screening reason that goes with `error`


@dataclass(frozen=True)
class RealSource:
    """A named source of real photos; `photos()` yields them in a stable order."""

    kind: str
    name: str
    photos: Callable[[], Iterator[RawPhoto]]
    description: str


def skimage_arrays() -> dict[str, Any]:
    """The bundled demo photos as arrays (HxW or HxWx3 uint8), keyed by name."""
    import skimage.data

    out = {}
    for name in SKIMAGE_PHOTOS:
        a = getattr(skimage.data, name)()
        out[name] = a[0] if isinstance(a, tuple) else a  # stereo pairs: the left image
    return out


def skimage_files() -> Iterator[tuple[str, str, bytes]]:
    """(file name, caption, PNG bytes) of each demo photo, deterministic bytes."""
    from PIL import Image

    from fakeimg_assets.sampling.sample import encode_png

    for name, array in skimage_arrays().items():
        yield f"{name}.png", SKIMAGE_PHOTOS[name], encode_png(Image.fromarray(array))


def _skimage_photos() -> Iterator[RawPhoto]:
    for file_name, caption, data in skimage_files():
        yield RawPhoto(file_name.rsplit(".", 1)[0], caption, data)


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


def _folder_source(name: str, options: dict[str, Any]) -> RealSource:
    folder = options.get("folder") or ""
    if not folder:
        raise ValueError("real source 'folder' needs a folder path (--real-folder)")
    path = Path(folder).expanduser()
    return RealSource(
        "folder", name or path.resolve().name, lambda: folder_photos(path), f"folder {path}"
    )


def _skimage_source(name: str, options: dict[str, Any]) -> RealSource:
    return RealSource("skimage", name or "skimage", _skimage_photos, "scikit-image demo photos")


def _hub_dataset_source(name: str, options: dict[str, Any]) -> RealSource:
    from fakeimg_assets.real.hub_dataset import dataset_photos

    repo_id = options.get("dataset") or ""
    hub = options.get("hub")
    if not repo_id:
        raise ValueError("real source 'hub_dataset' needs a dataset repo id (--real-dataset)")
    if hub is None:
        raise ValueError("real source 'hub_dataset' needs the Hub resource")
    default_name = repo_id.replace("/", "--")
    return RealSource(
        "hub_dataset",
        name or default_name,
        lambda: dataset_photos(hub, repo_id),
        f"Hub dataset {repo_id}",
    )


REAL_SOURCES: dict[str, Callable[[str, dict[str, Any]], RealSource]] = {
    "skimage": _skimage_source,
    "folder": _folder_source,
    "hub_dataset": _hub_dataset_source,
}


def make_source(kind: str, *, name: str = "", **options: Any) -> RealSource:
    """The real source of this kind; unknown kinds fail listing the known ones."""
    try:
        factory = REAL_SOURCES[kind]
    except KeyError:
        raise KeyError(
            f"unknown real source {kind!r}; known: {', '.join(sorted(REAL_SOURCES))}"
        ) from None
    if name and ("/" in name or name.startswith(".")):
        raise ValueError(f"invalid real source name {name!r}: no '/' and no leading '.'")
    return factory(name, options)
