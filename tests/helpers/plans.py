"""A Stable Diffusion 1.x repo as the planner sees it: its model_index and its file sizes
(weights in every format the Hub holds, the fp16 variant, a pickle, a .ckpt)."""

from __future__ import annotations

SD_INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "_diffusers_version": "0.42.1",
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "scheduler": ["diffusers", "PNDMScheduler"],
    "safety_checker": [None, None],
    "feature_extractor": [None, None],
}
SD_FILES = {
    "model_index.json": 500,
    "README.md": 900,
    "model.ckpt": 9000,
    "unet/config.json": 100,
    "unet/diffusion_pytorch_model.safetensors": 4000,
    "unet/diffusion_pytorch_model.fp16.safetensors": 2000,
    "unet/diffusion_pytorch_model.bin": 4100,
    "vae/config.json": 100,
    "vae/diffusion_pytorch_model.safetensors": 3000,
    "text_encoder/config.json": 100,
    "text_encoder/model.safetensors": 2000,
    "text_encoder/pytorch_model.bin": 2100,
    "tokenizer/vocab.json": 50,
    "tokenizer/merges.txt": 50,
    "tokenizer/tokenizer_config.json": 50,
    "scheduler/scheduler_config.json": 50,
    "safety_checker/model.safetensors": 99999,
}
