"""Each image is decoded once, in full, before it is staged: what is stored is known to be a
whole image of an accepted format, never a truncated file, a text file named `.png` or a
decompression bomb.

Limits are checked before decoding: the byte size of the file (`MAX_IMAGE_BYTES`), then the
pixel count its header declares (`MAX_IMAGE_PIXELS`), before any pixel is allocated. Only the
formats in `manifest.FORMAT_EXT` are tried (PIL never guesses at EPS, PSD, ... plugins).
EXIF orientation is not applied: width and height are of the stored pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from fakeimg_assets.collections.manifest import FORMAT_EXT

MAX_IMAGE_BYTES = 64 * 2**20
MAX_IMAGE_PIXELS = 50_000_000
_FORMATS = tuple(f for f in FORMAT_EXT if f != "MPO")  # PIL's JPEG opener yields MPO files


class ImageRejected(ValueError):
    """An image that is not staged; the message says why."""


@dataclass(frozen=True)
class ImageFacts:
    format: str
    mode: str
    width: int
    height: int


def check_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES,
                max_pixels: int = MAX_IMAGE_PIXELS) -> ImageFacts:
    """Decode `data` fully; its facts, or ImageRejected naming the reason."""
    from PIL import Image

    if len(data) > max_bytes:
        raise ImageRejected(f"{len(data)} bytes, over the limit of {max_bytes} bytes")
    if not data:
        raise ImageRejected("empty file")
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise ImageRejected(
                    f"{width}x{height} pixels, over the limit of {max_pixels} (refused before "
                    "decoding: a decompression bomb or an image too large to stage)"
                )
            im.load()
            if im.format not in FORMAT_EXT:
                raise ImageRejected(f"format {im.format!r} is not one of {', '.join(FORMAT_EXT)}")
            return ImageFacts(format=str(im.format), mode=im.mode, width=width, height=height)
    except ImageRejected:
        raise
    except Image.UnidentifiedImageError as exc:  # its message holds an object's address
        raise ImageRejected(f"not an image of a staged format ({', '.join(_FORMATS)})") from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"refused before decoding: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any decoder failure is an unreadable image
        text = str(exc) or type(exc).__name__
        raise ImageRejected(f"not a readable image ({', '.join(_FORMATS)}): {text}") from exc
