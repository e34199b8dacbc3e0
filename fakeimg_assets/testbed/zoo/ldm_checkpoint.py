"""A diffusers SD1 pipeline as one original-format (CompVis/LDM) checkpoint, for the zoo.

The inverse of diffusers' `convert_ldm_unet_checkpoint` / `convert_ldm_vae_checkpoint`
(after diffusers' `scripts/convert_diffusers_to_original_stable_diffusion.py`),
generalised from SD1's fixed 4 levels x 2 layers to any `block_out_channels` and
`layers_per_block`, so the zoo's tiny UNet/VAE round-trip through `from_single_file`.
Keys: `model.diffusion_model.*` (UNet), `first_stage_model.*` (VAE, attention projections
as 1x1 convs), `cond_stage_model.transformer.*` (CLIP text encoder, keys unchanged).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.zoo.models import ZooModel
from fakeimg_assets.testbed.zoo.registry import build_pipeline

_RESNET = [("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("out_layers.0", "norm2"),
           ("out_layers.3", "conv2"), ("emb_layers.1", "time_emb_proj"),
           ("skip_connection", "conv_shortcut")]
_UNET_FIXED = [("time_embed.0.", "time_embedding.linear_1."),
               ("time_embed.2.", "time_embedding.linear_2."), ("input_blocks.0.0.", "conv_in."),
               ("out.0.", "conv_norm_out."), ("out.2.", "conv_out.")]


def _unet_prefixes(config: Any) -> list[tuple[str, str]]:
    """`(ldm_prefix, diffusers_prefix)` pairs of every UNet block for this config."""
    n, layers = len(config.block_out_channels), config.layers_per_block
    down_attn = [t.startswith("CrossAttn") for t in config.down_block_types]
    up_attn = [t.startswith("CrossAttn") for t in config.up_block_types]
    pairs = list(_UNET_FIXED)
    for i in range(n):
        for j in range(layers):
            k = 1 + i * (layers + 1) + j
            pairs.append((f"input_blocks.{k}.0.", f"down_blocks.{i}.resnets.{j}."))
            if down_attn[i]:
                pairs.append((f"input_blocks.{k}.1.", f"down_blocks.{i}.attentions.{j}."))
        if i < n - 1:
            k = (i + 1) * (layers + 1)
            pairs.append((f"input_blocks.{k}.0.op.", f"down_blocks.{i}.downsamplers.0.conv."))
        for j in range(layers + 1):
            k = i * (layers + 1) + j
            pairs.append((f"output_blocks.{k}.0.", f"up_blocks.{i}.resnets.{j}."))
            if up_attn[i]:
                pairs.append((f"output_blocks.{k}.1.", f"up_blocks.{i}.attentions.{j}."))
        if i < n - 1:
            k = i * (layers + 1) + layers
            pairs.append((f"output_blocks.{k}.{2 if up_attn[i] else 1}.conv.",
                          f"up_blocks.{i}.upsamplers.0.conv."))
    pairs.append(("middle_block.1.", "mid_block.attentions.0."))
    for j in range(2):
        pairs.append((f"middle_block.{2 * j}.", f"mid_block.resnets.{j}."))
    return pairs


def _rename(key: str, pairs: list[tuple[str, str]]) -> str:
    for ldm, hf in sorted(pairs, key=lambda p: -len(p[1])):  # longest prefix first
        if key.startswith(hf):
            return ldm + key[len(hf):]
    raise KeyError(f"no original-checkpoint name for {key!r}")


def unet_to_ldm(unet: Any) -> dict[str, Any]:
    """UNet2DConditionModel weights under original names (no prefix)."""
    pairs = _unet_prefixes(unet.config)
    out = {}
    for key, value in unet.state_dict().items():
        new = _rename(key, pairs)
        if "resnets" in key:
            for ldm, hf in _RESNET:
                new = new.replace(f".{hf}.", f".{ldm}.")
        out[new] = value
    return out


def vae_to_ldm(vae: Any) -> dict[str, Any]:
    """AutoencoderKL weights under original names; attention linears become 1x1 convs."""
    n, layers = len(vae.config.block_out_channels), vae.config.layers_per_block
    pairs = [("encoder.norm_out.", "encoder.conv_norm_out."),
             ("decoder.norm_out.", "decoder.conv_norm_out.")]
    for part in ("encoder", "decoder"):
        pairs.append((f"{part}.mid.attn_1.", f"{part}.mid_block.attentions.0."))
        for j in range(2):
            pairs.append((f"{part}.mid.block_{j + 1}.", f"{part}.mid_block.resnets.{j}."))
    for i in range(n):
        for j in range(layers):
            pairs.append((f"encoder.down.{i}.block.{j}.", f"encoder.down_blocks.{i}.resnets.{j}."))
        for j in range(layers + 1):
            pairs.append((f"decoder.up.{n - 1 - i}.block.{j}.",
                          f"decoder.up_blocks.{i}.resnets.{j}."))
        if i < n - 1:
            pairs.append((f"encoder.down.{i}.downsample.",
                          f"encoder.down_blocks.{i}.downsamplers.0."))
            pairs.append((f"decoder.up.{n - 1 - i}.upsample.",
                          f"decoder.up_blocks.{i}.upsamplers.0."))
    attn = [("norm.", "group_norm."), ("q.", "to_q."), ("k.", "to_k."), ("v.", "to_v."),
            ("proj_out.", "to_out.0.")]
    out = {}
    for key, value in vae.state_dict().items():
        new = key if not key.startswith(("encoder.", "decoder.")) else None
        if new is None:
            try:
                new = _rename(key, pairs)
            except KeyError:
                new = key  # conv_in, conv_out: same names in both layouts
        new = new.replace("conv_shortcut", "nin_shortcut")
        if ".mid.attn_1." in new:
            head, tail = new.split(".mid.attn_1.", 1)
            for ldm, hf in attn:
                if tail.startswith(hf):
                    tail = ldm + tail[len(hf):]
                    if ldm != "norm." and value.ndim == 2:
                        value = value.reshape(*value.shape, 1, 1)
                    break
            new = f"{head}.mid.attn_1.{tail}"
        out[new] = value
    return out


def sd1_original_checkpoint(pipe: Any) -> dict[str, Any]:
    """One original-format state dict of an SD1 pipeline (fp32, contiguous copies)."""
    state: dict[str, Any] = {}
    for prefix, part in (("model.diffusion_model.", unet_to_ldm(pipe.unet)),
                         ("first_stage_model.", vae_to_ldm(pipe.vae))):
        state.update({prefix + k: v for k, v in part.items()})
    # transformers >= 5.6 flattened CLIPTextModel; original checkpoints keep `text_model.`
    inner = "" if hasattr(pipe.text_encoder, "text_model") else "text_model."
    for k, v in pipe.text_encoder.state_dict().items():
        state[f"cond_stage_model.transformer.{inner}{k}"] = v
    return {k: v.detach().contiguous().clone() for k, v in state.items()}


def write_single_file_checkpoint(repo: Path, model: ZooModel, shape: ZooModel) -> list[str]:
    """`<name>.safetensors` (plus the `.ckpt` pickle a loader must never touch) at the root.

    The weights are the SD1 pipeline of `shape` (a zoo model) re-seeded with `model.seed`:
    a "fine-tune" with the base's architecture and configs but its own weights.
    """
    import torch
    from safetensors.torch import save_file

    if shape.architecture != "sd1":
        raise ValueError(f"single-file zoo repos are SD1 only, got {shape.architecture}")
    state = sd1_original_checkpoint(build_pipeline(replace(shape, seed=model.seed)))
    repo = Path(repo)
    save_file(state, str(repo / f"{model.name}.safetensors"), metadata={"format": "pt"})
    torch.save({"state_dict": state}, repo / f"{model.name}.ckpt")
    return [f"{model.name}.safetensors", f"{model.name}.ckpt"]
