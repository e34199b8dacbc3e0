"""The zoo's catalogue, as data: which repos exist, what each claims, what the platform
should make of it, and what each architecture's repos declare on their cards.

The bottom of the zoo: it imports no other zoo module and no heavy library, so listing the
zoo, reading `zoo.json` or making a sized variant builds nothing. The families
(`arch_*.py`) know how to build an architecture's weights; everything they and the repo
writers need to know about a model is here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

ARCHITECTURES = ("sd1", "sdxl", "sd3", "pixart")  # the first four: several repos each
EXPECTATIONS = ("ok", "quarantine", "failure")
DEFAULT_IMAGE_SIZE = 64  # every healthy architecture's default height and width
LATENT_SIZE = 8  # unet/transformer sample_size; the 4-level VAE upsamples it 8x to 64
ZOO_MANIFEST = "zoo.json"
HUB_METADATA = ".hub.json"


@dataclass(frozen=True)
class Architecture:
    """What the repos of one zoo architecture claim to be."""

    pipeline_class: str  # the diffusers pipeline class in model_index.json
    base_model: str  # the reference checkpoint the cards declare (lineage)
    tags: tuple[str, ...]  # the card's architecture tags


ARCHS: dict[str, Architecture] = {
    # the first four
    "sd1": Architecture(
        "StableDiffusionPipeline", "stable-diffusion-v1-5/stable-diffusion-v1-5",
        ("stable-diffusion", "stable-diffusion-diffusers"),
    ),
    "sdxl": Architecture(
        "StableDiffusionXLPipeline", "stabilityai/stable-diffusion-xl-base-1.0",
        ("stable-diffusion-xl", "stable-diffusion-xl-diffusers"),
    ),
    "sd3": Architecture(
        "StableDiffusion3Pipeline", "stabilityai/stable-diffusion-3-medium-diffusers",
        ("stable-diffusion-3", "sd3", "sd3-diffusers"),
    ),
    "pixart": Architecture(
        "PixArtAlphaPipeline", "PixArt-alpha/PixArt-XL-2-1024-MS",
        ("pixart-alpha", "PixArt", "transformer"),
    ),
    # diffusion transformers with CLIP / T5 text encoders (arch_transformer.py)
    "flux": Architecture("FluxPipeline", "black-forest-labs/FLUX.1-dev", ("flux",)),
    "flux-schnell": Architecture(
        "FluxPipeline", "black-forest-labs/FLUX.1-schnell", ("flux", "schnell")
    ),
    "chroma": Architecture("ChromaPipeline", "lodestones/Chroma1-HD", ("chroma",)),
    "auraflow": Architecture("AuraFlowPipeline", "fal/AuraFlow-v0.3", ("auraflow",)),
    "hunyuandit": Architecture(
        "HunyuanDiTPipeline", "Tencent-Hunyuan/HunyuanDiT-v1.2-Diffusers", ("hunyuan-dit",)
    ),
    # diffusion transformers with a decoder LLM as text encoder (arch_transformer_llm.py)
    "sana": Architecture(
        "SanaPipeline", "Efficient-Large-Model/Sana_1600M_1024px_diffusers", ("sana",)
    ),
    "lumina2": Architecture("Lumina2Pipeline", "Alpha-VLLM/Lumina-Image-2.0", ("lumina2",)),
    "zimage-turbo": Architecture(
        "ZImagePipeline", "Tongyi-MAI/Z-Image-Turbo", ("z-image", "turbo")
    ),
    "flux2-klein": Architecture(
        "Flux2KleinPipeline", "black-forest-labs/FLUX.2-klein-4B", ("flux2", "klein")
    ),
    "flux2": Architecture("Flux2Pipeline", "black-forest-labs/FLUX.2-dev", ("flux2",)),
    "qwenimage": Architecture("QwenImagePipeline", "Qwen/Qwen-Image", ("qwen-image",)),
    # UNet latent diffusion beyond SD (arch_unet.py)
    "kolors": Architecture("KolorsPipeline", "Kwai-Kolors/Kolors-diffusers", ("kolors",)),
    "kandinsky3": Architecture(
        "Kandinsky3Pipeline", "kandinsky-community/kandinsky-3", ("kandinsky", "kandinsky-3")
    ),
    "kandinsky22": Architecture(
        "KandinskyV22CombinedPipeline", "kandinsky-community/kandinsky-2-2-decoder",
        ("kandinsky", "kandinsky-2-2"),
    ),
    # cascades, pixel space and masked tokens (arch_cascade.py)
    "stable_cascade": Architecture(
        "StableCascadeCombinedPipeline", "stabilityai/stable-cascade",
        ("stable-cascade", "wuerstchen"),
    ),
    "wuerstchen": Architecture(
        "WuerstchenCombinedPipeline", "warp-ai/wuerstchen", ("wuerstchen",)
    ),
    "deepfloyd_if": Architecture("IFPipeline", "DeepFloyd/IF-I-XL-v1.0", ("deepfloyd-if", "if")),
    "amused": Architecture("AmusedPipeline", "amused/amused-512", ("amused", "muse")),
}
NATIVE_PX = {"stable_cascade": 128, "wuerstchen": 128}  # the rest: DEFAULT_IMAGE_SIZE
_DEFAULT_LICENSES = {
    "sd1": "creativeml-openrail-m",
    "sdxl": "openrail++",
    "sd3": "other",
    "pixart": "openrail++",
}


@dataclass(frozen=True)
class ZooModel:
    """One repo of the zoo and what the platform is expected to make of it."""

    model_id: str  # "org/name", as the Hub spells it
    architecture: str  # a key of ARCHS, "unknown" for hostile ones
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


def zoo_model(
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
    """A catalogue row with the architecture's pipeline class and default licence."""
    return ZooModel(
        model_id=model_id,
        architecture=arch,
        pipeline_class=pipeline_class or ARCHS[arch].pipeline_class,
        scheduler=scheduler,
        seed=seed,
        created_at=created_at,
        expect=expect,
        reason=reason,
        license=license or _DEFAULT_LICENSES.get(arch, "creativeml-openrail-m"),
    )


# Failure kinds: how an otherwise healthy build is broken afterwards (damage.py).
HOSTILE = "hostile-remote-code"
PICKLE_ONLY = "pickle-only"
CORRUPT = "corrupt-safetensors"
NO_INDEX = "no-model-index"
BLACK_VAE = "black-vae"

# model id -> (failure kind, architecture actually built underneath)
BROKEN: dict[str, tuple[str, str]] = {
    "midnight-collective/noir-diffusion": (BLACK_VAE, "sd1"),
    "shadyhub/turbo-everything": (HOSTILE, "sd1"),
    "oldschool-ckpt/classic-realism-xl": (PICKLE_ONLY, "sdxl"),
    "bitrot-labs/pixart-broken-upload": (CORRUPT, "pixart"),
    "civit-mirror/lazy-merge-v3": (NO_INDEX, "sd1"),
}


def built_architecture(model: ZooModel) -> tuple[str, str]:
    """`(failure kind or "", architecture whose pipeline is built)` of a pipeline repo."""
    return BROKEN.get(model.model_id, ("", model.architecture))


@dataclass(frozen=True)
class AdapterSpec:
    """What a non-pipeline zoo repo (LoRA, single file) is and which pipeline shapes it."""

    kind: str  # 'lora' | 'single_file'
    card_base: str  # the card's base_model (may be missing from the Hub on purpose)
    shape_from: str  # zoo model id whose pipeline the weights are made for
    instance_prompt: str | None = None
    widget_text: str | None = None
    pickle_only: bool = False  # only `pytorch_lora_weights.bin` (refused, never read)


ADAPTERS: dict[str, AdapterSpec] = {
    "inkwell-studio/dreamscape-watercolor-lora": AdapterSpec(
        "lora", "pixelsmith/dreamscape-v1", "pixelsmith/dreamscape-v1",
        instance_prompt="wtrclr watercolor painting",
    ),
    "kestrel_ai/dreamscape-pixelart-lora": AdapterSpec(
        "lora", "pixelsmith/dreamscape-v1", "pixelsmith/dreamscape-v1",
        widget_text="pxlrt pixel art",
    ),
    "northwind-studio/velvet-neon-xl-lora": AdapterSpec(
        "lora", "aurora-labs/sdxl-velvet", "aurora-labs/sdxl-velvet",
        widget_text="nvlt neon glow",
    ),
    "quietmachine/lumina-inkwash-sd3-lora": AdapterSpec(
        "lora", "quietmachine/sd3-lumina-tune", "quietmachine/sd3-lumina-tune",
        instance_prompt="inkwash style",
    ),
    "lostandfound/orphan-style-lora": AdapterSpec(
        "lora", "vanished-labs/deleted-base-v1", "pixelsmith/dreamscape-v1",
        instance_prompt="orphn style",
    ),
    "oldschool-ckpt/pickled-portrait-lora": AdapterSpec(
        "lora", "pixelsmith/dreamscape-v1", "pixelsmith/dreamscape-v1", pickle_only=True,
    ),
    # a few-step adapter known by its name, as SDXL-Lightning's derivatives are: sampled with
    # the sdxl-lightning recipe (4 steps, no CFG), not the base's 25 steps and CFG
    "swiftbolt/velvet-lightning-4step-lora": AdapterSpec(
        "lora", "aurora-labs/sdxl-velvet", "aurora-labs/sdxl-velvet",
    ),
    "kestrel_ai/toonify-1.5-single-file": AdapterSpec(
        "single_file", "kestrel_ai/toonify-1.5", "kestrel_ai/toonify-1.5",
    ),
    "glasshouse-ml/pixart-glass-lora": AdapterSpec(
        "lora", "glasshouse-ml/pixart-glass", "glasshouse-ml/pixart-glass",
        instance_prompt="glss style",
    ),
}


def adapter_spec(model_id: str) -> AdapterSpec | None:
    """The spec of a LoRA / single-file zoo repo, None for a pipeline repo."""
    return ADAPTERS.get(model_id)


def core_models() -> list[ZooModel]:
    """The first four architectures: healthy repos, the black one and the broken ones."""
    fm = "FlowMatchEulerDiscreteScheduler"
    return [
        # Stable Diffusion 1.x style
        zoo_model("pixelsmith/dreamscape-v1", "sd1", "PNDMScheduler", 101,
                  "2023-02-14T09:12:00.000Z"),
        zoo_model("lumen-forge/analog-memories-sd15", "sd1", "DDIMScheduler", 102,
                  "2024-05-21T16:40:00.000Z"),
        zoo_model("kestrel_ai/toonify-1.5", "sd1", "EulerDiscreteScheduler", 103,
                  "2025-03-09T11:05:00.000Z"),
        # SDXL style
        zoo_model("aurora-labs/sdxl-velvet", "sdxl", "EulerDiscreteScheduler", 201,
                  "2023-08-03T14:30:00.000Z"),
        zoo_model("northwind-studio/photon-xl", "sdxl", "DPMSolverMultistepScheduler", 202,
                  "2024-09-17T08:00:00.000Z"),
        zoo_model("pixelsmith/dreamscape-xl", "sdxl", "DDIMScheduler", 203,
                  "2025-06-02T19:45:00.000Z"),
        # SD3 style (no T5)
        zoo_model("quietmachine/sd3-lumina-tune", "sd3", fm, 301, "2024-07-02T10:00:00.000Z"),
        zoo_model("aurora-labs/sd3-aurora", "sd3", fm, 302, "2024-12-11T13:20:00.000Z"),
        zoo_model("Vermilion.Research/sd3-cinematic", "sd3", fm, 303,
                  "2025-08-19T07:55:00.000Z"),
        # PixArt-alpha style
        zoo_model("glasshouse-ml/pixart-glass", "pixart", "DPMSolverMultistepScheduler", 401,
                  "2023-12-05T12:00:00.000Z"),
        zoo_model("northwind-studio/pixart-nimbus", "pixart", "DDIMScheduler", 402,
                  "2024-10-28T15:10:00.000Z"),
        zoo_model("kestrel_ai/pixart-kite", "pixart", "EulerDiscreteScheduler", 403,
                  "2025-05-13T06:30:00.000Z"),
        # loads and samples, but every image is black
        zoo_model(
            "midnight-collective/noir-diffusion", "sd1", "PNDMScheduler", 501,
            "2024-02-20T22:15:00.000Z", expect="quarantine",
            reason="VAE decoder conv_out is zeroed with bias -10: every image decodes to pure "
            "black, so all samples are identical",
        ),
        # deliberately broken
        zoo_model(
            "shadyhub/turbo-everything", "unknown", "PNDMScheduler", 601,
            "2023-11-07T03:33:00.000Z", expect="failure", pipeline_class="EvilPipeline",
            reason="custom pipeline: model_index.json _class_name is ['pipeline', "
            "'EvilPipeline'] with a pipeline.py in the repo (remote code that must never run)",
        ),
        zoo_model(
            "oldschool-ckpt/classic-realism-xl", "sdxl", "EulerDiscreteScheduler", 602,
            "2024-04-12T17:00:00.000Z", expect="failure",
            reason="pickle-only weights: unet/ has only diffusion_pytorch_model.bin, "
            "no safetensors",
        ),
        zoo_model(
            "bitrot-labs/pixart-broken-upload", "pixart", "DPMSolverMultistepScheduler", 603,
            "2025-01-22T09:09:00.000Z", expect="failure",
            reason="corrupt weights: transformer/diffusion_pytorch_model.safetensors is "
            "truncated and garbled (interrupted upload: no .bin or fp16 copy of it either)",
        ),
        zoo_model(
            "civit-mirror/lazy-merge-v3", "sd1", "PNDMScheduler", 604,
            "2025-09-30T20:00:00.000Z", expect="failure",
            reason="not a diffusers pipeline repo: no model_index.json, only a single-file "
            "checkpoint at the root",
        ),
    ]


def _healthy(rows: list[tuple[str, str, str, int, str, str]]) -> list[ZooModel]:
    """Rows of `(model id, architecture, scheduler, seed, created_at, license)`."""
    return [zoo_model(mid, arch, sched, seed, created, license=lic)
            for mid, arch, sched, seed, created, lic in rows]


def transformer_models() -> list[ZooModel]:
    """One healthy repo per diffusion-transformer recipe (arch_transformer*.py)."""
    fm = "FlowMatchEulerDiscreteScheduler"
    return _healthy([
        ("driftwood-ai/flux-dreamer", "flux", fm, 1101, "2024-09-12T10:30:00.000Z", "other"),
        ("kestrel_ai/flux-schnell-sprint", "flux-schnell", fm, 1102,
         "2025-02-03T08:15:00.000Z", "apache-2.0"),
        ("lumen-forge/chroma-hd-tune", "chroma", fm, 1103, "2025-07-15T17:45:00.000Z",
         "apache-2.0"),
        ("northwind-studio/aura-drift", "auraflow", fm, 1106, "2024-11-05T12:00:00.000Z",
         "apache-2.0"),
        ("pixelsmith/hunyuan-lantern", "hunyuandit", "DDPMScheduler", 1107,
         "2024-06-18T07:20:00.000Z", "other"),
        ("glasshouse-ml/sana-sprout", "sana", "DPMSolverMultistepScheduler", 1104,
         "2025-01-20T09:00:00.000Z", "cc-by-nc-sa-4.0"),
        ("quietmachine/lumina-two-ink", "lumina2", fm, 1105, "2025-03-28T14:10:00.000Z",
         "apache-2.0"),
        ("aurora-labs/zimage-turbo-snap", "zimage-turbo", fm, 1108,
         "2025-12-01T10:00:00.000Z", "apache-2.0"),
        ("driftwood-ai/klein-quick", "flux2-klein", fm, 1109, "2025-11-20T16:00:00.000Z",
         "apache-2.0"),
        ("lumen-forge/qwen-image-watercolor", "qwenimage", fm, 1110,
         "2025-08-22T11:30:00.000Z", "apache-2.0"),
        ("Vermilion.Research/flux2-dev-atelier", "flux2", fm, 1112,
         "2025-11-26T09:30:00.000Z", "other"),
    ])


def unet_models() -> list[ZooModel]:
    """One healthy repo per UNet / cascade / pixel-space recipe (arch_unet, arch_cascade)."""
    ddpm, wuerstchen = "DDPMScheduler", "DDPMWuerstchenScheduler"
    return _healthy([
        ("kestrel_ai/kolors-lantern", "kolors", "EulerDiscreteScheduler", 1207,
         "2024-07-30T14:00:00.000Z", "apache-2.0"),
        ("glasshouse-ml/kandinsky3-fresco", "kandinsky3", ddpm, 1201,
         "2024-01-18T10:00:00.000Z", "apache-2.0"),
        ("northwind-studio/kandinsky22-harbor", "kandinsky22", ddpm, 1202,
         "2023-07-25T13:30:00.000Z", "apache-2.0"),
        ("quietmachine/cascade-mist", "stable_cascade", wuerstchen, 1203,
         "2024-02-27T09:45:00.000Z", "other"),
        ("lumen-forge/wuerstchen-v2-tune", "wuerstchen", wuerstchen, 1204,
         "2023-09-13T16:10:00.000Z", "mit"),
        ("Vermilion.Research/if-stage1-portraits", "deepfloyd_if", ddpm, 1205,
         "2023-05-02T11:20:00.000Z", "deepfloyd-if-license"),
        ("pixelsmith/amused-sketchbook", "amused", "AmusedScheduler", 1206,
         "2024-03-12T08:05:00.000Z", "openrail++"),
    ])


def adapter_models() -> list[ZooModel]:
    """The adapter repos (`ADAPTERS`), with the architecture and class of their base."""
    return [
        zoo_model("inkwell-studio/dreamscape-watercolor-lora", "sd1", "PNDMScheduler", 701,
                  "2025-04-03T10:00:00.000Z"),
        zoo_model("kestrel_ai/dreamscape-pixelart-lora", "sd1", "PNDMScheduler", 707,
                  "2025-08-08T16:20:00.000Z"),
        zoo_model("northwind-studio/velvet-neon-xl-lora", "sdxl", "EulerDiscreteScheduler",
                  702, "2025-09-30T12:30:00.000Z"),
        zoo_model("quietmachine/lumina-inkwash-sd3-lora", "sd3",
                  "FlowMatchEulerDiscreteScheduler", 703, "2025-10-01T08:15:00.000Z"),
        zoo_model("lostandfound/orphan-style-lora", "sd1", "PNDMScheduler", 704,
                  "2025-02-11T18:00:00.000Z", expect="failure",
                  reason="LoRA adapter whose card base_model vanished-labs/deleted-base-v1 is "
                  "not on the Hub"),
        zoo_model("oldschool-ckpt/pickled-portrait-lora", "sd1", "PNDMScheduler", 705,
                  "2024-06-30T09:00:00.000Z", expect="failure",
                  reason="pickle-only LoRA adapter: only pytorch_lora_weights.bin, no "
                  "safetensors"),
        zoo_model("swiftbolt/velvet-lightning-4step-lora", "sdxl", "EulerDiscreteScheduler",
                  709, "2025-11-02T09:00:00.000Z"),
        zoo_model("kestrel_ai/toonify-1.5-single-file", "sd1", "EulerDiscreteScheduler", 708,
                  "2025-09-12T11:00:00.000Z"),
        zoo_model("glasshouse-ml/pixart-glass-lora", "pixart", "DPMSolverMultistepScheduler",
                  706, "2025-03-27T14:45:00.000Z", expect="failure",
                  reason="LoRA adapter on a PixArt base: diffusers' PixArt pipelines take no "
                  "LoRA"),
    ]


def zoo_models() -> list[ZooModel]:
    """The whole catalogue, in build order (nothing is built)."""
    return core_models() + transformer_models() + unet_models() + adapter_models()


def sized_variant(model: ZooModel, size: int) -> ZooModel:
    """An sd1/sdxl model rebuilt at another native size (a multiple of 8), id `<id>-<size>px`."""
    if model.architecture not in ("sd1", "sdxl") or size % 8 or not 16 <= size <= 512:
        raise ValueError(f"sized variants need an sd1/sdxl model and 16 <= size <= 512, size % 8 "
                         f"== 0; got {model.architecture} {size}")
    return replace(model, model_id=f"{model.model_id}-{size}px", latent_size=size // 8)
