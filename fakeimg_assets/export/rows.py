"""The rows to export: every image of the platform's latest split, with its generator's
metadata, and the generators left out (quarantined, restricted) with the reason.

Reads `split_versions` (latest split), `detector_splits` (the split's rows: side, label,
architecture, family group), `images` (file path, sha256, sampling settings),
`model_metadata` (licence, gating, kind, base model: the latest row per model) and
`model_stats` (quarantine, as it stands now: a model quarantined after the split was cut
is still left out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from fakeimg_assets.export.licences import restriction
from fakeimg_assets.warehouse.store import Warehouse

ROWS_SQL = """
WITH meta AS (
    SELECT * FROM model_metadata
    QUALIFY row_number() OVER (PARTITION BY model_id ORDER BY fetched_at DESC NULLS LAST) = 1
), stats AS (
    SELECT * FROM model_stats
    QUALIFY row_number() OVER (PARTITION BY model_id ORDER BY computed_at DESC NULLS LAST) = 1
)
SELECT s.split_id, s.split, s.image_id, s.label AS label_text, s.source,
       coalesce(s.architecture, m.architecture, i.architecture) AS architecture,
       coalesce(s.family_group, m.family_group) AS family_group,
       coalesce(s.collection, m.collection) AS collection,
       i.path, i.sha256, i.width, i.height, i.format, i.mode, i.file_bytes, i.prompt,
       i.seed, i.steps, i.guidance_scale, i.scheduler,
       coalesce(i.revision, m.revision) AS revision,
       coalesce(i.pipeline_class, m.pipeline_class) AS pipeline_class, i.post, i.created_at,
       i.prompt_id, i.image_index, i.batch_size, i.dtype, i.device, i.torch_threads,
       i.library_versions, i.origin, i.photo_id,
       m.kind, m.base_model, m.license, m.gated,
       coalesce(st.quarantined, false) AS quarantined, st.quarantine_reason
FROM detector_splits s
JOIN images i USING (image_id)
LEFT JOIN meta m ON m.model_id = s.source AND s.label = 'fake'
LEFT JOIN stats st ON st.model_id = s.source AND s.label = 'fake'
WHERE s.split_id = ?
ORDER BY s.split, s.source, s.image_id
"""


@dataclass
class ExportRows:
    """The rows to write and what was left out, per generator."""

    split_id: str
    rows: pl.DataFrame  # one per image, export columns but `image_data`, plus `path`
    split_counts: dict[str, int]  # images per side in the split, before any exclusion
    quarantined: dict[str, str] = field(default_factory=dict)  # model -> reason
    restricted: dict[str, str] = field(default_factory=dict)  # model -> reason
    licences: dict[str, str | None] = field(default_factory=dict)  # every generator's licence


def latest_split_id(store: Warehouse) -> str:
    rows = store.query(
        "SELECT split_id FROM split_versions ORDER BY created_at DESC, split_id LIMIT 1")
    if rows.height == 0:
        raise LookupError("no split yet: materialize detector_dataset (or `fakeimg run`) first")
    return rows["split_id"][0]


def export_rows(store: Warehouse, *, include_restricted: bool = False,
                split_id: str | None = None) -> ExportRows:
    """The latest split's rows (or `split_id`'s), quarantined generators removed and
    restricted ones removed unless `include_restricted`."""
    split_id = split_id or latest_split_id(store)
    raw = store.query(ROWS_SQL, params=[split_id])
    total = store.query("SELECT split, count(*) AS n FROM detector_splits WHERE split_id = ? "
                        "GROUP BY split", params=[split_id])
    if raw.height == 0:
        raise LookupError(f"split {split_id!r} has no rows with an image in `images`")
    fakes = raw.filter(pl.col("label_text") == "fake")
    gens = fakes.group_by("source").agg(pl.col("license").first(), pl.col("gated").first(),
                                        pl.col("quarantined").any(),
                                        pl.col("quarantine_reason").drop_nulls().first())
    out = ExportRows(split_id, raw, dict(zip(total["split"], total["n"], strict=True)))
    why_restricted: dict[str, str] = {}
    for g in gens.sort("source").iter_rows(named=True):
        out.licences[g["source"]] = g["license"]
        if g["quarantined"]:
            out.quarantined[g["source"]] = g["quarantine_reason"] or "quarantined"
            continue
        reason = restriction(g["license"], g["gated"])
        if reason:
            out.restricted[g["source"]] = reason
            why_restricted[g["source"]] = reason
    dropped = set(out.quarantined) | (set() if include_restricted else set(out.restricted))
    rows = raw.filter(~pl.col("source").is_in(sorted(dropped)) | (pl.col("label_text") != "fake"))
    out.rows = to_export_frame(rows, why_restricted)
    return out


def to_export_frame(rows: pl.DataFrame, restricted: dict[str, str]) -> pl.DataFrame:
    """Warehouse rows as export columns (all but `image_data`), plus `path` to read from."""
    fake = pl.col("label_text") == "fake"
    return rows.select(
        pl.col("path").str.split("/").list.last().alias("image_name"),
        pl.col("format"),
        pl.format("{}x{}", pl.col("width"), pl.col("height")).alias("resolution"),
        pl.col("mode"),
        pl.when(fake).then(pl.col("source")).alias("model_name"),
        pl.lit(None, dtype=pl.Boolean).alias("nsfw_flag"),
        pl.col("prompt"),
        pl.when(~fake).then(pl.col("source")).alias("real_source"),
        pl.col("split"),
        fake.cast(pl.Int64).alias("label"),
        pl.when(fake).then(pl.col("architecture")).alias("architecture"),
        "image_id", "source", "sha256", "width", "height", "file_bytes", "revision", "seed",
        "steps", "guidance_scale", "scheduler", "pipeline_class", "post", "prompt_id",
        "image_index", "batch_size", "dtype", "device", "torch_threads", "library_versions",
        "origin", "photo_id",
        pl.when(fake).then(pl.col("family_group")).alias("family_group"),
        pl.when(fake).then(pl.col("kind")).alias("kind"),
        "collection", "base_model",
        pl.when(fake).then(pl.col("license")).alias("license"),
        pl.when(fake).then(pl.col("gated")).alias("gated"),
        pl.when(fake).then(pl.col("source").replace_strict(
            restricted, default=None, return_dtype=pl.Utf8)).alias("restricted"),
        "split_id", "created_at", "path",
    )
