"""Channels-last max pooling changes speed only: outputs, gradients, training and scores are
bit-identical to plain `nn.MaxPool2d`, ties included."""

from __future__ import annotations

import pytest
import torch

from fakeimg_assets.detection.backbones import create_detector
from fakeimg_assets.detection.pooling import with_layout_max_pool


def _tied(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.relu(torch.randn(shape, generator=g))  # half zeros: tied maxima everywhere
    x[..., :3, :] = 0.5  # whole windows of equal values
    return x


@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 2, "stride": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": 3, "stride": 1, "dilation": 2},
])
def test_outputs_and_gradients_are_bit_identical(kwargs: dict) -> None:
    plain = torch.nn.Sequential(torch.nn.MaxPool2d(**kwargs))
    fast = with_layout_max_pool(torch.nn.Sequential(torch.nn.MaxPool2d(**kwargs)))
    assert type(fast[0]) is not torch.nn.MaxPool2d
    x = _tied((8, 16, 15, 17), seed=1)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = plain(a), fast(b)
    assert torch.equal(ya, yb) and ya.stride() == yb.stride()  # the input's layout back
    g = torch.randn(ya.shape, generator=torch.Generator().manual_seed(2))
    ya.backward(g)
    yb.backward(g)
    assert torch.equal(a.grad, b.grad)


def test_training_and_scores_do_not_change_by_one_bit() -> None:
    def train(swap: bool) -> tuple[dict, torch.Tensor]:
        torch.manual_seed(0)
        model = create_detector("world-resnet")
        if not swap:  # undo the swap create_detector made: the plain timm model
            model.maxpool = torch.nn.MaxPool2d(3, stride=2, padding=1)
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
        x, y = _tied((32, 3, 32, 32), seed=3), (torch.arange(32) % 2).float()
        for _ in range(3):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode():
            return model.state_dict(), model(_tied((16, 3, 32, 32), seed=4))

    (sa, pa), (sb, pb) = train(False), train(True)
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(pa, pb)


def test_create_detector_uses_it_and_leaves_other_pools_alone() -> None:
    model = create_detector("world-resnet")
    assert type(model.maxpool).__name__ == "LayoutMaxPool2d"
    keep = torch.nn.Sequential(torch.nn.MaxPool2d(2, return_indices=True), torch.nn.AvgPool2d(2))
    with_layout_max_pool(keep)
    assert type(keep[0]) is torch.nn.MaxPool2d and type(keep[1]) is torch.nn.AvgPool2d
