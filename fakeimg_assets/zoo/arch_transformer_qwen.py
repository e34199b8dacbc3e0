"""Tiny transformer pipelines with a Qwen text encoder: FLUX.2 [klein], ...

Kept apart from `arch_transformer_llm.py` (Gemma/Qwen 3 single-stream) to stay small; the
tokenizer and encoder helpers are shared from there. Heavy imports stay inside functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeimg_assets.zoo.catalog import ZooModel


def _flux2_vae(seed: int) -> Any:
    """A 4-level AutoencoderKLFlux2 (patchified, batch-normed latents): 8x8 latents -> 64 px."""
    from diffusers import AutoencoderKLFlux2

    from fakeimg_assets.zoo.catalog import DEFAULT_IMAGE_SIZE
    from fakeimg_assets.zoo.components import _seed

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

    from fakeimg_assets.zoo.arch_transformer_llm import make_qwen_tokenizer
    from fakeimg_assets.zoo.components import _seed
    from fakeimg_assets.zoo.tokenizers import TEXT_VOCAB_SIZE

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


PIPELINE_CLASSES = {"flux2-klein": "Flux2KleinPipeline"}
BASE_MODELS = {"flux2-klein": "black-forest-labs/FLUX.2-klein-4B"}
ARCH_TAGS = {"flux2-klein": ["flux2", "klein"]}
BUILDERS = {"flux2-klein": _build_flux2_klein}
# zoo rows: model id, architecture, scheduler, seed, created_at, license
ROWS = [
    ("driftwood-ai/klein-quick", "flux2-klein", "FlowMatchEulerDiscreteScheduler", 1109,
     "2025-11-20T16:00:00.000Z", "apache-2.0"),
]
