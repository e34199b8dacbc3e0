"""`Selections`: a study chooses each generator's balanced set once per frame, and the
metrics are exactly those of choosing afresh on every run."""

from __future__ import annotations

import numpy as np
import polars as pl

from fakeimg_assets.studies.scaling_eval import Selections, scores_of


def _frame(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(4):
        for i in range(int(rng.integers(5, 30))):
            size = 32 if i % 3 else 48  # two sizes: the reals are matched by size
            rows.append((f"fake:g{g}:{i}", "fake", f"org/g{g}", size))
    for i in range(60):
        rows.append((f"real:r:{i}", "real", "photos", 32 if i % 4 else 48))
    return pl.DataFrame({
        "image_id": [r[0] for r in rows], "label": [r[1] for r in rows],
        "source": [r[2] for r in rows], "path": [f"{r[0]}.png" for r in rows],
        "architecture": ["sd1" if r[1] == "fake" else None for r in rows],
        "group_key": [r[2] for r in rows], "width": [r[3] for r in rows],
        "height": [r[3] for r in rows]})  # fmt: skip


def test_kept_selections_give_the_same_metrics_for_every_run() -> None:
    selections = Selections()
    frames = [_frame(0), _frame(1)]
    for run in range(3):  # each run scores both frames with its own scores
        for frame in frames:
            rng = np.random.default_rng(run)
            scores = dict(zip(frame["path"], rng.random(frame.height).tolist(), strict=True))
            assert scores_of(frame, scores.__getitem__, selections) == \
                scores_of(frame, scores.__getitem__)
    assert len(selections.rows) == 2  # one choice per frame, not per run
