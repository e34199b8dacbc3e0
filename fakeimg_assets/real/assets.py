"""The real side: `real_photos` (screened source photos with their side), `prompts` (no test
captions) and `real_images` (crops cut after the fakes are sampled, at exactly the fakes'
sizes, same encoder).

Photos are screened before any fake is sampled, so the prompt pool can be drawn from the
captions of training-side photos only: test content never reaches training as fakes.
`real_images` reads the kept photos of `real_photos` and every distinct fake (width, height)
in `images`, cuts native-resolution crops (no resampling; photos too small for a size are
skipped for it and counted), encodes them like fakes (PNG, RGB, no metadata) or with the
dataset's post-processing option, and records quality stats like fakes get.

One step, two assets, each owning one table: `real_images` (`real_images` rows) and
`real_image_stats` (their quality stats, `real_image_stats`); `images` and `image_stats`
are the union views with the fakes' tables. The step always materializes both.
"""


import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import dagster as dg
import numpy as np
from pydantic import Field, field_validator

from fakeimg_assets.integrity.publish import partition_key
from fakeimg_assets.lib.arg_checks import check_post, check_repo_id, field_check
from fakeimg_assets.lib.paths import atomic_write_bytes, sha256_bytes
from fakeimg_assets.lib.png import encode_png
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.models.preview import preview_metadata
from fakeimg_assets.quality.stats import image_measures
from fakeimg_assets.real.crops import cut_crops, plan_crops
from fakeimg_assets.real.post import apply_post, parse_post, resize_factor
from fakeimg_assets.real.screen import PhotoVerdict, ScreenPolicy, decode, screen_photos
from fakeimg_assets.real.sources import RealSource, check_source_kind, make_source
from fakeimg_assets.splits.sides import DEFAULT_TEST_FRACTION, photo_side
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import HubResource, ImageStoreResource, WarehouseResource

GROUP = "real"
CODE_VERSION = "2"  # bump when a change alters what these assets write (marks them stale)
# 2: EXIF orientation applied (upright sizes), photos refused for unsafe paths, size or caption
PHOTO_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}


class RealPhotosConfig(dg.Config):
    """`source`: 'auto' (folder if set, else dataset if set, else the bundled demo photos),
    'skimage', 'folder' or 'hub_dataset'. The photo side uses the detector's test fraction."""

    source: str = Field(default="auto", description="auto, skimage, folder or hub_dataset.")
    folder: str = Field(default="", description="A folder of real photos (source folder).")
    dataset: str = Field(default="", description="A Hub dataset repo 'org/name' of photos + "
                         "captions (source hub_dataset).")
    source_name: str = ""
    min_side: int = 64
    max_chroma: float = 4.0
    max_hash_distance: int = 6
    test_fraction: float = DEFAULT_TEST_FRACTION
    split_seed: int = 0
    source_known = field_validator("source")(field_check(check_source_kind))
    dataset_id = field_validator("dataset")(field_check(check_repo_id))


def resolve_source_kind(config: RealPhotosConfig) -> str:
    if config.source != "auto":
        return config.source
    return "folder" if config.folder else "hub_dataset" if config.dataset else "skimage"


def photos_dir(home: Path, source: str) -> Path:
    return home / "photos" / source


@dg.asset(
    group_name=GROUP,
    kinds={"pillow", "duckdb"},
    code_version=CODE_VERSION,
    metadata=table_metadata("real_photos"),
    description="Real source photos screened (unreadable, unsafe path, too large, bad caption, "
    "tiny, grayscale, duplicate skipped with the reason), each with its stable photo_id and "
    "train/test side.",
)
def real_photos(
    context: dg.AssetExecutionContext,
    config: RealPhotosConfig,
    hub: HubResource,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
) -> dg.MaterializeResult:
    home = image_store.home_dir()
    try:
        source = make_source(
            resolve_source_kind(config),
            name=config.source_name,
            folder=config.folder,
            dataset=config.dataset,
            hub=hub,
        )
        policy = ScreenPolicy(config.min_side, config.max_chroma, config.max_hash_distance)
        verdicts = screen_photos(source.name, source.photos(), policy)  # lazy: one at a time
        rows = list(photo_rows(verdicts, source, home, config, utcnow()))
    except (KeyError, ValueError, FileNotFoundError) as exc:
        raise dg.Failure(str(exc.args[0] if isinstance(exc, KeyError) else exc)) from exc
    if not any(r["status"] == "kept" for r in rows):
        reasons = sorted({f"{r['name']}: {r['skip_reason']}" for r in rows})[:10]
        raise dg.Failure(f"no usable photo in {source.description}: {reasons}")
    warehouse.write("real_photos", source.name, rows)
    kept = [r for r in rows if r["status"] == "kept"]
    skipped: dict[str, int] = {}
    for r in rows:
        if r["skip_reason"]:
            skipped[r["skip_reason"]] = skipped.get(r["skip_reason"], 0) + 1
    return dg.MaterializeResult(
        metadata={
            "source": source.description,
            "n_photos": len(rows),
            "n_kept": len(kept),
            "n_test_side": sum(r["photo_split"] == "test" for r in kept),
            "skipped": dg.MetadataValue.json(skipped),
            **row_count(len(rows)),
        },
        data_version=content_version(rows, ("photo_id", "status", "photo_split", "caption")),
    )


def photo_rows(
    verdicts: Iterable[PhotoVerdict],
    source: RealSource,
    home: Path,
    config: RealPhotosConfig,
    now: datetime,
) -> Iterator[dict]:
    """A `real_photos` row per verdict, storing each kept photo's file as it comes: nothing
    of a photo but its row is kept, so memory holds one photo however many the source has."""
    folder = photos_dir(home, source.name)
    for v in verdicts:
        path = None
        if v.status == "kept":
            target = folder / (v.sha256[:16] + PHOTO_SUFFIX.get(v.source_format or "", ".img"))
            if not target.exists():  # named by its content: a writer of it writes these bytes
                atomic_write_bytes(target, v.data)
            path = target.relative_to(home).as_posix()
        side = photo_side(v.photo_id, config.test_fraction, config.split_seed)
        yield {
            "photo_id": v.photo_id, "source": source.name, "source_kind": source.kind,
            "name": v.name, "caption": v.caption, "status": v.status,
            "skip_reason": v.skip_reason, "detail": v.detail, "width": v.width,
            "height": v.height, "source_format": v.source_format,
            "source_mode": v.source_mode, "chroma": v.chroma, "phash": v.phash,
            "duplicate_of": v.duplicate_of, "photo_split": side, "path": path,
            "sha256": v.sha256, "file_bytes": len(v.data), "screened_at": now,
        }


def content_version(rows: list[dict], columns: tuple[str, ...]) -> dg.DataVersion:
    """A DataVersion of the rows' content (not their timestamps): re-screening or re-drawing
    the same rows leaves downstream partitions fresh, so `fakeimg run` does not re-sample."""
    text = "\n".join(sorted("\t".join(str(r.get(c)) for c in columns) for r in rows))
    return dg.DataVersion(hashlib.sha256(text.encode()).hexdigest()[:16])


class PromptsConfig(dg.Config):
    """`origin`: 'train_photos' (captions of kept training-side photos) or 'corpus' (one
    prompt per line of `corpus_file`, a caption corpus separate from the photos)."""

    origin: str = "train_photos"
    corpus_file: str = ""


def prompt_rows(photos: list[dict], origin: str, corpus: list[str] | None = None) -> list[dict]:
    """The prompt pool: never a caption of a test-side photo (pure, so it can be pinned)."""
    if origin == "corpus":
        lines = [c.strip() for c in corpus or [] if c.strip()]
        if not lines:
            raise ValueError("prompt corpus is empty")
        return [
            {"prompt_id": "p-" + hashlib.sha256(f"corpus:{i}:{t}".encode()).hexdigest()[:12],
             "prompt": t, "source": "corpus", "origin": "corpus"}
            for i, t in enumerate(lines)
        ]
    if origin != "train_photos":
        raise ValueError(f"unknown prompt origin {origin!r}; known: train_photos, corpus")
    kept = [p for p in photos if p["status"] == "kept"]
    test_captions = {p["caption"] for p in kept if p["photo_split"] == "test"}
    rows = [
        {
            "prompt_id": "p-" + hashlib.sha256(p["photo_id"].encode()).hexdigest()[:12],
            "prompt": p["caption"],
            "source": p["source"],
            "photo_id": p["photo_id"],
            "origin": "train_photos",
        }
        for p in kept
        if p["photo_split"] == "train" and p["caption"] and p["caption"] not in test_captions
    ]
    if not rows:
        raise ValueError(
            f"no training-side photo with a caption among {len(kept)} kept photos; add photos "
            "or use a separate caption corpus (prompts origin 'corpus')"
        )
    return sorted({r["prompt_id"]: r for r in rows}.values(), key=lambda r: r["prompt_id"])


@dg.asset(
    group_name=GROUP,
    deps=[real_photos],
    kinds={"duckdb"},
    code_version=CODE_VERSION,
    metadata=table_metadata("prompts"),
    description="The prompt pool: captions of training-side photos only (or a separate "
    "caption corpus); `origin` says which.",
)
def prompts(config: PromptsConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
    photos = warehouse.read("real_photos").to_dicts()
    corpus = None
    if config.origin == "corpus":
        if not config.corpus_file or not Path(config.corpus_file).is_file():
            raise dg.Failure(f"prompt corpus file {config.corpus_file!r} does not exist")
        corpus = Path(config.corpus_file).read_text(encoding="utf-8").splitlines()
    elif not photos:
        raise dg.Failure("no real photos: materialize real_photos first")
    try:
        rows = prompt_rows(photos, config.origin, corpus)
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    warehouse.write("prompts", "all", rows)
    return dg.MaterializeResult(
        metadata={
            "origin": config.origin,
            "n_prompts": len(rows),
            "n_distinct": len({r["prompt"] for r in rows}),
            **row_count(len(rows)),
        },
        data_version=content_version(rows, ("prompt_id", "prompt")),
    )


__all__ = ["real_images", "real_photos", "prompts"]
STATS_TABLE = "real_image_stats"
CODE_VERSION = "2"  # bump when a change alters the crops written (marks real_images stale)
# 2: crops are cut from upright pixels (EXIF orientation applied by screen.decode)


class RealImagesConfig(dg.Config):
    """Per fake size, ceil(n_fakes * reals_per_fake) crops shared by the photos that fit
    (or exactly `crops_per_photo` per photo when > 0). `post`: see real/post.py; pass the
    same spec to sampling so both classes get it."""

    reals_per_fake: float = Field(default=1.0, gt=0, description="Real crops per fake image.")
    crops_per_photo: int = Field(default=0, ge=0, description="Exactly this many crops per "
                                 "photo and fake size (0: as many reals as fakes).")
    post: str = Field(default="", description="Post-processing spec (e.g. 'jpeg:70-95'; "
                      "fakeimg_assets/real/post.py); the same as sampling's.")
    seed: int = Field(default=0, ge=0, description="Crop seed >= 0.")
    post_parses = field_validator("post")(field_check(check_post))


def fake_sizes(warehouse: WarehouseResource) -> dict[tuple[int, int], int]:
    """Number of fakes per distinct (width, height), before any post-processing."""
    df = warehouse.query(
        "SELECT width, height, count(*) AS n FROM images WHERE label = 'fake' "
        "AND width IS NOT NULL AND height IS NOT NULL GROUP BY ALL"
    )
    return {(int(r["width"]), int(r["height"])): int(r["n"]) for r in df.iter_rows(named=True)}


def _spec(key: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, group_name=GROUP, deps=[real_photos, "sampled_images"], kinds={"pillow", "duckdb"},
        code_version=CODE_VERSION, metadata=table_metadata(key), description=description,
    )


@dg.multi_asset(
    name="real_images",
    specs=[
        _spec("real_images",
              "Real crops at every fake size, native resolution, same encoder as fakes."),
        _spec(STATS_TABLE, "Quality measures of the real crops (written by real_images)."),
    ],
)
def real_images(
    context: dg.AssetExecutionContext,
    config: RealImagesConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
) -> Iterator[dg.MaterializeResult]:
    try:
        parse_post(config.post)
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    sizes = fake_sizes(warehouse)
    if not sizes:
        raise dg.Failure("no fake images yet: sample models first (reals are cut at their sizes)")
    f = resize_factor(config.post)  # fakes were resized by it after sampling: cut larger
    cut_sizes = {(round(w / f), round(h / f)): n for (w, h), n in sizes.items()}
    photos = warehouse.query(
        "SELECT * FROM real_photos WHERE status = 'kept' AND path IS NOT NULL ORDER BY photo_id"
    ).unique("photo_id", keep="first", maintain_order=True)
    if photos.height == 0:
        raise dg.Failure("no kept real photos: materialize real_photos first")
    by_id = {r["photo_id"]: r for r in photos.iter_rows(named=True)}
    try:
        plan = plan_crops(
            {pid: (r["width"], r["height"]) for pid, r in by_id.items()},
            cut_sizes,
            reals_per_fake=config.reals_per_fake,
            crops_per_photo=config.crops_per_photo,
            seed=config.seed,
        )
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    per_photo = defaultdict(list)
    for spec in plan.crops:
        per_photo[spec.photo_id].append(spec)
    by_source: dict[str, list[str]] = defaultdict(list)
    for pid in per_photo:
        by_source[by_id[pid]["source"]].append(pid)
    home, now = image_store.home_dir(), utcnow()
    counts, previews, n_rows, unchanged = defaultdict(int), [], 0, []
    n_stats = 0
    for source, pids in sorted(by_source.items()):
        todo = [(by_id[pid], per_photo[pid]) for pid in pids]
        planned = []
        for spec, crop, row, _ in _crops(todo, home, config, lambda name, data: None, now):
            planned.append(row)
            counts[f"{spec.width}x{spec.height}"] += 1
            if len(previews) < 16 and spec.index == 0:
                previews.append(crop)
        n_rows += len(planned)
        if _unchanged(warehouse, source, planned, home):
            unchanged.append(source)  # same crops, same bytes: keep the published version
            n_stats += warehouse.read_key(STATS_TABLE, partition_key("real", source)).height
            continue
        rows, stats = [], []
        with image_store.partition_writer("real", source, warehouse) as writer:
            for _, _, row, measure in _crops(todo, home, config, writer.add, now):
                rows.append(row)
                stats.append(measure)
            warehouse.write(STATS_TABLE, partition_key("real", source), stats)
            writer.commit(rows)
        n_stats += len(stats)
    yield dg.MaterializeResult(
        asset_key="real_images",
        metadata={
            "n_images": n_rows,
            **row_count(n_rows),
            "unchanged_sources": dg.MetadataValue.json(unchanged),
            "n_photos_used": len(per_photo),
            "per_size": dg.MetadataValue.json(dict(sorted(counts.items()))),
            "fake_sizes": dg.MetadataValue.json({f"{w}x{h}": n for (w, h), n in sizes.items()}),
            "photos_too_small": dg.MetadataValue.json(
                {k: len(v) for k, v in plan.skipped_small.items()}
            ),
            "post": config.post or "none",
            **preview_metadata(image_store.home_dir(), "real", "real_images",
                               [_png(c) for c in previews]),
        }
    )
    yield dg.MaterializeResult(
        asset_key=STATS_TABLE,
        metadata={**row_count(n_stats), "unchanged_sources": dg.MetadataValue.json(unchanged)},
    )


def _png(crop: np.ndarray) -> bytes:
    from PIL import Image


    return encode_png(Image.fromarray(crop))


def _crops(todo, home, config, add, now):  # noqa: ANN001, ANN202 - a generator of rows
    """(spec, pixels, images row, image_stats row) of each planned crop; `add` stores bytes."""
    for photo, specs in todo:  # one photo decoded at a time; its crops are copies
        rgb, _, _ = decode((home / photo["path"]).read_bytes())
        for spec, crop in cut_crops(rgb, specs):
            yield spec, crop, *_crop_row(crop, photo, spec, config, add, now)
        del rgb


_SAME = ("image_id", "sha256", "photo_split", "prompt", "post")


def _unchanged(warehouse: WarehouseResource, source: str, planned: list[dict], home) -> bool:  # noqa: ANN001
    """True when the published rows are exactly the planned crops and their files exist.

    Re-running keeps paths stable then, so splits recorded earlier still point at files.
    """
    current = warehouse.read_key("real_images", partition_key("real", source))
    if current.height != len(planned) or not current.height:
        return False
    have = {tuple(r[k] for k in _SAME) for r in current.iter_rows(named=True)}
    if have != {tuple(r[k] for k in _SAME) for r in planned}:
        return False
    return all((home / p).is_file() for p in current["path"])


def _crop_row(crop, photo, spec, config, add, now) -> tuple[dict, dict]:  # noqa: ANN001
    """One crop encoded like a fake (or post-processed), its `real_images` and
    `real_image_stats` rows."""
    from PIL import Image

    stem = f"{photo['sha256'][:16]}-{spec.width}x{spec.height}-{spec.index:04d}"
    image_id = f"real:{photo['source']}:{stem}"
    out = apply_post(Image.fromarray(crop), config.post, image_id, seed=config.seed)
    ext = ".png" if out.format == "PNG" else ".jpg"
    row = {
        "image_id": image_id,
        "label": "real",
        "source": photo["source"],
        "path": add(stem + ext, out.data),
        "sha256": sha256_bytes(out.data),
        "width": out.width,
        "height": out.height,
        "format": out.format,
        "mode": "RGB",
        "post": out.post,
        "file_bytes": len(out.data),
        "prompt": photo["caption"],
        "origin": f"{photo['name']}#crop={spec.x},{spec.y},{spec.width},{spec.height}",
        "photo_id": photo["photo_id"],
        "photo_split": photo["photo_split"],
        "created_at": now,
    }
    measure = {
        "image_id": image_id,
        "source": photo["source"],
        "label": "real",
        **image_measures(np.ascontiguousarray(crop)),
        "sha256_ok": True,
    }
    return row, measure
