"""A small DCGAN (Radford et al. 2016): a generator the platform cannot run as a pipeline.

The generator maps a 64-d Gaussian code through transposed convolutions (4x4 kernels, stride
2, batch norm, ReLU) to a tanh RGB image; the discriminator mirrors it with strided
convolutions and leaky ReLUs. Trained with the non-saturating loss and Adam(2e-4, beta1 0.5),
as the paper did, on seeded crops of a subset of the world's photo pool (`photos.py`: left
halves only, native resolution), so its images share the latent families' pixel statistics
and carry a GAN's own fingerprints (transposed-convolution checkerboards).

Deterministic: every draw comes from a seeded `torch.Generator`, weights are initialised per
component seed, and the caller fixes the thread count, so a seed gives byte-identical images.
Samples are drawn in eval mode, so an image does not depend on which other images share its
batch; the batch-norm statistics are first recomputed over seeded codes with the final weights
(`calibrate_batch_norm`), since the running averages training keeps lag behind the weights
(after a few steps they are still the initial 0 / 1, and every sample comes out flat grey).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fakeimg_assets.testbed.world.image_tensors import check_image_size, to_uint8
from fakeimg_assets.testbed.world.photos import generator_pool, sample_crops
from fakeimg_assets.testbed.world.spec import IMAGE_SIZE
from fakeimg_assets.testbed.world.train import n_crops
from fakeimg_assets.testbed.zoo.components import seed_component

Z_DIM = 64  # latent code size
WIDTH = 32  # channels at the highest resolution (doubling at each lower one)
BATCH = 32
LR = 2e-4
BETAS = (0.5, 0.999)
PRIMARY_LOSS = "generator"  # the loss reported as a generator's first/last loss
SAMPLE_CHUNK = 64
CALIBRATION_BATCHES = 8  # x BATCH codes to estimate the batch-norm statistics from


def _stages(image_size: int) -> int:
    """Resolution doublings from the 4 x 4 seed to `image_size`."""
    return check_image_size(image_size).bit_length() - 3


def _dcgan_init(module: Any) -> None:
    """DCGAN's initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    import torch.nn as nn

    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def new_generator(seed: int, image_size: int = IMAGE_SIZE, *, width: int = WIDTH) -> Any:
    """An untrained DCGAN generator: (n, Z_DIM, 1, 1) codes -> (n, 3, S, S) in [-1, 1]."""
    import torch.nn as nn

    n = _stages(image_size)
    chans = [width * 2 ** (n - 1 - i) for i in range(n)]  # 32 px: 128, 64, 32
    layers: list[Any] = [nn.ConvTranspose2d(Z_DIM, chans[0], 4, 1, 0, bias=False),
                         nn.BatchNorm2d(chans[0]), nn.ReLU()]  # fmt: skip
    for a, b in zip(chans, chans[1:], strict=False):
        layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
    layers += [nn.ConvTranspose2d(chans[-1], 3, 4, 2, 1), nn.Tanh()]
    seed_component(seed, "outside-dcgan-generator")
    net = nn.Sequential(*layers)
    _dcgan_init(net)
    return net


def new_discriminator(seed: int, image_size: int = IMAGE_SIZE, *, width: int = WIDTH) -> Any:
    """An untrained DCGAN discriminator: (n, 3, S, S) -> (n,) real-vs-fake logits."""
    import torch.nn as nn

    n = _stages(image_size)
    chans = [width * 2**i for i in range(n)]  # 32 px: 32, 64, 128
    layers: list[Any] = [nn.Conv2d(3, chans[0], 4, 2, 1), nn.LeakyReLU(0.2)]
    for a, b in zip(chans, chans[1:], strict=False):
        layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2)]
    layers += [nn.Conv2d(chans[-1], 1, 4, 1, 0), nn.Flatten(0)]
    seed_component(seed, "outside-dcgan-discriminator")
    net = nn.Sequential(*layers)
    _dcgan_init(net)
    return net


def train_generator(
    photos: tuple[str, ...], *, seed: int, steps: int, image_size: int = IMAGE_SIZE,
    batch: int = BATCH,
) -> tuple[Any, dict[str, list[float]]]:
    """Train a DCGAN on seeded crops of `photos`; returns the generator (eval mode) and the
    per-step losses {"discriminator": [...], "generator": [...]}."""
    import torch
    import torch.nn.functional as F

    if steps < 1:
        raise ValueError(f"a GAN needs at least one training step, got {steps}")
    crops, _ = sample_crops(generator_pool(photos), n_crops(steps, batch), image_size,
                            seed=seed)  # fmt: skip
    data = torch.from_numpy(crops)
    g_net, d_net = new_generator(seed, image_size), new_discriminator(seed, image_size)
    opt_g = torch.optim.Adam(g_net.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(d_net.parameters(), lr=LR, betas=BETAS)
    gen = torch.Generator().manual_seed(seed + 1)
    torch.manual_seed(seed + 1)
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    losses: dict[str, list[float]] = {"discriminator": [], "generator": []}
    g_net.train()
    d_net.train()
    for _ in range(steps):
        real = data[torch.randint(len(data), (batch,), generator=gen)]
        fake = g_net(torch.randn(batch, Z_DIM, 1, 1, generator=gen))
        d_loss = (F.binary_cross_entropy_with_logits(d_net(real), ones)
                  + F.binary_cross_entropy_with_logits(d_net(fake.detach()), zeros))  # fmt: skip
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(d_net(fake), ones)  # non-saturating
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        losses["discriminator"].append(float(d_loss.detach()))
        losses["generator"].append(float(g_loss.detach()))
    calibrate_batch_norm(g_net, seed=seed + 2)
    return g_net, losses


def calibrate_batch_norm(generator: Any, *, seed: int, batch: int = BATCH) -> Any:
    """Set every batch norm's statistics to their exact average over CALIBRATION_BATCHES
    seeded batches of codes (no weights change); returns the generator in eval mode."""
    import torch
    import torch.nn as nn

    norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the plain mean over the batches
    gen = torch.Generator().manual_seed(seed)
    generator.train()
    with torch.no_grad():
        for _ in range(CALIBRATION_BATCHES):
            generator(torch.randn(batch, Z_DIM, 1, 1, generator=gen))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    return generator.eval()


def sample_images(generator: Any, n: int, *, seed: int) -> np.ndarray:
    """`n` seeded samples (n, S, S, 3) uint8 (codes drawn up front, then decoded in chunks)."""
    import torch

    generator.eval()
    codes = torch.randn(n, Z_DIM, 1, 1, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        parts = [to_uint8(generator(codes[i : i + SAMPLE_CHUNK]))
                 for i in range(0, n, SAMPLE_CHUNK)]  # fmt: skip
    return np.concatenate(parts)
