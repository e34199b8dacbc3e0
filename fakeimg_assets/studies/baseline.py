"""The pixel-statistics baseline a detector must beat: what simple image statistics alone
tell fakes from reals, trained and scored exactly like a study's detector.

Per image: colour moments (mean and standard deviation of each RGB channel), high-frequency
energy (the share of luma spectral energy above half Nyquist: generators are smoother than
photographs) and PNG bytes per pixel (noise and texture compress worse). A standardised
logistic regression is fitted on a run's own training frame and scores the run's own
evaluation sets, so the detector's margin over it is paired, run by run and generator by
generator (`verdict.paired_margin_bootstrap`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

FEATURES = ("r_mean", "g_mean", "b_mean", "r_std", "g_std", "b_std", "high_freq_energy",
            "png_bytes_per_pixel")  # fmt: skip
BASELINE_NAME = "pixel_stats_logreg"


def high_freq_energy(rgb: np.ndarray) -> float:
    """Fraction of the (mean-removed) luma spectral energy above half Nyquist; rgb in [0, 1]."""
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    luma = luma - luma.mean()
    power = np.abs(np.fft.fft2(luma)) ** 2
    h, w = luma.shape
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    high = np.sqrt(fy**2 + fx**2) > 0.25
    return float(power[high].sum() / (power.sum() + 1e-12))


def pixel_features(data: bytes) -> np.ndarray:
    """The baseline's features of one image file's bytes (unreadable files raise)."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception as exc:  # noqa: BLE001 - any decoder error
        raise ValueError(f"unreadable image: {type(exc).__name__}: {exc}") from exc
    rgb = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
    h, w = rgb.shape[:2]
    flat = rgb.reshape(-1, 3)
    return np.concatenate([flat.mean(axis=0), flat.std(axis=0),
                           [high_freq_energy(rgb), len(data) / max(1, h * w)]])  # fmt: skip


class FeatureCache:
    """Features by image path, each file read once per study."""

    def __init__(self, absolute: Callable[[str], Path]) -> None:
        self.absolute = absolute
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, paths: Sequence[str]) -> np.ndarray:
        for p in paths:
            if p not in self.cache:
                self.cache[p] = pixel_features(Path(self.absolute(p)).read_bytes())
        return np.vstack([self.cache[p] for p in paths]) if paths else np.zeros((0, len(FEATURES)))


def fit_baseline(x: np.ndarray, y: Sequence[int], seed: int = 0):  # -> sklearn pipeline
    """A standardised logistic regression on the training frame's features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(y)
    if set(np.unique(labels)) != {0, 1}:
        raise ValueError("the baseline needs both reals and fakes to train on")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    return model.fit(x, labels)


def baseline_scorer(
    features: FeatureCache, train_paths: Sequence[str], train_labels: Sequence[int],
    seed: int = 0,
) -> Callable[[Sequence[str]], Mapping[str, float]]:
    """Fit on a run's training images; returns paths -> P(fake) for its evaluation sets."""
    model = fit_baseline(features(train_paths), train_labels, seed)

    def score(paths: Sequence[str]) -> dict[str, float]:
        probs = model.predict_proba(features(list(paths)))[:, 1] if paths else []
        return dict(zip(paths, (float(p) for p in probs), strict=True))

    return score
