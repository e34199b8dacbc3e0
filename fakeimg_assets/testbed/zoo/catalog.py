"""The zoo's catalogue: which repos exist, what each claims, what the platform should make of it.

Kept apart from the builders so that listing the zoo, reading `zoo.json` or making a sized
variant needs no torch and no file writing; every other zoo module reads its facts from here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fakeimg_assets.testbed.zoo import arch_transformer, arch_unet

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
_PIPELINE_CLASSES.update(arch_transformer.PIPELINE_CLASSES)  # Flux, Chroma, ...
_PIPELINE_CLASSES.update(arch_unet.PIPELINE_CLASSES)  # Kandinsky, cascades, IF, aMUSEd


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
    """The catalogue (nothing is built): 12 healthy, 1 quarantine, 4 failure, + adapter repos."""
    from fakeimg_assets.testbed.zoo.adapters import adapter_models

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
    ] + arch_transformer.transformer_models() + arch_unet.unet_models() + adapter_models()  # zoo/arch_*.py, adapters.py
