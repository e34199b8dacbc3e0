"""Image collections in the warehouse: `image_collections` (what was added: one row per
collection x generator, and every file or line a source had that was not taken) and
`collection_reals` (a collection's own real images, published like real crops).

`fakeimg collection add` stages a source under `$FAKEIMG_HOME/collections/<name>/`
(`stage.py`), adds one `hub_models` partition per generator and materializes these assets
and the per-model ones; the UI can re-materialize them from the staged manifests.
"""


import io
from collections.abc import Iterator

import dagster as dg
import numpy as np

from fakeimg_assets.collections.manifest import collection_dir, list_manifests
from fakeimg_assets.integrity.publish import partition_key
from fakeimg_assets.lib.paths import COLLECTION_PREFIX, collection_key, sha256_bytes
from fakeimg_assets.lib.png import encode_png
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.models.preview import preview_metadata
from fakeimg_assets.quality.stats import image_measures
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import ImageStoreResource, WarehouseResource

GROUP = "collections"
CODE_VERSION = "1"  # bump when a change alters what these assets write (marks them stale)
REAL_STATS = "collection_real_image_stats"


def collection_rows(manifest) -> tuple[list[dict], list[dict]]:  # noqa: ANN001 - a Manifest
    """(`collections` rows, `collection_rejects` rows) of one staged collection."""
    import datetime as dt

    added = dt.datetime.fromisoformat(str(manifest.added_at))
    rows = [{
        "collection": manifest.name, "generator": g.generator,
        "model_id": collection_key(manifest.name, g.generator), "generator_name": g.name,
        "role": manifest.role, "family_group": g.family_group, "family": g.family,
        "architecture": g.architecture,
        "release_date": dt.date.fromisoformat(g.release_date) if g.release_date else None,
        "license": g.license, "n_images": g.n_images, "n_bytes": g.n_bytes,
        "n_real": len(manifest.reals), "digest": g.digest, "source": manifest.source,
        "source_kind": manifest.source_kind, "source_revision": manifest.source_revision,
        "revision": manifest.revision, "added_at": added,
    } for g in manifest.generators]  # fmt: skip
    rejects = [{"collection": manifest.name, "generator": p.generator, "file": p.file,
                "reason": p.reason, "added_at": added} for p in manifest.problems]
    return rows, rejects


@dg.multi_asset(
    name="image_collections",
    specs=[
        dg.AssetSpec(
            "image_collections", group_name=GROUP, kinds={"duckdb"}, code_version=CODE_VERSION,
            metadata=table_metadata("collections"),
            description="Image collections added with `fakeimg collection add`: one row per "
            "collection x generator (role, family group, architecture, release date, license, "
            "counts). Each generator is a hub_models partition `collection--<name>/<gen>`.",
        ),
        dg.AssetSpec(
            "collection_rejects", group_name=GROUP, kinds={"duckdb"}, code_version=CODE_VERSION,
            metadata=table_metadata("collection_rejects"),
            description="Every file or CSV line of a collection's source that was not taken, "
            "with the reason (written by image_collections).",
        ),
    ],
)
def image_collections(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource,
    image_store: ImageStoreResource,
) -> Iterator[dg.MaterializeResult]:
    manifests = list_manifests(image_store.home_dir())
    n_rows = n_rejects = 0
    summary = {}
    for m in manifests:
        rows, rejects = collection_rows(m)
        warehouse.write("collections", m.name, rows)
        warehouse.write("collection_rejects", m.name, rejects)
        n_rows, n_rejects = n_rows + len(rows), n_rejects + len(rejects)
        summary[m.name] = {"role": m.role, "generators": len(rows), "reals": len(m.reals),
                           "rejected": len(rejects)}
    yield dg.MaterializeResult(
        asset_key="image_collections",
        metadata={"collections": dg.MetadataValue.json(summary), **row_count(n_rows)},
        data_version=dg.DataVersion(sha256_bytes(
            "".join(sorted(m.revision + m.role for m in manifests)).encode())[:16]),
    )
    yield dg.MaterializeResult(asset_key="collection_rejects", metadata=row_count(n_rejects))


def real_source(name: str) -> str:
    """The `images.source` of a collection's own reals."""
    return f"{COLLECTION_PREFIX}{name}"


def _real_rows(manifest, home, add, now) -> Iterator[tuple[dict, dict, bytes]]:  # noqa: ANN001
    """(`images` row, stats row, first-16 preview PNG or b'') per staged real image."""
    from PIL import Image

    source = real_source(manifest.name)
    folder = collection_dir(home, manifest.name)
    for index, rec in enumerate(sorted(manifest.reals, key=lambda r: r.sha256)):
        data = (folder / rec.file).read_bytes()
        if sha256_bytes(data) != rec.sha256:
            raise ValueError(f"collection {manifest.name!r}: staged real {rec.file} no longer "
                             "matches its sha256 in the manifest; add the collection again")
        stem = rec.sha256[:16]
        image_id = f"real:{source}:{stem}"
        ext = rec.file.rsplit(".", 1)[-1]
        with Image.open(io.BytesIO(data)) as im:
            rgb = np.asarray(im.convert("RGB"))
        row = {
            "image_id": image_id, "label": "real", "source": source,
            "path": add(f"{stem}.{ext}", data), "sha256": rec.sha256, "width": rec.width,
            "height": rec.height, "format": rec.format, "mode": rec.mode,
            "file_bytes": len(data), "prompt": rec.prompt, "origin": rec.original,
            "photo_id": f"{source}:{stem}", "created_at": now,
        }
        stats = {"image_id": image_id, "source": source, "label": "real",
                 **image_measures(rgb), "sha256_ok": True}
        preview = encode_png(Image.fromarray(rgb)) if index < 16 else b""
        yield row, stats, preview


@dg.multi_asset(
    name="collection_reals",
    specs=[
        dg.AssetSpec(
            "collection_reals", group_name=GROUP, deps=["image_collections"],
            kinds={"pillow", "duckdb"}, code_version=CODE_VERSION,
            metadata=table_metadata("collection_real_images"),
            description="A collection's own real images (its `real/` folder or label-0 rows), "
            "as they came, one partition per collection; in the `images` view.",
        ),
        dg.AssetSpec(
            REAL_STATS, group_name=GROUP, deps=["image_collections"],
            kinds={"numpy", "duckdb"}, code_version=CODE_VERSION,
            metadata=table_metadata(REAL_STATS),
            description="Quality measures of the collections' real images (written by "
            "collection_reals).",
        ),
    ],
)
def collection_reals(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource,
    image_store: ImageStoreResource,
) -> Iterator[dg.MaterializeResult]:
    home, now = image_store.home_dir(), utcnow()
    n_rows, previews, per_collection = 0, [], {}
    for m in list_manifests(home):
        if not m.reals:
            continue
        source = real_source(m.name)
        stats = []
        with image_store.partition_writer("real", source, warehouse) as writer:
            rows = []
            for row, stat, preview in _real_rows(m, home, writer.add, now):
                rows.append(row)
                stats.append(stat)
                if preview and len(previews) < 16:
                    previews.append(preview)
            warehouse.write(REAL_STATS, partition_key("real", source), stats)
            writer.commit(rows)
        n_rows += len(rows)
        per_collection[m.name] = len(rows)
    yield dg.MaterializeResult(
        asset_key="collection_reals",
        metadata={
            "per_collection": dg.MetadataValue.json(per_collection),
            **row_count(n_rows),
            **preview_metadata(home, "real", "collection_reals", previews),
        },
    )
    yield dg.MaterializeResult(asset_key=REAL_STATS, metadata=row_count(n_rows))
