"""Few-step distilled Stable Diffusion derivatives, sampled as their authors publish them.

Most few-step checkpoints on the Hub are ordinary `StableDiffusionPipeline` /
`StableDiffusionXLPipeline` repos (or LoRA adapters on them), so the pipeline class alone
would sample them with 25 steps and CFG 5-7.5, which is not how they are meant to be used
and not what their users publish. Each variant below is chosen by evidence in the repo:
its scheduler class, its UNet config, and its Hub tags (card tags and `base_model:` lineage).
The first matching rule wins, in the order registered. Settings are the model cards':

- LCM (latent-consistency): 4 steps; guidance 8.0 when the UNet embeds the guidance scale
  (`time_cond_proj_dim`, as LCM-Dreamshaper / lcm-sdxl do; diffusers then runs no CFG),
  otherwise 1.0, i.e. no CFG (LCM-LoRA cards);
- SD-Turbo / SDXL-Turbo (adversarial diffusion distillation): 1 step, guidance 0.0;
- SDXL-Lightning: 4 steps (the most published checkpoint), guidance 0.0;
- Hyper-SD: 8 steps (the multi-step LoRAs' default), guidance 0.0.

The repo's own scheduler is kept (`sampler` never swaps it), so a Lightning repo that ships
Euler "trailing" runs with it; every choice is recorded per image by the sampler.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from fakeimg_assets.sampling.recipes import unet  # noqa: F401 - registers sd1/sdxl, which these derive from
from fakeimg_assets.sampling.recipes.registry import get_recipe, register_variant

Rule = Callable[[Mapping[str, Any], list[str]], bool]


def tag_words(tags: list[str]) -> set[str]:
    """Lower-case words of every Hub tag (`base_model:adapter:ByteDance/SDXL-Lightning` ->
    {'base', 'model', 'adapter', 'bytedance', 'sdxl', 'lightning'}); library tags such as
    `pytorch-lightning` are not lineage and are dropped."""
    words: set[str] = set()
    for tag in tags:
        low = str(tag).lower()
        if "pytorch" in low:
            continue
        words.update(w for w in re.split(r"[^a-z0-9]+", low) if w)
    return words


def scheduler_class(configs: Mapping[str, Any]) -> str | None:
    return (configs.get("scheduler") or {}).get("_class_name")


def embeds_guidance(configs: Mapping[str, Any]) -> bool:
    """An LCM-distilled UNet takes the guidance scale as an embedding (no CFG pass)."""
    return (configs.get("unet") or {}).get("time_cond_proj_dim") is not None


def is_lcm(configs: Mapping[str, Any], tags: list[str]) -> bool:
    return scheduler_class(configs) == "LCMScheduler" or "lcm" in tag_words(tags)


def _words(*wanted: str) -> Rule:
    return lambda configs, tags: bool(tag_words(tags) & set(wanted))


# (suffix, steps, guidance, rule, what) per base recipe; order = precedence
_VARIANTS: tuple[tuple[str, int, float, Rule, str], ...] = (
    ("lcm", 4, 8.0, lambda c, t: is_lcm(c, t) and embeds_guidance(c),
     "LCM-distilled UNet (guidance embedded, no CFG): 4 steps, w = 8.0"),
    ("lcm-nocfg", 4, 1.0, is_lcm, "LCM (LoRA or scheduler; no guidance embedding): 4 steps, no CFG"),
    ("turbo", 1, 0.0, _words("turbo"), "Turbo (adversarial diffusion distillation): 1 step, no CFG"),
    ("lightning", 4, 0.0, _words("lightning"), "SDXL-Lightning: 4 steps, no CFG"),
    ("hyper", 8, 0.0, _words("hyper", "hypersd"), "Hyper-SD: 8 steps, no CFG"),
)  # fmt: skip


def _register(base: str) -> list[str]:
    names = []
    parent = get_recipe(base)
    for suffix, steps, guidance, rule, what in _VARIANTS:
        variant = replace(
            parent, name=f"{base}-{suffix}", pipeline_classes=(), default_steps=steps,
            default_guidance=guidance, distilled=True, description=f"{what} ({base})",
        )  # fmt: skip
        names.append(register_variant(base, variant, rule).name)
    return names


DISTILLED = {base: _register(base) for base in ("sd1", "sdxl")}
