"""Rectified-flow training loop (the objective SD3 and Flux train with), family-agnostic.

A clean latent x0 and noise are mixed at a noise level t in (0, 1): x_t = (1 - t) x0 + t noise,
and the denoiser predicts the velocity v = noise - x0. This is exactly what
`FlowMatchEulerDiscreteScheduler.step` integrates (x <- x + (sigma_next - sigma) v, sigma = t),
and the pipeline passes the denoiser `timestep = sigma * num_train_timesteps` (0-1000), so the
loop passes `t * 1000` too. Every random draw comes from one seeded `torch.Generator`, so the
same seed gives byte-identical weights (the caller fixes the thread count).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TIMESTEP_SAMPLINGS = ("logit_normal", "uniform")


def sample_t(n: int, gen: Any, sampling: str = "logit_normal") -> Any:
    """Noise levels in (0, 1): SD3's logit-normal(0, 1) (most weight mid-way, where the
    velocity is hardest to predict), or uniform. Unknown names fail listing the known ones."""
    import torch

    if sampling == "logit_normal":
        return torch.sigmoid(torch.randn(n, generator=gen))
    if sampling == "uniform":
        return torch.rand(n, generator=gen)
    raise ValueError(f"unknown timestep sampling {sampling!r}; known: {TIMESTEP_SAMPLINGS}")


def flow_batch(z0: Any, noise: Any, t: Any) -> tuple[Any, Any]:
    """(x_t, target velocity) for clean latents `z0`, `noise` and noise levels `t` (batch,)."""
    tb = t.view(-1, *([1] * (z0.dim() - 1)))
    return (1 - tb) * z0 + tb * noise, noise - z0


def train_flow(
    denoiser: Callable[[Any, Any, Any, Any], Any], params: Any, latents: tuple[Any, Any],
    cond: tuple[Any, Any, list[int]], *, steps: int, seed: int, batch: int = 32,
    lr: float = 1e-3, uncond_p: float = 0.1, shift: float = 0.0, scaling: float = 1.0,
    sampling: str = "logit_normal", num_train_timesteps: int = 1000,
) -> list[float]:
    """Flow-matching training; returns the loss of every step.

    `denoiser(x_t, timestep_0_1000, states, pooled)` returns the predicted velocity;
    `latents` is the VAE posterior (mean, std), scaled as the pipeline decodes:
    z0 = (z - shift) * scaling; `cond` is (states, pooled, row per latent) whose last row is
    the empty prompt, substituted for a fraction `uncond_p` of captions so classifier-free
    guidance has an unconditional model to subtract.
    """
    import torch

    if steps < 1:
        raise ValueError(f"train_flow needs steps >= 1, got {steps}")
    sample_t(1, torch.Generator(), sampling)  # fail fast on an unknown sampling name
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mean, std = latents
    states, pooled, rows = cond
    rows_t = torch.tensor(rows)
    empty = len(states) - 1
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    losses: list[float] = []
    for _ in range(steps):
        idx = torch.randint(len(mean), (batch,), generator=gen)
        z = mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen)
        z0 = (z - shift) * scaling
        noise = torch.randn(z0.shape, generator=gen)
        t = sample_t(batch, gen, sampling)
        x_t, target = flow_batch(z0, noise, t)
        r = rows_t[idx].clone()
        r[torch.rand(batch, generator=gen) < uncond_p] = empty
        pred = denoiser(x_t, t * num_train_timesteps, states[r], pooled[r])
        loss = torch.nn.functional.mse_loss(pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    return losses
