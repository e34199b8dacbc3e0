"""The redundant copies real Hub repos carry: fp16 variant, `.bin` pickle, single file, and
the legacy `vocab.json` + `merges.txt` beside a CLIP `tokenizer.json`.

None of these are needed to load a repo; they exist so that a minimal downloader has
something to skip and a safe loader has pickles to refuse. Kept apart from the pipeline
builders because they only re-save weights that already exist.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.zoo.models import ZooModel
from fakeimg_assets.testbed.zoo.tokenizers import clip_vocab_and_merges

# single-file checkpoint key prefixes, as in the original (non-diffusers) checkpoints
_SINGLE_FILE_PREFIXES = {
    "unet": "model.diffusion_model.",
    "transformer": "model.diffusion_model.",
    "vae": "first_stage_model.",
    "text_encoder": "cond_stage_model.transformer.",
    "text_encoder_2": "conditioner.embedders.1.model.",
}


def _torch_modules(pipe: Any) -> dict[str, Any]:
    """Pipeline components that carry weights, by component name."""
    import torch

    return {
        name: comp for name, comp in pipe.components.items() if isinstance(comp, torch.nn.Module)
    }


def write_legacy_tokenizer_files(pipe: Any, repo: Path) -> None:
    """`vocab.json` + `merges.txt` beside each CLIP `tokenizer.json`, as real repos carry."""
    vocab, merges = clip_vocab_and_merges()
    for name in ("tokenizer", "tokenizer_2"):
        if type(getattr(pipe, name, None)).__name__ != "CLIPTokenizer":
            continue
        folder = repo / name
        (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n")
        lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
        (folder / "merges.txt").write_text("\n".join(lines) + "\n")


def write_fp16_variant(pipe: Any, repo: Path) -> list[str]:
    """`*.fp16.safetensors` beside each component's weights, as `variant="fp16"` saves them.

    Saved component by component into a scratch folder and only the weights copied, so the
    fp32 `config.json` files (which transformers would rewrite with `dtype: float16`) stay.
    """
    import torch

    written: list[str] = []
    with tempfile.TemporaryDirectory(prefix="zoo-fp16-") as tmp:
        for name, module in sorted(_torch_modules(pipe).items()):
            out = Path(tmp) / name
            half = copy.deepcopy(module).to(torch.float16)
            half.save_pretrained(out, variant="fp16", safe_serialization=True)
            for f in sorted(out.glob("*.fp16.safetensors")):
                shutil.copyfile(f, repo / name / f.name)
                written.append(f"{name}/{f.name}")
    return written


def write_bin_copy(pipe: Any, repo: Path, component: str) -> str:
    """A pickle copy of one component's weights, the legacy format a loader must skip."""
    import torch

    module = getattr(pipe, component)
    path = repo / component / "diffusion_pytorch_model.bin"
    # tensors are cloned so the pickle never shares storage views (stable bytes)
    state = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    torch.save(state, path)
    return f"{component}/{path.name}"


def _single_file_state(pipe: Any) -> dict[str, Any]:
    """All weights in one fp16 state dict with original-checkpoint style key prefixes."""
    import torch

    state: dict[str, Any] = {}
    for name, module in sorted(_torch_modules(pipe).items()):
        prefix = _SINGLE_FILE_PREFIXES.get(name, f"{name}.")
        for key, value in module.state_dict().items():
            state[prefix + key] = value.detach().to(torch.float16).contiguous().clone()
    return state


def write_single_file(pipe: Any, repo: Path, model: ZooModel, *, ckpt: bool) -> list[str]:
    """`{name}.safetensors` (and `{name}.ckpt`) at the root, like A1111-era uploads."""
    import torch
    from safetensors.torch import save_file

    state = _single_file_state(pipe)
    stem = model.name
    save_file(state, str(repo / f"{stem}.safetensors"), metadata={"format": "pt"})
    written = [f"{stem}.safetensors"]
    if ckpt:
        torch.save({"state_dict": state}, repo / f"{stem}.ckpt")
        written.append(f"{stem}.ckpt")
    return written
