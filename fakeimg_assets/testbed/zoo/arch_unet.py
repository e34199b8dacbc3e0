"""Tiny random-weight UNet, cascade and pixel-space pipelines for the zoo (with arch_cascade).

One builder per architecture (Kandinsky 3, Kandinsky 2.2 combined, Stable Cascade
combined, Wuerstchen combined, DeepFloyd IF stage I, aMUSEd), each seeded per component
like `components`' builders, so the same `ZooModel` always gives the same weights. Sizes
come from diffusers' own test configs, shrunk until each samples in about a second on CPU.
Denoisers whose pipelines default to a constant size (Kandinsky 3, the cascades) declare
their native latent size as `sample_size` in their saved config (`NATIVE_SIZE_KEY`,
registered after construction; diffusers ignores the key when loading): the recipes read
it, so a tiny repo is sampled at its own small size, not at 1024 px.
Heavy libraries are imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # catalog and components import this module for its tables
    from fakeimg_assets.testbed.zoo.catalog import ZooModel

NATIVE_SIZE_KEY = "sample_size"


def _seed(base: int, component: str) -> None:
    from fakeimg_assets.testbed.zoo.components import _seed as seed

    seed(base, component)


def _clip_text(seed: int, component: str, *, with_projection: bool) -> Any:
    from fakeimg_assets.testbed.zoo.components import _clip_text as clip_text

    return clip_text(seed, component, with_projection=with_projection)


def _t5(seed: int, component: str = "text_encoder", d_model: int = 32) -> Any:
    from transformers import T5Config, T5EncoderModel

    from fakeimg_assets.testbed.zoo.tokenizers import TEXT_VOCAB_SIZE

    _seed(seed, component)
    config = T5Config(
        vocab_size=TEXT_VOCAB_SIZE,
        d_model=d_model,
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
    return T5EncoderModel(config).eval()


def _movq(seed: int, levels: int, *, latent_channels: int = 4) -> Any:
    """A MoVQ-style `VQModel` upsampling 2 ** (levels - 1) times (group norm: stays tiny)."""
    from diffusers import VQModel

    _seed(seed, "movq")
    return VQModel(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * levels,
        up_block_types=["UpDecoderBlock2D"] * levels,
        block_out_channels=[8] * levels,
        layers_per_block=1,
        norm_num_groups=4,
        latent_channels=latent_channels,
        num_vq_embeddings=12,
        vq_embed_dim=latent_channels,
        mid_block_add_attention=False,
    )


def _build_kandinsky3(model: ZooModel, seed: int) -> Any:
    from diffusers import DDPMScheduler, Kandinsky3Pipeline, Kandinsky3UNet

    from fakeimg_assets.testbed.zoo.tokenizers import make_t5_tokenizer

    _seed(seed, "unet")
    unet = Kandinsky3UNet(
        in_channels=4,
        time_embedding_dim=4,
        groups=2,
        attention_head_dim=4,
        layers_per_block=2,
        block_out_channels=(16, 32),
        cross_attention_dim=4,
        encoder_hid_dim=32,
    )
    scheduler = DDPMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        steps_offset=1,
        beta_schedule="squaredcos_cap_v2",
        clip_sample=True,
        thresholding=False,
    )
    unet.register_to_config(**{NATIVE_SIZE_KEY: model.latent_size})
    return Kandinsky3Pipeline(
        tokenizer=make_t5_tokenizer(),
        text_encoder=_t5(seed),
        unet=unet,
        scheduler=scheduler,
        movq=_movq(seed, 4),  # the pipeline fixes the latent scale at 8
    )


def _build_kandinsky22(model: ZooModel, seed: int) -> Any:
    from diffusers import (
        DDPMScheduler,
        KandinskyV22CombinedPipeline,
        PriorTransformer,
        UnCLIPScheduler,
        UNet2DConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    from fakeimg_assets.testbed.zoo.tokenizers import make_clip_tokenizer

    _seed(seed, "prior_prior")
    prior = PriorTransformer(
        num_attention_heads=2, attention_head_dim=12, embedding_dim=32, num_layers=1
    )
    _seed(seed, "prior_image_encoder")
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            image_size=32,
            projection_dim=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_channels=3,
            num_hidden_layers=2,
            patch_size=16,
        )
    ).eval()
    _seed(seed, "unet")
    unet = UNet2DConditionModel(
        sample_size=model.latent_size,
        in_channels=4,
        out_channels=8,  # learned variance
        addition_embed_type="image",
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        encoder_hid_dim=32,
        encoder_hid_dim_type="image_proj",
        cross_attention_dim=16,
        attention_head_dim=4,
        resnet_time_scale_shift="scale_shift",
        class_embed_type=None,
    )
    return KandinskyV22CombinedPipeline(
        unet=unet,
        scheduler=DDPMScheduler(
            num_train_timesteps=1000,
            beta_schedule="linear",
            beta_start=0.00085,
            beta_end=0.012,
            clip_sample=False,
            steps_offset=1,
            prediction_type="epsilon",
            thresholding=False,
        ),
        movq=_movq(seed, 4),
        prior_prior=prior,
        prior_image_encoder=image_encoder,
        prior_text_encoder=_clip_text(seed, "prior_text_encoder", with_projection=True),
        prior_tokenizer=make_clip_tokenizer(),
        prior_scheduler=UnCLIPScheduler(
            variance_type="fixed_small_log",
            prediction_type="sample",
            num_train_timesteps=1000,
            clip_sample=True,
            clip_sample_range=10.0,
        ),
        prior_image_processor=CLIPImageProcessor(
            crop_size=32,
            do_center_crop=True,
            do_normalize=True,
            do_resize=True,
            image_mean=[0.48145466, 0.4578275, 0.40821073],
            image_std=[0.26862954, 0.26130258, 0.27577711],
            resample=3,
            size=32,
        ),
    )


BUILDERS = {
    "kandinsky3": _build_kandinsky3,
    "kandinsky22": _build_kandinsky22,
}
PIPELINE_CLASSES = {
    "kolors": "KolorsPipeline",
    "kandinsky3": "Kandinsky3Pipeline",
    "kandinsky22": "KandinskyV22CombinedPipeline",
    "stable_cascade": "StableCascadeCombinedPipeline",
    "wuerstchen": "WuerstchenCombinedPipeline",
    "deepfloyd_if": "IFPipeline",
    "amused": "AmusedPipeline",
}
NATIVE_PX = {"stable_cascade": 128, "wuerstchen": 128}  # the rest: 64 px, as every zoo repo
BASE_MODELS = {  # the reference checkpoints the cards declare (lineage)
    "kolors": "Kwai-Kolors/Kolors-diffusers",
    "kandinsky3": "kandinsky-community/kandinsky-3",
    "kandinsky22": "kandinsky-community/kandinsky-2-2-decoder",
    "stable_cascade": "stabilityai/stable-cascade",
    "wuerstchen": "warp-ai/wuerstchen",
    "deepfloyd_if": "DeepFloyd/IF-I-XL-v1.0",
    "amused": "amused/amused-512",
}
ARCH_TAGS = {
    "kolors": ["kolors"],
    "kandinsky3": ["kandinsky", "kandinsky-3"],
    "kandinsky22": ["kandinsky", "kandinsky-2-2"],
    "stable_cascade": ["stable-cascade", "wuerstchen"],
    "wuerstchen": ["wuerstchen"],
    "deepfloyd_if": ["deepfloyd-if", "if"],
    "amused": ["amused", "muse"],
}


def unet_models() -> list[ZooModel]:
    """One healthy tiny repo per UNet / cascade / pixel-space recipe (zoo catalogue rows)."""
    from fakeimg_assets.testbed.zoo.catalog import ZooModel

    ddpm, wuerstchen = "DDPMScheduler", "DDPMWuerstchenScheduler"
    rows = [  # model id, architecture, scheduler, seed, created_at, license
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
    ]
    return [
        ZooModel(mid, arch, PIPELINE_CLASSES[arch], sched, seed, created, "ok", license=lic)
        for mid, arch, sched, seed, created, lic in rows
    ]


def builders() -> dict[str, Any]:
    """Every builder of this family (cascades and aMUSEd: `arch_cascade`; `arch_kolors`)."""
    from fakeimg_assets.testbed.zoo import arch_cascade, arch_kolors

    return {**BUILDERS, **arch_cascade.BUILDERS, **arch_kolors.BUILDERS}
