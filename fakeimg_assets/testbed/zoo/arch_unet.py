"""UNet latent diffusion: Stable Diffusion 1.x, SDXL, Kolors, Kandinsky 3, Kandinsky 2.2.

One builder per architecture, registered with the zoo's registry and seeded per component
(`components.seed_component`), so the same `ZooModel` always gives the same weights.
Kandinsky 3's pipeline defaults to a constant size, so its UNet declares its native latent
size (`NATIVE_SIZE_KEY`). Kolors' ChatGLM tokenizer reads a sentencepiece model file; it
is written here from a fixed list of pieces (a unigram `ModelProto` built in memory: no
training, no download), so builds are byte-identical.
Heavy libraries are imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import string
import tempfile
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.zoo.components import (
    NATIVE_SIZE_KEY,
    seed_component,
    tiny_clip_text,
    tiny_t5,
    tiny_vae,
    zoo_scheduler,
)
from fakeimg_assets.testbed.zoo.models import ZooModel
from fakeimg_assets.testbed.zoo.registry import register
from fakeimg_assets.testbed.zoo.tokenizers import (
    PROMPT_WORDS,
    make_clip_tokenizer,
    make_t5_tokenizer,
)

GLM_VOCAB = 128  # padded vocabulary: the pieces below plus ChatGLM's 9 special tokens
GLM_HIDDEN = 32


@register("sd1")
def _build_sd1(model: ZooModel, seed: int) -> Any:
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    seed_component(seed, "unet")
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
        vae=tiny_vae(seed, scaling_factor=0.18215),
        text_encoder=tiny_clip_text(seed, "text_encoder", with_projection=False),
        tokenizer=make_clip_tokenizer(),
        unet=unet,
        scheduler=zoo_scheduler(model.scheduler, "sd1", seed),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


@register("sdxl")
def _build_sdxl(model: ZooModel, seed: int) -> Any:
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

    seed_component(seed, "unet")
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
        vae=tiny_vae(seed, scaling_factor=0.13025, force_upcast=True),
        text_encoder=tiny_clip_text(seed, "text_encoder", with_projection=False),
        text_encoder_2=tiny_clip_text(seed, "text_encoder_2", with_projection=True),
        tokenizer=make_clip_tokenizer(),
        tokenizer_2=make_clip_tokenizer(pad_token="!"),
        unet=unet,
        scheduler=zoo_scheduler(model.scheduler, "sdxl", seed),
        force_zeros_for_empty_prompt=True,
    )


def sentencepiece_model() -> bytes:
    """A unigram sentencepiece model: <unk>/<s>/</s>, prompt words, then characters."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    model.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    model.trainer_spec.unk_id, model.trainer_spec.bos_id = 0, 1
    model.trainer_spec.eos_id, model.trainer_spec.pad_id = 2, -1
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = True
    model.normalizer_spec.remove_extra_whitespaces = True
    kinds = pb.ModelProto.SentencePiece
    pieces = [("<unk>", 0.0, kinds.UNKNOWN), ("<s>", 0.0, kinds.CONTROL)]
    pieces += [("</s>", 0.0, kinds.CONTROL), ("▁", -3.0, kinds.NORMAL)]
    pieces += [("▁" + w, -2.0, kinds.NORMAL) for w in sorted(set(PROMPT_WORDS))[:40]]
    pieces += [(c, -4.0, kinds.NORMAL) for c in string.ascii_letters + string.digits + ".,!?'-"]
    for text, score, kind in pieces:
        piece = model.pieces.add()
        piece.piece, piece.score, piece.type = text, score, kind
    if len(pieces) + 9 > GLM_VOCAB:
        raise ValueError(f"{len(pieces)} pieces do not fit the ChatGLM vocabulary of {GLM_VOCAB}")
    return model.SerializeToString()


def make_chatglm_tokenizer() -> Any:
    from diffusers.pipelines.kolors import ChatGLMTokenizer

    tmp = tempfile.TemporaryDirectory(prefix="zoo-glm-")
    path = Path(tmp.name) / "tokenizer.model"
    path.write_bytes(sentencepiece_model())
    tokenizer = ChatGLMTokenizer(str(path))
    tokenizer._zoo_tmp = tmp  # save_pretrained copies the file: keep it while the object lives
    return tokenizer


def _init_glm(glm: Any) -> None:
    """Seeded (by the caller) N(0, 0.02) matrices, unit norms, zero biases."""
    import torch

    with torch.no_grad():
        for name, param in glm.named_parameters():
            if param.dim() >= 2:
                param.normal_(0.0, 0.02)
            elif name.endswith("bias"):
                param.zero_()
            else:
                param.fill_(1.0)


@register("kolors")
def _build_kolors(model: ZooModel, seed: int) -> Any:
    from diffusers import KolorsPipeline, UNet2DConditionModel
    from diffusers.pipelines.kolors import ChatGLMModel
    from diffusers.pipelines.kolors.text_encoder import ChatGLMConfig

    seed_component(seed, "text_encoder")
    glm = ChatGLMModel(
        ChatGLMConfig(
            num_layers=2,
            padded_vocab_size=GLM_VOCAB,
            hidden_size=GLM_HIDDEN,
            ffn_hidden_size=37,
            kv_channels=8,
            num_attention_heads=4,
            seq_length=256,  # Kolors pads prompts to 256 tokens
            original_rope=True,  # as ChatGLM3-6B's config (its code reads it)
        )
    ).eval()
    _init_glm(glm)  # ChatGLM's layers are built with skip_init: weights would be torch.empty
    seed_component(seed, "unet")
    unet = UNet2DConditionModel(
        sample_size=model.latent_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=(4, 8),
        layers_per_block=1,
        norm_num_groups=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=GLM_HIDDEN,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + GLM_HIDDEN,  # time ids + pooled text
    )
    return KolorsPipeline(
        vae=tiny_vae(seed, scaling_factor=0.13025, force_upcast=True),
        text_encoder=glm,
        tokenizer=make_chatglm_tokenizer(),
        unet=unet,
        scheduler=zoo_scheduler(model.scheduler, "sdxl", seed),
        force_zeros_for_empty_prompt=False,
    )


def _movq(seed: int, levels: int, *, latent_channels: int = 4) -> Any:
    """A MoVQ-style `VQModel` upsampling 2 ** (levels - 1) times (group norm: stays tiny)."""
    from diffusers import VQModel

    seed_component(seed, "movq")
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


@register("kandinsky3")
def _build_kandinsky3(model: ZooModel, seed: int) -> Any:
    from diffusers import DDPMScheduler, Kandinsky3Pipeline, Kandinsky3UNet

    seed_component(seed, "unet")
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
        text_encoder=tiny_t5(seed),
        unet=unet,
        scheduler=scheduler,
        movq=_movq(seed, 4),  # the pipeline fixes the latent scale at 8
    )


@register("kandinsky22")
def _build_kandinsky22(model: ZooModel, seed: int) -> Any:
    from diffusers import (
        DDPMScheduler,
        KandinskyV22CombinedPipeline,
        PriorTransformer,
        UnCLIPScheduler,
        UNet2DConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    seed_component(seed, "prior_prior")
    prior = PriorTransformer(
        num_attention_heads=2, attention_head_dim=12, embedding_dim=32, num_layers=1
    )
    seed_component(seed, "prior_image_encoder")
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
    seed_component(seed, "unet")
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
        prior_text_encoder=tiny_clip_text(seed, "prior_text_encoder", with_projection=True),
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

