"""What re-creates a storage table's file once repair quarantined it, and how it is asked for.

Every storage table is written by one asset, and each asset runs in one job (`jobs.py`;
`tests/integrity/test_damaged_parquet.py` checks this table against the definitions). A
per-model file (`model_metadata`, `fake_images`, `fake_image_stats`, `model_stats`) is marked for
re-run with a `model_failures` row, stage 'storage', transient: the `new_hub_models`
sensor re-requests a model whose latest failure is transient and that has no newer images
(`sensors/retries.py`), and `fakeimg summary` lists it among failed models until then.
Other files get the command that re-materializes them, printed by `fakeimg verify`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fakeimg_assets.lib.paths import InvalidModelIdError, slug_to_model_id
from fakeimg_assets.warehouse.migrate import LEGACY_FOLDERS

# storage table -> the job whose run writes it again
RELATION_JOBS: dict[str, str] = {
    "hub_models": "hub_crawl",
    "crawl_rejects": "hub_crawl",
    "hub_census": "hub_crawl",
    "model_metadata": "sample_model",
    "fake_images": "sample_model",
    "fake_image_stats": "sample_model",
    "model_stats": "sample_model",
    "real_photos": "real_data",
    "prompts": "real_data",
    "real_images": "real_crops",
    "real_image_stats": "real_crops",
    "collections": "collections",
    "collection_rejects": "collections",
    "collection_real_images": "collections",
    "collection_real_image_stats": "collections",
    "shortcut_audit": "train_detector",
    "detector_splits": "train_detector",
    "split_versions": "train_detector",
    "trained_detectors": "train_detector",
    "scaling_detectors": "train_detector",
    "protocol_detectors": "train_detector",
    "detector_eval_results": "train_detector",
    "cross_dataset_results": "train_detector",
    "diversity_results": "train_detector",
    "diversity_detectors": "train_detector",
    "cross_dataset_detectors": "train_detector",
    "scaling_results": "train_detector",
}

# per-model storage table -> (the asset that writes it, the key's prefix before the slug)
PER_MODEL: dict[str, tuple[str, str]] = {
    "model_metadata": ("model_metadata", ""),
    "fake_images": ("sampled_images", "fake--"),
    "fake_image_stats": ("image_quality_stats", "fake--"),
    "model_stats": ("image_quality_stats", ""),
}

# storage tables nothing re-creates, and why
NO_RERUN: dict[str, str] = {
    "model_failures": "a failure log: its rows are lost, and no run writes them again",
    "outside_eval_results": "an outside detector's scores: run `fakeimg evaluate --detector "
    "SPEC --name NAME` again (the file's key names the detector and split)",
}


@dataclass(frozen=True)
class Rerun:
    """How a quarantined file of `relation`/`key` comes back."""

    relation: str
    key: str
    model_id: str | None  # a per-model file: the partition to sample again
    asset: str | None  # that partition's asset (the failure row's `asset`)
    command: str | None  # what re-materializes it, None when nothing does
    why_not: str | None = None  # when command is None

    def line(self) -> str:
        if self.command is None:
            return f"nothing re-creates parquet/{self.relation}/{self.key}.parquet: {self.why_not}"
        if self.model_id is not None:
            return (f"re-run: `{self.command}` (or let the new_hub_models sensor re-request "
                    f"it: a transient model_failures row, stage 'storage', marks {self.model_id})")
        return f"re-run: `{self.command}`"


def rerun_for(relation: str, key: str) -> Rerun:
    """The re-run of one file; `relation` may be an old layout's shared folder."""
    if relation in LEGACY_FOLDERS:  # parquet/images etc., not yet split: decided by the key
        relation = LEGACY_FOLDERS[relation](key)
    if relation in NO_RERUN:
        return Rerun(relation, key, None, None, None, NO_RERUN[relation])
    if relation in PER_MODEL:
        asset, prefix = PER_MODEL[relation]
        model_id = _model_of(key, prefix)
        if model_id is not None:
            return Rerun(relation, key, model_id, asset,
                         f"dg launch --job sample_model --partition {model_id}")
        return Rerun(relation, key, None, None, None,
                     f"its key {key!r} names no model (expected '{prefix}org--name')")
    job = RELATION_JOBS.get(relation)
    if job is None:
        return Rerun(relation, key, None, None, None,
                     f"{relation!r} is no storage table fakeimg writes")
    return Rerun(relation, key, None, None, f"dg launch --job {job}")


def _model_of(key: str, prefix: str) -> str | None:
    if not key.startswith(prefix):
        return None
    try:
        return slug_to_model_id(key[len(prefix):])
    except InvalidModelIdError:
        return None


def failure_row(rerun: Rerun, original: str, moved_to: str, detail: str,
                failed_at: dt.datetime) -> dict:
    """The `model_failures` row that marks a per-model partition for re-run."""
    if rerun.model_id is None or rerun.asset is None:
        raise ValueError(f"parquet/{rerun.relation}/{rerun.key}.parquet is no per-model file")
    return {
        "model_id": rerun.model_id,
        "asset": rerun.asset,
        "stage": "storage",
        "error_type": "DamagedParquet",
        "message": (f"{original} was unreadable ({detail}); `fakeimg verify --repair` moved "
                    f"it to {moved_to}; re-run: {rerun.command}")[:4000],
        "transient": True,  # storage damage is no verdict on the repo: sample it again
        "failed_at": failed_at,
        "dagster_run_id": None,
    }


def failure_key(rerun: Rerun, failed_at: dt.datetime) -> str:
    """The row's file key, as `models/failures.py` names its own: `<slug>--<asset>--<time>`."""
    if rerun.model_id is None:
        raise ValueError("no model to mark")
    return f"{rerun.model_id.replace('/', '--')}--{rerun.asset}--{failed_at:%Y%m%dT%H%M%S%f}"
