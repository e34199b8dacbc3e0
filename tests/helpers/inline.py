"""Reading back what the Dagster UI shows: inline thumbnails and table metadata."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

THUMB = re.compile(r"!\[[^\]\[()]+\]\(data:image/webp;base64,([A-Za-z0-9+/=]+)\)")


def thumbnail_of(markdown: str) -> Image.Image:
    """The WebP picture of an inline markdown thumbnail; asserts it shows inline (the UI
    hides markdown of 1000 characters or more behind a click) and is nothing but the image."""
    assert len(markdown) < 1000, len(markdown)
    match = THUMB.fullmatch(markdown)
    assert match, markdown[:80]
    image = Image.open(io.BytesIO(base64.b64decode(match.group(1), validate=True)))
    image.load()
    assert image.format == "WEBP"
    return image


def table_rows(value) -> list[dict]:  # noqa: ANN001 - dg.TableMetadataValue
    """A table metadata value's rows as plain dicts."""
    return [dict(r.data) for r in value.records]
