"""Real images and the prompt pool (captions of those real images)."""


import hashlib
from pathlib import Path

import dagster as dg
import numpy as np

from fakeimg_assets.models.preview import contact_sheet_markdown
from fakeimg_assets.paths import sha256_bytes
from fakeimg_assets.quality.stats import image_measures
from fakeimg_assets.real.sources import folder_photos, random_crops, skimage_photos
from fakeimg_assets.sampling.sampler import encode_png
from fakeimg_assets.warehouse.store import utcnow
from resources import ImageStoreResource, WarehouseResource

GROUP = "real"


class RealImagesConfig(dg.Config):
    """`folder` empty uses scikit-image's bundled photographs (the offline demo)."""

    folder: str = ""
    source_name: str = ""
    crops_per_photo: int = 24
    crop_size: int = 64
    seed: int = 0


@dg.asset(
    group_name=GROUP,
    kinds={"pillow", "duckdb"},
    description="Real photographs cut into seeded crops at the generators' size, saved as PNG.",
)
def real_images(
    context: dg.AssetExecutionContext,
    config: RealImagesConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
) -> dg.MaterializeResult:
    if config.crops_per_photo < 1:
        raise dg.Failure(f"crops_per_photo must be >= 1, got {config.crops_per_photo}")
    if config.crop_size < 8:
        raise dg.Failure(f"crop_size must be >= 8, got {config.crop_size}")
    if config.folder:
        photos = folder_photos(Path(config.folder))
        source = config.source_name or Path(config.folder).resolve().name
    else:
        photos = skimage_photos()
        source = config.source_name or "skimage"
    rows, stats, pngs = [], [], []
    now = utcnow()
    # files to a fresh version folder, then the rows (the completion marker), then prune
    with image_store.partition_writer("real", source, warehouse) as writer:
        for photo in photos:
            for crop in random_crops(
                photo, config.crops_per_photo, config.crop_size, seed=config.seed
            ):
                png = encode_png(crop.image)
                stem = f"{photo.name.replace('/', '__')}-{crop.index:04d}"
                image_id = f"real:{source}:{stem}"
                x, y, w, h = crop.box
                rows.append(
                    {
                        "image_id": image_id,
                        "label": "real",
                        "source": source,
                        "path": writer.add(f"{stem}.png", png),
                        "sha256": sha256_bytes(png),
                        "width": crop.image.width,
                        "height": crop.image.height,
                        "format": "PNG",
                        "mode": "RGB",
                        "file_bytes": len(png),
                        "prompt": crop.caption,
                        "origin": f"{photo.name}#crop={x},{y},{w},{h}",
                        "created_at": now,
                    }
                )
                stats.append(
                    {
                        "image_id": image_id,
                        "source": source,
                        "label": "real",
                        **image_measures(np.asarray(crop.image.convert("RGB"))),
                        "sha256_ok": True,
                    }
                )
                if len(pngs) < 16 and crop.index == 0:
                    pngs.append(png)
        warehouse.write("image_stats", f"real--{source}", stats)
        writer.commit(rows)
    return dg.MaterializeResult(
        metadata={
            "source": source,
            "n_photos": len(photos),
            "n_images": len(rows),
            "crop_size": config.crop_size,
            "preview": dg.MetadataValue.md(contact_sheet_markdown(pngs)),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[real_images],
    kinds={"duckdb"},
    description="The prompt pool: captions of the real images, each paired with its image.",
)
def prompts(warehouse: WarehouseResource) -> dg.MaterializeResult:
    real = warehouse.query(
        "SELECT image_id, prompt, source FROM images "
        "WHERE label = 'real' AND prompt IS NOT NULL ORDER BY image_id"
    )
    if real.height == 0:
        raise dg.Failure("no captioned real images: materialize real_images first")
    rows = [
        {
            "prompt_id": "p-" + hashlib.sha256(r["image_id"].encode()).hexdigest()[:12],
            "prompt": r["prompt"],
            "source": r["source"],
            "real_image_id": r["image_id"],
        }
        for r in real.iter_rows(named=True)
    ]
    warehouse.write("prompts", "all", rows)
    return dg.MaterializeResult(
        metadata={
            "n_prompts": len(rows),
            "n_distinct": len({r["prompt"] for r in rows}),
        }
    )
