"""What each scaling-study run is scored on, and the scores.

Every run gets its held-out generators (the study's fixed set, or for a leave-one-family-out
run the left-out family's generators) and, as a control, the SEEN generators: images of its
own training models that it did not train on. All sets pair each generator's fakes with as
many size-matched test reals (the evaluation's balanced per-generator sets), so a set's AP
is about that generator, not about class balance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from fakeimg_assets.evaluation.metrics import binary_metrics
from fakeimg_assets.evaluation.rows import balanced_sets
from fakeimg_assets.lib.paths import derive_seed
from fakeimg_assets.studies.scaling import Draw, StudyDesign

SEEN_CAP = 64  # images per seen generator scored (unused training-side images)
LOFO_CAP = 128  # images per generator of a left-out family taken from the training side


class Selections:
    """Which rows each generator's balanced set takes, per evaluated frame, kept for a study.

    The choice depends only on the frame's rows (ids, sources, labels, sizes), never on the
    scores, and a study scores the same held-out frame with every run: choosing once saves
    hashing every real for every generator on every run. The sets are the same rows in the
    same order as `balanced_sets` gives, so the metrics are identical.
    """

    def __init__(self) -> None:
        self.rows: dict[tuple, dict[str, list[int]]] = {}

    def sets(self, scored: pl.DataFrame) -> dict[str, pl.DataFrame]:
        key = tuple(scored["image_id"].to_list())
        rows = self.rows.get(key)
        if rows is None:
            numbered = scored.with_row_index("_row")
            rows = {m: s["_row"].to_list() for m, s in balanced_sets(numbered, 0).items()}
            self.rows[key] = rows
        return {m: scored[r] for m, r in rows.items()}


def scores_of(df: pl.DataFrame, score: Callable[[str], float],
              selections: Selections | None = None) -> dict:
    """Mean over generators of the balanced per-generator AP, plus pooled metrics."""

    scored = df.with_columns(pl.Series("score", [score(p) for p in df["path"]], pl.Float64))
    sets = balanced_sets(scored, 0) if selections is None else selections.sets(scored)
    if not sets:
        raise ValueError("no evaluated generator has test reals at its image sizes")
    per: dict[str, float] = {}
    for model, s in sets.items():
        labels = (s["label"] == "fake").cast(pl.Int64).to_list()
        ap = binary_metrics(labels, s["score"].to_list())["ap"]
        if ap is not None:
            per[model] = float(ap)
    pooled = pl.concat(list(sets.values()))
    m = binary_metrics((pooled["label"] == "fake").cast(pl.Int64).to_list(), pooled["score"].to_list())
    return {"ap": float(np.mean(list(per.values()))) if per else None, "pooled_ap": m["ap"],
            "accuracy": m["accuracy"], "auc": m["auc"], "n_heldout_models": len(sets),
            "generator_ap": per}  # fmt: skip


def capped(df: pl.DataFrame, cap: int, *salt: object) -> pl.DataFrame:
    """At most `cap` rows per source, chosen by a seeded hash of image_id (reproducible)."""

    keys = [derive_seed(*salt, i) for i in df["image_id"]]
    return (
        df.with_columns(pl.Series("_k", keys))
        .sort("source", "_k", "image_id")
        .group_by("source", maintain_order=True)
        .head(cap)
        .select(df.columns)
    )


def score_sets(sets: dict[str, pl.DataFrame], score: Callable[[str], float],
               selections: Selections | None = None) -> dict[str, dict]:
    """Scores per set; only "heldout" must be scorable, the controls are None when not."""
    out: dict[str, dict] = {}
    for name, df in sets.items():
        try:
            out[name] = scores_of(df, score, selections)
        except ValueError:
            if name == "heldout":
                raise
    return out


def eval_sets(
    draw: Draw, design: StudyDesign, test: pl.DataFrame, train_fakes: pl.DataFrame,
    trained_on: pl.DataFrame, seed: int,
) -> dict[str, pl.DataFrame]:
    """{"heldout": ..., "seen": ..., and for leave-one-family-out runs "other": ...}.

    `test` is the study's held-out frame (test reals + held-out fakes); `train_fakes` every
    training-side fake; `trained_on` the run's training frame. All frames carry width/height.
    """
    reals = test.filter(pl.col("label") == "real")
    unused = train_fakes.filter(
        pl.col("source").is_in(list(draw.models))
        & ~pl.col("image_id").is_in(trained_on["image_id"].implode())
    )
    out = {}
    if unused.height:  # a draw that used every image of its models has no seen control
        out["seen"] = pl.concat([capped(unused, SEEN_CAP, "scaling-seen", seed), reals])
    if draw.left_out is None:
        out["heldout"] = test
        return out
    fam = design.families
    left = [m for m, f in fam.items() if f == draw.left_out]
    test_fakes = test.filter(pl.col("label") == "fake")
    left_fakes = pl.concat([
        test_fakes.filter(pl.col("source").is_in(left)),
        capped(train_fakes.filter(pl.col("source").is_in(left)), LOFO_CAP, "lofo", seed),
    ])  # fmt: skip
    out["heldout"] = pl.concat([left_fakes, reals])
    other = test_fakes.filter(~pl.col("source").is_in(left))
    if other.height:
        out["other"] = pl.concat([other, reals])
    return out
