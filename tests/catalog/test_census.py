"""hub_census: every crawled repo counted once by kind and class/base, with coverage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from fakeimg_assets.catalog.assets import hub_catalog, hub_census
from fakeimg_assets.catalog.census import census_rows, kind_from_tags
from fakeimg_assets.models.assets import model_metadata
from fakeimg_assets.warehouse.store import Warehouse

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_kind_from_hub_tags() -> None:
    assert kind_from_tags(["diffusers", "diffusers:FluxPipeline"]) == ("pipeline", "FluxPipeline", None)
    assert kind_from_tags(["lora", "base_model:adapter:a/b"]) == ("lora", None, "a/b")
    assert kind_from_tags(["LoRA", "base_model:a/b"]) == ("lora", None, "a/b")
    assert kind_from_tags(["base_model:finetune:a/b", "safetensors"]) == ("single_file", None, "a/b")
    assert kind_from_tags(["diffusers", "text-to-image"]) == ("other", None, None)
    assert kind_from_tags(None) == ("other", None, None)


def _hub(model_id: str, *tags: str, gated: str = "false") -> dict:
    return {"model_id": model_id, "tags": list(tags), "gated": gated, "private": False,
            "library_name": "diffusers", "pipeline_tag": "text-to-image"}


def _fail(model_id: str, when: int, *, transient: bool = False) -> dict:
    return {"model_id": model_id, "stage": "plan", "error_type": "UnsupportedRepoError",
            "transient": transient, "failed_at": datetime(2026, 1, 1, when, tzinfo=UTC)}


def test_census_counts_groups_coverage_and_reasons() -> None:
    models = [
        _hub("o/sd-a", "diffusers:StableDiffusionPipeline"),
        _hub("o/sd-b", "diffusers:StableDiffusionPipeline"),
        _hub("o/sd-gated", "diffusers:StableDiffusionPipeline", gated="auto"),
        _hub("o/sd-broken", "diffusers:StableDiffusionPipeline"),
        _hub("o/lora-1", "lora"),  # planned: its metadata row decides
        _hub("o/lora-2", "lora", "base_model:adapter:o/sd-a"),
        _hub("o/lora-flaky", "lora", "base_model:adapter:o/sd-a"),
        _hub("o/mystery"),
    ]
    metadata = [
        {"model_id": "o/sd-a", "kind": "pipeline", "pipeline_class": "StableDiffusionPipeline",
         "base_model": "x/declared-lineage"},
        {"model_id": "o/lora-1", "kind": "lora", "pipeline_class": "StableDiffusionPipeline",
         "base_model": "o/sd-a"},
    ]
    images = {"o/sd-a": 4, "o/sd-b": 4, "o/lora-1": 4}
    failures = [
        _fail("o/sd-b", 1),  # failed once, then sampled: not failed
        _fail("o/sd-broken", 2),
        _fail("o/lora-2", 3),
        _fail("o/lora-flaky", 4, transient=True),  # transient: still eligible
    ]
    rows = census_rows(models, metadata, images, ["o/sd-b"], failures, crawl_id="c1",
                       crawled_at=NOW)
    by = {(r["kind"], r["pipeline_class"], r["base_model"]): r for r in rows}
    assert sum(r["n_models"] for r in rows) == len(models)  # each repo counted once
    sd = by[("pipeline", "StableDiffusionPipeline", None)]
    assert (sd["n_models"], sd["n_eligible"], sd["n_sampled"], sd["n_quarantined"],
            sd["n_failed"]) == (4, 2, 2, 1, 1)
    assert sd["coverage"] == 1.0
    assert json.loads(sd["held_back"]) == {"plan: UnsupportedRepoError": 1,
                                          "selection: gated (auto)": 1}
    lora = by[("lora", "StableDiffusionPipeline", "o/sd-a")]
    tagged = by[("lora", "StableDiffusionPipeline", "o/sd-a")]  # the base's class
    assert lora is tagged  # planned and unplanned adapters of one base: one group
    assert (lora["n_models"], lora["n_eligible"], lora["n_sampled"], lora["n_failed"]) == (3, 2, 1, 2)
    assert lora["coverage"] == 0.5
    other = by[("other", None, None)]
    assert (other["n_models"], other["n_eligible"], other["n_sampled"]) == (1, 1, 0)
    assert [r["kind"] for r in rows] == sorted(
        (r["kind"] for r in rows), key=["pipeline", "lora", "single_file", "other"].index
    )
    assert {r["crawl_id"] for r in rows} == {"c1"}


def test_census_asset_after_a_crawl_counts_every_repo(
    resources: dict, home: Path, zoo_catalog
) -> None:
    orphan = "lostandfound/orphan-style-lora"
    with dg.instance_for_test() as instance:
        assert dg.materialize([hub_catalog, hub_census], resources=resources,
                              instance=instance).success
        first = Warehouse(home).read("hub_census")
        assert first["n_models"].sum() == len(zoo_catalog)
        assert first["n_sampled"].sum() == 0
        assert {"pipeline", "lora"} <= set(first["kind"])
        instance.add_dynamic_partitions("hub_models", [orphan])
        # refused (its base is gone): a materialized outcome, with its model_failures row
        assert dg.materialize([model_metadata], partition_key=orphan, resources=resources,
                              instance=instance, raise_on_error=False).success
        assert dg.materialize([hub_census], resources=resources, instance=instance).success
    census = Warehouse(home).read("hub_census")
    assert census["crawl_id"].n_unique() == 1 and census.height == first.height  # replaced
    row = census.filter(census["base_model"] == "vanished-labs/deleted-base-v1").row(0, named=True)
    assert row["kind"] == "lora" and row["n_models"] == 1 and row["n_failed"] == 1
    assert row["n_eligible"] == 0 and row["coverage"] is None
    assert json.loads(row["held_back"]) == {"plan: UnsupportedRepoError": 1}
    sd3 = census.filter(census["pipeline_class"] == "StableDiffusion3Pipeline")
    assert dict(zip(sd3["kind"], sd3["n_models"], strict=True)) == {
        "pipeline": sum(1 for m in zoo_catalog if m.pipeline_class == "StableDiffusion3Pipeline"
                        and "lora" not in m.model_id),
        "lora": 1,  # an unplanned adapter takes its base's class from the crawl's tags
    }
