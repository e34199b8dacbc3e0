"""Tiny random-weight Kolors pipeline: an SDXL-style UNet conditioned by a ChatGLM3 encoder.

Split from `arch_unet` (family tables live there). The ChatGLM tokenizer reads a
sentencepiece model file; it is written here from a fixed list of pieces (a unigram
`ModelProto` built in memory: no training, no download), so builds are byte-identical.
Heavy libraries are imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import string
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakeimg_assets.testbed.zoo.arch_unet import _seed

if TYPE_CHECKING:
    from fakeimg_assets.testbed.zoo.catalog import ZooModel

GLM_VOCAB = 128  # padded vocabulary: the pieces below plus ChatGLM's 9 special tokens
GLM_HIDDEN = 32


def sentencepiece_model() -> bytes:
    """A unigram sentencepiece model: <unk>/<s>/</s>, prompt words, then characters."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    from fakeimg_assets.testbed.zoo.tokenizers import _MERGE_CORPUS

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
    pieces += [("▁" + w, -2.0, kinds.NORMAL) for w in sorted(set(_MERGE_CORPUS))[:40]]
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


def _build_kolors(model: ZooModel, seed: int) -> Any:
    from diffusers import KolorsPipeline, UNet2DConditionModel
    from diffusers.pipelines.kolors import ChatGLMModel
    from diffusers.pipelines.kolors.text_encoder import ChatGLMConfig

    from fakeimg_assets.testbed.zoo.components import _scheduler, _vae

    _seed(seed, "text_encoder")
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
    _seed(seed, "unet")
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
        vae=_vae(seed, scaling_factor=0.13025, force_upcast=True),
        text_encoder=glm,
        tokenizer=make_chatglm_tokenizer(),
        unet=unet,
        scheduler=_scheduler(model.scheduler, "sdxl", seed),
        force_zeros_for_empty_prompt=False,
    )


BUILDERS = {"kolors": _build_kolors}
