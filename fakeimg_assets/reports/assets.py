"""`model_report`: every model at a glance, refreshed after the per-model stats.

One table of all models the warehouse knows (quarantined first with their reasons, then
those whose latest attempt failed, then those refused by design, then the rest): images, black and duplicate fractions,
the mean quality measures, quarantine and the latest failure. Shown in place in the UI (a
table, its first `MAX_ROWS` rows), written as a PNG under `$FAKEIMG_HOME/plots/`, with the
counts by status. It writes no relation: the rows come from `model_stats`,
`model_metadata` and `model_failures` through DuckDB.
"""


import dagster as dg

from fakeimg_assets.lib.metadata_table import table_entries
from fakeimg_assets.lib.plot_files import plot_metadata
from fakeimg_assets.reports.model_table import model_counts, model_table
from fakeimg_assets.reports.table_png import table_png
from resources import ImageStoreResource, WarehouseResource

GROUP = "reports"
CODE_VERSION = "1"
MAX_ROWS = 100
SHOWN = ("status", "model_id", "family_group", "n_images", "black_fraction",
         "duplicate_fraction", "constant_fraction", "mean_luma", "mean_std_luma", "mean_entropy",
         "mean_laplacian_var", "quarantine_reason", "failed_stage", "latest_failure",
         "failed_at")  # fmt: skip
PNG_COLUMNS = ("status", "model_id", "family_group", "n_images", "black_fraction",
               "duplicate_fraction", "mean_entropy", "quarantine_reason", "failed_stage",
               "latest_failure")  # fmt: skip


def report_condition() -> dg.AutomationCondition:
    """Requested once missing or when any model's stats or metadata were updated, after
    the per-model runs in flight finish (it feeds nothing, so it cannot loop)."""
    ac = dg.AutomationCondition
    return (
        (ac.newly_missing() | ac.any_deps_updated()).since_last_handled()
        & ~ac.any_deps_in_progress()
        & ~ac.in_progress()
    ).with_label("a model's stats or metadata updated")


@dg.asset(
    group_name=GROUP,
    deps=["model_stats", "model_metadata"],
    kinds={"duckdb"},
    code_version=CODE_VERSION,
    automation_condition=report_condition(),
    description="Every model at a glance: quarantined first with the reason, then failed, "
    "then refused by design, then the rest; images, black/duplicate fractions, quality means, latest failure.",
)
def model_report(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
) -> dg.MaterializeResult:
    store = warehouse.store()
    rows = model_table(store, limit=MAX_ROWS)
    counts = model_counts(store)
    context.log.info(f"model report: {counts}")
    shown = rows.select(SHOWN)
    png = table_png(rows.select(PNG_COLUMNS),
                    title=f"every model: {counts['models']} ({counts['quarantined']} quarantined, "
                          f"{counts['failed']} failed, {counts['refused']} refused)",
                    max_rows=MAX_ROWS)  # fmt: skip
    return dg.MaterializeResult(metadata={
        "models": counts["models"],
        "quarantined": counts["quarantined"],
        "failed": counts["failed"],
        "refused": counts["refused"],
        "ok": counts["ok"],
        "no_stats": counts["no_stats"],
        **table_entries("models_table", shown, max_rows=MAX_ROWS),
        **({"models_table_rows_left_out": counts["models"] - shown.height}
           if counts["models"] > shown.height else {}),
        **plot_metadata(image_store.home_dir(), "model_report", png, "every model", key="report"),
    })
