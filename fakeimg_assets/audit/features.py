"""Metadata features of an image file: what a detector could cheat on without looking.

Size, bytes per pixel, container format, mode, grayscale flag, EXIF/ICC/text-chunk presence
and JPEG quantisation tables. Read from the file itself, not from the warehouse row, so a
row that lies about its file cannot hide a shortcut.

Raw bytes per pixel mixes encoding with content (noise compresses worse than a photo), so
the blocking set uses `bytes_ratio`: the file's size over the size of the same pixels
re-encoded by the platform's encoder. It is 1.0 for anything written like the fakes and
moves with any other encoder, JPEG history or extra chunks, whatever the content. Raw
bytes per pixel is still audited, in the informational set `metadata+bpp`.
"""

from __future__ import annotations

import io

import numpy as np

from fakeimg_assets.lib.png import encode_png

FORMATS = ("PNG", "JPEG", "WEBP")
MODES = ("RGB", "RGBA", "L", "P")
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    # everything a container or encoder leaves behind (the blocking set)
    "metadata": (
        "width", "height", "log_pixels", *(f"format_{f}" for f in FORMATS), "format_other",
        *(f"mode_{m}" for m in MODES), "mode_other", "grayscale", "has_exif", "has_icc",
        "has_text", "jpeg_q0_mean", "jpeg_q1_mean", "jpeg_n_tables", "bytes_ratio",
    ),
}
FEATURE_SETS["metadata+bpp"] = (*FEATURE_SETS["metadata"], "bytes_per_pixel")
GRAYSCALE_MAX_CHROMA = 4.0


def file_features(data: bytes) -> dict[str, float]:
    """Metadata features of one image file's bytes; unreadable files raise ValueError."""
    from PIL import Image


    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception as exc:  # noqa: BLE001 - any decoder error
        raise ValueError(f"unreadable image: {type(exc).__name__}: {exc}") from exc
    w, h = im.size
    fmt, mode = (im.format or "").upper(), im.mode
    canonical = len(encode_png(im if im.mode in ("RGB", "RGBA", "L") else im.convert("RGB")))
    rgb = np.asarray(im.convert("RGB")).astype(np.int16)
    chroma = float((rgb.max(axis=2) - rgb.min(axis=2)).mean())
    q = getattr(im, "quantization", None) or {}
    tables = [np.asarray(q[k], dtype=np.float64) for k in sorted(q)]
    info = im.info or {}
    text_keys = {k for k in info if isinstance(info.get(k), str | bytes)} - {"icc_profile", "exif"}
    out: dict[str, float] = {
        "width": float(w),
        "height": float(h),
        "log_pixels": float(np.log(max(1, w * h))),
        "bytes_per_pixel": len(data) / max(1, w * h),
        "bytes_ratio": len(data) / max(1, canonical),
        "grayscale": float(chroma <= GRAYSCALE_MAX_CHROMA),
        "has_exif": float(bool(info.get("exif")) or bool(im.getexif())),
        "has_icc": float(bool(info.get("icc_profile"))),
        "has_text": float(bool(text_keys)),
        "jpeg_q0_mean": float(tables[0].mean()) if tables else 0.0,
        "jpeg_q1_mean": float(tables[1].mean()) if len(tables) > 1 else 0.0,
        "jpeg_n_tables": float(len(tables)),
    }
    for f in FORMATS:
        out[f"format_{f}"] = float(fmt == f)
    out["format_other"] = float(fmt not in FORMATS)
    for m in MODES:
        out[f"mode_{m}"] = float(mode == m)
    out["mode_other"] = float(mode not in MODES)
    return out


def feature_matrix(rows: list[dict[str, float]], feature_set: str) -> np.ndarray:
    """Rows of `file_features` as a matrix in the feature set's column order."""
    try:
        names = FEATURE_SETS[feature_set]
    except KeyError:
        raise KeyError(
            f"unknown audit feature set {feature_set!r}; known: {', '.join(sorted(FEATURE_SETS))}"
        ) from None
    return np.array([[r[n] for n in names] for r in rows], dtype=np.float64).reshape(-1, len(names))
