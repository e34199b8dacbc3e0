"""Training loops shared by the families: autoencoder, caption embeddings, DDPM denoiser.

Kept family-agnostic so each new family (SDXL, DiT, flow matching) only says how its
denoiser is called. Every random draw comes from a seeded `torch.Generator`, and the thread
count is fixed by the caller's process, so the same seed gives byte-identical weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fakeimg_assets.testbed.world.photos import generator_pool, sample_crops

N_CROPS = 2048  # most crops per training run (latents are encoded once, then sampled)


def n_crops(steps: int, batch: int = 32) -> int:
    """Crops worth cutting and encoding: no more than the run will draw (short test runs)."""
    return min(N_CROPS, max(256, steps * batch))


def fit_family_autoencoder(
    vae: Any, image_size: int, *, vae_steps: int, crop_seed: int, train_seed: int,
    batch: int = 32,
) -> tuple[np.ndarray, float]:
    """Every family's first step: fit its own autoencoder on crops of the whole generator
    pool (never the detector's photos); returns the crops (for latent statistics) and the
    last loss."""
    images, _ = sample_crops(generator_pool(), n_crops(vae_steps, batch), image_size,
                             seed=crop_seed)  # fmt: skip
    loss = train_autoencoder(vae, images, steps=vae_steps, seed=train_seed, batch=batch)
    return images, loss


def frozen(*modules: Any) -> None:
    """Freeze a family's shared parts (autoencoder, text encoders) before denoiser training."""
    for m in modules:
        m.requires_grad_(False)


def train_autoencoder(
    vae: Any, images: np.ndarray, *, steps: int, seed: int, batch: int = 32, lr: float = 2e-3,
    kl_weight: float = 1e-4,
) -> float:
    """Fit an `AutoencoderKL` to crops (reconstruction MSE + small KL), then set its
    `scaling_factor` to 1/std of its latents, as SD's was chosen; returns the last loss."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    data = torch.from_numpy(images)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    vae.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        idx = torch.randint(len(data), (batch,), generator=gen)
        x = data[idx]
        dist = vae.encode(x).latent_dist
        z = dist.mean + dist.std * torch.randn(dist.mean.shape, generator=gen)
        recon = vae.decode(z).sample
        kl = dist.kl().mean() / z[0].numel()
        loss = torch.nn.functional.mse_loss(recon, x) + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    vae.eval()
    mean, std = encode_latents(vae, images[:512])
    z = mean + std * torch.randn(mean.shape, generator=gen)
    vae.register_to_config(scaling_factor=round(1.0 / float(z.std()), 5))
    return float(loss.detach())


def encode_latents(vae: Any, images: np.ndarray, chunk: int = 256) -> tuple[Any, Any]:
    """Posterior mean and std of every image, unscaled (training samples from them)."""
    import torch

    means, stds = [], []
    with torch.no_grad():
        for i in range(0, len(images), chunk):
            dist = vae.encode(torch.from_numpy(images[i : i + chunk])).latent_dist
            means.append(dist.mean)
            stds.append(dist.std)
    return torch.cat(means), torch.cat(stds)


def caption_embeddings(
    tokenizer: Any, text_encoder: Any, captions: Sequence[str]
) -> tuple[Any, list[int]]:
    """Hidden states of each unique caption plus "" (last), encoded as the pipeline
    encodes prompts (padded to max length); returns them and each caption's row index."""
    import torch

    unique = sorted(set(captions)) + [""]
    tokens = tokenizer(
        unique, padding="max_length", max_length=tokenizer.model_max_length,
        truncation=True, return_tensors="pt",
    )
    with torch.no_grad():
        states = text_encoder(tokens.input_ids)[0]
    row = {c: i for i, c in enumerate(unique)}
    return states, [row[c] for c in captions]


def train_ddpm(
    denoiser: Callable[[Any, Any, Any], Any], params: Any, latents: tuple[Any, Any],
    cond: tuple[Any, list[int]], noise_scheduler: Any, *, steps: int, seed: int,
    batch: int = 32, lr: float = 1e-3, uncond_p: float = 0.1, scaling: float = 1.0,
) -> list[float]:
    """DDPM training: predict the noise (epsilon) or velocity (v) added at a uniform timestep.

    `denoiser(noisy, t, states)` returns the prediction; `cond` is (states, row per latent);
    a fraction `uncond_p` of captions is replaced by "" so classifier-free guidance works.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mean, std = latents
    states, rows = cond
    rows_t = torch.tensor(rows)
    empty = len(states) - 1
    n_t = noise_scheduler.config.num_train_timesteps
    kind = noise_scheduler.config.prediction_type
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    losses: list[float] = []
    for _ in range(steps):
        idx = torch.randint(len(mean), (batch,), generator=gen)
        z0 = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen)) * scaling
        noise = torch.randn(z0.shape, generator=gen)
        t = torch.randint(n_t, (batch,), generator=gen)
        noisy = noise_scheduler.add_noise(z0, noise, t)
        r = rows_t[idx].clone()
        r[torch.rand(batch, generator=gen) < uncond_p] = empty
        target = noise if kind == "epsilon" else noise_scheduler.get_velocity(z0, noise, t)
        loss = torch.nn.functional.mse_loss(denoiser(noisy, t, states[r]), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    return losses
