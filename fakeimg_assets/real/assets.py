"""Real images cut after the fakes are sampled, at exactly the fakes' sizes, same encoder.

`real_images` reads the kept photos of `real_photos` and every distinct fake (width, height)
in `images`, cuts native-resolution crops (no resampling; photos too small for a size are
skipped for it and counted), encodes them like fakes (PNG, RGB, no metadata) or with the
dataset's post-processing option, and records quality stats like fakes get.

One step, two assets, each owning one table: `real_images` (`real_images` rows) and
`real_image_stats` (their quality stats, `real_image_stats`); `images` and `image_stats`
are the union views with the fakes' tables. The step always materializes both.
"""


from collections import defaultdict
from collections.abc import Iterator

import dagster as dg
import numpy as np

from fakeimg_assets.integrity.publish import partition_key
from fakeimg_assets.lib.paths import sha256_bytes
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.models.preview import preview_metadata, write_contact_sheet
from fakeimg_assets.quality.stats import image_measures
from fakeimg_assets.real.crops import cut_crops, plan_crops
from fakeimg_assets.real.photos_asset import GROUP, prompts, real_photos
from fakeimg_assets.real.post import apply_post, parse_post, resize_factor
from fakeimg_assets.real.screen import decode
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import ImageStoreResource, WarehouseResource

__all__ = ["real_images", "real_photos", "prompts"]
STATS_TABLE = "real_image_stats"
CODE_VERSION = "2"  # bump when a change alters the crops written (marks real_images stale)
# 2: crops are cut from upright pixels (EXIF orientation applied by screen.decode)


class RealImagesConfig(dg.Config):
    """Per fake size, ceil(n_fakes * reals_per_fake) crops shared by the photos that fit
    (or exactly `crops_per_photo` per photo when > 0). `post`: see real/post.py; pass the
    same spec to sampling so both classes get it."""

    reals_per_fake: float = 1.0
    crops_per_photo: int = 0
    post: str = ""
    seed: int = 0


def fake_sizes(warehouse: WarehouseResource) -> dict[tuple[int, int], int]:
    """Number of fakes per distinct (width, height), before any post-processing."""
    df = warehouse.query(
        "SELECT width, height, count(*) AS n FROM images WHERE label = 'fake' "
        "AND width IS NOT NULL AND height IS NOT NULL GROUP BY ALL"
    )
    return {(int(r["width"]), int(r["height"])): int(r["n"]) for r in df.iter_rows(named=True)}


def _spec(key: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, group_name=GROUP, deps=[real_photos, "sampled_images"], kinds={"pillow", "duckdb"},
        code_version=CODE_VERSION, metadata=table_metadata(key), description=description,
    )


@dg.multi_asset(
    name="real_images",
    specs=[
        _spec("real_images",
              "Real crops at every fake size, native resolution, same encoder as fakes."),
        _spec(STATS_TABLE, "Quality measures of the real crops (written by real_images)."),
    ],
)
def real_images(
    context: dg.AssetExecutionContext,
    config: RealImagesConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
) -> Iterator[dg.MaterializeResult]:
    try:
        parse_post(config.post)
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    sizes = fake_sizes(warehouse)
    if not sizes:
        raise dg.Failure("no fake images yet: sample models first (reals are cut at their sizes)")
    f = resize_factor(config.post)  # fakes were resized by it after sampling: cut larger
    cut_sizes = {(round(w / f), round(h / f)): n for (w, h), n in sizes.items()}
    photos = warehouse.query(
        "SELECT * FROM real_photos WHERE status = 'kept' AND path IS NOT NULL ORDER BY photo_id"
    ).unique("photo_id", keep="first", maintain_order=True)
    if photos.height == 0:
        raise dg.Failure("no kept real photos: materialize real_photos first")
    by_id = {r["photo_id"]: r for r in photos.iter_rows(named=True)}
    try:
        plan = plan_crops(
            {pid: (r["width"], r["height"]) for pid, r in by_id.items()},
            cut_sizes,
            reals_per_fake=config.reals_per_fake,
            crops_per_photo=config.crops_per_photo,
            seed=config.seed,
        )
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    per_photo = defaultdict(list)
    for spec in plan.crops:
        per_photo[spec.photo_id].append(spec)
    by_source: dict[str, list[str]] = defaultdict(list)
    for pid in per_photo:
        by_source[by_id[pid]["source"]].append(pid)
    home, now = image_store.home_dir(), utcnow()
    counts, previews, n_rows, unchanged = defaultdict(int), [], 0, []
    n_stats = 0
    for source, pids in sorted(by_source.items()):
        todo = [(by_id[pid], per_photo[pid]) for pid in pids]
        planned = []
        for spec, crop, row, _ in _crops(todo, home, config, lambda name, data: None, now):
            planned.append(row)
            counts[f"{spec.width}x{spec.height}"] += 1
            if len(previews) < 16 and spec.index == 0:
                previews.append(crop)
        n_rows += len(planned)
        if _unchanged(warehouse, source, planned, home):
            unchanged.append(source)  # same crops, same bytes: keep the published version
            n_stats += warehouse.read_key(STATS_TABLE, partition_key("real", source)).height
            continue
        rows, stats = [], []
        with image_store.partition_writer("real", source, warehouse) as writer:
            for _, _, row, measure in _crops(todo, home, config, writer.add, now):
                rows.append(row)
                stats.append(measure)
            warehouse.write(STATS_TABLE, partition_key("real", source), stats)
            writer.commit(rows)
        n_stats += len(stats)
    yield dg.MaterializeResult(
        asset_key="real_images",
        metadata={
            "n_images": n_rows,
            **row_count(n_rows),
            "unchanged_sources": dg.MetadataValue.json(unchanged),
            "n_photos_used": len(per_photo),
            "per_size": dg.MetadataValue.json(dict(sorted(counts.items()))),
            "fake_sizes": dg.MetadataValue.json({f"{w}x{h}": n for (w, h), n in sizes.items()}),
            "photos_too_small": dg.MetadataValue.json(
                {k: len(v) for k, v in plan.skipped_small.items()}
            ),
            "post": config.post or "none",
            **preview_metadata(write_contact_sheet(
                image_store.home_dir(), "real", "real_images", [_png(c) for c in previews])),
        }
    )
    yield dg.MaterializeResult(
        asset_key=STATS_TABLE,
        metadata={**row_count(n_stats), "unchanged_sources": dg.MetadataValue.json(unchanged)},
    )


def _png(crop: np.ndarray) -> bytes:
    from PIL import Image

    from fakeimg_assets.sampling.sample import encode_png

    return encode_png(Image.fromarray(crop))


def _crops(todo, home, config, add, now):  # noqa: ANN001, ANN202 - a generator of rows
    """(spec, pixels, images row, image_stats row) of each planned crop; `add` stores bytes."""
    for photo, specs in todo:  # one photo decoded at a time; its crops are copies
        rgb, _, _ = decode((home / photo["path"]).read_bytes())
        for spec, crop in cut_crops(rgb, specs):
            yield spec, crop, *_crop_row(crop, photo, spec, config, add, now)
        del rgb


_SAME = ("image_id", "sha256", "photo_split", "prompt", "post")


def _unchanged(warehouse: WarehouseResource, source: str, planned: list[dict], home) -> bool:  # noqa: ANN001
    """True when the published rows are exactly the planned crops and their files exist.

    Re-running keeps paths stable then, so splits recorded earlier still point at files.
    """
    current = warehouse.read_key("real_images", partition_key("real", source))
    if current.height != len(planned) or not current.height:
        return False
    have = {tuple(r[k] for k in _SAME) for r in current.iter_rows(named=True)}
    if have != {tuple(r[k] for k in _SAME) for r in planned}:
        return False
    return all((home / p).is_file() for p in current["path"])


def _crop_row(crop, photo, spec, config, add, now) -> tuple[dict, dict]:  # noqa: ANN001
    """One crop encoded like a fake (or post-processed), its `real_images` and
    `real_image_stats` rows."""
    from PIL import Image

    stem = f"{photo['sha256'][:16]}-{spec.width}x{spec.height}-{spec.index:04d}"
    image_id = f"real:{photo['source']}:{stem}"
    out = apply_post(Image.fromarray(crop), config.post, image_id, seed=config.seed)
    ext = ".png" if out.format == "PNG" else ".jpg"
    row = {
        "image_id": image_id,
        "label": "real",
        "source": photo["source"],
        "path": add(stem + ext, out.data),
        "sha256": sha256_bytes(out.data),
        "width": out.width,
        "height": out.height,
        "format": out.format,
        "mode": "RGB",
        "post": out.post,
        "file_bytes": len(out.data),
        "prompt": photo["caption"],
        "origin": f"{photo['name']}#crop={spec.x},{spec.y},{spec.width},{spec.height}",
        "photo_id": photo["photo_id"],
        "photo_split": photo["photo_split"],
        "created_at": now,
    }
    measure = {
        "image_id": image_id,
        "source": photo["source"],
        "label": "real",
        **image_measures(np.ascontiguousarray(crop)),
        "sha256_ok": True,
    }
    return row, measure
