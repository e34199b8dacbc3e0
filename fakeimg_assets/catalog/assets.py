"""The Hub crawl: every text-to-image diffusers model seen, into `hub_models`.

Incremental by default (`catalog/crawl.py`): the head of the newest-first lists between
full sweeps, and a full sweep once `full_sweep_hours` have passed since the last complete
one, so repos that turn public or ungated late still reach the catalogue. The start of
the last complete sweep is carried in each materialization's metadata (`full_sweep_at`).
"""


import dagster as dg

from fakeimg_assets.automation import catalog_freshness
from fakeimg_assets.catalog.crawl import (
    MODES,
    CrawlResult,
    choose_mode,
    crawl_full,
    crawl_incremental,
    state_from_catalog,
)
from fakeimg_assets.catalog.selection import merge_catalog
from fakeimg_assets.warehouse.store import utcnow
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import HubResource, WarehouseResource

CODE_VERSION = "1"  # bump when a change alters the rows this module writes

GROUP = "catalog"


class CrawlConfig(dg.Config):
    """`limit` 0 lists everything (per pass); `mode` auto, full or incremental."""

    limit: int = 0
    sort: str = "created_at"
    mode: str = "auto"
    full_sweep_hours: float = 24.0  # auto: a full sweep when the last is older than this
    overlap_hours: float = 24.0  # incremental: re-list this far behind the previous crawl


def _last_full_sweep(context: dg.AssetExecutionContext) -> object:
    """`full_sweep_at` of this asset's latest materialization, if any."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    materialization = event.asset_materialization if event else None
    entry = materialization.metadata.get("full_sweep_at") if materialization else None
    return entry.value if entry is not None else None


@dg.asset(
    group_name=GROUP,
    code_version=CODE_VERSION,
    freshness_policy=catalog_freshness(),
    kinds={"huggingface", "duckdb"},
    metadata=table_metadata("hub_models"),
    description=(
        "Crawl of text-to-image diffusers models on the Hub, upserted into hub_models: "
        "incremental between full sweeps."
    ),
)
def hub_catalog(
    context: dg.AssetExecutionContext,
    config: CrawlConfig,
    hub: HubResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    if config.limit < 0:
        raise dg.Failure(f"crawl limit must be >= 0, got {config.limit}")
    if config.mode not in MODES:
        raise dg.Failure(f"crawl mode must be one of {list(MODES)}, got {config.mode!r}")
    now = utcnow()
    previous = warehouse.read("hub_models").to_dicts()
    swept_at = _last_full_sweep(context)
    state = state_from_catalog(previous, swept_at)
    try:
        mode = choose_mode(config.mode, state, now, config.full_sweep_hours)
        if mode == "full":
            result: CrawlResult = crawl_full(hub, sort=config.sort, limit=config.limit)
        else:
            result = crawl_incremental(
                hub, state, overlap_hours=config.overlap_hours, limit=config.limit
            )
    except ValueError as exc:
        raise dg.Failure(f"bad crawl config: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - the catalog is left as it was
        raise dg.Failure(
            f"could not crawl the Hub at {hub.resolved_endpoint()}: {type(exc).__name__}: {exc}"
        ) from exc
    merged = merge_catalog(previous, result.rows, now)
    warehouse.write("hub_models", "all", merged)
    new = len({r["model_id"] for r in result.rows} - {r["model_id"] for r in previous})
    if result.complete:
        swept_at = now.isoformat()
    context.log.info(
        f"{mode} crawl listed {len(result.rows)} models from {hub.resolved_endpoint()} "
        f"({result.passes}), {new} new, catalogue {len(merged)}"
    )
    metadata: dict[str, object] = {
        "endpoint": hub.resolved_endpoint(),
        "crawl_mode": mode,
        "crawled": len(result.rows),
        "new_models": new,
        "catalog_size": len(merged),
        **row_count(len(merged)),
    }
    if swept_at is not None:
        metadata["full_sweep_at"] = str(swept_at)
    return dg.MaterializeResult(metadata=metadata)
