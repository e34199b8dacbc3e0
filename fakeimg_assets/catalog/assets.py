"""The Hub crawl: every text-to-image diffusers model seen, into `hub_models`."""


import dagster as dg

from fakeimg_assets.catalog.selection import merge_catalog
from fakeimg_assets.warehouse.store import parse_time, utcnow
from resources import HubResource, WarehouseResource

GROUP = "catalog"


class CrawlConfig(dg.Config):
    """`limit` 0 crawls everything the Hub lists (newest first)."""

    limit: int = 0
    sort: str = "created_at"


@dg.asset(
    group_name=GROUP,
    kinds={"huggingface", "duckdb"},
    description="Crawl of text-to-image diffusers models on the Hub, upserted into hub_models.",
)
def hub_catalog(
    context: dg.AssetExecutionContext,
    config: CrawlConfig,
    hub: HubResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    if config.limit < 0:
        raise dg.Failure(f"crawl limit must be >= 0, got {config.limit}")
    now = utcnow()
    crawled = []
    try:
        for row in hub.list_text_to_image_models(sort=config.sort, limit=config.limit or None):
            row["created_at"] = parse_time(row["created_at"])
            row["last_modified"] = parse_time(row["last_modified"])
            crawled.append(row)
    except Exception as exc:  # noqa: BLE001 - the catalog is left as it was
        raise dg.Failure(
            f"could not crawl the Hub at {hub.resolved_endpoint()} after {len(crawled)} models: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    previous = warehouse.read("hub_models").to_dicts()
    merged = merge_catalog(previous, crawled, now)
    warehouse.write("hub_models", "all", merged)
    new = len({r["model_id"] for r in crawled} - {r["model_id"] for r in previous})
    context.log.info(f"crawled {len(crawled)} models from {hub.resolved_endpoint()}, {new} new")
    return dg.MaterializeResult(
        metadata={
            "endpoint": hub.resolved_endpoint(),
            "crawled": len(crawled),
            "new_models": new,
            "catalog_size": len(merged),
        }
    )
