"""Pipelines that do not denoise one VAE latent: two-stage latent cascades (Stable Cascade,
Wuerstchen), pixel space (DeepFloyd IF stage I) and masked VQ tokens (aMUSEd).

Same conventions as the other families: one registered builder per architecture, seeded
per component, diffusers' test configs shrunk. The two-stage cascades declare their
prior's latent size as `sample_size` (`CASCADE_LATENT`, 3 cells: the decoder makes 32x32
latents, Paella 4x: exactly 128 px, the zoo's `NATIVE_PX` for them).
Heavy libraries are imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

from typing import Any

from fakeimg_assets.testbed.zoo.components import (
    NATIVE_SIZE_KEY,
    seed_component,
    tiny_clip_text,
    tiny_t5,
)
from fakeimg_assets.testbed.zoo.models import ZooModel
from fakeimg_assets.testbed.zoo.registry import register
from fakeimg_assets.testbed.zoo.tokenizers import make_clip_tokenizer, make_t5_tokenizer

CASCADE_LATENT = 3


def _paella(seed: int) -> Any:
    """Paella VQGAN (cascade stage A): 2 levels, 4x up; tiny embed and one bottleneck."""
    from diffusers.pipelines.deprecated.wuerstchen import PaellaVQModel

    seed_component(seed, "vqgan")
    return PaellaVQModel(bottleneck_blocks=1, embed_dim=16, num_vq_embeddings=8)


def _cascade_scheduler() -> Any:
    from diffusers import DDPMWuerstchenScheduler

    return DDPMWuerstchenScheduler()


@register("stable_cascade")
def _build_cascade(model: ZooModel, seed: int) -> Any:
    from diffusers import StableCascadeCombinedPipeline, StableCascadeUNet

    seed_component(seed, "prior_prior")
    prior = StableCascadeUNet(
        conditioning_dim=16,
        block_out_channels=(16, 16),
        num_attention_heads=(2, 2),
        down_num_layers_per_block=(1, 1),
        up_num_layers_per_block=(1, 1),
        switch_level=(False,),
        clip_image_in_channels=32,
        clip_text_in_channels=32,
        clip_text_pooled_in_channels=32,
        dropout=(0.0, 0.0),
    )
    prior.register_to_config(**{NATIVE_SIZE_KEY: CASCADE_LATENT})
    seed_component(seed, "decoder")
    decoder = StableCascadeUNet(
        in_channels=4,
        out_channels=4,
        conditioning_dim=16,
        block_out_channels=(8, 16),
        num_attention_heads=(-1, 2),
        down_num_layers_per_block=(1, 1),
        up_num_layers_per_block=(1, 1),
        down_blocks_repeat_mappers=(1, 1),
        up_blocks_repeat_mappers=(1, 1),
        block_types_per_layer=(
            ("SDCascadeResBlock", "SDCascadeTimestepBlock"),
            ("SDCascadeResBlock", "SDCascadeTimestepBlock", "SDCascadeAttnBlock"),
        ),
        switch_level=None,
        clip_text_pooled_in_channels=32,
        effnet_in_channels=16,
        pixel_mapper_in_channels=3,
        dropout=(0.0, 0.0),
        patch_size=2,
    )
    return StableCascadeCombinedPipeline(
        tokenizer=make_clip_tokenizer(),
        text_encoder=tiny_clip_text(seed, "text_encoder", with_projection=True),
        decoder=decoder,
        scheduler=_cascade_scheduler(),
        vqgan=_paella(seed),
        prior_prior=prior,
        prior_text_encoder=tiny_clip_text(seed, "prior_text_encoder", with_projection=True),
        prior_tokenizer=make_clip_tokenizer(),
        prior_scheduler=_cascade_scheduler(),
        prior_feature_extractor=None,
        prior_image_encoder=None,
    )


@register("wuerstchen")
def _build_wuerstchen(model: ZooModel, seed: int) -> Any:
    from diffusers import WuerstchenCombinedPipeline
    from diffusers.pipelines.deprecated.wuerstchen import WuerstchenDiffNeXt, WuerstchenPrior

    seed_component(seed, "prior_prior")
    prior = WuerstchenPrior(c_in=16, c=16, c_cond=32, c_r=8, depth=1, nhead=2, dropout=0.0)
    prior.register_to_config(**{NATIVE_SIZE_KEY: CASCADE_LATENT})
    seed_component(seed, "decoder")
    decoder = WuerstchenDiffNeXt(
        c_in=4,
        c_out=4,
        c_r=8,
        c_cond=32,
        c_hidden=[8, 16],
        nhead=[-1, 2],
        blocks=[1, 1],
        level_config=["CT", "CTA"],
        inject_effnet=[False, True],
        effnet_embd=16,
        clip_embd=32,
        dropout=0.0,
    )
    return WuerstchenCombinedPipeline(
        tokenizer=make_clip_tokenizer(),
        text_encoder=tiny_clip_text(seed, "text_encoder", with_projection=False),
        decoder=decoder,
        scheduler=_cascade_scheduler(),
        vqgan=_paella(seed),
        prior_tokenizer=make_clip_tokenizer(),
        prior_text_encoder=tiny_clip_text(seed, "prior_text_encoder", with_projection=False),
        prior_prior=prior,
        prior_scheduler=_cascade_scheduler(),
    )


@register("deepfloyd_if")
def _build_deepfloyd_if(model: ZooModel, seed: int) -> Any:
    """IF stage I: a pixel-space UNet (3 channels in, 6 out: learned variance) at 64 px."""
    from diffusers import DDPMScheduler, IFPipeline, UNet2DConditionModel

    seed_component(seed, "unet")
    unet = UNet2DConditionModel(
        sample_size=model.latent_size * 8,  # pixels: there is no VAE
        layers_per_block=1,
        block_out_channels=(8, 8, 16),  # attention only at 16x16: cheap at 64 px
        down_block_types=(
            "ResnetDownsampleBlock2D",
            "ResnetDownsampleBlock2D",
            "SimpleCrossAttnDownBlock2D",
        ),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=(
            "SimpleCrossAttnUpBlock2D",
            "ResnetUpsampleBlock2D",
            "ResnetUpsampleBlock2D",
        ),
        in_channels=3,
        out_channels=6,
        norm_num_groups=4,
        cross_attention_dim=32,  # its group norm has 32 groups
        encoder_hid_dim=32,
        attention_head_dim=8,
        addition_embed_type="text",
        addition_embed_type_num_heads=2,
        cross_attention_norm="group_norm",
        resnet_time_scale_shift="scale_shift",
        act_fn="gelu",
    )
    scheduler = DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        beta_start=0.0001,
        beta_end=0.02,
        thresholding=True,
        dynamic_thresholding_ratio=0.95,
        sample_max_value=1.0,
        prediction_type="epsilon",
        variance_type="learned_range",
    )
    return IFPipeline(
        tokenizer=make_t5_tokenizer(),
        text_encoder=tiny_t5(seed),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        watermarker=None,
        requires_safety_checker=False,
    )


@register("amused")
def _build_amused(model: ZooModel, seed: int) -> Any:
    """aMUSEd: masked-token transformer over a VQ-GAN codebook, CLIP with projection."""
    from diffusers import AmusedPipeline, AmusedScheduler, UVit2DModel, VQModel

    seed_component(seed, "transformer")
    transformer = UVit2DModel(
        sample_size=model.latent_size,
        hidden_size=8,
        use_bias=False,
        hidden_dropout=0.0,
        cond_embed_dim=32,  # the text encoder's projection
        micro_cond_encode_dim=2,
        micro_cond_embed_dim=10,
        encoder_hidden_size=32,  # the text encoder's hidden size
        vocab_size=32,
        codebook_size=8,
        in_channels=8,
        block_out_channels=8,
        num_res_blocks=1,
        downsample=True,
        upsample=True,
        block_num_heads=1,
        num_hidden_layers=1,
        num_attention_heads=1,
        attention_dropout=0.0,
        intermediate_size=8,
        layer_norm_eps=1e-06,
        ln_elementwise_affine=True,
    )
    seed_component(seed, "vqvae")
    vqvae = VQModel(
        act_fn="silu",
        block_out_channels=[8] * 4,  # 8x: 8x8 tokens decode to 64 px
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        layers_per_block=1,
        norm_num_groups=8,
        num_vq_embeddings=8,
        sample_size=model.latent_size * 8,
        mid_block_add_attention=False,
        lookup_from_codebook=True,
        force_upcast=False,
    )
    return AmusedPipeline(
        vqvae=vqvae,
        tokenizer=make_clip_tokenizer(),
        text_encoder=tiny_clip_text(seed, "text_encoder", with_projection=True),
        transformer=transformer,
        scheduler=AmusedScheduler(mask_token_id=31),
    )

