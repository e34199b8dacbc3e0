"""Prompts that vary: a caption per band and per crop, and a split rule that keeps every
scene and every family on both sides with enough prompts (checked, not assumed)."""

from __future__ import annotations

import numpy as np
import pytest

from fakeimg_assets.testbed.world.checks import distinct_fraction, divergence
from fakeimg_assets.testbed.world.dataset import BANDS
from fakeimg_assets.testbed.world.photos import (
    CAPTIONS,
    COLOUR_PHOTOS,
    generator_pool,
    sample_crops,
)
from fakeimg_assets.testbed.world.science import BandPhoto, split_problems
from fakeimg_assets.testbed.world.spec import default_world


def test_every_photo_has_a_distinct_caption_per_band() -> None:
    assert set(CAPTIONS) == set(COLOUR_PHOTOS)
    captions = [c for cs in CAPTIONS.values() for c in cs]
    assert len(captions) == len(set(captions)) == len(COLOUR_PHOTOS) * BANDS


def test_generators_train_on_every_caption_of_their_photos() -> None:
    pool = generator_pool(("coffee", "retina"))
    _, captions = sample_crops(pool, 400, 16, seed=0)
    assert set(captions) == set(CAPTIONS["coffee"]) | set(CAPTIONS["retina"])


def _photos() -> list[BandPhoto]:
    return [BandPhoto(p, f"world--photos:{p}{i}", CAPTIONS[p][i])
            for p in COLOUR_PHOTOS for i in range(BANDS)]


def _files(spec) -> dict[str, str]:  # noqa: ANN001
    return {f"{g.model_id}/unet/diffusion_pytorch_model.safetensors": f"{i:064x}"
            for i, g in enumerate(spec.generators)}


def test_the_split_rule_names_what_breaks_it() -> None:
    spec = default_world(8, families=("sd1", "pixart"))
    photos, files = _photos(), _files(spec)
    problems = {seed: split_problems(spec, files, photos, seed, 16) for seed in range(40)}
    good = [s for s, p in problems.items() if not p]
    assert good, problems
    bad = [p for p in problems.values() if p]
    words = " ".join(x for p in bad for x in p)
    assert "scene" in words or "family" in words
    assert any("training prompts" in x for x in split_problems(spec, files, photos, good[0], 99))


def test_mostly_duplicate_samples_fail_the_divergence_check() -> None:
    rng = np.random.default_rng(0)
    distinct = rng.uniform(size=(8, 8, 8, 3)).astype(np.float32)
    dupes = np.concatenate([distinct[:2]] * 4)
    assert distinct_fraction(distinct) == 1.0 and distinct_fraction(dupes) == pytest.approx(0.25)
    assert divergence(distinct) is None
    assert "mostly duplicates" in divergence(dupes)
    assert divergence(dupes, min_distinct=0.2) is None
