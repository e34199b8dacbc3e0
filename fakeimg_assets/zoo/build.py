"""A zoo of tiny random-weight diffusers repos laid out like Hugging Face Hub repos.

The platform is exercised end to end against these instead of the real Hub: healthy models of
four architectures, one whose images are all black (quality quarantine) and deliberately
broken repos (remote code, pickle-only weights, a corrupt file, no `model_index.json`) that
a careful loader must refuse. Each repo also carries the redundant files real repos do (fp16
variant, `.bin` copy, single-file checkpoint) so a minimal downloader has something to skip.

Building is deterministic: the same `ZooModel` always gives byte-identical files.
Heavy libraries are imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fakeimg_assets.paths import validate_model_id

ARCHITECTURES = ("sd1", "sdxl", "sd3", "pixart")
EXPECTATIONS = ("ok", "quarantine", "failure")
DEFAULT_IMAGE_SIZE = 64  # every healthy architecture's default height and width
LATENT_SIZE = 8  # unet/transformer sample_size; the 4-level VAE upsamples it 8x to 64
ZOO_MANIFEST = "zoo.json"
HUB_METADATA = ".hub.json"

_PIPELINE_CLASSES = {
    "sd1": "StableDiffusionPipeline",
    "sdxl": "StableDiffusionXLPipeline",
    "sd3": "StableDiffusion3Pipeline",
    "pixart": "PixArtAlphaPipeline",
}
_BASE_MODELS = {
    "sd1": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
    "sd3": "stabilityai/stable-diffusion-3-medium-diffusers",
    "pixart": "PixArt-alpha/PixArt-XL-2-1024-MS",
}
_ARCH_TAGS = {
    "sd1": ["stable-diffusion", "stable-diffusion-diffusers"],
    "sdxl": ["stable-diffusion-xl", "stable-diffusion-xl-diffusers"],
    "sd3": ["stable-diffusion-3", "sd3", "sd3-diffusers"],
    "pixart": ["pixart-alpha", "PixArt", "transformer"],
}
# single-file checkpoint key prefixes, as in the original (non-diffusers) checkpoints
_SINGLE_FILE_PREFIXES = {
    "unet": "model.diffusion_model.",
    "transformer": "model.diffusion_model.",
    "vae": "first_stage_model.",
    "text_encoder": "cond_stage_model.transformer.",
    "text_encoder_2": "conditioner.embedders.1.model.",
}

_GITATTRIBUTES = """\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.ftz filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.joblib filter=lfs diff=lfs merge=lfs -text
*.lfs.* filter=lfs diff=lfs merge=lfs -text
*.mlmodel filter=lfs diff=lfs merge=lfs -text
*.model filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.ot filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pb filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.rar filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
saved_model/**/* filter=lfs diff=lfs merge=lfs -text
*.tar.* filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.tgz filter=lfs diff=lfs merge=lfs -text
*.wasm filter=lfs diff=lfs merge=lfs -text
*.xz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
*.png filter=lfs diff=lfs merge=lfs -text
"""

_HOSTILE_PIPELINE_PY = '''\
"""Stand-in for hostile remote code in the fakeimg test zoo.

A loader that honours `_class_name: ["pipeline", "EvilPipeline"]` would import this file.
It is harmless: importing it only raises, so a test can tell the code was reached.
"""

raise ImportError(
    "fakeimg zoo: remote code from {model_id} was imported; "
    "loaders must refuse custom pipelines and never run repo code"
)
'''


@dataclass(frozen=True)
class ZooModel:
    """One repo of the zoo and what the platform is expected to make of it."""

    model_id: str  # "org/name", as the Hub spells it
    architecture: str  # "sd1" | "sdxl" | "sd3" | "pixart", "unknown" for hostile ones
    pipeline_class: str  # diffusers pipeline class the repo claims
    scheduler: str  # scheduler class name written into scheduler/scheduler_config.json
    seed: int  # torch seed for the random weights
    created_at: str  # ISO-8601 UTC e.g. "2024-03-05T10:00:00.000Z"
    expect: str  # "ok" | "quarantine" | "failure"
    reason: str | None = None  # for expect != "ok": what is wrong, human-readable
    license: str = "creativeml-openrail-m"
    gated: bool = False
    latent_size: int = LATENT_SIZE  # sd1/sdxl: native size is 8x this (see sized_variant)

    @property
    def org(self) -> str:
        return self.model_id.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.model_id.split("/", 1)[1]


# Failure kinds, keyed by model id: how the otherwise healthy build is broken afterwards.
_HOSTILE = "hostile-remote-code"
_PICKLE_ONLY = "pickle-only"
_CORRUPT = "corrupt-safetensors"
_NO_INDEX = "no-model-index"
_BLACK_VAE = "black-vae"


def _m(
    model_id: str,
    arch: str,
    scheduler: str,
    seed: int,
    created_at: str,
    expect: str = "ok",
    reason: str | None = None,
    license: str | None = None,
    pipeline_class: str | None = None,
) -> ZooModel:
    default_license = {
        "sd1": "creativeml-openrail-m",
        "sdxl": "openrail++",
        "sd3": "other",
        "pixart": "openrail++",
    }.get(arch, "creativeml-openrail-m")
    return ZooModel(
        model_id=model_id,
        architecture=arch,
        pipeline_class=pipeline_class or _PIPELINE_CLASSES[arch],
        scheduler=scheduler,
        seed=seed,
        created_at=created_at,
        expect=expect,
        reason=reason,
        license=license or default_license,
    )


# model id -> (failure kind, architecture actually built underneath)
_BROKEN: dict[str, tuple[str, str]] = {
    "midnight-collective/noir-diffusion": (_BLACK_VAE, "sd1"),
    "shadyhub/turbo-everything": (_HOSTILE, "sd1"),
    "oldschool-ckpt/classic-realism-xl": (_PICKLE_ONLY, "sdxl"),
    "bitrot-labs/pixart-broken-upload": (_CORRUPT, "pixart"),
    "civit-mirror/lazy-merge-v3": (_NO_INDEX, "sd1"),
}


def sized_variant(model: ZooModel, size: int) -> ZooModel:
    """An sd1/sdxl model rebuilt at another native size (a multiple of 8), id `<id>-<size>px`."""
    if model.architecture not in ("sd1", "sdxl") or size % 8 or not 16 <= size <= 512:
        raise ValueError(f"sized variants need an sd1/sdxl model and 16 <= size <= 512, size % 8 "
                         f"== 0; got {model.architecture} {size}")
    return replace(model, model_id=f"{model.model_id}-{size}px", latent_size=size // 8)


def zoo_models() -> list[ZooModel]:
    """The catalogue (nothing is built): 12 healthy, 1 quarantine, 4 failure repos."""
    fm = "FlowMatchEulerDiscreteScheduler"
    return [
        # Stable Diffusion 1.x style
        _m("pixelsmith/dreamscape-v1", "sd1", "PNDMScheduler", 101, "2023-02-14T09:12:00.000Z"),
        _m(
            "lumen-forge/analog-memories-sd15",
            "sd1",
            "DDIMScheduler",
            102,
            "2024-05-21T16:40:00.000Z",
        ),
        _m(
            "kestrel_ai/toonify-1.5",
            "sd1",
            "EulerDiscreteScheduler",
            103,
            "2025-03-09T11:05:00.000Z",
        ),
        # SDXL style
        _m(
            "aurora-labs/sdxl-velvet",
            "sdxl",
            "EulerDiscreteScheduler",
            201,
            "2023-08-03T14:30:00.000Z",
        ),
        _m(
            "northwind-studio/photon-xl",
            "sdxl",
            "DPMSolverMultistepScheduler",
            202,
            "2024-09-17T08:00:00.000Z",
        ),
        _m("pixelsmith/dreamscape-xl", "sdxl", "DDIMScheduler", 203, "2025-06-02T19:45:00.000Z"),
        # SD3 style (no T5)
        _m("quietmachine/sd3-lumina-tune", "sd3", fm, 301, "2024-07-02T10:00:00.000Z"),
        _m("aurora-labs/sd3-aurora", "sd3", fm, 302, "2024-12-11T13:20:00.000Z"),
        _m("Vermilion.Research/sd3-cinematic", "sd3", fm, 303, "2025-08-19T07:55:00.000Z"),
        # PixArt-alpha style
        _m(
            "glasshouse-ml/pixart-glass",
            "pixart",
            "DPMSolverMultistepScheduler",
            401,
            "2023-12-05T12:00:00.000Z",
        ),
        _m(
            "northwind-studio/pixart-nimbus",
            "pixart",
            "DDIMScheduler",
            402,
            "2024-10-28T15:10:00.000Z",
        ),
        _m(
            "kestrel_ai/pixart-kite",
            "pixart",
            "EulerDiscreteScheduler",
            403,
            "2025-05-13T06:30:00.000Z",
        ),
        # loads and samples, but every image is black
        _m(
            "midnight-collective/noir-diffusion",
            "sd1",
            "PNDMScheduler",
            501,
            "2024-02-20T22:15:00.000Z",
            expect="quarantine",
            reason="VAE decoder conv_out is zeroed with bias -10: every image decodes to pure "
            "black, so all samples are identical",
        ),
        # deliberately broken
        _m(
            "shadyhub/turbo-everything",
            "unknown",
            "PNDMScheduler",
            601,
            "2023-11-07T03:33:00.000Z",
            expect="failure",
            pipeline_class="EvilPipeline",
            reason="custom pipeline: model_index.json _class_name is ['pipeline', "
            "'EvilPipeline'] with a pipeline.py in the repo (remote code that must never run)",
        ),
        _m(
            "oldschool-ckpt/classic-realism-xl",
            "sdxl",
            "EulerDiscreteScheduler",
            602,
            "2024-04-12T17:00:00.000Z",
            expect="failure",
            reason="pickle-only weights: unet/ has only diffusion_pytorch_model.bin, "
            "no safetensors",
        ),
        _m(
            "bitrot-labs/pixart-broken-upload",
            "pixart",
            "DPMSolverMultistepScheduler",
            603,
            "2025-01-22T09:09:00.000Z",
            expect="failure",
            reason="corrupt weights: transformer/diffusion_pytorch_model.safetensors is "
            "truncated and garbled (interrupted upload: no .bin or fp16 copy of it either)",
        ),
        _m(
            "civit-mirror/lazy-merge-v3",
            "sd1",
            "PNDMScheduler",
            604,
            "2025-09-30T20:00:00.000Z",
            expect="failure",
            reason="not a diffusers pipeline repo: no model_index.json, only a single-file "
            "checkpoint at the root",
        ),
    ]


# ---------------------------------------------------------------------------- components


def _seed(base: int, component: str) -> None:
    """Seed torch per component, so one component's size never shifts another's weights."""
    import torch

    offset = int.from_bytes(hashlib.sha256(component.encode()).digest()[:2], "big")
    torch.manual_seed(base * 65_536 + offset)


def _scheduler(name: str, arch: str, seed: int) -> Any:
    """The named scheduler with the configs real repos of that family ship."""
    import diffusers

    if name == "FlowMatchEulerDiscreteScheduler":
        shift = (3.0, 1.0, 2.0)[seed % 3]
        return diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    cls = getattr(diffusers, name)
    if arch == "pixart":
        kwargs: dict[str, Any] = dict(
            beta_start=0.0001, beta_end=0.02, beta_schedule="linear", num_train_timesteps=1000
        )
    else:
        kwargs = dict(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            num_train_timesteps=1000,
        )
    if name in ("DDIMScheduler", "PNDMScheduler", "EulerDiscreteScheduler"):
        kwargs["steps_offset"] = 1
    if name == "DDIMScheduler":
        kwargs.update(clip_sample=False, set_alpha_to_one=False)
    if name == "PNDMScheduler":
        kwargs.update(skip_prk_steps=True, set_alpha_to_one=False)
    if name == "EulerDiscreteScheduler":
        kwargs.update(timestep_spacing="leading", interpolation_type="linear")
    if name == "DPMSolverMultistepScheduler":
        kwargs.update(algorithm_type="dpmsolver++", solver_order=2)
    return cls(**kwargs)


def _vae(seed: int, *, latent_channels: int = 4, **extra: Any) -> Any:
    """A 4-level AutoencoderKL: vae_scale_factor 8, so 8x8 latents decode to 64x64."""
    from diffusers import AutoencoderKL

    _seed(seed, "vae")
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 4, 8, 8),
        layers_per_block=1,
        norm_num_groups=2,
        latent_channels=latent_channels,
        sample_size=DEFAULT_IMAGE_SIZE,
        **extra,
    )


def _clip_config(with_projection: bool) -> Any:
    from transformers import CLIPTextConfig

    from fakeimg_assets.zoo.tokenizers import CLIP_MAX_LENGTH, TEXT_VOCAB_SIZE, clip_special_ids

    return CLIPTextConfig(
        vocab_size=TEXT_VOCAB_SIZE,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=CLIP_MAX_LENGTH,
        hidden_act="gelu",
        projection_dim=32 if with_projection else 512,
        layer_norm_eps=1e-5,
        **clip_special_ids(),
    )


def _clip_text(seed: int, component: str, *, with_projection: bool) -> Any:
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    _seed(seed, component)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return cls(_clip_config(with_projection)).eval()


def _build_sd1(model: ZooModel, seed: int) -> Any:
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    from fakeimg_assets.zoo.tokenizers import make_clip_tokenizer

    _seed(seed, "unet")
    unet = UNet2DConditionModel(
        sample_size=model.latent_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=(4, 8),
        layers_per_block=1,
        norm_num_groups=2,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=2,
    )
    return StableDiffusionPipeline(
        vae=_vae(seed, scaling_factor=0.18215),
        text_encoder=_clip_text(seed, "text_encoder", with_projection=False),
        tokenizer=make_clip_tokenizer(),
        unet=unet,
        scheduler=_scheduler(model.scheduler, "sd1", seed),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _build_sdxl(model: ZooModel, seed: int) -> Any:
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

    from fakeimg_assets.zoo.tokenizers import make_clip_tokenizer

    _seed(seed, "unet")
    unet = UNet2DConditionModel(
        sample_size=model.latent_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=(4, 8),
        layers_per_block=1,
        norm_num_groups=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=64,  # hidden sizes of both text encoders, concatenated
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,  # 6 * 8 time ids + 32 pooled text
    )
    return StableDiffusionXLPipeline(
        vae=_vae(seed, scaling_factor=0.13025, force_upcast=True),
        text_encoder=_clip_text(seed, "text_encoder", with_projection=False),
        text_encoder_2=_clip_text(seed, "text_encoder_2", with_projection=True),
        tokenizer=make_clip_tokenizer(),
        tokenizer_2=make_clip_tokenizer(pad_token="!"),
        unet=unet,
        scheduler=_scheduler(model.scheduler, "sdxl", seed),
        force_zeros_for_empty_prompt=True,
    )


def _build_sd3(model: ZooModel, seed: int) -> Any:
    from diffusers import SD3Transformer2DModel, StableDiffusion3Pipeline

    from fakeimg_assets.zoo.tokenizers import make_clip_tokenizer

    _seed(seed, "transformer")
    transformer = SD3Transformer2DModel(
        sample_size=LATENT_SIZE,
        patch_size=1,
        in_channels=16,
        out_channels=16,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        joint_attention_dim=64,  # both CLIP hidden states concatenated, as T5's width would be
        caption_projection_dim=32,
        pooled_projection_dim=64,
        pos_embed_max_size=32,  # up to 256x256 images
    )
    vae = _vae(
        seed,
        latent_channels=16,
        use_quant_conv=False,
        use_post_quant_conv=False,
        scaling_factor=1.5305,
        shift_factor=0.0609,
    )
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=_scheduler(model.scheduler, "sd3", seed),
        vae=vae,
        text_encoder=_clip_text(seed, "text_encoder", with_projection=True),
        tokenizer=make_clip_tokenizer(),
        text_encoder_2=_clip_text(seed, "text_encoder_2", with_projection=True),
        tokenizer_2=make_clip_tokenizer(pad_token="!"),
        text_encoder_3=None,
        tokenizer_3=None,
    )


def _build_pixart(model: ZooModel, seed: int) -> Any:
    from diffusers import PixArtAlphaPipeline, PixArtTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    from fakeimg_assets.zoo.tokenizers import TEXT_VOCAB_SIZE, make_t5_tokenizer

    _seed(seed, "transformer")
    transformer = PixArtTransformer2DModel(
        sample_size=LATENT_SIZE,
        num_layers=2,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=3,
        caption_channels=32,
        in_channels=4,
        cross_attention_dim=24,
        out_channels=8,  # learned sigma: noise and variance
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
    )
    _seed(seed, "text_encoder")
    t5 = T5EncoderModel(
        T5Config(
            vocab_size=TEXT_VOCAB_SIZE,
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            feed_forward_proj="gated-gelu",
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    ).eval()
    return PixArtAlphaPipeline(
        tokenizer=make_t5_tokenizer(),
        text_encoder=t5,
        vae=_vae(seed, scaling_factor=0.18215),
        transformer=transformer,
        scheduler=_scheduler(model.scheduler, "pixart", seed),
    )


_BUILDERS = {"sd1": _build_sd1, "sdxl": _build_sdxl, "sd3": _build_sd3, "pixart": _build_pixart}


def build_pipeline(model: ZooModel) -> Any:
    """The in-memory random-weight pipeline behind `model` (before any deliberate damage)."""
    kind, arch = _BROKEN.get(model.model_id, ("", model.architecture))
    pipe = _BUILDERS[arch](model, model.seed)
    if kind == _BLACK_VAE:
        _blacken_vae(pipe.vae)
    return pipe


def _blacken_vae(vae: Any) -> None:
    """Decoder output pinned to -10 before clamping: every image is pure black."""
    import torch

    with torch.no_grad():
        vae.decoder.conv_out.weight.zero_()
        vae.decoder.conv_out.bias.fill_(-10.0)


# ---------------------------------------------------------------------------- repo files


def _torch_modules(pipe: Any) -> dict[str, Any]:
    """Pipeline components that carry weights, by component name."""
    import torch

    return {
        name: comp for name, comp in pipe.components.items() if isinstance(comp, torch.nn.Module)
    }


def _write_legacy_tokenizer_files(pipe: Any, repo: Path) -> None:
    """`vocab.json` + `merges.txt` beside each CLIP `tokenizer.json`, as real repos carry."""
    from fakeimg_assets.zoo.tokenizers import clip_vocab_and_merges

    vocab, merges = clip_vocab_and_merges()
    for name in ("tokenizer", "tokenizer_2"):
        if type(getattr(pipe, name, None)).__name__ != "CLIPTokenizer":
            continue
        folder = repo / name
        (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n")
        lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
        (folder / "merges.txt").write_text("\n".join(lines) + "\n")


def _write_fp16_variant(pipe: Any, repo: Path) -> list[str]:
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


def _write_bin_copy(pipe: Any, repo: Path, component: str) -> str:
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


def _write_single_file(pipe: Any, repo: Path, model: ZooModel, *, ckpt: bool) -> list[str]:
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


def _yaml_list(items: Sequence[str]) -> str:
    return "\n".join(f"- {json.dumps(i)}" if ":" in i else f"- {i}" for i in items)


def repo_tags(model: ZooModel, arch: str) -> list[str]:
    """Card tags (also the Hub's `tags`, minus the ones the Hub derives itself)."""
    return ["text-to-image", "diffusers", *(_ARCH_TAGS.get(arch, [])), "safetensors"]


def _readme(model: ZooModel, arch: str) -> str:
    """Model card with the YAML front matter the Hub parses."""
    front = [
        "---",
        f"license: {model.license}",
        "library_name: diffusers",
        "pipeline_tag: text-to-image",
        "tags:",
        _yaml_list(repo_tags(model, arch)),
    ]
    if arch in _BASE_MODELS:
        front.append(f"base_model: {_BASE_MODELS[arch]}")
    if model.gated:
        front.append("extra_gated_prompt: You agree to not use the model to deceive people.")
    front.append("---")
    title = model.name.replace("-", " ").replace("_", " ").title()
    body = [
        "",
        f"# {title}",
        "",
        f"A {_PIPELINE_CLASSES.get(arch, 'diffusers')} text-to-image model by {model.org}.",
        "",
        "## Usage",
        "",
        "```python",
        "import torch",
        f"from diffusers import {_PIPELINE_CLASSES.get(arch, 'DiffusionPipeline')}",
        "",
        f"pipe = {_PIPELINE_CLASSES.get(arch, 'DiffusionPipeline')}.from_pretrained(",
        f'    "{model.model_id}", dtype=torch.float16, use_safetensors=True',
        ")",
        'image = pipe("a photo of an astronaut riding a horse").images[0]',
        "```",
        "",
        "## Note",
        "",
        "This is a tiny random-weight test model from the fakeimg zoo: its images are",
        "coloured noise, useful for plumbing tests only.",
        "",
    ]
    return "\n".join(front + body)


def _stable_int(model_id: str, what: str, lo: int, hi: int) -> int:
    """A deterministic pseudo-random integer in [lo, hi], log-uniform (Hub-like counts)."""
    digest = hashlib.sha256(f"{model_id}\x1f{what}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return int(round(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))))


def _hub_metadata(model: ZooModel, arch: str) -> dict[str, Any]:
    """What the Hub knows about a repo beyond its files; the local Hub server reads it."""
    created = datetime.strptime(model.created_at, "%Y-%m-%dT%H:%M:%S.%fZ")
    days = _stable_int(model.model_id, "age", 1, 200)
    modified = created + timedelta(days=days, minutes=_stable_int(model.model_id, "m", 1, 600))
    kind = _BROKEN.get(model.model_id, ("", arch))[0]
    # the Hub derives `diffusers:<class>` from a plain-string `_class_name` in model_index.json
    derived = [] if kind in (_HOSTILE, _NO_INDEX) else [f"diffusers:{model.pipeline_class}"]
    tags = [*repo_tags(model, arch), *derived, f"license:{model.license}", "region:us"]
    return {
        "created_at": model.created_at,
        "last_modified": modified.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "downloads": _stable_int(model.model_id, "downloads", 10, 250_000),
        "likes": _stable_int(model.model_id, "likes", 1, 900),
        "tags": tags,
        "license": model.license,
        "pipeline_tag": "text-to-image",
        "library_name": "diffusers",
        "gated": "auto" if model.gated else False,
        "author": model.org,
        "private": False,
    }


# ---------------------------------------------------------------------------- damage


def _make_hostile(repo: Path, model: ZooModel) -> None:
    """Custom pipeline class in model_index.json plus the remote code it points at."""
    index_path = repo / "model_index.json"
    index = json.loads(index_path.read_text())
    index["_class_name"] = ["pipeline", "EvilPipeline"]
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    (repo / "pipeline.py").write_text(_HOSTILE_PIPELINE_PY.format(model_id=model.model_id))


def _make_pickle_only(repo: Path, component: str) -> None:
    """Drop every safetensors file of one component: only the `.bin` remains."""
    for f in sorted((repo / component).glob("*.safetensors")):
        f.unlink()


def _make_corrupt(repo: Path, component: str) -> None:
    """Keep a plausible header, truncate and garble the data; no intact copy survives."""
    path = repo / component / "diffusion_pytorch_model.safetensors"
    data = path.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    body_start = 8 + header_len
    keep = body_start + (len(data) - body_start) // 3
    garbage = hashlib.sha256(b"fakeimg zoo corrupt").digest() * 64
    path.write_bytes(data[:keep] + garbage)
    (repo / component / "diffusion_pytorch_model.bin").unlink(missing_ok=True)
    (repo / component / "diffusion_pytorch_model.fp16.safetensors").unlink(missing_ok=True)


def _make_no_index(repo: Path) -> None:
    """Only the single-file checkpoint, README and .gitattributes remain."""
    for child in sorted(repo.iterdir()):
        if child.is_dir():
            shutil.rmtree(child)
        elif child.name not in ("README.md", ".gitattributes", HUB_METADATA) and (
            child.suffix not in (".safetensors", ".ckpt")
        ):
            child.unlink()


# ---------------------------------------------------------------------------- public API


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence save-time progress bars and cast warnings that mean nothing for a tiny zoo."""
    import diffusers
    import transformers

    d_level = diffusers.utils.logging.get_verbosity()
    t_level = transformers.utils.logging.get_verbosity()
    t_bars = transformers.utils.logging.is_progress_bar_enabled()
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        diffusers.utils.logging.set_verbosity(d_level)
        transformers.utils.logging.set_verbosity(t_level)
        if t_bars:
            transformers.utils.logging.enable_progress_bar()


def repo_dir(root: Path, model_id: str) -> Path:
    """Where a model's repo lives under the zoo root: `root/org/name`."""
    org, name = validate_model_id(model_id).split("/", 1)
    return Path(root) / org / name


def write_repo(root: Path, model: ZooModel) -> Path:
    """Build one repo at `root/org/name` from scratch and return its folder.

    Deterministic: the same `ZooModel` always writes byte-identical files.
    """
    validate_model_id(model.model_id)
    repo = repo_dir(root, model.model_id)
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    kind, arch = _BROKEN.get(model.model_id, ("", model.architecture))

    with _quiet():
        pipe = build_pipeline(model)
        pipe.save_pretrained(repo, safe_serialization=True)
        _write_legacy_tokenizer_files(pipe, repo)
        denoiser = "unet" if hasattr(pipe, "unet") else "transformer"
        _write_bin_copy(pipe, repo, denoiser)
        _write_single_file(pipe, repo, model, ckpt=arch in ("sd1", "sdxl"))
        _write_fp16_variant(pipe, repo)

    (repo / "README.md").write_text(_readme(model, arch))
    (repo / ".gitattributes").write_text(_GITATTRIBUTES)
    if kind == _HOSTILE:
        _make_hostile(repo, model)
    elif kind == _PICKLE_ONLY:
        _make_pickle_only(repo, "unet")
    elif kind == _CORRUPT:
        _make_corrupt(repo, denoiser)
    elif kind == _NO_INDEX:
        _make_no_index(repo)
    meta = _hub_metadata(model, arch)
    (repo / HUB_METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return repo


def build_zoo(root: Path, *, only: Sequence[str] | None = None) -> list[ZooModel]:
    """Build every catalogue model (or the listed ids) and merge them into `root/zoo.json`."""
    catalogue = zoo_models()
    by_id = {m.model_id: m for m in catalogue}
    if only is not None:
        unknown = [m for m in only if m not in by_id]
        if unknown:
            raise KeyError(f"not in the zoo catalogue: {unknown}; known: {sorted(by_id)}")
        wanted = set(only)
        models = [m for m in catalogue if m.model_id in wanted]
    else:
        models = catalogue
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for model in models:
        write_repo(root, model)

    manifest_path = root / ZOO_MANIFEST
    merged: dict[str, dict[str, Any]] = {}
    if manifest_path.exists():
        for row in json.loads(manifest_path.read_text()).get("models", []):
            merged[row["model_id"]] = row
    for model in models:
        merged[model.model_id] = asdict(model)
    order = {m.model_id: i for i, m in enumerate(catalogue)}
    rows = sorted(merged.values(), key=lambda r: (order.get(r["model_id"], 1 << 30), r["model_id"]))
    manifest_path.write_text(json.dumps({"models": rows}, indent=2) + "\n")
    return models


def load_manifest(root: Path) -> list[ZooModel]:
    """The models recorded in `root/zoo.json`."""
    rows = json.loads((Path(root) / ZOO_MANIFEST).read_text())["models"]
    return [ZooModel(**row) for row in rows]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m fakeimg_assets.zoo.build ROOT [MODEL_ID ...]`."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("model_ids", nargs="*")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    built = build_zoo(args.root, only=args.model_ids or None)
    for m in built:
        size = sum(f.stat().st_size for f in repo_dir(args.root, m.model_id).rglob("*"))
        print(f"{m.model_id:45s} {m.architecture:8s} {m.expect:10s} {size / 1e6:6.2f} MB")
    print(f"built {len(built)} repos in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
