"""The research recipe pinned to the official code, real balancing, and resume after SIGKILL.

Training runs use one torch thread (a shared 2-core box) and 32 px synthetic images.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakeimg_assets.detection import augment, augment_ops
from fakeimg_assets.detection.backbones import get_backbone
from fakeimg_assets.detection.checkpoint import STATE_JSON, latest_state
from fakeimg_assets.detection.data import balance_reals, epoch_order, water_fill
from fakeimg_assets.detection.synthetic import make_synthetic_dataset
from fakeimg_assets.detection.train import MODEL_FILE, TrainConfig, lr_factor, train_detector
from tests.helpers.repo import ROOT

OFFICIAL_OPS = (  # rsa_ops default of JeongsooP/Community-Forensics, in order
    "jpeg", "resize", "crop", "hflip", "vflip", "resized_crop",
    "rotate", "translate", "shear", "pad", "cutout",
)  # fmt: skip


def test_research_recipe_matches_the_official_code() -> None:
    cf = get_backbone("community-forensics-vit-s384")
    assert cf.timm_name == "vit_small_patch16_384.augreg_in21k_ft_in1k" and cf.pretrained
    assert (cf.image_size, cf.resize_size) == (384, 440)
    assert (cf.lr, cf.weight_decay, cf.batch_size, cf.epochs) == (2e-5, 1e-2, 32, 20)
    assert (cf.warmup_fraction, cf.min_lr_factor, cf.grad_clip) == (0.15, 1e-3, 1.0)
    assert cf.amp_dtype == "float16" and cf.decay_all_params and cf.balance_reals
    assert cf.mean == (0.485, 0.456, 0.406) and cf.std == (0.229, 0.224, 0.225)
    assert cf.op_count_range == (0, 2)
    # the CPU recipes keep the structure, scaled down
    for name in ("tiny-resnet", "tiny-vit"):
        tiny = get_backbone(name)
        same = ("warmup_fraction", "min_lr_factor", "grad_clip", "amp_dtype", "mean", "std",
                "op_count_range", "balance_reals", "decay_all_params")  # fmt: skip
        assert all(getattr(tiny, f) == getattr(cf, f) for f in same), name
        assert tiny.image_size == 64 and augment.resize_size_for(64) == 73
    assert augment.resize_size_for(224) == 256 and augment.resize_size_for(384) == 440


def test_augmentation_op_set_and_parameters() -> None:
    assert augment.AUGMENTATIONS == OFFICIAL_OPS and set(augment.OPS) == set(OFFICIAL_OPS)
    assert augment_ops.JPEG_QUALITY_RANGE == (75, 100)
    assert (augment_ops.ROTATE_MAX_DEGREES, augment_ops.SHEAR_MAX_DEGREES) == (15.0, 15.0)
    assert augment_ops.TRANSLATE_MAX_FRACTION == 0.1 and augment_ops.RRC_SCALE == (0.9, 1.0)
    assert augment_ops.CUTOUT_SCALE == (0.02, 0.06) and augment_ops.PAD_MAX_FRACTION == 0.05


def test_each_op_is_drawn_zero_to_two_times_in_random_order() -> None:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 60, 3), np.uint8))
    per_op: dict[str, set[int]] = {op: set() for op in OFFICIAL_OPS}
    orders = set()
    for i in range(150):
        _, applied = augment.random_augment(img, augment.sample_rng(0, 0, i), crop_size=40)
        counts = Counter(applied)
        for op in OFFICIAL_OPS:
            per_op[op].add(counts[op])
        orders.add(tuple(applied))
    assert all(seen == {0, 1, 2} for seen in per_op.values()), per_op
    assert len(orders) == 150  # order is shuffled, not the list order
    _, none = augment.random_augment(img, np.random.default_rng(1), crop_size=40, count_range=(0, 0))
    assert none == []
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment.random_augment(img, np.random.default_rng(0), crop_size=40, ops=["sharpen"])


def test_transforms_match_torchvision_resize_and_crops() -> None:
    import torch
    from torchvision import transforms as T

    img = Image.fromarray(np.random.default_rng(2).integers(0, 256, (90, 70, 3), np.uint8))
    ref = T.Compose([T.Resize(73), T.CenterCrop(64), T.ToTensor(),
                     T.Normalize(augment.IMAGENET_MEAN, augment.IMAGENET_STD)])  # fmt: skip
    assert torch.allclose(augment.eval_transform(64)(img), ref(img), atol=1e-6)
    out = augment.train_transform(64, augment.sample_rng(0, 0, 0))(img)
    assert out.shape == (3, 64, 64)


def test_lr_warms_up_then_decays_to_a_thousandth() -> None:
    assert lr_factor(0, 100, 10, 1e-3) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, 1e-3) == pytest.approx(1.0)
    assert lr_factor(100, 100, 10, 1e-3) == pytest.approx(1e-3)
    assert lr_factor(55, 100, 10, 1e-3) == pytest.approx(1e-3 + (1 - 1e-3) * 0.5)


def test_reals_are_subsampled_to_the_fake_count_keeping_small_sources() -> None:
    assert water_fill({"big": 8, "small": 2}, 4) == {"big": 2, "small": 2}
    assert water_fill({"a": 5, "b": 5, "c": 1}, 7) == {"a": 3, "b": 3, "c": 1}
    reals = [(Path(f"r{i}"), 0, "big" if i < 8 else "small") for i in range(10)]
    fakes = [(Path(f"f{i}"), 1, "m") for i in range(4)]
    out = balance_reals(reals + fakes, seed=0)
    kept = [s for s in out if s[1] == 0]
    assert len(kept) == 4 and sum(s[2] == "small" for s in kept) == 2
    assert [s for s in out if s[1] == 1] == fakes
    assert balance_reals(reals + fakes, seed=0) == out
    assert any(balance_reals(reals + fakes, seed=s) != out for s in range(1, 6))
    assert balance_reals(reals[:3] + fakes, seed=0) == reals[:3] + fakes  # fewer reals: keep


def test_epoch_order_is_a_pure_permutation() -> None:
    a = epoch_order(20, 3, 1)
    assert sorted(a) == list(range(20)) and a == epoch_order(20, 3, 1)
    assert a != epoch_order(20, 3, 2) and a != epoch_order(20, 4, 1)


# ---------------------------------------------------------------- augmentations


def _photo(size: tuple[int, int] = (80, 60), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr)


def test_train_transform_is_deterministic_per_seed() -> None:
    img = _photo()
    runs = {
        key: [augment.train_transform(48, augment.sample_rng(*key, i))(img) for i in range(12)]
        for key in [(3, 0), (3, 1)]
    }
    again = [augment.train_transform(48, augment.sample_rng(3, 0, i))(img) for i in range(12)]
    assert all(a.equal(b) for a, b in zip(runs[(3, 0)], again, strict=True))
    assert not all(a.equal(b) for a, b in zip(runs[(3, 0)], runs[(3, 1)], strict=True))
    assert all(t.shape == (3, 48, 48) and str(t.dtype) == "torch.float32" for t in again)
    # python's random.Random is accepted too, and is reproducible
    a = augment.train_transform(48, random.Random(5))(img)
    assert a.equal(augment.train_transform(48, random.Random(5))(img))


@pytest.mark.parametrize("op", augment.AUGMENTATIONS)
def test_each_op_then_final_size(op: str) -> None:
    img = _photo((70, 50))
    out = augment.OPS[op](img, np.random.default_rng(1), 40)
    assert out.mode == "RGB" and min(out.size) >= 40
    if op == "hflip":
        assert out is img or np.array_equal(np.asarray(out), np.asarray(img)[:, ::-1])
    tensor = augment.eval_transform(40)(out)
    assert tensor.shape == (3, 40, 40)


def test_eval_transform_resizes_and_center_crops() -> None:
    import torch

    img = _photo((90, 30))
    t = augment.eval_transform(24)(img)
    assert t.shape == (3, 24, 24)
    assert t.equal(augment.eval_transform(24)(img))
    # an image already at the resize size (28 for a 24 crop) is only center-cropped
    small = _photo((28, 28))
    mean = torch.tensor(augment.IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(augment.IMAGENET_STD).view(3, 1, 1)
    raw = torch.from_numpy(np.asarray(small, dtype=np.float32) / 255).permute(2, 0, 1)
    expected = ((raw - mean) / std)[:, 2:26, 2:26]
    assert torch.allclose(augment.eval_transform(24)(small), expected, atol=1e-6)
    with pytest.raises(ValueError):
        augment.eval_transform(0)


def test_lr_schedule_warmup_then_cosine() -> None:
    total, warm = 100, 10
    assert lr_factor(0, total, warm) == pytest.approx(0.1)
    assert lr_factor(9, total, warm) == pytest.approx(1.0)
    assert lr_factor(10, total, warm) == pytest.approx(1.0)
    assert lr_factor(55, total, warm) == pytest.approx(0.5)
    assert lr_factor(99, total, warm) < 0.01
    assert lr_factor(0, total, 0) == pytest.approx(1.0)


# ---------------------------------------------------------------- resume after a kill

CFG = {"backbone": "tiny-resnet", "epochs": 3, "batch_size": 8, "seed": 5,
       "image_size": 32, "num_threads": 1}  # fmt: skip
WORKER = """
import json, sys
from pathlib import Path
from fakeimg_assets.detection.train import TrainConfig, train_detector
samples, out, cfg = json.loads(Path(sys.argv[1]).read_text())
result = train_detector([tuple(s) for s in samples], Path(out), TrainConfig(**cfg),
                        on_epoch_end=lambda e: print(f"EPOCH {e}", flush=True))
print(f"DONE resumed_from={result.resumed_from_epoch}", flush=True)
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, int]]:
    root = tmp_path_factory.mktemp("resume-data")
    # 30 reals for 24 fakes: balancing is part of what must replay identically
    return [(str(p), lbl) for p, lbl in make_synthetic_dataset(root, 30, 24, size=32, seed=3)]


def _worker(tmp: Path, samples: list, out: Path) -> subprocess.Popen:
    job = tmp / "job.json"
    job.write_text(json.dumps([samples, str(out), CFG]))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(job)], stdout=subprocess.PIPE, text=True, env=env
    )


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_gives_identical_weights(small, tmp_path: Path) -> None:
    straight = train_detector(small, tmp_path / "straight", TrainConfig(**CFG))
    assert straight.resumed_from_epoch == 0 and straight.n_real == straight.n_fake == 24
    recipe = straight.config["recipe"]
    assert (recipe["resize_size"], recipe["crop_size"], recipe["grad_clip"]) == (37, 32, 1.0)
    assert recipe["op_count_range"] == [0, 2] and len(recipe["augmentations"]) == 11
    assert straight.history[-1]["lr"] == pytest.approx(get_backbone("tiny-resnet").lr * 1e-3)

    out = tmp_path / "killed"
    proc = _worker(tmp_path, small, out)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "EPOCH 1", line
    os.kill(proc.pid, signal.SIGKILL)  # somewhere inside epoch 2
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    state = latest_state(out / ".train_state")
    assert state is not None and (state / STATE_JSON).is_file()
    saved = json.loads((state / STATE_JSON).read_text())
    assert 1 <= saved["epoch"] < CFG["epochs"] and len(saved["order"]) == 48
    assert not (out / MODEL_FILE).exists()  # no final checkpoint from the killed run

    again = _worker(tmp_path, small, out)
    stdout, _ = again.communicate(timeout=600)
    assert again.returncode == 0, stdout
    assert f"DONE resumed_from={saved['epoch']}" in stdout
    assert "EPOCH 1" not in stdout  # finished epochs are not trained twice
    assert (out / MODEL_FILE).read_bytes() == (straight.checkpoint_dir / MODEL_FILE).read_bytes()
    assert not (out / ".train_state").exists()  # state removed once the final one is written
    resumed_cfg = json.loads((out / "detector_config.json").read_text())
    assert resumed_cfg["model_sha256"] == straight.config["model_sha256"]
    assert [h["loss"] for h in resumed_cfg["history"]] == [h["loss"] for h in straight.history]


class _Stop(Exception):
    pass


def _stop(epoch: int) -> None:
    raise _Stop(epoch)


def test_state_from_other_data_is_refused_and_torn_state_ignored(small, tmp_path: Path) -> None:
    work = tmp_path / "work"
    cfg = TrainConfig(**{**CFG, "epochs": 2})
    with pytest.raises(_Stop):
        train_detector(small, tmp_path / "a", cfg, work_dir=work, on_epoch_end=_stop)
    first = latest_state(work)
    assert first is not None and first.name == "epoch-0001"
    (work / ".epoch-0002.999.tmp").mkdir()  # a later epoch killed while being written
    assert latest_state(work) == first
    with pytest.raises(ValueError, match="other data or settings"):
        train_detector(small[:-1], tmp_path / "b", cfg, work_dir=work)
    result = train_detector(small, tmp_path / "a", cfg, work_dir=work)
    assert result.resumed_from_epoch == 1 and len(result.history) == 2
    assert not work.exists()


def test_worker_count_does_not_change_the_weights(small, tmp_path: Path) -> None:
    cfg = {**CFG, "epochs": 1}
    inline = train_detector(small, tmp_path / "w0", TrainConfig(**cfg, num_workers=0))
    workers = train_detector(small, tmp_path / "w2", TrainConfig(**cfg, num_workers=2))
    assert inline.config["model_sha256"] == workers.config["model_sha256"]


def test_world_recipe_trains_on_32px_images_exactly_as_they_are() -> None:
    """The miniature world's recipe: no Resize, no crop jitter, no augmentation op."""
    import numpy as np
    import torch
    from PIL import Image

    from fakeimg_assets.detection.backbones import create_detector

    spec = get_backbone("world-resnet")
    assert (spec.image_size, spec.resize_size, spec.op_count_range) == (32, 32, (0, 0))
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    for seed in range(5):
        seen = augment.train_transform(32, np.random.default_rng(seed), mean=spec.mean,
                                       std=spec.std, resize_size=spec.resize_size,
                                       count_range=spec.op_count_range)(image)  # fmt: skip
        assert torch.equal(seen, augment.to_tensor(image, spec.mean, spec.std))
    with torch.inference_mode():
        assert create_detector("world-resnet").eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 1)
