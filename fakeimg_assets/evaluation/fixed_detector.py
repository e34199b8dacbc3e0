"""`eval_results` rows of a fixed detector, one that is scored, never retrained: the
held-out models of a split's test side (as is and under every perturbation) and the outside
sets (role-'eval' collections, the test side of role-'both' ones).

The platform's own detector (`detector_evaluation`) and an outside detector
(`outside_detector_evaluation`) both go through `fixed_detector_rows`, so their rows are
comparable by construction: same images, same balanced sets, same bootstrap seeds.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from fakeimg_assets.evaluation.external import (
    EXTERNAL_MATCH_SIZES,
    collections_with_role,
    external_sets,
    test_side_sets,
)
from fakeimg_assets.evaluation.perturb import perturbed_copies
from fakeimg_assets.evaluation.rows import evaluation_rows
from resources import ImageStoreResource, WarehouseResource

ScoreFn = Callable[[Sequence[str]], np.ndarray]  # image paths -> P(fake), same order

# the protocols that make sense without retraining (held_out_family and time_ordered train
# one detector per held-out part, which a fixed detector cannot)
FIXED_PROTOCOLS = ("held_out_models", "external")


def scored(rows: pl.DataFrame, scores) -> pl.DataFrame:  # noqa: ANN001 - any float sequence
    """`rows` with a float `score` column."""
    return rows.with_columns(pl.Series("score", [float(s) for s in scores], dtype=pl.Float64))


def fixed_detector_rows(
    score: ScoreFn,
    test: pl.DataFrame,
    *,
    run_id: str,
    split_id: str,
    protocols: Sequence[str],
    perturbations: Sequence[str],
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    seed: int,
    n_boot: int,
    extra: dict | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> list[dict]:
    """Rows of `FIXED_PROTOCOLS` that are in `protocols`; `test` is the split's test side
    (with width/height), sorted as it should be scored; `extra` columns go on every row."""
    extra = extra or {}
    rows: list[dict] = []
    paths = [str(image_store.absolute(p)) for p in test["path"]]

    def rows_for(frame: pl.DataFrame, perturbation: str | None) -> list[dict]:
        return evaluation_rows(frame, run_id=run_id, split_id=split_id,
                               protocol="held_out_models", perturbation=perturbation,
                               seed=seed, n_boot=n_boot, extra=extra)

    if "held_out_models" in protocols:
        rows += rows_for(scored(test, score(paths)), None)
        with tempfile.TemporaryDirectory(dir=image_store.home_dir()) as tmp:
            for name in perturbations:
                copies = perturbed_copies(paths, name, Path(tmp) / name)
                rows += rows_for(scored(test, score([str(c) for c in copies])), name)
                log(f"held_out_models under {name}: {len(copies)} images scored")
    if "external" in protocols:
        platform_reals = test.filter((pl.col("label") == "real") & pl.col("collection").is_null())
        sets = external_sets(warehouse, platform_reals)
        sets |= test_side_sets(test, collections_with_role(warehouse, ("both",)), platform_reals)
        for name, frame in sets.items():
            frame = frame.sort("image_id")
            scores = score([str(image_store.absolute(p)) for p in frame["path"]])
            rows += evaluation_rows(
                scored(frame, scores), run_id=run_id, split_id=split_id, protocol="external",
                seed=seed, n_boot=n_boot, match_sizes=EXTERNAL_MATCH_SIZES,
                extra={**extra, "eval_set": name})
            log(f"external set {name}: {frame.height} images scored")
    return rows
