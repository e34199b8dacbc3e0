"""Pixel-space diffusion (DDPM, Ho et al. 2020): a denoiser on the pixels themselves, no
autoencoder, so the family's fingerprints differ from the latent families'.

An unconditional diffusers `UNet2DModel` (two resolution levels, no attention) trains on
seeded crops of a subset of the world's photo pool (`photos.py`) with the cosine noise
schedule of improved DDPM and is sampled with `DDIMScheduler` (eta 0, trailing timesteps)
in a plain loop. An exponential moving average of the weights is what samples, as in DDPM.

Objective: v-prediction (Salimans & Ho 2022), not epsilon. Measured on this recipe's budget
(a few hundred steps on 2 CPU cores): an epsilon model's x0 estimate at low signal-to-noise
is ill-conditioned, and its DDIM samples collapsed to the mean grey (with x0 clipping) or
saturated (without); the v model's samples keep the photos' colours (mean RGB within a few
levels of the training crops'). The loss is still the DDPM mean-squared error on the
network's prediction; `PREDICTION` names what it predicts.

Deterministic: every draw comes from a seeded `torch.Generator`, weights are initialised per
component seed, and the caller fixes the thread count.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from fakeimg_assets.testbed.world.image_tensors import check_image_size, to_uint8
from fakeimg_assets.testbed.world.photos import generator_pool, sample_crops
from fakeimg_assets.testbed.world.spec import IMAGE_SIZE
from fakeimg_assets.testbed.world.train import n_crops
from fakeimg_assets.testbed.zoo.components import seed_component

BLOCKS = (16, 32)  # UNet channels per resolution level
BATCH = 16  # measured: 500 steps of 16 beat 400 of 32 (lower loss, truer colours) at 60 % of the CPU
LR = 2e-3
EMA_DECAY = 0.99  # short runs: an average over the last ~100 steps
PREDICTION = "v_prediction"
TRAIN_TIMESTEPS = 1000
SAMPLE_STEPS = 20
SAMPLE_CHUNK = 120
PRIMARY_LOSS = "mse"  # the loss reported as a generator's first/last loss


def new_unet(seed: int, image_size: int = IMAGE_SIZE) -> Any:
    """An untrained unconditional UNet2DModel over (n, 3, S, S) pixels in [-1, 1]."""
    from diffusers import UNet2DModel

    check_image_size(image_size)
    seed_component(seed, "outside-pixel-ddpm-unet")
    return UNet2DModel(
        sample_size=image_size, in_channels=3, out_channels=3, block_out_channels=BLOCKS,
        layers_per_block=1, norm_num_groups=8, add_attention=False,
        down_block_types=("DownBlock2D",) * len(BLOCKS),
        up_block_types=("UpBlock2D",) * len(BLOCKS),
    )


def noise_scheduler() -> Any:
    """The training noise schedule: improved DDPM's cosine betas, 1000 steps."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="squaredcos_cap_v2",
        prediction_type=PREDICTION, clip_sample=True,
    )


def sampling_scheduler() -> Any:
    """DDIM (eta 0) over the training schedule, from the last timestep ("trailing")."""
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(noise_scheduler().config, timestep_spacing="trailing")


def train_generator(
    photos: tuple[str, ...], *, seed: int, steps: int, image_size: int = IMAGE_SIZE,
    batch: int = BATCH,
) -> tuple[Any, dict[str, list[float]]]:
    """Train a pixel-space DDPM on seeded crops of `photos`; returns the weight average
    (eval mode) and the per-step losses {"mse": [...]}."""
    import torch
    import torch.nn.functional as F

    if steps < 1:
        raise ValueError(f"a pixel diffusion model needs at least one training step, got {steps}")
    crops, _ = sample_crops(generator_pool(photos), n_crops(steps, batch), image_size,
                            seed=seed)  # fmt: skip
    data = torch.from_numpy(crops)
    unet = new_unet(seed, image_size)
    ema = copy.deepcopy(unet).requires_grad_(False)
    sched = noise_scheduler()
    opt = torch.optim.AdamW(unet.parameters(), lr=LR, weight_decay=1e-2)
    gen = torch.Generator().manual_seed(seed + 1)
    torch.manual_seed(seed + 1)
    losses: list[float] = []
    unet.train()
    for _ in range(steps):
        x0 = data[torch.randint(len(data), (batch,), generator=gen)]
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(TRAIN_TIMESTEPS, (batch,), generator=gen)
        target = noise if PREDICTION == "epsilon" else sched.get_velocity(x0, noise, t)
        loss = F.mse_loss(unet(sched.add_noise(x0, noise, t), t).sample, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for avg, p in zip(ema.parameters(), unet.parameters(), strict=True):
                avg.lerp_(p, 1.0 - EMA_DECAY)
        losses.append(float(loss.detach()))
    ema.eval()
    return ema, {PRIMARY_LOSS: losses}


def sample_images(unet: Any, n: int, *, seed: int, steps: int = SAMPLE_STEPS) -> np.ndarray:
    """`n` seeded samples (n, S, S, 3) uint8: DDIM from Gaussian noise, drawn chunk by chunk
    from one seeded generator (memory stays bounded by SAMPLE_CHUNK)."""
    import torch

    if steps < 1:
        raise ValueError(f"sampling needs at least one denoising step, got {steps}")
    unet.eval()
    size = unet.config.sample_size
    gen = torch.Generator().manual_seed(seed)
    parts = []
    with torch.no_grad():
        for i in range(0, n, SAMPLE_CHUNK):
            sched = sampling_scheduler()
            sched.set_timesteps(steps)
            x = torch.randn(min(SAMPLE_CHUNK, n - i), 3, size, size, generator=gen)
            for t in sched.timesteps:
                x = sched.step(unet(x, t).sample, t, x).prev_sample
            parts.append(to_uint8(x))
    return np.concatenate(parts)
