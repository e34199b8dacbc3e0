"""Every trained detector as a timm folder: timm loads it and, with timm's own data config
and transform, scores real PNGs exactly as the platform's `predict` does."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakeimg_assets.detection.augment import resize_size_for
from fakeimg_assets.detection.backbones import get_backbone, list_backbones
from fakeimg_assets.detection.synthetic import make_synthetic_dataset, synthetic_image
from fakeimg_assets.detection.timm_folder import (
    TIMM_CONFIG,
    crop_pct_for,
    is_timm_folder,
    write_timm_folder,
)
from fakeimg_assets.detection.train import MODEL_FILE, TrainConfig, predict, train_detector


def timm_scores(folder: Path, paths: list[Path], num_threads: int = 1) -> np.ndarray:
    """What a user of timm alone does with the folder, on `num_threads` torch threads: the
    comparison with `predict` is at the same thread count, since a convolution's sums are
    split by thread and 2 threads differ from 1 in the last bit on some CPUs (seen on an AMD
    EPYC: 1 score of 10 by 6e-8)."""
    import timm
    import torch

    torch.set_num_threads(num_threads)  # restored by conftest's autouse fixture
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    cfg = timm.data.resolve_data_config(model=model)
    transform = timm.data.create_transform(**cfg)
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    with torch.inference_mode():
        return torch.sigmoid(model(batch).squeeze(1)).numpy()


def odd_images(root: Path) -> list[Path]:
    """PNGs of other sizes, shapes and modes than the training images."""
    rng = np.random.default_rng(3)
    out = []
    for i, (size, mode) in enumerate([(64, "RGB"), (90, "L"), (41, "RGBA"), (128, "P")]):
        img = synthetic_image(i % 2, rng, size)
        if i == 2:  # not square
            img = img.resize((size, size + 23))
        out.append(root / f"odd{i}.png")
        img.convert(mode).save(out[-1])
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("timm-folder")
    samples = make_synthetic_dataset(root / "data", 8, 8, size=48, seed=1)
    runs = {}
    for backbone in ("tiny-resnet", "tiny-vit"):  # tiny-vit: a backbone with model_kwargs
        cfg = TrainConfig(backbone=backbone, epochs=1, batch_size=8, seed=2, num_threads=1)
        runs[backbone] = train_detector(samples, root / backbone, cfg)
    return root, samples, runs


@pytest.mark.parametrize("backbone", ["tiny-resnet", "tiny-vit"])
def test_timm_loads_the_folder_and_scores_identically(trained, backbone: str) -> None:
    root, samples, runs = trained
    result = runs[backbone]
    assert result.timm_dir == result.checkpoint_dir / "timm" and is_timm_folder(result.timm_dir)
    paths = [Path(p) for p, _ in samples[:3] + samples[-3:]] + odd_images(root)
    ours = predict(result.checkpoint_dir, paths, num_threads=1)
    theirs = timm_scores(result.timm_dir, paths)
    np.testing.assert_array_equal(theirs, ours)
    config = json.loads((result.timm_dir / TIMM_CONFIG).read_text())
    assert config["num_classes"] == 1 and config["architecture"] == get_backbone(
        backbone).timm_name.split(".")[0]
    assert ("model_args" in config) == bool(get_backbone(backbone).model_kwargs)
    # the same weights as the checkpoint
    assert (result.timm_dir / MODEL_FILE).read_bytes() == (
        result.checkpoint_dir / MODEL_FILE).read_bytes()


def test_timm_eval_transform_is_the_platform_one_for_every_backbone() -> None:
    import timm
    import torch

    from fakeimg_assets.detection.augment import eval_transform

    rng = np.random.default_rng(0)
    for name in list_backbones():
        spec = get_backbone(name)
        size, resize = spec.image_size, spec.resize_size or resize_size_for(spec.image_size)
        pct = crop_pct_for(size, resize)
        assert math.floor(size / pct) == resize, name
        theirs = timm.data.create_transform(input_size=(3, size, size), interpolation="bilinear",
                                            mean=spec.mean, std=spec.std, crop_pct=pct,
                                            crop_mode="center")
        ours = eval_transform(size, mean=spec.mean, std=spec.std, resize_size=resize)
        for w, h in [(size, size), (resize + 7, resize), (97, 203)]:
            img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
            assert torch.equal(theirs(img), ours(img)), (name, w, h)


def test_crop_pct_is_nudged_where_floating_point_would_lose_a_pixel() -> None:
    # 0.87... * 440 style ratios: C / (C / R) can land just below R
    bad = [(c, r) for c in range(8, 400, 7) for r in range(c, c + 80)
           if math.floor(c / (c / r)) != r]
    assert bad, "no case where the plain ratio floors to R - 1: the nudge is untested"
    for c, r in bad + [(384, 440), (32, 32)]:
        assert math.floor(c / crop_pct_for(c, r)) == r
    with pytest.raises(ValueError, match="image_size <= resize_size"):
        crop_pct_for(64, 32)


def test_rewrite_replaces_the_folder_and_a_swapped_weights_file_is_refused(trained) -> None:
    root, _, runs = trained
    result = runs["tiny-resnet"]
    out = root / "exported"
    write_timm_folder(result.checkpoint_dir, out)
    (out / "stray.txt").write_text("left from before")
    write_timm_folder(result.checkpoint_dir, out)
    assert sorted(p.name for p in out.iterdir()) == sorted([TIMM_CONFIG, MODEL_FILE])
    assert not [p for p in root.iterdir() if p.name.startswith(".exported")]
    bad = root / "bad-checkpoint"
    bad.mkdir()
    for name in ("detector_config.json", MODEL_FILE):
        (bad / name).write_bytes((result.checkpoint_dir / name).read_bytes())
    with open(bad / MODEL_FILE, "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\0\0\0\0")
    with pytest.raises(ValueError, match="does not match the sha256"):
        write_timm_folder(bad, root / "never")
    assert not (root / "never").exists()
    with pytest.raises(FileNotFoundError, match="not a detector checkpoint"):
        write_timm_folder(root / "data", root / "never")
