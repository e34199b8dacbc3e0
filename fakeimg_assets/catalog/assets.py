"""The catalog's assets: the Hub crawl (`hub_catalog`: every text-to-image diffusers model
seen, into `hub_models`, and `crawl_rejects`) and the census of what the dataset covers
(`hub_census`, rules in `census.py`).

Incremental by default (`catalog/crawl.py`): the head of the newest-first lists between
full sweeps, and a full sweep once `full_sweep_hours` have passed since the last complete
one, so repos that turn public or ungated late still reach the catalogue. The start of
the last complete sweep is carried in each materialization's metadata (`full_sweep_at`).

One step, two tables: `hub_catalog` owns `hub_models`, and `crawl_rejects` owns the
listing entries that step refused (`catalog/listing.py`: an id that is no `org/name`, a
bad sha or time...), one row each, keyed by the crawl's `crawl_id`. A refused entry never
reaches `hub_models`, so it never becomes a partition; rows an earlier crawl stored with an
invalid id (before ids were vetted) are moved from `hub_models` to `crawl_rejects`.
"""


from collections import Counter
from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import Field, field_validator

from fakeimg_assets.automation import catalog_freshness
from fakeimg_assets.catalog.census import census_rows
from fakeimg_assets.catalog.crawl import (
    MODES,
    CrawlResult,
    choose_mode,
    crawl_full,
    crawl_incremental,
    state_from_catalog,
)
from fakeimg_assets.catalog.listing import ListingReject, raw_id_of, reject_rows
from fakeimg_assets.catalog.selection import merge_catalog
from fakeimg_assets.lib.arg_checks import check_choices, field_check
from fakeimg_assets.lib.paths import model_id_problem
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import HubResource, WarehouseResource

CODE_VERSION = "2"  # bump when a change alters the rows hub_catalog writes
CENSUS_CODE_VERSION = "1"  # ... the rows hub_census writes

GROUP = "catalog"
CATALOG = dg.AssetKey("hub_catalog")
REJECTS = dg.AssetKey("crawl_rejects")


class CrawlConfig(dg.Config):
    """`limit` 0 lists everything (per pass); `mode` auto, full or incremental."""

    limit: int = Field(default=0, ge=0, description="List at most this many models (0: all).")
    sort: str = Field(default="created_at", description="Listing order: created_at, "
                      "downloads, last_modified, likes or trending_score.")
    mode: str = Field(default="auto", description="auto, full or incremental.")
    # auto: a full sweep when the last is older than this
    full_sweep_hours: float = Field(default=24.0, gt=0, description="auto mode: a full sweep "
                                    "when the last is older than this many hours.")
    # incremental: re-list this far behind the previous crawl
    overlap_hours: float = Field(default=24.0, ge=0, description="incremental mode: re-list "
                                 "this many hours behind the previous crawl.")
    sort_known = field_validator("sort")(field_check(
        check_choices, ("created_at", "downloads", "last_modified", "likes", "trending_score")))
    mode_known = field_validator("mode")(field_check(check_choices, MODES))


def _last_full_sweep(context: dg.AssetExecutionContext) -> object:
    """`full_sweep_at` of this asset's latest materialization, if any."""
    event = context.instance.get_latest_materialization_event(CATALOG)
    materialization = event.asset_materialization if event else None
    entry = materialization.metadata.get("full_sweep_at") if materialization else None
    return entry.value if entry is not None else None


def crawl_id_of(when: Any, run_id: str) -> str:
    """The id of one crawl: its UTC start to the second and its run (two crawls never share
    one), also its `crawl_rejects` file key."""
    return f"crawl-{when:%Y%m%dT%H%M%S}-{run_id[:8]}"


def split_invalid(previous: list[dict]) -> tuple[list[dict], list[ListingReject]]:
    """Catalogue rows kept, and rejects for rows an earlier crawl stored with an invalid id."""
    kept, dropped = [], []
    for row in previous:
        problem = model_id_problem(row.get("model_id"))
        if problem is None:
            kept.append(row)
        else:
            dropped.append(ListingReject(
                raw_id_of({"id": row.get("model_id")}),
                f"id is not a Hub model id: {problem} (stored by an earlier crawl; removed "
                "from hub_models)",
            ))  # fmt: skip
    return kept, dropped


@dg.multi_asset(
    name="hub_catalog",
    specs=[
        dg.AssetSpec(
            CATALOG, group_name=GROUP, code_version=CODE_VERSION,
            freshness_policy=catalog_freshness(), kinds={"huggingface", "duckdb"},
            metadata=table_metadata("hub_models"),
            description="Crawl of text-to-image diffusers models on the Hub, upserted into "
            "hub_models: incremental between full sweeps.",
        ),
        dg.AssetSpec(
            REJECTS, group_name=GROUP, code_version=CODE_VERSION, kinds={"duckdb"},
            metadata=table_metadata("crawl_rejects"),
            description="Listing entries the crawl refused (an id that is no org/name, a bad "
            "sha or time, ...), with the reason, per crawl (written by hub_catalog).",
        ),
    ],
)
def hub_catalog(
    context: dg.AssetExecutionContext,
    config: CrawlConfig,
    hub: HubResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    if config.limit < 0:
        raise dg.Failure(f"crawl limit must be >= 0, got {config.limit}")
    if config.mode not in MODES:
        raise dg.Failure(f"crawl mode must be one of {list(MODES)}, got {config.mode!r}")
    now = utcnow()
    crawl_id = crawl_id_of(now, context.run_id)
    previous, dropped = split_invalid(warehouse.read("hub_models").to_dicts())
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
    rejects = reject_rows([*result.rejects, *dropped], crawl_id=crawl_id, seen_at=now,
                          run_id=context.run_id)  # fmt: skip
    if rejects:  # before hub_models: a crash between the two loses no record of a refusal
        warehouse.write("crawl_rejects", crawl_id, rejects)
    merged = merge_catalog(previous, result.rows, now)
    warehouse.write("hub_models", "all", merged)
    new = len({r["model_id"] for r in result.rows} - {r["model_id"] for r in previous})
    if result.complete:
        swept_at = now.isoformat()
    context.log.info(
        f"{mode} crawl {crawl_id} listed {len(result.rows)} models from "
        f"{hub.resolved_endpoint()} ({result.passes}), {new} new, catalogue {len(merged)}"
    )
    if rejects:
        shown = "; ".join(f"{r['raw_id'][:100]!r}: {r['reason']}" for r in rejects[:5])
        context.log.warning(
            f"refused {len(rejects)} listing entries (table crawl_rejects, crawl_id "
            f"{crawl_id!r}): {shown}{' ...' if len(rejects) > 5 else ''}"
        )
    metadata: dict[str, object] = {
        "endpoint": hub.resolved_endpoint(),
        "crawl_id": crawl_id,
        "crawl_mode": mode,
        "crawled": len(result.rows),
        "rejected": len(rejects),
        "new_models": new,
        "catalog_size": len(merged),
        **row_count(len(merged)),
    }
    if swept_at is not None:
        metadata["full_sweep_at"] = str(swept_at)
    yield dg.MaterializeResult(asset_key=CATALOG, metadata=metadata)
    yield dg.MaterializeResult(
        asset_key=REJECTS,
        metadata={"crawl_id": crawl_id, "rejected": len(rejects),
                  **row_count(warehouse.read("crawl_rejects").height)},  # fmt: skip
    )


def _fake_counts(warehouse: WarehouseResource) -> dict[str, int]:
    """Sampled images per model, counted by DuckDB in the scan (one row per model comes
    back, never the image rows: 3 M of them at research scale)."""
    counts = warehouse.query("SELECT source, count(*) AS n FROM images WHERE label = 'fake' "
                             "GROUP BY source")
    if counts.height == 0:
        return {}
    return dict(zip(counts["source"].to_list(), counts["n"].to_list(), strict=True))


@dg.asset(
    group_name=GROUP,
    code_version=CENSUS_CODE_VERSION,
    deps=["hub_catalog"],
    kinds={"duckdb"},
    metadata=table_metadata("hub_census"),
    description="Coverage of the crawled Hub by kind and pipeline class / base model: "
    "eligible, sampled, quarantined, failed, coverage and what holds repos back.",
)
def hub_census(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    models = warehouse.read("hub_models")
    if models.height == 0:
        raise dg.Failure("hub_models is empty: materialize hub_catalog (the crawl) first")
    crawled_at = models["last_seen_at"].max()
    crawl_id = f"crawl-{crawled_at:%Y%m%dT%H%M%S}"
    stats = warehouse.read("model_stats")
    quarantined = stats.filter(stats["quarantined"])["model_id"].to_list() if stats.height else []
    rows = census_rows(
        models.to_dicts(),
        warehouse.read("model_metadata").to_dicts(),
        _fake_counts(warehouse),
        quarantined,
        warehouse.read("model_failures").to_dicts(),
        crawl_id=crawl_id,
        crawled_at=crawled_at,
    )
    warehouse.write("hub_census", crawl_id, rows)
    per_kind = Counter()
    for r in rows:
        per_kind[f"{r['kind']}_models"] += r["n_models"]
        per_kind[f"{r['kind']}_sampled"] += r["n_sampled"]
    context.log.info(f"census of {crawl_id}: {dict(per_kind)}")
    return dg.MaterializeResult(
        metadata={"crawl_id": crawl_id, **{k: int(v) for k, v in per_kind.items()},
                  **row_count(len(rows))},
    )
