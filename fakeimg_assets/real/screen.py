"""Screening of real photos: unreadable, tiny, grayscale and duplicate ones are skipped.

Fakes are never grayscale and never unreadable, so such reals would teach a detector a
shortcut (or fail the step). Each photo gets a verdict with the reason recorded; decoding
errors of any kind become 'unreadable', never an exception. A photo its source could not
read arrives with its own reason ('unsafe_path', 'too_large', 'bad_caption', 'unreadable').

Screening streams: one verdict per photo as the photos arrive, so a caller that stores each
verdict and lets go of it holds one photo's bytes and pixels at a time. Pixels are decoded
upright: EXIF orientation is applied, as every viewer shows the photo.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from fakeimg_assets.real.photo_folder import RawPhoto

SKIP_REASONS = (
    "unreadable", "unsafe_path", "too_large", "bad_caption", "tiny", "grayscale", "duplicate"
)
MAX_PHOTO_PIXELS = 64 * 2**20  # a decompression bomb is unreadable, not a crash


@dataclass(frozen=True)
class ScreenPolicy:
    """`min_side`: shorter side below it is tiny; `max_chroma`: mean max-min channel spread
    (0-255) at or below which a photo counts as grayscale; `max_hash_distance`: perceptual
    hashes this close are duplicates."""

    min_side: int = 64
    max_chroma: float = 4.0
    max_hash_distance: int = 6


@dataclass
class PhotoVerdict:
    """One screened photo: kept (with its RGB pixels) or skipped with a reason."""

    photo_id: str
    name: str
    caption: str
    data: bytes
    sha256: str
    status: str  # 'kept' or 'skipped'
    skip_reason: str | None = None
    detail: str | None = None
    width: int | None = None
    height: int | None = None
    source_format: str | None = None
    source_mode: str | None = None
    chroma: float | None = None
    phash: str | None = None
    duplicate_of: str | None = None
    pixels: np.ndarray | None = None


def photo_id_of(source: str, data: bytes) -> str:
    """`<source>:<sha256 of the file bytes>[:16]`: stable across names and re-runs."""
    return f"{source}:{hashlib.sha256(data).hexdigest()[:16]}"


def decode(data: bytes) -> tuple[np.ndarray, str, str]:
    """(HxWx3 uint8 pixels, upright, format, mode) of an image file; raises on anything
    unreadable. A photo with an EXIF orientation tag is rotated/flipped the way it is shown
    (a phone's portrait JPEG is stored sideways), so sizes and crops are of what people see."""
    import io

    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PHOTO_PIXELS:
                raise ValueError(f"{im.width}x{im.height} exceeds {MAX_PHOTO_PIXELS} pixels")
            fmt, mode = im.format or "unknown", im.mode
            im.load()
            upright = ImageOps.exif_transpose(im)
            rgb = upright.convert("RGB")
    return np.asarray(rgb), fmt, mode


def chroma(rgb: np.ndarray) -> float:
    """Mean spread between the largest and smallest channel: 0 for exact grayscale."""
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 250_000)))
    a = rgb[::step, ::step].astype(np.int16)
    return float((a.max(axis=2) - a.min(axis=2)).mean())


def phash(rgb: np.ndarray, size: int = 8) -> str:
    """64-bit DCT perceptual hash (robust to resizing and mild re-encoding), 16 hex digits."""
    from PIL import Image
    from scipy.fft import dctn

    gray = Image.fromarray(rgb).convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    coeffs = dctn(np.asarray(gray, dtype=np.float64), norm="ortho")[:size, :size]
    flat = coeffs.flatten()[1:]  # without the DC term
    bits = coeffs.flatten() > np.median(flat)
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hash_distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def screen_photos(
    source: str, photos: Iterable[RawPhoto], policy: ScreenPolicy = ScreenPolicy()
) -> Iterator[PhotoVerdict]:
    """A verdict per photo, in order, each yielded before the next photo is pulled;
    duplicates point at the first kept photo they match (only hashes are remembered)."""
    kept_hashes: list[tuple[str, str]] = []  # (phash, photo_id)
    for raw in photos:
        v = PhotoVerdict(photo_id_of(source, raw.data), raw.name, raw.caption, raw.data,
                         hashlib.sha256(raw.data).hexdigest(), "skipped")
        _judge(v, raw, policy, kept_hashes)
        yield v
        del raw, v  # nothing of this photo is held while the next one is read


def _judge(
    v: PhotoVerdict, raw: RawPhoto, policy: ScreenPolicy, kept_hashes: list[tuple[str, str]]
) -> None:
    """Fill in `v`: kept (with its pixels) or skipped with the reason."""
    if raw.error or not raw.data:
        v.skip_reason = raw.reason if raw.error else "unreadable"
        v.detail = (raw.error or "empty or unreadable file")[:500]
        return
    try:
        rgb, v.source_format, v.source_mode = decode(raw.data)
    except Exception as exc:  # noqa: BLE001 - any decoder error means unreadable
        v.skip_reason, v.detail = "unreadable", f"{type(exc).__name__}: {exc}"[:300]
        return
    v.height, v.width = int(rgb.shape[0]), int(rgb.shape[1])
    if min(v.width, v.height) < policy.min_side:
        v.skip_reason = "tiny"
        v.detail = f"{v.width}x{v.height}, shorter side below {policy.min_side}"
        return
    v.chroma = chroma(rgb)
    if v.chroma <= policy.max_chroma:
        v.skip_reason = "grayscale"
        v.detail = f"mean channel spread {v.chroma:.2f} <= {policy.max_chroma}"
        return
    v.phash = phash(rgb)
    twin = next(
        (pid for h, pid in kept_hashes
         if pid == v.photo_id or hash_distance(h, v.phash) <= policy.max_hash_distance),
        None,
    )
    if twin is not None:
        v.skip_reason, v.duplicate_of = "duplicate", twin
        v.detail = f"perceptual hash within {policy.max_hash_distance} bits of {twin}"
        return
    kept_hashes.append((v.phash, v.photo_id))
    v.status, v.pixels = "kept", rgb
