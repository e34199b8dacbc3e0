"""Load and sample zoo repos the way the platform does, to prove each behaves as catalogued.

Healthy repos must reload with `DiffusionPipeline.from_pretrained(use_safetensors=True)` and
sample deterministically at 64x64; the quarantine repo must sample all-black images; failure
repos must refuse to load. The per-architecture kwargs here are the only quirks needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.zoo.models import DEFAULT_IMAGE_SIZE, ZooModel

# extra `from_pretrained` kwargs per architecture
LOAD_KWARGS: dict[str, dict[str, Any]] = {
    "sd1": {"safety_checker": None, "requires_safety_checker": False},
    "sdxl": {},
    "sd3": {"text_encoder_3": None, "tokenizer_3": None},  # the zoo's SD3 repos ship no T5
    "pixart": {},
}
# extra pipeline `__call__` kwargs per architecture
CALL_KWARGS: dict[str, dict[str, Any]] = {
    "sd1": {},
    "sdxl": {},
    "sd3": {},
    "pixart": {"use_resolution_binning": False},  # binning would snap 64 to a 1024-era bucket
}


def load_zoo_pipeline(repo: Path, architecture: str, **extra: Any) -> Any:
    """`DiffusionPipeline.from_pretrained` on a local repo: fp32, safetensors only, no code."""
    import torch
    from diffusers import DiffusionPipeline

    kwargs = {**LOAD_KWARGS.get(architecture, {}), **extra}
    pipe = DiffusionPipeline.from_pretrained(
        str(repo),
        use_safetensors=True,
        dtype=torch.float32,
        local_files_only=True,
        **kwargs,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sample_image(
    pipe: Any,
    architecture: str,
    prompt: str = "a photo of a cat at sunset",
    *,
    seed: int = 0,
    steps: int = 2,
    height: int | None = DEFAULT_IMAGE_SIZE,
    width: int | None = DEFAULT_IMAGE_SIZE,
) -> Any:
    """One PIL image from a seeded CPU generator; `height=None` uses the pipeline default."""
    import torch

    size: dict[str, int] = {}
    if height is not None:
        size["height"] = height
    if width is not None:
        size["width"] = width
    with torch.inference_mode():
        out = pipe(
            prompt,
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(seed),
            output_type="pil",
            **size,
            **CALL_KWARGS.get(architecture, {}),
        )
    return out.images[0]


@dataclass
class RepoCheck:
    """What verifying one repo found."""

    model_id: str
    expect: str
    ok: bool
    detail: str
    size: tuple[int, int] | None = None
    default_size: tuple[int, int] | None = None


def verify_repo(repo: Path, model: ZooModel) -> RepoCheck:
    """Check a built repo behaves as its `expect` says."""
    import numpy as np

    arch = model.architecture
    if model.expect == "failure":
        try:
            load_zoo_pipeline(repo, arch if arch in LOAD_KWARGS else "sd1")
        except Exception as exc:  # noqa: BLE001 - the failure is the expected outcome
            return RepoCheck(model.model_id, model.expect, True, f"{type(exc).__name__}: {exc}")
        return RepoCheck(model.model_id, model.expect, False, "loaded although it must fail")

    pipe = load_zoo_pipeline(repo, arch)
    a = sample_image(pipe, arch, seed=0)
    b = sample_image(pipe, arch, seed=0)
    c = sample_image(pipe, arch, seed=1)
    default = sample_image(pipe, arch, seed=0, height=None, width=None)
    pa, pb, pc = (np.asarray(x) for x in (a, b, c))
    same = bool(np.array_equal(pa, pb))
    if model.expect == "quarantine":
        black = int(pa.max()) == 0 and int(pc.max()) == 0
        ok = black and same and a.size == (64, 64)
        detail = f"all-black={black} deterministic={same}"
    else:
        varied = not np.array_equal(pa, pc)
        ok = same and varied and a.size == (64, 64)
        detail = f"deterministic={same} seeds-differ={varied} std={pa.std():.1f}"
    return RepoCheck(model.model_id, model.expect, ok, detail, a.size, default.size)
