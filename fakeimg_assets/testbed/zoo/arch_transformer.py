"""Tiny random-weight transformer (flow-matching DiT) pipelines: Flux, Flux schnell, Chroma.

One builder per zoo architecture, registered into `components._BUILDERS`. Each is seeded
per component and small enough to sample a 64x64 image in well under a second on CPU.
The VAEs declare `sample_size` 64: Flux-style pipelines hard-code a 1024 px default, so
fakeimg samples them at the VAE's declared size (1024 for the real Flux VAE).
Heavy libraries are imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeimg_assets.testbed.zoo import arch_transformer_llm

if TYPE_CHECKING:  # catalog imports this module for its tables
    from fakeimg_assets.testbed.zoo.catalog import ZooModel

# zoo architecture -> diffusers pipeline class (merged into the catalogue's table)
PIPELINE_CLASSES = {
    "flux": "FluxPipeline",
    "flux-schnell": "FluxPipeline",
    "chroma": "ChromaPipeline",
    "auraflow": "AuraFlowPipeline",
    "hunyuandit": "HunyuanDiTPipeline",
}
# zoo architecture -> the base model its cards declare, and its card tags
BASE_MODELS = {
    "flux": "black-forest-labs/FLUX.1-dev",
    "flux-schnell": "black-forest-labs/FLUX.1-schnell",
    "chroma": "lodestones/Chroma1-HD",
    "auraflow": "fal/AuraFlow-v0.3",
    "hunyuandit": "Tencent-Hunyuan/HunyuanDiT-v1.2-Diffusers",
}
ARCH_TAGS = {
    "flux": ["flux"],
    "flux-schnell": ["flux", "schnell"],
    "chroma": ["chroma"],
    "auraflow": ["auraflow"],
    "hunyuandit": ["hunyuan-dit"],
}


def _t5(seed: int, component: str, d_model: int = 32) -> Any:
    """A 2-layer T5 encoder over the zoo's 1000-token vocabulary."""
    from transformers import T5Config, T5EncoderModel

    from fakeimg_assets.testbed.zoo.components import _seed
    from fakeimg_assets.testbed.zoo.tokenizers import TEXT_VOCAB_SIZE

    _seed(seed, component)
    return T5EncoderModel(
        T5Config(
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
    ).eval()


def _flux_vae(seed: int) -> Any:
    """16 latent channels, no quant convs, Flux's scaling/shift; 8x8 latents -> 64 px."""
    from fakeimg_assets.testbed.zoo.components import _vae

    return _vae(
        seed,
        latent_channels=16,
        use_quant_conv=False,
        use_post_quant_conv=False,
        scaling_factor=0.3611,
        shift_factor=0.1159,
    )


def _flow_scheduler(*, dynamic: bool) -> Any:
    """Flux-dev style (resolution-dependent shift) or schnell style (fixed shift 1)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    if dynamic:
        return FlowMatchEulerDiscreteScheduler(
            num_train_timesteps=1000,
            shift=3.0,
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
        )
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)


def _build_flux(model: ZooModel, seed: int, *, schnell: bool = False) -> Any:
    """FLUX.1: CLIP (pooled) + T5 text encoders, MMDiT; schnell has no guidance embedding."""
    from diffusers import FluxPipeline, FluxTransformer2DModel

    from fakeimg_assets.testbed.zoo.components import _clip_text, _seed
    from fakeimg_assets.testbed.zoo.tokenizers import make_clip_tokenizer, make_t5_tokenizer

    _seed(seed, "transformer")
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,  # 16 latent channels packed 2x2
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=32,  # T5 width
        pooled_projection_dim=32,  # CLIP pooled width
        guidance_embeds=not schnell,  # dev is guidance-distilled; schnell is timestep-distilled
        axes_dims_rope=(2, 2, 4),
    )
    return FluxPipeline(
        scheduler=_flow_scheduler(dynamic=not schnell),
        vae=_flux_vae(seed),
        text_encoder=_clip_text(seed, "text_encoder", with_projection=False),
        tokenizer=make_clip_tokenizer(),
        text_encoder_2=_t5(seed, "text_encoder_2"),
        tokenizer_2=make_t5_tokenizer(),
        transformer=transformer,
    )


def _build_flux_schnell(model: ZooModel, seed: int) -> Any:
    return _build_flux(model, seed, schnell=True)


def _build_chroma(model: ZooModel, seed: int) -> Any:
    """Chroma: Flux without CLIP, modulation from a small approximator network, T5 only."""
    from diffusers import ChromaPipeline, ChromaTransformer2DModel

    from fakeimg_assets.testbed.zoo.components import _seed
    from fakeimg_assets.testbed.zoo.tokenizers import make_t5_tokenizer

    _seed(seed, "transformer")
    transformer = ChromaTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=32,
        axes_dims_rope=(2, 2, 4),
        approximator_num_channels=8,
        approximator_hidden_dim=16,
        approximator_layers=1,
    )
    return ChromaPipeline(
        scheduler=_flow_scheduler(dynamic=True),
        vae=_flux_vae(seed),
        text_encoder=_t5(seed, "text_encoder"),
        tokenizer=make_t5_tokenizer(),
        transformer=transformer,
    )


def _build_auraflow(model: ZooModel, seed: int) -> Any:
    """AuraFlow: MMDiT + single DiT blocks over an SDXL-style VAE, UMT5 text encoder."""
    from diffusers import AuraFlowPipeline, AuraFlowTransformer2DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from fakeimg_assets.testbed.zoo.components import _seed, _vae
    from fakeimg_assets.testbed.zoo.tokenizers import TEXT_VOCAB_SIZE, make_t5_tokenizer

    _seed(seed, "transformer")
    transformer = AuraFlowTransformer2DModel(
        sample_size=8,
        patch_size=2,
        in_channels=4,
        num_mmdit_layers=1,
        num_single_dit_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=32,  # UMT5 width
        caption_projection_dim=16,
        out_channels=4,
        pos_embed_max_size=64,
    )
    _seed(seed, "text_encoder")
    umt5 = UMT5EncoderModel(
        UMT5Config(
            vocab_size=TEXT_VOCAB_SIZE, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", pad_token_id=0,
            eos_token_id=1, decoder_start_token_id=0,
        )
    ).eval()
    return AuraFlowPipeline(
        tokenizer=make_t5_tokenizer(),
        text_encoder=umt5,
        vae=_vae(seed, scaling_factor=0.13025),
        transformer=transformer,
        scheduler=_flow_scheduler(dynamic=False),
    )


def _build_hunyuandit(model: ZooModel, seed: int) -> Any:
    """HunyuanDiT: DiT with BERT (CLIP-like) + mT5 text encoders, v-prediction DDPM."""
    from diffusers import DDPMScheduler, HunyuanDiT2DModel, HunyuanDiTPipeline
    from transformers import BertConfig, BertModel, BertTokenizer

    from fakeimg_assets.testbed.zoo.arch_transformer_llm import char_vocab
    from fakeimg_assets.testbed.zoo.components import _seed, _vae
    from fakeimg_assets.testbed.zoo.tokenizers import TEXT_VOCAB_SIZE, make_t5_tokenizer

    _seed(seed, "transformer")
    transformer = HunyuanDiT2DModel(
        sample_size=8,
        num_layers=2,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=2,
        in_channels=4,
        cross_attention_dim=32,  # BERT width
        cross_attention_dim_t5=32,  # mT5 width
        pooled_projection_dim=16,
        hidden_size=16,
    )
    _seed(seed, "text_encoder")
    bert = BertModel(
        BertConfig(
            vocab_size=TEXT_VOCAB_SIZE, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=37, max_position_embeddings=128,
        ),
    ).eval()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    bert_tok = BertTokenizer(vocab=char_vocab(specials, space="##"), model_max_length=77)
    return HunyuanDiTPipeline(
        vae=_vae(seed, scaling_factor=0.13025),
        text_encoder=bert,
        tokenizer=bert_tok,
        transformer=transformer,
        scheduler=DDPMScheduler(  # as HunyuanDiT ships it: v-prediction, scaled linear
            num_train_timesteps=1000, beta_start=0.00085, beta_end=0.018,
            beta_schedule="scaled_linear", prediction_type="v_prediction", clip_sample=False,
            steps_offset=1,
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
        text_encoder_2=_t5(seed, "text_encoder_2"),
        tokenizer_2=make_t5_tokenizer(),
    )


BUILDERS = {
    "auraflow": _build_auraflow,
    "hunyuandit": _build_hunyuandit,
    "flux": _build_flux,
    "flux-schnell": _build_flux_schnell,
    "chroma": _build_chroma,
}
# the families with an LLM text encoder live in arch_transformer_llm.py
for _table, _more in (
    (PIPELINE_CLASSES, arch_transformer_llm.PIPELINE_CLASSES),
    (BASE_MODELS, arch_transformer_llm.BASE_MODELS),
    (ARCH_TAGS, arch_transformer_llm.ARCH_TAGS),
    (BUILDERS, arch_transformer_llm.BUILDERS),
):
    _table.update(_more)  # type: ignore[attr-defined]


def transformer_models() -> list[ZooModel]:
    """The zoo repos of these architectures: one healthy repo per recipe."""
    from fakeimg_assets.testbed.zoo.catalog import ZooModel

    fm = "FlowMatchEulerDiscreteScheduler"
    rows = [  # model id, architecture, scheduler, seed, created_at, license
        ("driftwood-ai/flux-dreamer", "flux", fm, 1101, "2024-09-12T10:30:00.000Z", "other"),
        ("kestrel_ai/flux-schnell-sprint", "flux-schnell", fm, 1102,
         "2025-02-03T08:15:00.000Z", "apache-2.0"),
        ("lumen-forge/chroma-hd-tune", "chroma", fm, 1103, "2025-07-15T17:45:00.000Z",
         "apache-2.0"),
        ("northwind-studio/aura-drift", "auraflow", fm, 1106, "2024-11-05T12:00:00.000Z",
         "apache-2.0"),
        ("pixelsmith/hunyuan-lantern", "hunyuandit", "DDPMScheduler", 1107,
         "2024-06-18T07:20:00.000Z", "other"),
        *arch_transformer_llm.ROWS,
    ]
    return [
        ZooModel(mid, arch, PIPELINE_CLASSES[arch], sched, seed, created, "ok", license=lic)
        for mid, arch, sched, seed, created, lic in rows
    ]
