"""Diffusion transformers whose text encoder is a decoder LLM: Sana and Lumina 2 (Gemma 2),
Z-Image (Qwen 3), FLUX.2 [klein] (Qwen 3) and [dev] (Mistral 3), Qwen-Image (Qwen2.5-VL).

The LLM tokenizers are written locally (no Hub): a character-level or byte-level vocabulary
without merges, with the family's special tokens and chat template, built by transformers
5's tokenizers-backed classes from a vocab dict, like the CLIP/T5 ones in `tokenizers.py`.
Every vocabulary stays under the tiny encoders' `TEXT_VOCAB_SIZE`. One registered builder
per architecture, seeded per component. Heavy libraries are imported inside functions.
"""

from __future__ import annotations

from typing import Any

from fakeimg_assets.testbed.zoo.components import seed_component, tiny_flux_vae
from fakeimg_assets.testbed.zoo.models import DEFAULT_IMAGE_SIZE, ZooModel
from fakeimg_assets.testbed.zoo.registry import register
from fakeimg_assets.testbed.zoo.tokenizers import TEXT_VOCAB_SIZE, bytes_to_unicode, char_vocab


def make_gemma_tokenizer() -> Any:
    """A `GemmaTokenizer` (Metaspace '▁' words, <pad>=0 <eos>=1 <bos>=2 <unk>=3)."""
    from transformers import GemmaTokenizer

    vocab = char_vocab(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"], space="▁")
    return GemmaTokenizer(vocab=vocab, merges=[], model_max_length=2048)


_QWEN_CHAT = (  # the ChatML shape of Qwen's template (no tools, no thinking blocks)
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_qwen_tokenizer() -> Any:
    """A byte-level `Qwen2Tokenizer` (no merges) with ChatML specials and chat template."""
    from transformers import Qwen2Tokenizer

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    vocab.update({t: 256 + i for i, t in enumerate(specials)})
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=4096)
    tok.add_special_tokens({"additional_special_tokens": specials[1:]})
    tok.chat_template = _QWEN_CHAT
    return tok


_PIXTRAL_SPECIALS = [
    "[IMG]", "[IMG_BREAK]", "[IMG_END]", "[INST]", "[/INST]", "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
]


_PIXTRAL_CHAT = (  # Mistral's v7 layout for system + user text turns (images as [IMG])
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}[SYSTEM_PROMPT]"
    "{% for c in m['content'] %}{{ c['text'] }}{% endfor %}[/SYSTEM_PROMPT]"
    "{% elif m['role'] == 'user' %}[INST]{% for c in m['content'] %}{% if c['type'] == 'text' %}"
    "{{ c['text'] }}{% else %}[IMG]{% endif %}{% endfor %}[/INST]{% endif %}{% endfor %}"
)


def make_pixtral_processor() -> Any:
    """A `PixtralProcessor` (image processor + char-level Llama-style tokenizer + template)."""
    from transformers import LlamaTokenizer, PixtralImageProcessor, PixtralProcessor

    vocab = char_vocab(["<pad>", "<s>", "</s>", "<unk>", *_PIXTRAL_SPECIALS], space="▁")
    tok = LlamaTokenizer(vocab=vocab, merges=[], pad_token="<pad>", model_max_length=1024)
    tok.add_special_tokens({"additional_special_tokens": _PIXTRAL_SPECIALS})
    return PixtralProcessor(
        image_processor=PixtralImageProcessor(patch_size=16), tokenizer=tok, patch_size=16,
        spatial_merge_size=2, chat_template=_PIXTRAL_CHAT,
    )


def _qwen3(seed: int, component: str, *, hidden: int = 16) -> Any:
    """A 2-layer Qwen 3 base model (Z-Image reads its second-to-last hidden states)."""
    from transformers import Qwen3Config, Qwen3Model

    seed_component(seed, component)
    config = Qwen3Config(
        vocab_size=TEXT_VOCAB_SIZE, hidden_size=hidden, intermediate_size=32,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
        max_position_embeddings=4096, attn_implementation="eager",
    )
    return Qwen3Model(config).eval()


def _gemma2(seed: int, component: str, *, hidden: int = 16, layers: int = 1) -> Any:
    """A 1-layer Gemma 2 base model (what Sana and Lumina 2 use as text encoder)."""
    from transformers import Gemma2Config, Gemma2Model

    seed_component(seed, component)
    config = Gemma2Config(
        vocab_size=TEXT_VOCAB_SIZE,
        hidden_size=hidden,
        intermediate_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=2048,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return Gemma2Model(config).eval()


def _dc_ae(seed: int) -> Any:
    """A 4-level deep-compression autoencoder: scale factor 8, 8x8 latents -> 64 px."""
    from diffusers import AutoencoderDC

    seed_component(seed, "vae")
    blocks = ("ResBlock", "ResBlock", "EfficientViTBlock", "EfficientViTBlock")
    return AutoencoderDC(
        in_channels=3,
        latent_channels=4,
        attention_head_dim=2,
        encoder_block_types=blocks,
        decoder_block_types=blocks,
        encoder_block_out_channels=(4, 4, 8, 8),
        decoder_block_out_channels=(4, 4, 8, 8),
        encoder_layers_per_block=(1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        encoder_qkv_multiscales=((), (), (5,), (5,)),
        decoder_qkv_multiscales=((), (), (5,), (5,)),
        upsample_block_type="interpolate",
        downsample_block_type="conv",
        decoder_norm_types="rms_norm",
        decoder_act_fns="silu",
        scaling_factor=0.41407,
    )


def _qwen25_vl(seed: int) -> Any:
    """A tiny Qwen2.5-VL (text 2 layers x 16, vision 1 block); ids fit the zoo vocabulary."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    seed_component(seed, "text_encoder")
    mrope = {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2,
            "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": TEXT_VOCAB_SIZE,
            "max_position_embeddings": 2048, "rope_scaling": mrope, "rope_theta": 1e6,
            "bos_token_id": 257, "eos_token_id": 258, "pad_token_id": 256,
        },
        vision_config={
            "depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2,
            "out_hidden_size": 16,
        },
        vision_start_token_id=990, vision_end_token_id=991, vision_token_id=992,
        image_token_id=993, video_token_id=994,
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def _flux2_vae(seed: int) -> Any:
    """A 4-level AutoencoderKLFlux2 (patchified, batch-normed latents): 8x8 latents -> 64 px."""
    from diffusers import AutoencoderKLFlux2

    seed_component(seed, "vae")
    return AutoencoderKLFlux2(
        block_out_channels=(4, 4, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=2,
        sample_size=DEFAULT_IMAGE_SIZE,
    )


@register("zimage-turbo")
def _build_zimage(model: ZooModel, seed: int) -> Any:
    """Z-Image (Turbo): single-stream DiT over the Flux VAE, Qwen 3 text encoder."""
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline
    from diffusers import ZImageTransformer2DModel as Transformer

    seed_component(seed, "transformer")
    transformer = Transformer(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=32, n_layers=1,
        n_refiner_layers=1, n_heads=2, n_kv_heads=2, cap_feat_dim=16, axes_dims=[8, 4, 4],
        axes_lens=[512, 32, 32],
    )
    return ZImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
        vae=tiny_flux_vae(seed),
        text_encoder=_qwen3(seed, "text_encoder"),
        tokenizer=make_qwen_tokenizer(),
        transformer=transformer,
    )


@register("sana")
def _build_sana(model: ZooModel, seed: int) -> Any:
    """Sana: linear-attention DiT over a 32x (here 8x) DC-AE, Gemma 2 text encoder."""
    from diffusers import DPMSolverMultistepScheduler, SanaPipeline, SanaTransformer2DModel

    seed_component(seed, "transformer")
    transformer = SanaTransformer2DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=4,
        num_layers=1,
        num_cross_attention_heads=2,
        cross_attention_head_dim=4,
        cross_attention_dim=8,
        caption_channels=16,  # Gemma hidden size
        sample_size=8,
        patch_size=1,
    )
    scheduler = DPMSolverMultistepScheduler(  # as Sana's repos ship it: flow sigmas, shift 3
        num_train_timesteps=1000,
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        flow_shift=3.0,
        solver_order=2,
        algorithm_type="dpmsolver++",
    )
    return SanaPipeline(
        tokenizer=make_gemma_tokenizer(),
        text_encoder=_gemma2(seed, "text_encoder"),
        vae=_dc_ae(seed),
        transformer=transformer,
        scheduler=scheduler,
    )


@register("lumina2")
def _build_lumina2(model: ZooModel, seed: int) -> Any:
    """Lumina-Image 2.0: unified next-DiT over the Flux VAE, Gemma 2 text encoder."""
    from diffusers import FlowMatchEulerDiscreteScheduler, Lumina2Pipeline
    from diffusers import Lumina2Transformer2DModel as Transformer

    seed_component(seed, "transformer")
    transformer = Transformer(
        sample_size=8,  # x the pipeline's fixed VAE scale 8: 64 px
        patch_size=2,
        in_channels=16,
        hidden_size=16,
        num_layers=1,
        num_refiner_layers=1,
        num_attention_heads=2,
        num_kv_heads=1,
        multiple_of=16,
        axes_dim_rope=(4, 2, 2),
        axes_lens=(300, 64, 64),
        cap_feat_dim=16,  # Gemma hidden size
    )
    return Lumina2Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=6.0),
        vae=tiny_flux_vae(seed),
        text_encoder=_gemma2(seed, "text_encoder"),
        tokenizer=make_gemma_tokenizer(),
    )


@register("flux2-klein")
def _build_flux2_klein(model: ZooModel, seed: int, *, distilled: bool = True) -> Any:
    """FLUX.2 [klein]: Flux 2 MMDiT over stacked Qwen 3 hidden states (layers 9, 18, 27)."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    seed_component(seed, "transformer")
    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=16,  # 4 latent channels patchified 2x2 by the VAE
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=48,  # 3 stacked Qwen layers x 16
        timestep_guidance_channels=16,
        axes_dims_rope=(2, 2, 2, 2),
        guidance_embeds=False,
    )
    seed_component(seed, "text_encoder")
    qwen = Qwen3ForCausalLM(  # 27 layers: the pipeline reads hidden states 9, 18 and 27
        Qwen3Config(
            vocab_size=TEXT_VOCAB_SIZE, hidden_size=16, intermediate_size=16,
            num_hidden_layers=27, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
            max_position_embeddings=1024, attn_implementation="eager", tie_word_embeddings=True,
        )
    ).eval()
    return Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True,
            base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096,
        ),
        vae=_flux2_vae(seed),
        text_encoder=qwen,
        tokenizer=make_qwen_tokenizer(),
        transformer=transformer,
        is_distilled=distilled,
    )


@register("flux2")
def _build_flux2(model: ZooModel, seed: int) -> Any:
    """FLUX.2 [dev]: Flux 2 MMDiT (guidance embedded) over Mistral 3 hidden states 10/20/30."""
    from diffusers import Flux2Pipeline
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    klein = _build_flux2_klein(model, seed, distilled=False)
    seed_component(seed, "transformer")
    transformer = type(klein.transformer)(**{**klein.transformer.config, "guidance_embeds": True})
    seed_component(seed, "text_encoder")
    mistral = Mistral3ForConditionalGeneration(
        Mistral3Config(
            text_config={
                "model_type": "mistral", "vocab_size": TEXT_VOCAB_SIZE, "hidden_size": 16,
                "intermediate_size": 16, "num_hidden_layers": 30, "num_attention_heads": 2,
                "num_key_value_heads": 1, "head_dim": 8, "max_position_embeddings": 1024,
            },
            vision_config={
                "model_type": "pixtral", "hidden_size": 16, "intermediate_size": 16,
                "num_hidden_layers": 1, "num_attention_heads": 2, "head_dim": 8,
                "patch_size": 16, "image_size": 64,
            },
            image_token_index=4,
            spatial_merge_size=2,
        )
    ).eval()
    return Flux2Pipeline(
        scheduler=klein.scheduler, vae=klein.vae, text_encoder=mistral,
        tokenizer=make_pixtral_processor(), transformer=transformer,
    )


@register("qwenimage")
def _build_qwenimage(model: ZooModel, seed: int) -> Any:
    """Qwen-Image: MMDiT over a Wan-style 3D VAE, Qwen2.5-VL text encoder with a template."""
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )


    seed_component(seed, "transformer")
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=16, guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    seed_component(seed, "vae")
    vae = AutoencoderKLQwenImage(  # 2 ** len(temperal_downsample) = 4: 16x16 latents -> 64 px
        base_dim=8, z_dim=4, dim_mult=[1, 2, 2], num_res_blocks=1,
        temperal_downsample=[False, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )
    # Qwen-Image's own default is a constant 1024 px; a tiny repo declares its size here
    # (diffusers ignores the key; fakeimg's recipe reads it, like an AutoencoderKL's)
    vae.register_to_config(sample_size=DEFAULT_IMAGE_SIZE)
    return QwenImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=True, base_shift=0.5,
            max_shift=0.9, base_image_seq_len=256, max_image_seq_len=8192,
            time_shift_type="exponential",
        ),
        vae=vae,
        text_encoder=_qwen25_vl(seed),
        tokenizer=make_qwen_tokenizer(),
        transformer=transformer,
    )

