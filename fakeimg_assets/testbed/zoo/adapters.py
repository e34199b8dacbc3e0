"""Writing the zoo repos that are not whole pipelines: LoRA adapters, a single-file checkpoint.

Which such repos exist and what they claim is catalogue data (`models.ADAPTERS`).

The single-file repo is a real original-format SD1 checkpoint (`zoo/ldm_checkpoint.py`:
the inverse of diffusers' LDM conversion) that round-trips through `from_single_file`.

LoRA weights are real PEFT adapters (rank 4 on the attention projections) trained on
nothing: PEFT's gaussian init plus a seeded random `B`, so applying one visibly changes the
base's images. Each is shaped on the zoo's own base pipeline (built in memory, same seed
as the base repo) and saved with the pipeline class's `save_lora_weights`, exactly the
file layout diffusers' LoRA trainers publish. The card names the base (`base_model`) and
the trigger words (`instance_prompt` or widget text), as real adapter cards do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.zoo.card import GITATTRIBUTES, hub_metadata
from fakeimg_assets.testbed.zoo.ldm_checkpoint import write_single_file_checkpoint
from fakeimg_assets.testbed.zoo.models import (
    ADAPTERS,
    HUB_METADATA,
    AdapterSpec,
    ZooModel,
    zoo_models,
)
from fakeimg_assets.testbed.zoo.registry import build_pipeline

LORA_FILE = "pytorch_lora_weights.safetensors"
LORA_RANK = 4
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def _shape_model(spec: AdapterSpec) -> ZooModel:
    return next(m for m in zoo_models() if m.model_id == spec.shape_from)


def lora_state_dict(pipe: Any, seed: int) -> tuple[str, dict[str, Any]]:
    """`(denoiser name, diffusers-format LoRA state dict)` of a seeded PEFT adapter."""
    import torch
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    name = "unet" if hasattr(pipe, "unet") else "transformer"
    denoiser = getattr(pipe, name)
    torch.manual_seed(seed)
    config = LoraConfig(
        r=LORA_RANK, lora_alpha=LORA_RANK, init_lora_weights="gaussian",
        target_modules=LORA_TARGETS,
    )
    if hasattr(denoiser, "add_adapter"):
        denoiser.add_adapter(config)
    else:  # a model class without diffusers' PEFT mixin (PixArt): PEFT directly
        from peft import inject_adapter_in_model

        inject_adapter_in_model(config, denoiser)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, param in sorted(denoiser.named_parameters()):
            if "lora_B" in key:  # PEFT inits B to zero: give the adapter a visible effect
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
    state = convert_state_dict_to_diffusers(get_peft_model_state_dict(denoiser))
    return name, {k: v.detach().contiguous().clone() for k, v in state.items()}


def _write_lora(repo: Path, model: ZooModel, spec: AdapterSpec) -> list[str]:
    import torch
    from safetensors.torch import save_file

    pipe = build_pipeline(_shape_model(spec))
    name, state = lora_state_dict(pipe, model.seed)
    if spec.pickle_only:
        torch.save({f"{name}.{k}": v for k, v in state.items()}, repo / "pytorch_lora_weights.bin")
        return ["pytorch_lora_weights.bin"]
    if hasattr(type(pipe), "save_lora_weights"):
        type(pipe).save_lora_weights(
            str(repo), **{f"{name}_lora_layers": state}, safe_serialization=True
        )
    else:  # no diffusers LoRA loader for this class: the same layout, written directly
        save_file({f"{name}.{k}": v for k, v in state.items()}, str(repo / LORA_FILE))
    return [LORA_FILE]


def _card(model: ZooModel, spec: AdapterSpec) -> str:
    front = [
        "---",
        f"license: {model.license}",
        "library_name: diffusers",
        "pipeline_tag: text-to-image",
        f"base_model: {spec.card_base}",
    ]
    if spec.instance_prompt:
        front.append(f"instance_prompt: {json.dumps(spec.instance_prompt)}")
    if spec.widget_text:
        front += ["widget:", f"- text: {json.dumps(spec.widget_text)}"]
    front += ["tags:", *(f"- {t}" for t in _tags(spec)), "---"]
    body = [
        "",
        f"# {model.name.replace('-', ' ').title()}",
        "",
        f"A {'LoRA adapter' if spec.kind == 'lora' else 'single-file checkpoint'} for "
        f"[{spec.card_base}](https://huggingface.co/{spec.card_base}) by {model.org}.",
        "",
        "Tiny random-weight test repo of the fakeimg zoo: plumbing only.",
        "",
    ]
    return "\n".join(front + body)


def _tags(spec: AdapterSpec) -> list[str]:
    if spec.kind == "lora":
        return ["text-to-image", "diffusers", "lora", "template:sd-lora", "diffusers-training"]
    return ["text-to-image", "diffusers", "stable-diffusion", "safetensors"]


def _hub_meta(model: ZooModel, spec: AdapterSpec) -> dict[str, Any]:
    """`.hub.json`: like the real Hub, a `base_model:adapter:` / `:finetune:` relation tag."""
    meta = hub_metadata(model, model.architecture)
    relation = "adapter" if spec.kind == "lora" else "finetune"
    meta["tags"] = [
        *_tags(spec), f"base_model:{spec.card_base}",
        f"base_model:{relation}:{spec.card_base}", f"license:{model.license}", "region:us",
    ]
    return meta


def write_adapter_repo(repo: Path, model: ZooModel) -> Path:
    """Write one LoRA / single-file repo into the (empty) folder `repo`."""
    spec = ADAPTERS[model.model_id]
    if spec.kind == "lora":
        _write_lora(repo, model, spec)
    else:
        write_single_file_checkpoint(repo, model, _shape_model(spec))
    (repo / "README.md").write_text(_card(model, spec))
    (repo / ".gitattributes").write_text(GITATTRIBUTES)
    meta = _hub_meta(model, spec)
    (repo / HUB_METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return repo
