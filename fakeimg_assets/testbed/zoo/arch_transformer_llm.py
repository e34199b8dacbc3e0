"""Tiny transformer pipelines whose text encoder is a decoder LLM (Gemma 2, ...): Sana, ...

The LLM tokenizers are written locally (no Hub): a character-level BPE vocabulary (no
merges) with the family's special tokens, built by transformers 5's tokenizers-backed
classes from a vocab dict, like the CLIP/T5 ones in `tokenizers.py`. Every vocabulary stays
under the tiny encoders' `TEXT_VOCAB_SIZE`. Heavy libraries are imported inside functions.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

from fakeimg_assets.testbed.zoo import arch_transformer_qwen

if TYPE_CHECKING:
    from fakeimg_assets.testbed.zoo.catalog import ZooModel

_CHARS = string.ascii_letters + string.digits + ".,!?'-:;()\"/&%+=*#@_<>[]{}|\n"


def char_vocab(specials: list[str], *, space: str) -> dict[str, int]:
    """Specials first, then the word marker `space` and printable characters."""
    tokens = [*specials, space, *(c for c in _CHARS if c != space)]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}


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

    from fakeimg_assets.testbed.zoo.tokenizers import bytes_to_unicode

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    vocab.update({t: 256 + i for i, t in enumerate(specials)})
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=4096)
    tok.add_special_tokens({"additional_special_tokens": specials[1:]})
    tok.chat_template = _QWEN_CHAT
    return tok


def _qwen3(seed: int, component: str, *, hidden: int = 16) -> Any:
    """A 2-layer Qwen 3 base model (Z-Image reads its second-to-last hidden states)."""
    from transformers import Qwen3Config, Qwen3Model

    from fakeimg_assets.testbed.zoo.components import _seed
    from fakeimg_assets.testbed.zoo.tokenizers import TEXT_VOCAB_SIZE

    _seed(seed, component)
    config = Qwen3Config(
        vocab_size=TEXT_VOCAB_SIZE, hidden_size=hidden, intermediate_size=32,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
        max_position_embeddings=4096, attn_implementation="eager",
    )
    return Qwen3Model(config).eval()


def _build_zimage(model: ZooModel, seed: int) -> Any:
    """Z-Image (Turbo): single-stream DiT over the Flux VAE, Qwen 3 text encoder."""
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline
    from diffusers import ZImageTransformer2DModel as Transformer

    from fakeimg_assets.testbed.zoo.arch_transformer import _flux_vae
    from fakeimg_assets.testbed.zoo.components import _seed

    _seed(seed, "transformer")
    transformer = Transformer(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=32, n_layers=1,
        n_refiner_layers=1, n_heads=2, n_kv_heads=2, cap_feat_dim=16, axes_dims=[8, 4, 4],
        axes_lens=[512, 32, 32],
    )
    return ZImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
        vae=_flux_vae(seed),
        text_encoder=_qwen3(seed, "text_encoder"),
        tokenizer=make_qwen_tokenizer(),
        transformer=transformer,
    )


def _gemma2(seed: int, component: str, *, hidden: int = 16, layers: int = 1) -> Any:
    """A 1-layer Gemma 2 base model (what Sana and Lumina 2 use as text encoder)."""
    from transformers import Gemma2Config, Gemma2Model

    from fakeimg_assets.testbed.zoo.components import _seed
    from fakeimg_assets.testbed.zoo.tokenizers import TEXT_VOCAB_SIZE

    _seed(seed, component)
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

    from fakeimg_assets.testbed.zoo.components import _seed

    _seed(seed, "vae")
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


def _build_sana(model: ZooModel, seed: int) -> Any:
    """Sana: linear-attention DiT over a 32x (here 8x) DC-AE, Gemma 2 text encoder."""
    from diffusers import DPMSolverMultistepScheduler, SanaPipeline, SanaTransformer2DModel

    from fakeimg_assets.testbed.zoo.components import _seed

    _seed(seed, "transformer")
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


def _build_lumina2(model: ZooModel, seed: int) -> Any:
    """Lumina-Image 2.0: unified next-DiT over the Flux VAE, Gemma 2 text encoder."""
    from diffusers import FlowMatchEulerDiscreteScheduler, Lumina2Pipeline
    from diffusers import Lumina2Transformer2DModel as Transformer

    from fakeimg_assets.testbed.zoo.arch_transformer import _flux_vae
    from fakeimg_assets.testbed.zoo.components import _seed

    _seed(seed, "transformer")
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
        vae=_flux_vae(seed),
        text_encoder=_gemma2(seed, "text_encoder"),
        tokenizer=make_gemma_tokenizer(),
    )


PIPELINE_CLASSES = {
    "sana": "SanaPipeline", "lumina2": "Lumina2Pipeline", "zimage-turbo": "ZImagePipeline",
}
BASE_MODELS = {
    "sana": "Efficient-Large-Model/Sana_1600M_1024px_diffusers",
    "lumina2": "Alpha-VLLM/Lumina-Image-2.0",
    "zimage-turbo": "Tongyi-MAI/Z-Image-Turbo",
}
ARCH_TAGS = {"sana": ["sana"], "lumina2": ["lumina2"], "zimage-turbo": ["z-image", "turbo"]}
BUILDERS = {"sana": _build_sana, "lumina2": _build_lumina2, "zimage-turbo": _build_zimage}
# zoo rows: model id, architecture, scheduler, seed, created_at, license
# FLUX.2 [klein] and Qwen-Image (Qwen encoders) live in arch_transformer_qwen.py
for _table, _more in (
    (PIPELINE_CLASSES, arch_transformer_qwen.PIPELINE_CLASSES),
    (BASE_MODELS, arch_transformer_qwen.BASE_MODELS),
    (ARCH_TAGS, arch_transformer_qwen.ARCH_TAGS),
    (BUILDERS, arch_transformer_qwen.BUILDERS),
):
    _table.update(_more)  # type: ignore[attr-defined]
ROWS = [
    ("glasshouse-ml/sana-sprout", "sana", "DPMSolverMultistepScheduler", 1104,
     "2025-01-20T09:00:00.000Z", "cc-by-nc-sa-4.0"),
    ("quietmachine/lumina-two-ink", "lumina2", "FlowMatchEulerDiscreteScheduler", 1105,
     "2025-03-28T14:10:00.000Z", "apache-2.0"),
    ("aurora-labs/zimage-turbo-snap", "zimage-turbo", "FlowMatchEulerDiscreteScheduler", 1108,
     "2025-12-01T10:00:00.000Z", "apache-2.0"),
    *arch_transformer_qwen.ROWS,
]
