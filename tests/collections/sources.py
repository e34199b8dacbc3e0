"""Collection sources written by the tests themselves: tiny images (good and bad), folder
sources and Parquet files in the Community Forensics release layout."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from tests.helpers.images import colour_photo, png_bytes


def tiny(seed: int, fmt: str = "PNG", size: int = 16) -> bytes:
    """A distinct tiny colour image encoded as `fmt`."""
    return png_bytes(colour_photo(seed, size, size), fmt)


def header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` (a decompression bomb's header) and
    whose data is one zlib stream of nothing: decoding it would allocate the declared size."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b""))


def truncated_png(seed: int) -> bytes:
    data = png_bytes(colour_photo(seed, 32, 32))
    return data[: len(data) // 2]


def write_folder_source(root: Path) -> Path:
    """Three generators (one nested), real images, a generators.csv and a caption table."""
    root.mkdir(parents=True)
    (root / "stylegan2").mkdir()
    (root / "stylegan2" / "a.png").write_bytes(tiny(1))
    (root / "stylegan2" / "b.jpg").write_bytes(tiny(2, "JPEG"))
    (root / "ADM (guided)").mkdir()
    (root / "ADM (guided)" / "x.png").write_bytes(tiny(3))
    (root / "ADM (guided)" / "deeper" / "more").mkdir(parents=True)
    (root / "ADM (guided)" / "deeper" / "more" / "y.webp").write_bytes(tiny(4, "WEBP"))
    (root / "midjourney").mkdir()
    (root / "midjourney" / "m.png").write_bytes(tiny(5))
    (root / "real").mkdir()
    (root / "real" / "r1.png").write_bytes(tiny(6))
    (root / "real" / "r2.jpg").write_bytes(tiny(7, "JPEG"))
    (root / "generators.csv").write_text(
        "Generator, Family ,architecture,release_date,license\n"
        "stylegan2,GAN,StyleGAN2,2019-12-03,nvidia-source-code\n"
        "ADM (guided),,ADM,2021-05-11,mit\n"
        "midjourney,commercial,,,\n"
    )
    (root / "metadata.csv").write_text(
        "file_name,text\nstylegan2/a.png,a face\nmidjourney/m.png,a castle at dawn\n")
    return root


ARCH = {"stylegan3": "GAN", "dalle3": "commercial", "sdxl": "latent diffusion",
        "mystery-net": "hypernetwork"}  # architecture of each model in `cf_rows`


def cf_rows(n_fake_per_model: dict[str, int], n_real: int, seed: int = 0) -> list[dict]:
    """Rows in the CF release layout: fakes of each model, then reals."""
    rows, k = [], seed * 1000
    for model, n in n_fake_per_model.items():
        for i in range(n):
            k += 1
            rows.append({"image_name": f"{model}_{i}.png", "format": "PNG",
                         "image_data": tiny(k), "model_name": model, "label": 1,
                         "architecture": ARCH.get(model), "prompt": f"prompt {k}",
                         "real_source": None, "split": "train", "nsfw_flag": False})
    for i in range(n_real):
        k += 1
        rows.append({"image_name": f"real_{i}.jpg", "format": "JPEG",
                     "image_data": tiny(k, "JPEG"), "model_name": "real", "label": 0,
                     "architecture": None, "prompt": None, "real_source": "coco",
                     "split": "train", "nsfw_flag": False})
    return rows



def write_cf_parquet(path: Path, rows: list[dict], *, struct_images: bool = False,
                     row_group_size: int = 4, label_type: str = "int") -> Path:
    """`rows` as a Parquet file in the CF layout (HF Image struct for `struct_images`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = [r["image_data"] for r in rows]
    image_data = (pa.array([None if d is None else {"bytes": d, "path": None} for d in data],
                           pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
                  if struct_images else pa.array(data, pa.binary()))
    labels = [r["label"] for r in rows]
    if label_type == "str":
        labels = [{1: "fake", 0: "real"}.get(v, v) if isinstance(v, int) else v for v in labels]
    columns = {
        "image_name": pa.array([r["image_name"] for r in rows], pa.string()),
        "format": pa.array([r["format"] for r in rows], pa.string()),
        "image_data": image_data,
        "model_name": pa.array([r["model_name"] for r in rows], pa.string()),
        "label": pa.array(labels, pa.string() if label_type == "str" else pa.int64()),
        "architecture": pa.array([r["architecture"] for r in rows], pa.string()),
        "prompt": pa.array([r["prompt"] for r in rows], pa.string()),
        "real_source": pa.array([r["real_source"] for r in rows], pa.string()),
        "split": pa.array([r["split"] for r in rows], pa.string()),
        "nsfw_flag": pa.array([r["nsfw_flag"] for r in rows], pa.bool_()),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path
