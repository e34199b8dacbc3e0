"""Image bytes that depend on the pixels only: PNG with no metadata, fixed settings."""

from __future__ import annotations

import io
from typing import Any


def encode_png(image: Any) -> bytes:
    """PNG bytes with no metadata: the same pixels always give the same bytes."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()
