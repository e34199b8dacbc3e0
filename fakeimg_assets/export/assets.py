"""`dataset_export`: the latest split as a publishable dataset under `$FAKEIMG_HOME/export/`.

The same function as `fakeimg export DIR` (`export.export_dataset`), into
`$FAKEIMG_HOME/export/dataset/`; each shard's rate and ETA go to the run log. Publishing
stays a deliberate act of the CLI (`--push`), never an automatic side effect.
"""

import dagster as dg
import polars as pl

from fakeimg_assets.export.export import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    ExportOptions,
    export_dataset,
)
from fakeimg_assets.lib.metadata_table import table_entries
from resources import WarehouseResource

GROUP = "export"
CODE_VERSION = "1"


class ExportConfig(dg.Config):
    include_restricted: bool = False  # also gated / non-redistributable generators
    max_rows: int = DEFAULT_MAX_ROWS  # images per shard
    max_bytes: int = DEFAULT_MAX_BYTES  # image bytes per shard


@dg.asset(
    group_name=GROUP,
    deps=["detector_dataset"],
    kinds={"parquet"},
    code_version=CODE_VERSION,
    description="The latest detector split as a dataset others load and publish: Parquet "
    "shards with the image bytes (Community Forensics column names), a dataset card and "
    "SHA256SUMS under $FAKEIMG_HOME/export/dataset/ (what `fakeimg export DIR` writes).",
)
def dataset_export(context: dg.AssetExecutionContext, config: ExportConfig,
                   warehouse: WarehouseResource) -> dg.MaterializeResult:
    options = ExportOptions(include_restricted=config.include_restricted,
                            max_rows=config.max_rows, max_bytes=config.max_bytes)
    home = warehouse.store().home
    out = home / "export" / "dataset"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        report = export_dataset(home, out, options, log=context.log.info)
    except (LookupError, ValueError) as exc:
        raise dg.Failure(str(exc)) from exc
    for problem in report.problems:
        context.log.warning(f"left out image {problem.line()}")
    left = [{"model": m, "why": f"quarantined: {w}"} for m, w in report.quarantined.items()]
    left += [{"model": m, "why": f"restricted: {w}"} for m, w in report.restricted.items()]
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(out)),
        "split_id": report.split_id,
        **{f"rows_{split}": n for split, n in report.rows.items()},
        "files": report.n_files,
        "megabytes": round(report.n_bytes / 1e6, 1),
        "seconds": round(report.seconds, 1),
        "failed_images": len(report.problems),
        "restricted_included": config.include_restricted,
        **table_entries("left_out", pl.DataFrame(left, schema={"model": pl.Utf8,
                                                                "why": pl.Utf8})),
    })
