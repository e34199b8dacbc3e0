"""The exported columns: names, Arrow types and what `datasets` makes of them.

Community Forensics (CF) release names come first where the meaning is the same
(`image_name`, `format`, `resolution`, `mode`, `image_data`, `model_name`, `nsfw_flag`,
`prompt`, `real_source`, `split`, `label` with 1 = fake, `architecture`); the platform's
own fields follow. `image_data` holds the file's raw bytes, stored once as plain binary (CF
layout: polars, DuckDB and pyarrow read bytes). `datasets` reads the Parquet schema's own
features only when their Arrow type matches (its `Image` is a struct {bytes, path}), so the
Image typing lives in the dataset card instead: `load_dataset(DIR)` casts `image_data` to
`Image` from the card's `dataset_info.features` (binary casts losslessly), and
`load_dataset("parquet", data_files=...)` gives bytes until
`.cast_column("image_data", Image())`. A second struct column would store every image twice.
"""

from __future__ import annotations

import pyarrow as pa

IMAGE_COLUMN = "image_data"
TIMESTAMP = pa.timestamp("us", tz="UTC")

# name -> (arrow type, one-line meaning for the docs and the card)
COLUMNS: dict[str, tuple[pa.DataType, str]] = {
    # --- Community Forensics names
    "image_name": (pa.string(), "file name of the image as stored by the platform"),
    "format": (pa.string(), "image file format (PNG, JPEG, ...)"),
    "resolution": (pa.string(), "'WIDTHxHEIGHT' in pixels"),
    "mode": (pa.string(), "PIL colour mode (RGB, ...)"),
    IMAGE_COLUMN: (pa.binary(), "the image file's bytes, unchanged (sha256 in `sha256`)"),
    "model_name": (pa.string(), "generator (Hub model id or collection generator); null for reals"),
    "nsfw_flag": (pa.bool_(), "NSFW flag if known; null: the platform does not judge it"),
    "prompt": (pa.string(), "text prompt (fakes); caption where a real source has one"),
    "real_source": (pa.string(), "source of a real image; null for fakes"),
    "split": (pa.string(), "'train' or 'test', as the platform's detector split"),
    "label": (pa.int64(), "1 = fake (generated), 0 = real"),
    "architecture": (pa.string(), "generator architecture (sd1, sdxl, ...); null for reals"),
    # --- the platform's own
    "image_id": (pa.string(), "the platform's image id (`images.image_id`)"),
    "source": (pa.string(), "`images.source`: model id or real source"),
    "sha256": (pa.string(), "sha256 of `image_data` (checked while exporting)"),
    "width": (pa.int64(), "pixels"),
    "height": (pa.int64(), "pixels"),
    "file_bytes": (pa.int64(), "size of `image_data`"),
    "revision": (pa.string(), "generator repo commit sampled"),
    "seed": (pa.int64(), "sampling seed"),
    "steps": (pa.int64(), "denoising steps"),
    "guidance_scale": (pa.float64(), "classifier-free guidance scale"),
    "scheduler": (pa.string(), "scheduler class"),
    "pipeline_class": (pa.string(), "diffusers pipeline class"),
    "post": (pa.string(), "post-processing applied to the image (null: none)"),
    "prompt_id": (pa.string(), "the prompt's id in the platform's prompt set (fakes)"),
    "image_index": (pa.int64(), "the image's index among its generator's images (fakes)"),
    "batch_size": (pa.int64(), "the batch it was sampled in (batching changes the bytes)"),
    "dtype": (pa.string(), "torch dtype sampled in"),
    "device": (pa.string(), "device sampled on"),
    "torch_threads": (pa.int64(), "torch's thread count while sampling (CPU bytes depend on it)"),
    "library_versions": (pa.string(), "JSON versions of diffusers, torch, transformers, pillow"),
    "origin": (pa.string(), "reals: the photo and crop box; a collection's images: the name in its source"),
    "photo_id": (pa.string(), "reals: the source photo (two crops of one photo share it)"),
    "family_group": (pa.string(), "'latent_diffusion', 'pixel_diffusion', 'gan', ..."),
    "kind": (pa.string(), "'pipeline', 'lora', 'single_file' or 'collection'"),
    "collection": (pa.string(), "image collection it came with (null: sampled by the platform)"),
    "base_model": (pa.string(), "the generator card's declared base model"),
    "license": (pa.string(), "generator licence as its card declares it"),
    "gated": (pa.string(), "Hub gating of the generator repo ('false', 'auto', 'manual')"),
    "restricted": (pa.string(), "why the generator is restricted (only with "
                                "--include-restricted); null: redistributable"),
    "split_id": (pa.string(), "the platform's split version"),
    "created_at": (TIMESTAMP, "when the image was made (UTC)"),
}
CF_COLUMNS = ("image_name", "format", "resolution", "mode", IMAGE_COLUMN, "model_name",
              "nsfw_flag", "prompt", "real_source", "split", "label", "architecture")


def arrow_schema() -> pa.Schema:
    """The shards' schema (plain Arrow types, in `COLUMNS` order)."""
    return pa.schema([pa.field(name, dtype) for name, (dtype, _) in COLUMNS.items()])


def card_features() -> list[dict[str, str]]:
    """The card's `dataset_info.features`: `image_data` an `image`, the rest their dtypes."""
    return [{"name": name, "dtype": "image" if name == IMAGE_COLUMN else _value_dtype(dtype)}
            for name, (dtype, _) in COLUMNS.items()]


def _value_dtype(dtype: pa.DataType) -> str:
    if dtype == TIMESTAMP:
        return "timestamp[us, tz=UTC]"
    return {pa.string(): "string", pa.int64(): "int64", pa.float64(): "float64",
            pa.bool_(): "bool", pa.binary(): "binary"}[dtype]
