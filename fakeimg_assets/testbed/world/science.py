"""`fakeimg science` (`make science [SEEDS=N]`): the paper's finding, measured end to end on
a CPU under a pre-registered protocol (`docs/science/protocol.toml`, `protocol.py`).

Per world seed, in a home of its own (`$FAKEIMG_HOME/science/seed-<s>/`): world build
(cached) -> the world served over the Hub API on loopback -> `fakeimg run`'s crawl,
partitions, sampling and real crops from the `world/photos` dataset -> the shortcut audit,
the detector split and the scaling study (every generator alone at k = 1, distinct draws
at larger k, the pixel-statistics baseline on every run, the leave-one-family-out table
and curve, every detector kept) -> per-scene AP. Then the verdict over the replication
seeds, the report (`report.md`) and its raw data (`report.json`: every run's rows, the
held-out generators, seeds, prompts, verdict and baseline). A seed that fails is reported
as failed, never dropped. Nothing here is specific to the world except which Hub it
serves: the same assets run on the real Hub.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakeimg_assets.lib.paths import collection_key, fakeimg_home
from fakeimg_assets.splits.lineage import ModelLineage, lineage_groups, weight_sha256s_of
from fakeimg_assets.splits.sides import DEFAULT_TEST_FRACTION, model_side, photo_side
from fakeimg_assets.testbed.local_hub.server import HubServer
from fakeimg_assets.testbed.world.build import build_world
from fakeimg_assets.testbed.world.cache import WORLD_MANIFEST
from fakeimg_assets.testbed.world.dataset import WORLD_PHOTOS_ID
from fakeimg_assets.testbed.world.findings import pooled, report_markdown, seed_summary
from fakeimg_assets.testbed.world.outside import (
    build_outside_collection,
    default_outside,
    outside_build_record,
)
from fakeimg_assets.testbed.world.protocol import (
    Protocol,
    ProtocolError,
    load_protocol,
    register_protocol,
)
from fakeimg_assets.testbed.world.spec import WORLD_ORG, default_world, get_family

PHOTO_SOURCE = WORLD_PHOTOS_ID.replace("/", "--")  # the real source name of the dataset


@dataclass(frozen=True)
class BandPhoto:
    """One detector photo of the world: its scene (source photograph), id and caption."""

    scene: str
    photo_id: str
    caption: str


def scene_of_band(name: str) -> str:
    """`coffee` of `images/coffee-right-2.png` (a band's file or photo name)."""
    return Path(str(name)).name.split("-right-")[0]


def world_photos(world_dir: Path) -> list[BandPhoto]:
    """The bands the platform will screen, with the photo ids it will give them."""
    repo = Path(world_dir) / "datasets" / WORLD_PHOTOS_ID
    with open(repo / "metadata.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        data = (repo / r["file_name"]).read_bytes()
        name = Path(r["file_name"]).stem
        pid = f"{PHOTO_SOURCE}:{hashlib.sha256(data).hexdigest()[:16]}"
        out.append(BandPhoto(scene_of_band(name), pid, r["text"]))
    return out


def family_sides(spec: Any, files: dict[str, str], seed: int, test_fraction: float,
                 extra: dict[str, str] | None = None) -> dict[str, set[str]]:  # fmt: skip
    """`{architecture: sides its lineage groups fall on}` for a split seed, computed with the
    platform's own lineage rule and side hash, before anything is served or sampled.
    `extra`: collection generators `{partition key: architecture}` (each its own group)."""
    models, arch = [], {}
    for key, a in (extra or {}).items():
        models.append(ModelLineage(key, (), (), None))
        arch[key] = a
    for g in spec.generators:
        prefix = f"{g.model_id}/"
        own = {p[len(prefix):]: sha for p, sha in files.items() if p.startswith(prefix)}
        shas = tuple(weight_sha256s_of(json.dumps(own)))
        models.append(ModelLineage(g.model_id, (g.base,) if g.base else (), shas, g.created_at))
        arch[g.model_id] = get_family(g.family).arch
    out: dict[str, set[str]] = {}
    for model_id, key in lineage_groups(models).items():
        out.setdefault(arch[model_id], set()).add(model_side(key, test_fraction, seed))
    return out


def split_problems(spec: Any, files: dict[str, str], photos: list[BandPhoto], seed: int,
                   min_prompts: int, extra: dict[str, str] | None = None) -> list[str]:  # fmt: skip
    """Why a split seed breaks the protocol's rule (empty: it keeps it): a family without
    lineage groups on both sides, a scene without bands on both sides, or fewer than
    `min_prompts` training prompts (captions of training-side bands no test band shares)."""
    problems = [f"family {a} only on the {'/'.join(sorted(s))} side"
                for a, s in family_sides(spec, files, seed, DEFAULT_TEST_FRACTION,
                                         extra).items()
                if s != {"train", "test"}]  # fmt: skip
    sides: dict[str, set[str]] = {}
    side_of = {p.photo_id: photo_side(p.photo_id, DEFAULT_TEST_FRACTION, seed) for p in photos}
    for p in photos:
        sides.setdefault(p.scene, set()).add(side_of[p.photo_id])
    problems += [f"scene {s} only on the {'/'.join(sorted(v))} side"
                 for s, v in sorted(sides.items()) if v != {"train", "test"}]  # fmt: skip
    test_captions = {p.caption for p in photos if side_of[p.photo_id] == "test"}
    prompts = {p.caption for p in photos
               if side_of[p.photo_id] == "train" and p.caption not in test_captions}
    if len(prompts) < min_prompts:
        problems.append(f"{len(prompts)} training prompts < {min_prompts}")
    return problems


def choose_split_seed(spec: Any, files: dict[str, str], photos: list[BandPhoto],
                      min_prompts: int, *, tries: int = 1000,
                      extra: dict[str, str] | None = None) -> int:  # fmt: skip
    """The protocol's rule: the first split seed >= 0 that keeps every family's lineage
    groups and every scene's bands on both sides, with at least `min_prompts` prompts. It
    reads the world's lineage and photos, never a detector's score."""
    for seed in range(tries):
        if not split_problems(spec, files, photos, seed, min_prompts, extra):
            return seed
    raise ValueError(f"no split seed in 0..{tries - 1} keeps the protocol's split rule")


def check_home(home: Path) -> None:
    """Refuse a home holding models from another Hub: they would enter the study's split."""
    from fakeimg_assets.warehouse.store import Warehouse

    models = Warehouse(home).read("hub_models")["model_id"].to_list()  # empty when fresh
    foreign = sorted(m for m in models if not m.startswith(f"{WORLD_ORG}/"))
    if foreign:
        raise ValueError(
            f"FAKEIMG_HOME {home} already holds {len(foreign)} models from another Hub (e.g. "
            f"{foreign[0]}); the science run needs a home of its own, e.g. "
            f"`make science FAKEIMG_HOME=data/science`"
        )


def run_seed(home: Path, protocol: Protocol, world_seed: int, *, log: Any = print
             ) -> dict[str, Any]:  # fmt: skip
    """One world seed end to end in its own home; returns its report entry."""
    from fakeimg_assets.collections.add import add_collection
    from fakeimg_assets.platform_run import RunOptions, run_platform

    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    check_home(home)
    w, smp = protocol["world"], protocol["sampling"]
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    world_dir = home / "world-hub"
    spec = default_world(int(w["generators"]), seed=world_seed, families=tuple(w["families"]))
    built = build_world(world_dir, spec, steps=int(w["steps"]), vae_steps=int(w["vae_steps"]),
                        log=log, min_distinct=float(w["min_distinct_fraction"]))  # fmt: skip
    seconds["world_build"] = time.perf_counter() - t0
    files = json.loads((world_dir / WORLD_MANIFEST).read_text())["files"]
    photos = world_photos(world_dir)
    t_out = time.perf_counter()
    outside = build_outside(home, protocol, world_seed, log)
    seconds["outside_build"] = time.perf_counter() - t_out
    extra = {collection_key(name, g.generator): g.architecture
             for name, (_, role, specs) in outside.items() if role != "eval" for g in specs}
    split_seed = choose_split_seed(spec, files, photos, int(protocol["split"]["min_prompts"]),
                                   extra=extra)  # fmt: skip
    log(f"seed {world_seed}: split seed {split_seed} (the protocol's split rule)")
    with HubServer(world_dir) as server:
        old = os.environ.get("HF_ENDPOINT")
        os.environ["HF_ENDPOINT"] = server.url  # for this process's run only
        try:
            t1 = time.perf_counter()
            for name, (folder, role, _) in outside.items():  # before the run: one split
                added = add_collection(str(folder), name=name, role=role, home=home, log=log)
                if not added.ok:
                    raise RuntimeError(f"collection {name}: {added.failed}")
            seconds["collections_add"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            report = run_platform(RunOptions(
                images_per_model=int(smp["images_per_model"]),
                steps=int(smp["sampling_steps"]), real_dataset=WORLD_PHOTOS_ID,
                batch_size=int(smp["batch_size"]), detector=False, split_seed=split_seed,
            ), home=home, log=log)  # fmt: skip
            seconds["sample_and_reals"] = time.perf_counter() - t1
            if not report.ok or report.failed:
                raise RuntimeError(f"platform run failed: {report.steps_failed or report.failed}")
            prompts = check_sides(home, int(protocol["split"]["min_prompts"]))
            t2 = time.perf_counter()
            study_id = run_study(home, protocol, split_seed)
            seconds["study"] = time.perf_counter() - t2
        finally:
            if old is None:
                os.environ.pop("HF_ENDPOINT", None)
            else:
                os.environ["HF_ENDPOINT"] = old
    t3 = time.perf_counter()
    entry = seed_entry(home, protocol, study_id, world_seed, split_seed, prompts)
    entry |= findings_two_and_three(home, protocol, seed=world_seed)
    seconds["report"] = time.perf_counter() - t3
    seconds["total"] = time.perf_counter() - t0
    entry["seconds"] = seconds
    gens = {g.model_id: g for g in spec.generators}
    entry["outside"] = {name: outside_build_record(folder)
                        for name, (folder, _, _) in outside.items()}
    entry["world"] = [{  # what each generator cost and how it samples (the docs' figures)
        "model_id": b.model_id, "family": gens[b.model_id].family, "base": gens[b.model_id].base,
        "steps": b.steps, "seconds": b.seconds, "first_loss": b.first_loss,
        "last_loss": b.last_loss, "high_freq_energy": b.high_freq_energy,
    } for b in built]  # fmt: skip
    return entry


OUTSIDE_TRAIN, OUTSIDE_EVAL = "world-outside", "world-benchmark"


def build_outside(home: Path, protocol: Protocol, world_seed: int, log: Any
                  ) -> dict[str, tuple[Path, str, tuple[Any, ...]]]:  # fmt: skip
    """The protocol's generators outside the Hub (`[outside]`), built (cached) as collection
    folders: `{name: (folder, role, specs)}`; empty for protocols without the section."""
    section = protocol.get("outside")
    if not section:
        return {}
    n_train, n_eval = int(section["train_per_kind"]), int(section["eval_per_kind"])
    steps = {str(k): int(v) for k, v in (section.get("steps") or {}).items()}  # tests: fewer
    specs = default_outside(world_seed, n_train + n_eval, steps=steps or None)
    index = {g.generator: int(g.generator.rsplit("-", 1)[1]) for g in specs}
    train = tuple(g for g in specs if index[g.generator] < n_train)
    held = tuple(g for g in specs if index[g.generator] >= n_train)
    out = {}
    for name, role, part in ((OUTSIDE_TRAIN, "both", train), (OUTSIDE_EVAL, "eval", held)):
        if part:
            folder = build_outside_collection(
                home / name, part, n_images=int(section["images_per_generator"]), log=log)
            out[name] = (folder, role, part)
    return out


def check_sides(home: Path, min_prompts: int) -> list[str]:
    """After the platform ran: every scene has kept bands on both sides and the prompt pool
    holds at least `min_prompts` prompts (checked on what was written, not assumed)."""
    from fakeimg_assets.warehouse.store import Warehouse

    store = Warehouse(home)
    photos = store.read("real_photos")
    photos = photos.filter(photos["status"] == "kept")
    sides: dict[str, set[str]] = {}
    for r in photos.iter_rows(named=True):
        sides.setdefault(scene_of_band(r["name"]), set()).add(str(r["photo_split"]))
    bad = sorted(s for s, v in sides.items() if v != {"train", "test"})
    if bad:
        raise RuntimeError(f"scenes with bands on one side only: {bad}")
    prompts = sorted(set(store.read("prompts")["prompt"].to_list()))
    if len(prompts) < min_prompts:
        raise RuntimeError(f"the prompt pool holds {len(prompts)} prompts < {min_prompts}")
    return prompts


def run_study(home: Path, protocol: Protocol, split_seed: int) -> str:
    """The shortcut audit, the split and the scaling study on the persistent instance."""
    from dagster import AssetKey

    from fakeimg_assets.definitions import build_definitions
    from fakeimg_assets.platform_run import failure_message, prepare_instance
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import ComputeResource

    det, design = protocol["detector"], protocol["design"]
    instance = prepare_instance(home)
    compute = ComputeResource(device="auto", torch_threads=os.cpu_count())
    defs = build_definitions(home=str(home), compute=compute)
    config = {"ops": {
        "detector_dataset": {"config": {"seed": split_seed}},
        "scaling_study": {"config": {
            "draws": int(design["draws"]), "control_draws": 0, "every_single": True,
            "fake_images": int(det["fake_images"]), "backbone": str(det["backbone"]),
            "epochs": int(det["epochs"]), "image_size": int(det["image_size"]),
            "seed": int(protocol["seeds"]["study"]), "hold_out_family": False,
            "leave_one_family_out": True, "lofo_curve_draws": int(design["lofo_draws"]),
            "keep_checkpoints": True, "baseline": True,
        }},
    }}  # fmt: skip
    keys = ["shortcut_audit", "detector_dataset", "split_versions", "scaling_study",
            "scaling_detectors"]
    trained = {"backbone": str(det["backbone"]), "epochs": int(det["epochs"]),
               "image_size": int(det["image_size"]), "seed": int(protocol["seeds"]["study"])}
    if protocol.get("diversity"):
        div = protocol["diversity"]
        config["ops"]["diversity_study"] = {"config": {
            **trained, "family_by": str(div["family_by"]), "draws": int(div["draws"]),
            "n_train_models": int(div["n_train_models"]), "fake_images": int(det["fake_images"]),
            "n_boot": int(div["bootstrap"])}}
        keys += ["diversity_study", "diversity_detectors"]
    if protocol.get("cross_dataset"):
        config["ops"]["cross_dataset"] = {"config": {
            **trained, "fake_images": int(protocol["cross_dataset"]["fake_images"])}}
        keys += ["cross_dataset", "cross_dataset_detectors"]
    result = defs.resolve_job_def("train_detector").execute_in_process(
        run_config=config, instance=instance, raise_on_error=False,
        asset_selection=[AssetKey(k) for k in keys],
    )
    if not result.success:
        raise RuntimeError(f"study failed: {failure_message(result)}")
    return str(Warehouse(home).read("scaling_results")["study_id"].max())


def seed_entry(home: Path, protocol: Protocol, study_id: str, world_seed: int,
               split_seed: int, prompts: list[str]) -> dict[str, Any]:  # fmt: skip
    """The report entry of one seed: raw rows, held-out generators, its statistics."""
    import polars as pl

    from fakeimg_assets.warehouse.store import Warehouse

    store = Warehouse(home)
    rows = store.read("scaling_results").filter(pl.col("study_id") == study_id).to_dicts()
    main = [r for r in rows if r["protocol"] == "scaling"]
    held_out = sorted(json.loads(main[0]["generator_ap"]))
    audits = store.read("shortcut_audit")
    latest = audits.filter(pl.col("audit_id") == audits.sort("created_at")["audit_id"][-1]) \
        if audits.height else audits
    return {
        "world_seed": world_seed, "split_seed": split_seed, "status": "ok",
        "study_id": study_id, "held_out": held_out, "prompts": prompts,
        "rows": [{
            "k": r["n_train_models"], "draw": r["draw"], "generators": r["train_models"],
            "ap": r["ap"], "baseline_ap": r["baseline_ap"], "seen_ap": r["seen_ap"],
            "n_families": r["n_families"], "generator_ap": json.loads(r["generator_ap"]),
            "baseline_generator_ap": json.loads(r["baseline_generator_ap"] or "{}"),
        } for r in sorted(main, key=lambda r: (r["n_train_models"], r["draw"]))],
        "lofo_rows": [{
            "protocol": r["protocol"], "k": r["n_train_models"], "draw": r["draw"],
            "left_out_family": r["left_out_family"], "generators": r["train_models"],
            "ap": r["ap"], "ap_other": r["ap_other"], "seen_ap": r["seen_ap"],
        } for r in rows if r["protocol"] in ("leave_one_family_out", "lofo_curve")],
        "summary": seed_summary(rows, protocol["verdict"], seed=world_seed),
        "per_scene": per_scene_ap(home, study_id),
        "shortcut_audit": [{k: a.get(k) for k in ("feature_set", "scope", "auc", "auc_ci_low",
                                                   "auc_ci_high", "passed")}
                           for a in latest.sort("feature_set", "scope").to_dicts()],  # fmt: skip
    }  # fmt: skip


def findings_two_and_three(home: Path, protocol: Protocol, *, seed: int) -> dict[str, Any]:
    """The diversity study's rows and verdict, and the cross-dataset matrix with the paired
    verdict (Hub-trained minus outside-trained detector on the outside eval set)."""
    import polars as pl

    from fakeimg_assets.detection.train import predict
    from fakeimg_assets.evaluation.external import external_sets
    from fakeimg_assets.evaluation.rows import balanced_sets
    from fakeimg_assets.splits.store import read_split
    from fakeimg_assets.studies.cross_dataset_verdict import paired_difference
    from fakeimg_assets.studies.diversity_verdict import verdict as diversity_verdict
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import WarehouseResource

    store, out = Warehouse(home), {}
    if protocol.get("diversity"):
        rows = store.read("diversity_results")
        rows = rows.filter(pl.col("study_id") == rows["study_id"].max())
        out["diversity"] = {
            "rows": [{**{k: r[k] for k in ("condition", "draw", "n_train_models", "n_families",
                                           "families", "train_models", "ap", "pooled_ap")},
                      "generator_ap": _loads_json(r["generator_ap"])}  # the verdict's input
                     for r in rows.sort("condition", "draw").to_dicts()],
            "verdict": diversity_verdict(rows.to_dicts(), n_boot=int(
                protocol["diversity"]["bootstrap"]), seed=seed)}  # fmt: skip
    if protocol.get("cross_dataset"):
        runs = store.read("cross_dataset_detectors")
        study = runs["run_id"].max()[:38]  # the fixed-width study id
        runs = runs.filter(pl.col("run_id").str.starts_with(study))
        cells = store.read("cross_dataset_results").filter(
            pl.col("run_id").str.starts_with(study) & pl.col("perturbation").is_null()
            & (pl.col("group_kind") == "mean_over_models"))
        entry: dict[str, Any] = {"study_id": study, "matrix": [
            {k: r[k] for k in ("train_source", "eval_set", "n_real", "n_fake", "ap",
                               "ap_ci_low", "ap_ci_high")}
            for r in cells.sort("train_source", "eval_set").to_dicts()]}  # fmt: skip
        ckpt = {r["run_id"][len(study) + 1:]: r["checkpoint_path"] for r in runs.to_dicts()}
        if "hub" in ckpt and OUTSIDE_TRAIN in ckpt:
            _, split = read_split(store)
            test = split.filter(pl.col("split") == "test")
            reals = test.filter((pl.col("label") == "real") & pl.col("collection").is_null())
            frame = external_sets(WarehouseResource(home=str(home)), reals).get(OUTSIDE_EVAL)
            if frame is not None:  # both detectors score every image of the set once
                paths = sorted(set(frame["path"]))
                scores = {src: dict(zip(paths, (float(x) for x in predict(
                    Path(ckpt[src]), [str(home / p) for p in paths], device="cpu")),
                    strict=True)) for src in ("hub", OUTSIDE_TRAIN)}  # fmt: skip
                # the balanced sets are drawn by a seeded hash order, whatever the score
                scored = frame.with_columns(pl.col("path").replace_strict(
                    scores["hub"], return_dtype=pl.Float64).alias("score"))
                sets = balanced_sets(scored, seed, match_sizes=False)
                entry["verdict"] = {
                    "statistic": protocol["cross_dataset"]["statistic"],
                    "eval_set": OUTSIDE_EVAL,
                    **paired_difference(sets, scores["hub"], scores[OUTSIDE_TRAIN],
                                        n_boot=int(protocol["cross_dataset"]["bootstrap"]),
                                        seed=seed)}  # fmt: skip
        out["cross_dataset"] = entry
    return out


def per_scene_ap(home: Path, study_id: str) -> list[dict[str, Any]]:
    """AP per scene at the largest k, from its kept detectors: held-out fakes whose prompt is
    a caption of the scene against test reals cut from the scene's bands."""
    import polars as pl

    from fakeimg_assets.detection.train import predict
    from fakeimg_assets.evaluation.metrics import binary_metrics
    from fakeimg_assets.splits.store import read_split
    from fakeimg_assets.warehouse.store import Warehouse

    store = Warehouse(home)
    rows = store.read("scaling_results").filter(
        (pl.col("study_id") == study_id) & (pl.col("protocol") == "scaling"))
    kmax = rows["n_train_models"].max()
    runs = store.read("detector_runs").filter(pl.col("run_id").is_in(
        rows.filter(pl.col("n_train_models") == kmax)["run_id"].to_list()))
    held_out = set(json.loads(rows["generator_ap"][0]))
    split_id, split = read_split(store)
    test = split.filter(pl.col("split") == "test")
    images = store.query(  # the test images' prompt and photo only, joined in DuckDB
        "SELECT i.image_id, i.prompt_id, i.photo_id FROM images i JOIN detector_splits s "
        "USING (image_id) WHERE s.split_id = ? AND s.split = 'test'", params=[split_id])
    test = test.join(images, on="image_id", how="left")
    scene_of = {r["photo_id"]: scene_of_band(r["name"])
                for r in store.read("real_photos").iter_rows(named=True)}
    prompt_photo = dict(store.read("prompts").select("prompt_id", "photo_id").iter_rows())
    test = test.with_columns(pl.Series("scene", [
        scene_of.get(prompt_photo.get(p) if lbl == "fake" else ph)
        for p, ph, lbl in zip(test["prompt_id"], test["photo_id"], test["label"], strict=True)
    ]))  # fmt: skip
    test = test.filter((pl.col("label") == "real") | pl.col("source").is_in(list(held_out)))
    paths = test["path"].to_list()  # the image's current path (`read_split`)
    scores = [0.0] * len(paths)
    for ckpt in runs["checkpoint_path"].to_list():
        raw = predict(Path(ckpt), [str(home / p) for p in paths], device="cpu")
        scores = [a + float(b) / runs.height for a, b in zip(scores, raw, strict=True)]
    test = test.with_columns(pl.Series("score", scores))
    out = []
    for scene in sorted({s for s in test["scene"].to_list() if s}):
        part = test.filter(pl.col("scene") == scene)
        labels = (part["label"] == "fake").cast(pl.Int64).to_list()
        if 0 < sum(labels) < len(labels):
            m = binary_metrics(labels, part["score"].to_list())
            out.append({"scene": scene, "ap": m["ap"], "n_fake": sum(labels),
                        "n_real": len(labels) - sum(labels)})
    return out


def run_science(home: Path, protocol: Protocol, seeds: list[int], *, development: bool = False,
                log: Any = print) -> dict[str, Any]:  # fmt: skip
    """Every seed in `home/science/seed-<s>`; then the pooled verdict and the report."""
    out = Path(home) / "science"
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for s in seeds:
        try:
            runs.append(run_seed(out / f"seed-{s}", protocol, s, log=log))
        except Exception as exc:  # noqa: BLE001 - a failed seed is reported, never dropped
            log(f"seed {s} FAILED: {type(exc).__name__}: {exc}")
            runs.append({"world_seed": s, "status": "failed",
                         "error": f"{type(exc).__name__}: {exc}"})
    ok = [r for r in runs if r["status"] == "ok"]
    doc: dict[str, Any] = {
        "protocol_version": protocol.version, "protocol_digest": protocol.digest,
        "development": development, "seeds": seeds,
        "prompts": sorted({p for r in ok for p in r["prompts"]}), "runs": runs,
    }
    if ok:
        studies = [study_rows(r) for r in ok]
        pooled_doc = pooled(studies, protocol["verdict"], seed=0)
        doc["verdict"] = pooled_doc["verdict"]
        baseline_ap = sum(r["summary"]["baseline"]["ap"] for r in ok) / len(ok)
        doc["baseline"] = {"name": ok[0]["summary"]["baseline"]["name"], "ap": baseline_ap,
                           "margin": pooled_doc["margin"]["estimate"],
                           "margin_ci_low": pooled_doc["margin"]["ci_low"],
                           "margin_ci_high": pooled_doc["margin"]["ci_high"]}
    else:
        doc["verdict"] = {"statistic": protocol["verdict"]["statistic"], "estimate": None,
                          "ci_low": None, "ci_high": None, "holds": False, "seeds": 0,
                          "level": protocol["verdict"]["level"], "rule": "no seed ran"}
        doc["baseline"] = {"name": "pixel_stats_logreg", "ap": None, "margin": None,
                           "margin_ci_low": None, "margin_ci_high": None}
    (out / "report.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    (out / "report.md").write_text(report_markdown(doc))
    for r in ok:
        seed_home = out / f"seed-{r['world_seed']}"
        for grid in sorted((seed_home / "world-hub").glob("grid-*.png")):
            shutil.copyfile(grid, out / f"seed-{r['world_seed']}-{grid.name}")
        plot = seed_home / "plots" / f"{r['study_id']}.png"
        if plot.is_file():
            shutil.copyfile(plot, out / f"seed-{r['world_seed']}-scaling-curve.png")
        for study in ("diversity", "cross-dataset"):  # the latest of each study's plots
            plots = sorted((seed_home / "plots").glob(f"{study}-*.png"))
            if plots:
                shutil.copyfile(plots[-1], out / f"seed-{r['world_seed']}-{study}.png")
    return doc


def study_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    """A report entry's main-curve rows back in `scaling_results` form (for `findings`)."""
    return [{"n_train_models": r["k"], "draw": r["draw"], "control": False,
             "protocol": "scaling", "generator_ap": r["generator_ap"],
             "baseline_generator_ap": r["baseline_generator_ap"],
             "n_families": r["n_families"], "seen_ap": r["seen_ap"]} for r in run["rows"]]


def science_command(args: Any) -> int:
    """`fakeimg science`: under the committed protocol, the replication seeds (`--seeds N`,
    the first N) or one development seed (`--world-seed S`); prints the verdict. Exit 0
    whatever the verdict (it is a measurement), 1 with `--strict` when it does not hold."""
    if getattr(args, "register", False):
        protocol = register_protocol()
        print(f"registered protocol version {protocol.version} ({protocol.digest[:12]})")
        return 0
    development = getattr(args, "world_seed", None) is not None
    try:
        protocol = load_protocol(development=development)
    except ProtocolError as exc:
        print(f"fakeimg science: {exc}")
        return 2
    replication = [int(s) for s in protocol["seeds"]["replication"]]
    if development:
        dev = [int(s) for s in protocol["seeds"]["development"]]
        if int(args.world_seed) not in dev:
            print(f"fakeimg science: --world-seed must be a development seed {dev}; the "
                  f"replication seeds run with --seeds")
            return 2
        seeds = [int(args.world_seed)]
    else:
        n = int(getattr(args, "seeds", None) or 1)
        if not 1 <= n <= len(replication):
            print(f"fakeimg science: --seeds must be 1..{len(replication)}, got {n}")
            return 2
        seeds = replication[:n]
    home = fakeimg_home()
    doc = run_science(home, protocol, seeds, development=development)
    print(report_markdown(doc))
    print(f"report: {home / 'science' / 'report.md'}")
    return 1 if (getattr(args, "strict", False) and not doc["verdict"]["holds"]) else 0


def _loads_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
