"""Pretrained backbone weights come through the verified Hub client, never timm's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeimg_assets.detection.backbones import (
    BackboneSpec,
    create_detector,
    pretrained_source,
    register_backbone,
    unregister_backbone,
)
from fakeimg_assets.testbed.local_hub.server import HubServer
from resources import HubResource

NAME = "test-pretrained-resnet10t"


@pytest.fixture
def backbone():
    register_backbone(BackboneSpec(NAME, "resnet10t.c3_in1k", 32, True, 1e-3, 0.0, 4, 1,
                                   "a pretrained backbone served by the loopback Hub"))
    yield NAME
    unregister_backbone(NAME)


@pytest.fixture
def timm_repo(tmp_path: Path):
    """`timm/resnet10t.c3_in1k` with seeded weights, as timm publishes them."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(7)
    model = timm.create_model("resnet10t", num_classes=1000)
    repo = tmp_path / "hub" / "timm" / "resnet10t.c3_in1k"
    repo.mkdir(parents=True)
    save_file(model.state_dict(), str(repo / "model.safetensors"))
    (repo / "config.json").write_text(json.dumps({"architecture": "resnet10t"}))
    return tmp_path / "hub", model.state_dict()


def test_weights_are_fetched_verified_and_loaded_from_disk(
    backbone: str, timm_repo, tmp_path: Path
) -> None:
    import torch

    root, state = timm_repo
    assert pretrained_source(backbone) == ("timm/resnet10t.c3_in1k", "model.safetensors")
    with HubServer(root) as server:
        hub = HubResource(endpoint=server.url, cache_dir=str(tmp_path / "cache"))
        path = hub.pretrained_weights(*pretrained_source(backbone))
    assert path.is_relative_to(tmp_path / "cache") and path.name == "model.safetensors"
    model = create_detector(backbone, weights_file=str(path))
    assert torch.equal(model.conv1[0].weight, state["conv1.0.weight"])  # the served weights
    assert model.get_classifier().out_features == 1  # head replaced, body pretrained


def test_a_pretrained_backbone_without_verified_weights_is_refused(backbone: str) -> None:
    with pytest.raises(ValueError, match="pretrained_weights"):
        create_detector(backbone)  # would otherwise let timm call hf_hub_download itself
    assert create_detector(backbone, pretrained=False) is not None
    assert pretrained_source("tiny-resnet") is None


def test_missing_or_pickled_weights_are_named(timm_repo, tmp_path: Path) -> None:
    root, _ = timm_repo
    with HubServer(root) as server:
        hub = HubResource(endpoint=server.url, cache_dir=str(tmp_path / "cache"))
        with pytest.raises(FileNotFoundError, match="no open_clip_model.safetensors"):
            hub.pretrained_weights("timm/resnet10t.c3_in1k", "open_clip_model.safetensors")
        with pytest.raises(ValueError, match="must be safetensors"):
            hub.pretrained_weights("timm/resnet10t.c3_in1k", "pytorch_model.bin")
