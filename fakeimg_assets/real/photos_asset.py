"""`real_photos` (screened source photos with their side) and `prompts` (no test captions).

Photos are screened before any fake is sampled, so the prompt pool can be drawn from the
captions of training-side photos only: test content never reaches training as fakes.
"""


import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import dagster as dg

from fakeimg_assets.detection.sides import DEFAULT_TEST_FRACTION, photo_side
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.real.screen import PhotoVerdict, ScreenPolicy, screen_photos
from fakeimg_assets.real.sources import RealSource, make_source
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import HubResource, ImageStoreResource, WarehouseResource

GROUP = "real"
CODE_VERSION = "2"  # bump when a change alters what these assets write (marks them stale)
# 2: EXIF orientation applied (upright sizes), photos refused for unsafe paths, size or caption
PHOTO_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}


class RealPhotosConfig(dg.Config):
    """`source`: 'auto' (folder if set, else dataset if set, else the bundled demo photos),
    'skimage', 'folder' or 'hub_dataset'. The photo side uses the detector's test fraction."""

    source: str = "auto"
    folder: str = ""
    dataset: str = ""
    source_name: str = ""
    min_side: int = 64
    max_chroma: float = 4.0
    max_hash_distance: int = 6
    test_fraction: float = DEFAULT_TEST_FRACTION
    split_seed: int = 0


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
            if not target.exists():
                folder.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".tmp")
                tmp.write_bytes(v.data)
                tmp.replace(target)
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
