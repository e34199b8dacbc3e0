"""Registry of real-photo sources: a local folder (`photo_folder.py`), a Hub dataset repo
(`hub_dataset.py`), the bundled demo photos.

A source yields `RawPhoto`s lazily, one photo at a time: the file's bytes plus its caption,
nothing decoded yet, so one unreadable file is screened out with a reason (`screen.py`)
instead of failing the step. `make_source(name, ...)` fails loudly on an unknown source kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakeimg_assets.lib.png import encode_png
from fakeimg_assets.real.hub_dataset import dataset_photos
from fakeimg_assets.real.photo_folder import RawPhoto, folder_photos

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


    for name, array in skimage_arrays().items():
        yield f"{name}.png", SKIMAGE_PHOTOS[name], encode_png(Image.fromarray(array))


def _skimage_photos() -> Iterator[RawPhoto]:
    for file_name, caption, data in skimage_files():
        yield RawPhoto(file_name.rsplit(".", 1)[0], caption, data)










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


def check_source_kind(kind: str) -> str:
    """`kind` if it is 'auto' or a registered source (read when called, so a source
    registered at run time counts); ValueError naming the known ones otherwise."""
    if kind != "auto" and kind not in REAL_SOURCES:
        raise ValueError(f"{kind!r} is no real source; choose from "
                         f"{', '.join(['auto', *sorted(REAL_SOURCES)])}")
    return kind


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
