"""Checks on trained generators: divergence (saturated or constant output), spectra, grids.

A diverged run must never be served as a generator: its images would teach the detector a
trivial cue. High-frequency energy is how tests tell learned images from coloured noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fakeimg_assets.sampling.recipes import recipe_for_pipeline

PROMPTS = (
    "a portrait of an astronaut in a white spacesuit in front of a flag",
    "a close-up photo of a tabby cat with green eyes",
    "a cup of coffee with latte art on a saucer",
    "a rocket standing on the launch pad under a blue sky",
)


class GeneratorDivergedError(RuntimeError):
    """A trained generator whose samples are non-finite, saturated or constant."""


def sample(pipe: Any, n: int = 16, *, steps: int = 10, seed: int = 0) -> np.ndarray:
    """`n` seeded samples (n, H, W, 3) float in [0, 1], prompts cycling through PROMPTS.

    Called with the platform's sampling recipe's fixed call arguments for the pipeline class
    (e.g. PixArt without resolution binning), so the check sees what the platform will sample.
    """
    import torch

    pipe.set_progress_bar_config(disable=True)
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(n)]
    extra = dict(recipe_for_pipeline(type(pipe).__name__).call_kwargs)
    out = pipe(
        prompts, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed),
        output_type="np", **extra,
    )
    return np.asarray(out.images, dtype=np.float32)


DUPLICATE_MAD = 0.01  # mean absolute pixel difference under which two samples are one
MIN_DISTINCT_FRACTION = 0.5  # a generator must draw at least this share of distinct samples


def distinct_fraction(images: np.ndarray, tol: float = DUPLICATE_MAD) -> float:
    """Share of samples that are not near-duplicates of an earlier one (greedy, in order)."""
    flat = images.reshape(len(images), -1)
    kept: list[np.ndarray] = []
    for x in flat:
        if all(float(np.abs(x - k).mean()) >= tol for k in kept):
            kept.append(x)
    return len(kept) / max(1, len(flat))


def divergence(images: np.ndarray, min_distinct: float = MIN_DISTINCT_FRACTION) -> str | None:
    """Why these samples look diverged, or None: NaN, > 50 % pixels clipped, constant,
    or mostly duplicates (seeds and prompts that should differ giving the same image)."""
    if not np.isfinite(images).all():
        return "non-finite pixels"
    clipped = float(((images <= 1 / 255) | (images >= 254 / 255)).all(axis=-1).mean())
    if clipped > 0.5:
        return f"saturated: {clipped:.0%} of pixels black or white"
    per_image_std = images.reshape(len(images), -1).std(axis=1)
    if float(per_image_std.max()) < 0.01:
        return "constant output: every image has pixel std < 0.01"
    if float(images.std(axis=0).mean()) < 0.005:
        return "collapsed: all samples identical"
    distinct = distinct_fraction(images)
    if distinct < min_distinct:
        return (f"mostly duplicates: {distinct:.0%} of {len(images)} samples distinct "
                f"(< {min_distinct:.0%})")
    return None


def check_not_diverged(model_id: str, images: np.ndarray,
                       min_distinct: float = MIN_DISTINCT_FRACTION) -> None:
    """Raise `GeneratorDivergedError` naming the model and the reason."""
    reason = divergence(images, min_distinct)
    if reason:
        raise GeneratorDivergedError(f"{model_id}: {reason}")


def high_freq_energy(images: np.ndarray) -> float:
    """Mean fraction of each image's (luma, mean-removed) spectral energy above half Nyquist."""
    luma = images @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    luma = luma - luma.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(luma)) ** 2
    h, w = luma.shape[1:]
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    high = np.sqrt(fy**2 + fx**2) > 0.25
    total = power.sum(axis=(1, 2)) + 1e-12
    return float((power[:, high].sum(axis=1) / total).mean())


def save_grid(images: np.ndarray, path: Any, *, cols: int = 4, scale: int = 4) -> None:
    """A PNG grid of samples, upscaled (nearest) so tiny images are visible."""
    from PIL import Image

    n, h, w, _ = images.shape
    rows = -(-n // cols)
    grid = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = (img * 255).round().clip(0, 255)
    Image.fromarray(grid).resize((cols * w * scale, rows * h * scale), Image.NEAREST).save(path)
