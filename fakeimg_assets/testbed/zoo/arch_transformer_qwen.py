"""Tiny transformer pipelines with Qwen / Mistral text encoders: FLUX.2 [klein] and [dev],
Qwen-Image.

Kept apart from `arch_transformer_llm.py` (Gemma/Qwen 3 single-stream) to stay small; the
tokenizer and encoder helpers are shared from there. Heavy imports stay inside functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeimg_assets.testbed.zoo.catalog import ZooModel


def _flux2_vae(seed: int) -> Any:
    """A 4-level AutoencoderKLFlux2 (patchified, batch-normed latents): 8x8 latents -> 64 px."""
    from diffusers import AutoencoderKLFlux2

    from fakeimg_assets.testbed.zoo.catalog import DEFAULT_IMAGE_SIZE
    from fakeimg_assets.testbed.zoo.components import _seed

    _seed(seed, "vae")
    return AutoencoderKLFlux2(
        block_out_channels=(4, 4, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=2,
        sample_size=DEFAULT_IMAGE_SIZE,
    )


def _build_flux2_klein(model: ZooModel, seed: int, *, distilled: bool = True) -> Any:
    """FLUX.2 [klein]: Flux 2 MMDiT over stacked Qwen 3 hidden states (layers 9, 18, 27)."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from fakeimg_assets.testbed.zoo.arch_transformer_llm import make_qwen_tokenizer
    from fakeimg_assets.testbed.zoo.components import _seed
    from fakeimg_assets.testbed.zoo.tokenizers import TEXT_VOCAB_SIZE

    _seed(seed, "transformer")
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
    _seed(seed, "text_encoder")
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

    from fakeimg_assets.testbed.zoo.arch_transformer_llm import char_vocab

    vocab = char_vocab(["<pad>", "<s>", "</s>", "<unk>", *_PIXTRAL_SPECIALS], space="▁")
    tok = LlamaTokenizer(vocab=vocab, merges=[], pad_token="<pad>", model_max_length=1024)
    tok.add_special_tokens({"additional_special_tokens": _PIXTRAL_SPECIALS})
    return PixtralProcessor(
        image_processor=PixtralImageProcessor(patch_size=16), tokenizer=tok, patch_size=16,
        spatial_merge_size=2, chat_template=_PIXTRAL_CHAT,
    )


def _build_flux2(model: ZooModel, seed: int) -> Any:
    """FLUX.2 [dev]: Flux 2 MMDiT (guidance embedded) over Mistral 3 hidden states 10/20/30."""
    from diffusers import Flux2Pipeline
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    from fakeimg_assets.testbed.zoo.components import _seed
    from fakeimg_assets.testbed.zoo.tokenizers import TEXT_VOCAB_SIZE

    klein = _build_flux2_klein(model, seed, distilled=False)
    _seed(seed, "transformer")
    transformer = type(klein.transformer)(**{**klein.transformer.config, "guidance_embeds": True})
    _seed(seed, "text_encoder")
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


def _qwen25_vl(seed: int) -> Any:
    """A tiny Qwen2.5-VL (text 2 layers x 16, vision 1 block); ids fit the zoo vocabulary."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from fakeimg_assets.testbed.zoo.components import _seed
    from fakeimg_assets.testbed.zoo.tokenizers import TEXT_VOCAB_SIZE

    _seed(seed, "text_encoder")
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


def _build_qwenimage(model: ZooModel, seed: int) -> Any:
    """Qwen-Image: MMDiT over a Wan-style 3D VAE, Qwen2.5-VL text encoder with a template."""
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )

    from fakeimg_assets.testbed.zoo.arch_transformer_llm import make_qwen_tokenizer
    from fakeimg_assets.testbed.zoo.catalog import DEFAULT_IMAGE_SIZE
    from fakeimg_assets.testbed.zoo.components import _seed

    _seed(seed, "transformer")
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=16, guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    _seed(seed, "vae")
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


PIPELINE_CLASSES = {
    "flux2-klein": "Flux2KleinPipeline", "flux2": "Flux2Pipeline", "qwenimage": "QwenImagePipeline",
}
BASE_MODELS = {
    "flux2-klein": "black-forest-labs/FLUX.2-klein-4B",
    "qwenimage": "Qwen/Qwen-Image",
    "flux2": "black-forest-labs/FLUX.2-dev",
}
ARCH_TAGS = {"flux2-klein": ["flux2", "klein"], "qwenimage": ["qwen-image"], "flux2": ["flux2"]}
BUILDERS = {
    "flux2-klein": _build_flux2_klein, "qwenimage": _build_qwenimage, "flux2": _build_flux2,
}
# zoo rows: model id, architecture, scheduler, seed, created_at, license
ROWS = [
    ("driftwood-ai/klein-quick", "flux2-klein", "FlowMatchEulerDiscreteScheduler", 1109,
     "2025-11-20T16:00:00.000Z", "apache-2.0"),
    ("lumen-forge/qwen-image-watercolor", "qwenimage", "FlowMatchEulerDiscreteScheduler", 1110,
     "2025-08-22T11:30:00.000Z", "apache-2.0"),
    ("Vermilion.Research/flux2-dev-atelier", "flux2", "FlowMatchEulerDiscreteScheduler", 1112,
     "2025-11-26T09:30:00.000Z", "other"),
]
