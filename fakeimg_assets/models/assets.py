"""Per-model assets, partitioned by Hub model id: `model_metadata` (the pinned revision and
download plan), `sampled_images` (seeded PNGs on disk, a `fake_images` row each) and
`image_quality_stats` (per-image quality measures, a sha256 re-check, the model's aggregate
and its quarantine).

`image_quality_stats` is one step with two assets: it owns `fake_image_stats` (per image)
and `model_stats` owns the per-model aggregate, so each table has one owning asset with its
own row counts. The step always materializes both (the multi-asset cannot be subset).
"""


import json
import time
from collections.abc import Iterator

import dagster as dg
import numpy as np
from pydantic import Field, field_validator

from fakeimg_assets.automation import per_model_condition, stats_condition
from fakeimg_assets.collections.ingest import collection_of
from fakeimg_assets.collections.ingest import image_rows as collection_image_rows
from fakeimg_assets.collections.ingest import metadata_row as collection_metadata_row
from fakeimg_assets.integrity.check import FILES_CONSISTENT_SPEC, files_consistent_result
from fakeimg_assets.lib.arg_checks import check_post, field_check
from fakeimg_assets.lib.family_groups import of_pipeline
from fakeimg_assets.lib.metadata_table import readable
from fakeimg_assets.lib.paths import (
    model_slug,
    sha256_bytes,
    sha256_file,
    validate_partition_key,
)
from fakeimg_assets.lib.png import encode_png
from fakeimg_assets.lib.times import parse_time, utcnow
from fakeimg_assets.models.checks import (
    NOT_DEGENERATE_SPEC,
    not_degenerate_result,
    refused_check_result,
)
from fakeimg_assets.models.failures import record_failures
from fakeimg_assets.models.preview import preview_metadata
from fakeimg_assets.models.refusals import (
    OK,
    OUTCOME,
    SAMPLED,
    refused_metadata,
    refused_version,
    upstream_refusal,
)
from fakeimg_assets.models.sampling_settings import OUTPUT_FIELDS, read_home_settings, resolve
from fakeimg_assets.models.unchanged import (
    FINGERPRINT,
    fingerprint,
    prompts_sha,
    unchanged_result,
    unchanged_since,
)
from fakeimg_assets.partitions import hub_models_partitions
from fakeimg_assets.quality.stats import image_measures, model_aggregate
from fakeimg_assets.real.post import post_process
from fakeimg_assets.sampling.fetch import prepare, release_weights
from fakeimg_assets.sampling.limits import Deadline, limits_of
from fakeimg_assets.sampling.remote_plan import fetch_plan
from fakeimg_assets.sampling.sample import check_inputs, image_requests
from fakeimg_assets.sampling.types import SamplingParams
from fakeimg_assets.splits.lineage import base_model_columns
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import ComputeResource, HubResource, ImageStoreResource, WarehouseResource
from resources.hub import license_from_tags

GROUP = "per_model"
CODE_VERSION = "1"  # bump when a change alters what these write: partitions turn stale


_FROM_HOME = " Empty: the home's setting ($FAKEIMG_HOME/settings/sampling.json, written by " \
    "`fakeimg run`), else "


class SamplingConfig(dg.Config):
    """Per-run sampling settings. A field left empty takes the home's setting (what
    `fakeimg run` last sampled with), else the code default: a UI backfill with the launch
    dialog's empty config draws what `fakeimg run` drew. The resolved values are recorded
    on the materialization (`sampling_config`)."""

    images_per_model: int | None = Field(
        default=None, ge=1, description="Images to draw for the model." + _FROM_HOME + "16.")
    steps: int | None = Field(
        default=None, ge=1, description="Denoising steps (>= 1)." + _FROM_HOME + "the recipe's default.")
    guidance_scale: float | None = Field(
        default=None, ge=0, description="Classifier-free guidance." + _FROM_HOME
        + "the recipe's default.")
    height: int | None = Field(
        default=None, ge=8, multiple_of=8, description="Image height in pixels (a multiple of 8)." + _FROM_HOME
        + "the recipe's default.")
    width: int | None = Field(
        default=None, ge=8, multiple_of=8, description="Image width in pixels (a multiple of 8)." + _FROM_HOME
        + "the recipe's default.")
    post: str | None = Field(
        default=None, description="Post-processing applied to every image, as to reals "
        "(e.g. 'jpeg:70-95'; fakeimg_assets/real/post.py)." + _FROM_HOME + "none.")
    max_seconds: float = Field(
        default=3600.0, gt=0, description="The partition's time budget in seconds (refused as "
        "ResourceLimitError between batches once spent).")
    keep_weights: bool = Field(
        default=False, description="Keep the model's downloaded weights in the Hub cache "
        "after sampling (default: remove them).")
    force: bool = Field(
        default=False, description="Sample again even when the partition's images were "
        "drawn at the same revision with the same settings and prompt pool and are intact "
        "on disk (otherwise such a run materializes as 'unchanged' without sampling).")

    post_parses = field_validator("post")(field_check(check_post))

    def asked(self) -> dict[str, object]:
        """The output fields as asked (None: not set here)."""
        return {k: getattr(self, k) for k in OUTPUT_FIELDS}


@dg.asset(
    partitions_def=hub_models_partitions,
    group_name=GROUP,
    automation_condition=per_model_condition(),
    kinds={"huggingface", "duckdb"},
    code_version=CODE_VERSION, metadata=table_metadata("model_metadata"),
    description="Pinned revision, pipeline class, architecture, license and download plan.",
)
def model_metadata(
    context: dg.AssetExecutionContext, hub: HubResource, warehouse: WarehouseResource,
    image_store: ImageStoreResource,
) -> dg.MaterializeResult:
    model_id = validate_partition_key(context.partition_key)
    if collection_of(model_id):
        return _collection_metadata(context, model_id, warehouse, image_store)
    with record_failures(context, warehouse, model_id, "model_metadata") as stage:
        stage.name = "plan"
        remote = fetch_plan(hub, model_id)
        plan, info = remote.plan, remote.info
        scheduler = (remote.model_index.get("scheduler") or [None, None])[1]
        gated = getattr(info, "gated", None)
        card = getattr(info, "card_data", None)
        license_ = getattr(card, "license", None) or license_from_tags(getattr(info, "tags", None))
        row = {
            "model_id": model_id,
            "revision": remote.revision,
            "pipeline_class": plan.pipeline_class,
            "architecture": plan.architecture,
            "recipe": plan.recipe,
            "license": license_,
            "gated": "false" if gated in (None, False) else str(gated),
            "created_at": parse_time(getattr(info, "created_at", None)),
            "last_modified": parse_time(getattr(info, "last_modified", None)),
            "repo_bytes": plan.repo_bytes,
            "downloaded_bytes": plan.downloaded_bytes,
            "n_repo_files": plan.n_repo_files,
            "n_downloaded_files": len(plan.files),
            "weights_variant": plan.variant,
            "scheduler": scheduler,
            "components": plan.components_json(),
            "skipped_files": json.dumps(list(plan.skipped)),
            "file_sha256": plan.sha256_json(),
            **base_model_columns(getattr(card, "base_model", None)),
            **plan.derived_columns(),
            "family_group": of_pipeline(plan.pipeline_class),
            "fetched_at": utcnow(),
        }
        stage.name = "write"
        warehouse.write("model_metadata", model_slug(model_id), [row])
    if stage.refusal:
        return refused_result(stage.refusal)
    ratio = plan.downloaded_bytes / plan.repo_bytes if plan.repo_bytes else 1.0
    return dg.MaterializeResult(
        metadata={
            OUTCOME: OK,
            "revision": remote.revision,
            "pipeline_class": plan.pipeline_class,
            "architecture": plan.architecture,
            "license": str(license_),
            "repo_bytes": plan.repo_bytes,
            "download_bytes": plan.downloaded_bytes,
            "download_ratio": float(round(ratio, 4)),
            "files_skipped": len(plan.skipped),
            **row_count(1, partitioned=True),
        },
        data_version=dg.DataVersion(remote.revision),
    )


def _collection_metadata(context: dg.AssetExecutionContext, key: str,
                         warehouse: WarehouseResource, image_store: ImageStoreResource,
                         ) -> dg.MaterializeResult:  # fmt: skip
    """A collection generator's row, from its staged manifest (no Hub involved)."""
    with record_failures(context, warehouse, key, "model_metadata") as stage:
        stage.name = "manifest"
        row = collection_metadata_row(image_store.home_dir(), key)
        stage.name = "write"
        warehouse.write("model_metadata", model_slug(key), [row])
    if stage.refusal:
        return refused_result(stage.refusal)
    return dg.MaterializeResult(
        metadata={
            OUTCOME: OK,
            "kind": "collection",
            "collection": row["collection"],
            "family_group": row["family_group"],
            "architecture": str(row["architecture"]),
            "license": str(row["license"]),
            "n_images": row["n_repo_files"],
            **row_count(1, partitioned=True),
        },
        data_version=dg.DataVersion(row["revision"]),
    )


@dg.asset(
    partitions_def=hub_models_partitions,
    group_name=GROUP,
    automation_condition=per_model_condition(),
    deps=[model_metadata, "prompts"],
    kinds={"pytorch", "diffusers", "duckdb"},
    pool="gpu",
    check_specs=[FILES_CONSISTENT_SPEC],
    code_version=CODE_VERSION, metadata=table_metadata("fake_images"),
    description="Seeded images of one model as PNG on disk, one `fake_images` row per image.",
)
def sampled_images(
    context: dg.AssetExecutionContext,
    config: SamplingConfig,
    hub: HubResource,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    model_id = validate_partition_key(context.partition_key)
    slug = model_slug(model_id)
    t0 = time.perf_counter()
    refused = upstream_refusal(context, "model_metadata")
    if refused:  # the metadata step refused the model: so does this one, with its reason
        return refused_result(refused, image_store=image_store, slug=slug)
    # empty fields: the home's settings (a bad settings file fails here, naming the file)
    settings = resolve(config.asked(), read_home_settings(image_store.home_dir()))
    if collection_of(model_id):
        return _collection_images(context, config, settings, model_id, warehouse, image_store)
    with record_failures(context, warehouse, model_id, "sampled_images") as stage:
        stage.name = "check_inputs"
        meta = warehouse.read_key("model_metadata", slug)
        if meta.height == 0:
            raise ValueError(f"no model_metadata row for {model_id}; materialize model_metadata first")
        revision = meta["revision"][0]
        prompt_rows = warehouse.read("prompts").sort("prompt_id")
        prompts = list(zip(prompt_rows["prompt_id"], prompt_rows["prompt"], strict=True))
        # a LoRA or single file samples on the base revision its metadata recorded
        base_revision = meta["base_revision"][0] if "base_revision" in meta.columns else None
        drawn_from = fingerprint(
            revision=revision, base_revision=base_revision, settings=settings,
            prompts=prompts_sha(prompts),
            code_version=context.assets_def.code_versions_by_key.get(context.asset_key),
        )
        previous = None if config.force else unchanged_since(
            context.instance, model_id, drawn_from, image_store.home_dir(), slug)
        if previous is not None:  # the same request, already drawn and intact: no work
            return unchanged_result(
                previous, seconds=time.perf_counter() - t0,
                check=files_consistent_result(image_store.home_dir(), "fake", slug))
        limits = limits_of(hub, max_seconds=config.max_seconds)
        deadline = Deadline(limits.max_seconds)
        remote = fetch_plan(hub, model_id, revision, limits, base_revision=base_revision)
        params = SamplingParams(
            n_images=settings["images_per_model"],
            steps=settings["steps"],
            guidance_scale=settings["guidance_scale"],
            height=settings["height"],
            width=settings["width"],
            batch_size=compute.batch_size,
        )
        check_inputs(remote.model_index, remote.plan, params, limits)
        requests = image_requests(model_id, params.n_images, prompts)

        stage.name = "download"
        prepared = prepare(model_id, revision, remote.plan, hub.download, limits)
        try:
            outcome = compute.sample(
                prepared, requests, params, deadline=deadline, home=image_store.home_dir(),
                on_stage=lambda name: setattr(stage, "name", name),
                on_progress=context.log.info,  # `sampled 8/16 images, 3.2 img/s, ETA 2.5 s`
            )
        finally:  # a failed partition must not leave gigabytes behind either
            if not config.keep_weights:
                release_weights(prepared)
        result = outcome.run

        stage.name = "write"
        writer = image_store.partition_writer("fake", slug, warehouse)
        rows, files = [], {}
        now = utcnow()
        versions = json.dumps(result.library_versions, sort_keys=True)
        for img in result.images:
            image_id = f"fake:{model_id}:{img.request.index:05d}"
            out = post_process(img, settings["post"], image_id)
            name = f"{img.request.index:05d}.{'png' if out.format == 'PNG' else 'jpg'}"
            files[name] = out.data
            rows.append(
                {
                    "image_id": image_id,
                    "label": "fake",
                    "source": model_id,
                    "path": writer.path_of(name),
                    "sha256": sha256_bytes(out.data),
                    "width": out.width,
                    "height": out.height,
                    "format": out.format,
                    "mode": img.mode,
                    "post": out.post,
                    "file_bytes": len(out.data),
                    "prompt": img.request.prompt,
                    "prompt_id": img.request.prompt_id,
                    "seed": img.request.seed,
                    "steps": result.steps,
                    "guidance_scale": result.guidance_scale,
                    "scheduler": result.scheduler,
                    "revision": revision,
                    "pipeline_class": result.pipeline_class,
                    "architecture": remote.plan.architecture,
                    "image_index": img.request.index,
                    "batch_size": result.batch_size,
                    "dtype": result.dtype,
                    "device": result.device,
                    "library_versions": versions,
                    "torch_threads": result.torch_threads,
                    "created_at": now,
                }
            )
        # files to a fresh version folder, then the rows (the completion marker), then prune
        writer.publish(files, rows)
    if stage.refusal:
        return refused_result(stage.refusal, image_store=image_store, slug=slug)
    return dg.MaterializeResult(
        metadata={
            OUTCOME: SAMPLED,
            "n_images": len(rows),
            **row_count(len(rows), partitioned=True),
            # the resolved settings (fakeimg run reads them) and what the images came from
            "sampling_config": dg.MetadataValue.json({**config.model_dump(), **settings}),
            FINGERPRINT: dg.MetadataValue.json(drawn_from),
            "total_seconds": float(round(time.perf_counter() - t0, 3)),
            "revision": revision,
            "scheduler": result.scheduler,
            "steps": result.steps,
            "device": result.device,
            "sampler": dg.MetadataValue.json(outcome.worker),
            "load_seconds": float(round(outcome.load_seconds, 3)),
            "sample_seconds": float(round(outcome.sample_seconds, 3)),
            "images_per_second": float(round(len(rows) / max(outcome.sample_seconds, 1e-9), 3)),
            **preview_metadata(image_store.home_dir(), "fake", slug,
                               [i.png for i in result.images[:16]]),
        },
        data_version=dg.DataVersion(
            sha256_bytes("".join(r["sha256"] for r in rows).encode())[:16]
        ),
        check_results=[files_consistent_result(image_store.home_dir(), "fake", slug)],
    )


def _collection_images(context: dg.AssetExecutionContext, config: SamplingConfig,
                       settings: dict, key: str, warehouse: WarehouseResource,
                       image_store: ImageStoreResource) -> dg.MaterializeResult:  # fmt: skip
    """A collection generator's staged images published as its fakes (nothing sampled)."""
    from PIL import Image

    slug = model_slug(key)
    t0 = time.perf_counter()
    with record_failures(context, warehouse, key, "sampled_images") as stage:
        stage.name = "check_inputs"
        meta = warehouse.read_key("model_metadata", slug)
        if meta.height == 0:
            raise ValueError(f"no model_metadata row for {key}; materialize model_metadata first")
        stage.name = "write"
        home = image_store.home_dir()
        with image_store.partition_writer("fake", slug, warehouse) as writer:
            rows = list(collection_image_rows(home, key, settings["post"], writer.add))
            writer.commit(rows)
    if stage.refusal:
        return refused_result(stage.refusal, image_store=image_store, slug=slug)
    previews = []
    for r in rows[:16]:
        with Image.open(image_store.absolute(r["path"])) as im:
            previews.append(encode_png(im.convert("RGB")))
    formats: dict[str, int] = {}
    for r in rows:
        formats[str(r["format"])] = formats.get(str(r["format"]), 0) + 1
    return dg.MaterializeResult(
        metadata={
            OUTCOME: OK,
            "n_images": len(rows),
            **row_count(len(rows), partitioned=True),
            "sampling_config": dg.MetadataValue.json({**config.model_dump(), **settings}),
            "kind": "collection",
            "formats": dg.MetadataValue.json(formats),
            "total_seconds": float(round(time.perf_counter() - t0, 3)),
            "revision": meta["revision"][0],
            **preview_metadata(home, "fake", slug, previews),
        },
        data_version=dg.DataVersion(
            sha256_bytes("".join(r["sha256"] for r in rows).encode())[:16]
        ),
        check_results=[files_consistent_result(home, "fake", slug)],
    )


STATS_TABLE = "fake_image_stats"
MODEL_STATS = dg.AssetKey("model_stats")


def _spec(key: str, table: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, group_name=GROUP, automation_condition=stats_condition(), deps=[sampled_images],
        kinds={"numpy", "duckdb"}, code_version=CODE_VERSION, metadata=table_metadata(table),
        description=description,
    )


@dg.multi_asset(
    name="image_quality_stats",
    partitions_def=hub_models_partitions,
    specs=[
        _spec("image_quality_stats", STATS_TABLE,
              "Per-image quality measures and sha256 re-check of one model's sampled images."),
        _spec("model_stats", "model_stats",
              "Per-model quality aggregates and quarantine (written by image_quality_stats)."),
    ],
    check_specs=[NOT_DEGENERATE_SPEC],
)
def image_quality_stats(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    model_id = validate_partition_key(context.partition_key)
    slug = model_slug(model_id)
    refused = upstream_refusal(context, "sampled_images")
    if refused:  # no images to measure: materialized as refused, the check says why
        yield from refused_stats(refused)
        return
    with record_failures(context, warehouse, model_id, "image_quality_stats") as stage:
        stage.name = "read"
        images = warehouse.read_key("fake_images", f"fake--{slug}")
        if images.height == 0:
            raise ValueError(f"no sampled images recorded for {model_id}; run sampled_images first")
        stage.name = "measure"
        per_image = measure_images(images.to_dicts(), image_store)
        agg = model_aggregate(per_image)
        stage.name = "write"
        warehouse.write(STATS_TABLE, f"fake--{slug}", per_image)
        warehouse.write(
            "model_stats", slug, [{"model_id": model_id, **agg, "computed_at": utcnow()}]
        )
    if stage.refusal:
        yield from refused_stats(stage.refusal)
        return
    summary = {
        OUTCOME: OK,
        "n_images": agg["n_images"],
        "black_fraction": readable(float(agg["black_fraction"])),
        "duplicate_fraction": readable(float(agg["duplicate_fraction"])),
        "mean_entropy": readable(float(agg["mean_entropy"] or 0.0)),
        "quarantined": bool(agg["quarantined"]),
        "quarantine_reason": str(agg["quarantine_reason"] or ""),
    }
    yield dg.MaterializeResult(
        asset_key="image_quality_stats",
        metadata={**summary, **row_count(len(per_image), partitioned=True)},
        check_results=[not_degenerate_result(agg)],
    )
    yield dg.MaterializeResult(
        asset_key=MODEL_STATS, metadata={**summary, **row_count(1, partitioned=True)}
    )


def refused_result(reason: str, *, image_store: ImageStoreResource | None = None,
                   slug: str = "") -> dg.MaterializeResult:  # fmt: skip
    """A refused partition's materialization: the verdict and no rows; for `sampled_images`
    (`image_store` given) with its blocking files check, run as always (a refusal leaves the
    partition's files as they were)."""
    checks = []
    if image_store is not None:
        checks = [files_consistent_result(image_store.home_dir(), "fake", slug)]
    return dg.MaterializeResult(
        metadata=refused_metadata(reason), data_version=refused_version(reason),
        check_results=checks,
    )


def refused_stats(reason: str) -> Iterator[dg.MaterializeResult]:
    """Both stats assets of a refused partition, and the `not_degenerate` check saying so
    (WARN: there are no images to judge, which is no crash)."""
    yield dg.MaterializeResult(
        asset_key="image_quality_stats", metadata=refused_metadata(reason),
        data_version=refused_version(reason), check_results=[refused_check_result(reason)],
    )
    yield dg.MaterializeResult(
        asset_key=MODEL_STATS, metadata=refused_metadata(reason),
        data_version=refused_version(reason),
    )


def measure_images(rows: list[dict], image_store: ImageStoreResource) -> list[dict]:
    """Quality measures of each image row's file, re-checking its sha256 first."""
    from PIL import Image

    out = []
    for row in rows:
        path = image_store.absolute(row["path"])
        base = {"image_id": row["image_id"], "source": row["source"], "label": row["label"]}
        if not path.exists():
            out.append({**base, "sha256_ok": False, "is_black": False, "is_constant": False,
                        "dhash": f"missing:{row['image_id']}"})
            continue
        ok = sha256_file(path) == row["sha256"]
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        out.append({**base, **image_measures(rgb), "sha256_ok": ok})
    return out
