"""A collection's generator as a `hub_models` partition: its metadata row and its images.

`model_metadata` and `sampled_images` call these for a `collection--<name>/<generator>` key
instead of planning and sampling a Hub repo. The images are the staged originals
(`stage.py`), published through the same partition writer as sampled fakes; with a
post-processing spec they are re-encoded exactly as sampled fakes and real crops are
(`real/post.py`), otherwise their bytes are kept, so the shortcut audit sees the
collection's real formats (JPEG fakes against PNG reals are caught, not hidden).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from pathlib import Path

from fakeimg_assets.collections.manifest import collection_dir, read_manifest
from fakeimg_assets.lib.paths import sha256_bytes, split_collection_key
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.real.post import apply_post

KIND = "collection"
SUFFIX = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif",
          "GIF": "gif"}


def collection_of(key: str) -> tuple[str, str] | None:
    """(collection, generator) of a collection partition key; None for a Hub model id."""
    return split_collection_key(key)


def _entry(home: Path, key: str):  # noqa: ANN202 - (manifest, generator entry)
    name, generator = split_collection_key(key) or (None, None)
    if name is None:
        raise ValueError(f"{key!r} is no collection generator key")
    manifest = read_manifest(home, name)
    for g in manifest.generators:
        if g.generator == generator:
            return manifest, g
    known = ", ".join(g.generator for g in manifest.generators)
    raise ValueError(
        f"collection {name!r} has no generator {generator!r} (it has: {known}); was it "
        f"re-added without it? `fakeimg collection add` again, or remove the partition"
    )


def metadata_row(home: Path, key: str) -> dict:
    """The `model_metadata` row of a collection's generator (no Hub involved)."""
    manifest, g = _entry(home, key)
    released = None
    if g.release_date:
        released = dt.datetime.fromisoformat(str(g.release_date)).replace(tzinfo=dt.UTC)
    return {
        "model_id": key,
        "revision": g.digest,  # the content digest: a changed image is a new revision
        "pipeline_class": None,
        "architecture": g.architecture or g.family_group,
        "recipe": None,
        "license": g.license,
        "gated": "false",
        "created_at": released,
        "last_modified": released,
        "repo_bytes": g.n_bytes,
        "downloaded_bytes": 0,
        "n_repo_files": g.n_images,
        "n_downloaded_files": 0,
        "kind": KIND,
        "collection": manifest.name,
        "family_group": g.family_group,
        "base_model": None,
        "base_models": [],
        "fetched_at": utcnow(),
    }


def image_rows(home: Path, key: str, post: str, add: Callable[[str, bytes], str]
               ) -> Iterator[dict]:  # fmt: skip
    """One `fake_images` row per staged image of the generator, storing each file through
    `add(file_name, bytes) -> path` as it goes (one image in memory at a time)."""
    from PIL import Image

    manifest, g = _entry(home, key)
    folder = collection_dir(home, manifest.name)
    now = utcnow()
    for index, rec in enumerate(sorted(g.images, key=lambda r: r.sha256)):
        data = (folder / rec.file).read_bytes()
        if sha256_bytes(data) != rec.sha256:
            raise ValueError(
                f"collection {manifest.name!r}: staged file {rec.file} no longer matches its "
                f"sha256 in the manifest; add the collection again"
            )
        image_id = f"fake:{key}:{index:05d}"
        fmt, width, height, mode, applied = rec.format, rec.width, rec.height, rec.mode, None
        if (post or "").strip():
            with Image.open(io.BytesIO(data)) as im:
                out = apply_post(im, post, image_id)
            data, fmt, width, height, applied = out.data, out.format, out.width, out.height, out.post
            mode = "RGB"
        name = f"{index:05d}.{SUFFIX.get(str(fmt).upper(), 'img')}"
        yield {
            "image_id": image_id,
            "label": "fake",
            "source": key,
            "path": add(name, data),
            "sha256": sha256_bytes(data),
            "width": width,
            "height": height,
            "format": fmt,
            "mode": mode,
            "post": applied,
            "file_bytes": len(data),
            "prompt": rec.prompt,
            "revision": g.digest,
            "architecture": g.architecture or g.family_group,
            "image_index": index,
            "origin": rec.original,
            "created_at": now,
        }
