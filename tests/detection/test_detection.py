"""Detector registry, augmentations, metrics and a real (tiny) timm training run, offline.

Training uses `num_threads=1`: on a shared 2-core box, 2 OpenMP threads spin-waiting for a
busy core made the same run 10x+ slower, and one thread keeps the suite well under a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fakeimg_assets.detection.backbones import (
    BackboneSpec,
    create_detector,
    get_backbone,
    list_backbones,
    register_backbone,
    unregister_backbone,
)
from fakeimg_assets.detection.synthetic import make_synthetic_dataset, synthetic_image
from fakeimg_assets.detection.train import (
    CONFIG_FILE,
    MODEL_FILE,
    TrainConfig,
    load_detector,
    predict,
    train_detector,
)
from fakeimg_assets.evaluation.metrics import binary_metrics

SIZE = 32  # synthetic images and training resolution: 4x cheaper than 64 px on CPU
# augmentation off here: the official op mix (test_training.py) needs more than five epochs
# at 32 px; these tests are about training, checkpoints and prediction plumbing
TRAIN_CFG = {
    "backbone": "tiny-resnet", "epochs": 5, "batch_size": 16, "seed": 7, "num_threads": 1,
    "augment": False,
}  # fmt: skip


# ---------------------------------------------------------------- registry


def test_registry_has_recipes() -> None:
    names = list_backbones()
    assert {"community-forensics-vit-s384", "resnet50", "tiny-resnet", "tiny-vit"} <= set(names)
    assert names == sorted(names)
    cf = get_backbone("community-forensics-vit-s384")
    assert cf.timm_name.startswith("vit_small_patch16_384")
    assert (cf.image_size, cf.pretrained, cf.lr, cf.weight_decay) == (384, True, 2e-5, 1e-2)
    tiny = get_backbone("tiny-resnet")
    assert tiny.pretrained is False and tiny.image_size == 64


def test_unknown_backbone_lists_known_names() -> None:
    with pytest.raises(KeyError) as err:
        get_backbone("no-such-net")
    msg = str(err.value)
    assert "no-such-net" in msg and "tiny-resnet" in msg and "community-forensics-vit-s384" in msg
    with pytest.raises(KeyError, match="no-such-net"):
        train_detector([("x.png", 0)], Path("unused"), TrainConfig(backbone="no-such-net"))


def test_duplicate_registration_refused() -> None:
    spec = BackboneSpec(
        name="test-dup",
        timm_name="resnet10t",
        image_size=32,
        pretrained=False,
        lr=1e-3,
        weight_decay=0.0,
        batch_size=4,
        epochs=1,
        description="test only",
    )
    register_backbone(spec)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_backbone(spec)
        assert get_backbone("test-dup") is spec
    finally:
        unregister_backbone("test-dup")
    assert "test-dup" not in list_backbones()
    with pytest.raises(ValueError):
        register_backbone(BackboneSpec("bad", "resnet10t", 0, False, 1e-3, 0.0, 4, 1, "bad size"))


def test_create_detector_has_single_logit_head() -> None:
    import torch

    x = torch.zeros(2, 3, 64, 64)
    for name in ("tiny-resnet", "tiny-vit"):
        model = create_detector(name).eval()
        with torch.inference_mode():
            assert model(x).shape == (2, 1)
    vit = create_detector("community-forensics-vit-s384", pretrained=False)
    assert (vit.head.in_features, vit.head.out_features) == (384, 1)


def test_importing_detection_modules_is_cheap() -> None:
    code = (
        "import sys; import fakeimg_assets.detection.train, fakeimg_assets.evaluation.metrics;"
        "import fakeimg_assets.detection.synthetic;"
        "print([m for m in ('torch', 'timm', 'torchvision') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- metrics


def test_binary_metrics_hand_computed() -> None:
    # ranking: 0.8(F) 0.4(R) 0.35(F) 0.1(R) -> AP = (1 + 2/3) / 2; 3 of 4 pairs ordered -> AUC .75
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert m["n_real"] == 2 and m["n_fake"] == 2
    assert m["ap"] == pytest.approx(5 / 6)
    assert m["auc"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["real_accuracy"] == pytest.approx(1.0)
    assert m["fake_accuracy"] == pytest.approx(0.5)
    # threshold is inclusive (>= means fake)
    assert binary_metrics([0, 1], [0.2, 0.35], threshold=0.35)["accuracy"] == 1.0


def test_binary_metrics_one_class_gives_none() -> None:
    m = binary_metrics([1, 1, 1], [0.9, 0.2, 0.7])
    assert m["ap"] is None and m["auc"] is None and m["real_accuracy"] is None
    assert m["n_real"] == 0 and m["n_fake"] == 3
    assert m["accuracy"] == pytest.approx(2 / 3) and m["fake_accuracy"] == pytest.approx(2 / 3)
    r = binary_metrics([0], [0.1])
    assert r["ap"] is None and r["fake_accuracy"] is None and r["real_accuracy"] == 1.0


@pytest.mark.parametrize(
    ("labels", "scores", "match"),
    [
        ([], [], "no labels"),
        ([0, 1], [0.5], "differ in length"),
        ([0, 2], [0.1, 0.2], "0 \\(real\\) or 1"),
        ([0, 1], [0.1, float("nan")], "NaN"),
    ],
)
def test_binary_metrics_rejects_bad_input(labels: list, scores: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        binary_metrics(labels, scores)


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("synthetic")
    return {
        "train": make_synthetic_dataset(root / "train", 100, 100, size=SIZE, seed=1),
        "test": make_synthetic_dataset(root / "test", 20, 20, size=SIZE, seed=2),
    }


@pytest.fixture(scope="module")
def trained(data: dict, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ckpt") / "detector"
    return train_detector(data["train"], out, TrainConfig(**TRAIN_CFG, image_size=SIZE))


@pytest.mark.slow
def test_train_writes_safetensors_checkpoint(trained, data: dict) -> None:
    ckpt = trained.checkpoint_dir
    assert sorted(p.name for p in ckpt.iterdir()) == [CONFIG_FILE, MODEL_FILE, "timm"]
    assert trained.timm_dir == ckpt / "timm"  # the same detector for timm (test_timm_folder.py)
    assert (trained.n_train_images, trained.n_real, trained.n_fake) == (200, 100, 100)
    assert trained.epochs == 5 and len(trained.history) == 5
    assert trained.history[-1]["loss"] < trained.history[0]["loss"]
    cfg = json.loads((ckpt / CONFIG_FILE).read_text())
    assert cfg["backbone"] == "tiny-resnet" and cfg["timm_name"] == "resnet10t"
    assert cfg["image_size"] == SIZE and len(cfg["mean"]) == 3 and len(cfg["std"]) == 3
    assert cfg["label_convention"]["1"] == "fake"
    assert cfg["train_config"]["lr"] == get_backbone("tiny-resnet").lr  # spec default filled in
    assert cfg["train_config"]["seed"] == 7 and cfg["pos_weight"] == 1.0
    assert {"torch", "timm"} <= set(cfg["versions"])
    assert cfg == trained.config


@pytest.mark.slow
def test_reload_and_predict_beats_chance(trained, data: dict) -> None:
    model, cfg = load_detector(trained.checkpoint_dir)
    assert not model.training and cfg["backbone"] == "tiny-resnet"
    paths = [p for p, _ in data["test"]]
    scores = predict(trained.checkpoint_dir, paths, batch_size=16, num_threads=1)
    assert scores.shape == (40,) and scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all()
    m = binary_metrics([label for _, label in data["test"]], scores)
    assert m["ap"] > 0.9, m
    assert predict(trained.checkpoint_dir, [], num_threads=1).shape == (0,)


@pytest.mark.slow
def test_same_seed_gives_identical_predictions(trained, data: dict, tmp_path: Path) -> None:
    again = train_detector(
        data["train"], tmp_path / "again", TrainConfig(**TRAIN_CFG, image_size=SIZE)
    )
    assert again.config["model_sha256"] == trained.config["model_sha256"]
    paths = [p for p, _ in data["test"]]
    a = predict(trained.checkpoint_dir, paths, num_threads=1)
    b = predict(again.checkpoint_dir, paths, num_threads=1)
    assert np.array_equal(a, b)


@pytest.mark.slow
def test_tampered_weights_and_missing_config_refused(trained, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / CONFIG_FILE).write_text((trained.checkpoint_dir / CONFIG_FILE).read_text())
    weights = (trained.checkpoint_dir / MODEL_FILE).read_bytes()
    (bad / MODEL_FILE).write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))
    with pytest.raises(ValueError, match="sha256"):
        load_detector(bad)
    (bad / CONFIG_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=CONFIG_FILE):
        load_detector(bad)


def test_tiny_vit_trains_and_roundtrips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(8):
        path = tmp_path / f"{i}.png"
        synthetic_image(i % 2, rng, 64).save(path)
        samples.append((path, i % 2))
    result = train_detector(
        samples,
        tmp_path / "vit",
        TrainConfig(backbone="tiny-vit", epochs=1, batch_size=4, num_threads=1),
    )
    assert result.config["model_kwargs"] == {"img_size": 64, "patch_size": 8}
    scores = predict(result.checkpoint_dir, [p for p, _ in samples], num_threads=1)
    assert scores.shape == (8,) and np.isfinite(scores).all()
    # test_vit interpolates position embeddings, but a fixed-size ViT is refused up front
    fixed = TrainConfig(
        backbone="community-forensics-vit-s384", pretrained=False, image_size=64, epochs=1
    )
    with pytest.raises(ValueError, match="image_size=64"):
        train_detector(samples, tmp_path / "x", fixed)
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- bad input


def test_bad_training_input_is_refused(data: dict, tmp_path: Path) -> None:
    cfg = TrainConfig(backbone="tiny-resnet", epochs=1, num_threads=1)
    real = [s for s in data["train"] if s[1] == 0][:3]
    fake = [s for s in data["train"] if s[1] == 1][:3]
    with pytest.raises(ValueError, match="no training samples"):
        train_detector([], tmp_path / "a", cfg)
    with pytest.raises(ValueError, match="both classes.*0 real and 3 fake"):
        train_detector(fake, tmp_path / "a", cfg)
    with pytest.raises(ValueError, match="missing.*nope.png"):
        train_detector(real + fake + [(tmp_path / "nope.png", 1)], tmp_path / "a", cfg)
    with pytest.raises(ValueError, match="labels must be 0"):
        train_detector(real + [(fake[0][0], 2)], tmp_path / "a", cfg)
    with pytest.raises(ValueError, match="warmup_fraction"):
        train_detector(real + fake, tmp_path / "a", TrainConfig("tiny-resnet", warmup_fraction=1.5))
    with pytest.raises(ValueError, match="missing"):
        predict(tmp_path / "never-written", [tmp_path / "nope.png"])
    assert not (tmp_path / "a").exists()


def test_unreadable_image_named_in_error(data: dict, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    samples = [s for s in data["train"] if s[1] == 0][:2] + [(broken, 1)]
    cfg = TrainConfig(
        backbone="tiny-resnet", epochs=1, batch_size=4, num_threads=1, image_size=SIZE
    )
    with pytest.raises(ValueError, match="broken.png"):
        train_detector(samples, tmp_path / "out", cfg)
    assert not (tmp_path / "out" / CONFIG_FILE).exists()
