"""Registry of detector backbones: a named recipe (timm architecture + training defaults).

Training, checkpoints and the Dagster assets refer to a backbone by its registry name, so a
run is reproducible from one string and a new architecture is one `register_backbone` call
away, in the style of timm's model registry. torch/timm are imported only in
`create_detector`, so importing this module is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fakeimg_assets.detection.augment import IMAGENET_MEAN, IMAGENET_STD, OP_COUNT_RANGE
from fakeimg_assets.detection.pooling import with_layout_max_pool

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class BackboneSpec:
    """A training recipe: a timm architecture and every knob it trains with.

    The defaults are the Community Forensics code's (`utils.parse_args`, `train.py`): AdamW
    with weight decay on all parameters, linear warm-up over 3 of 20 epochs (0.15) then
    cosine to lr x 1e-3, gradient clipping at 1.0, fp16 autocast on CUDA, ImageNet mean/std,
    each augmentation drawn 0-2 times, reals subsampled to the fake count, no class weights.
    `model_kwargs` go to `timm.create_model` and are stored in checkpoints.
    """

    name: str
    timm_name: str
    image_size: int
    pretrained: bool
    lr: float
    weight_decay: float
    batch_size: int
    epochs: int
    description: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    resize_size: int | None = None  # None: the official 440/384 proportion of image_size
    warmup_fraction: float = 0.15
    min_lr_factor: float = 1e-3
    grad_clip: float | None = 1.0
    amp_dtype: str = "float16"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    op_count_range: tuple[int, int] = OP_COUNT_RANGE
    balance_reals: bool = True
    decay_all_params: bool = True  # official: AdamW(model.parameters(), weight_decay=...)


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add `spec` to the registry; a duplicate name is refused so recipes never shadow silently."""
    if not spec.name or not spec.name.strip():
        raise ValueError("backbone name must be a non-empty string")
    if spec.name in _REGISTRY:
        raise ValueError(f"backbone {spec.name!r} is already registered")
    if spec.image_size <= 0 or spec.batch_size <= 0 or spec.epochs <= 0:
        raise ValueError(
            f"backbone {spec.name!r}: image_size, batch_size and epochs must be positive"
        )
    if spec.lr <= 0 or spec.weight_decay < 0:
        raise ValueError(f"backbone {spec.name!r}: lr must be > 0 and weight_decay >= 0")
    if not 0.0 <= spec.warmup_fraction < 1.0 or not 0.0 <= spec.min_lr_factor <= 1.0:
        raise ValueError(f"backbone {spec.name!r}: warmup_fraction or min_lr_factor out of range")
    if spec.amp_dtype not in ("float16", "bfloat16"):
        raise ValueError(f"backbone {spec.name!r}: amp_dtype must be float16 or bfloat16")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_backbone(name: str) -> BackboneSpec:
    """Remove and return a registered backbone (for tests and plugins that re-register)."""
    get_backbone(name)
    return _REGISTRY.pop(name)


def get_backbone(name: str) -> BackboneSpec:
    """The spec registered under `name`; KeyError names the bad name and the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(list_backbones()) or "(none)"
        raise KeyError(f"unknown backbone {name!r}; known backbones: {known}") from None


def list_backbones() -> list[str]:
    """Registered backbone names, sorted."""
    return sorted(_REGISTRY)


def pretrained_source(name: str) -> tuple[str, str] | None:
    """(Hub repo, weights file) of a backbone's pretrained weights, None when it trains from
    scratch; fetched by `HubResource.pretrained_weights`, never by timm itself."""
    import timm

    spec = get_backbone(name)
    if not spec.pretrained:
        return None
    cfg = timm.models.get_pretrained_cfg(spec.timm_name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        raise ValueError(f"backbone {name!r}: timm names no Hub repo for {spec.timm_name}")
    return repo, "model.safetensors"


def create_detector(name: str, *, pretrained: bool | None = None,
                    weights_file: str | None = None) -> torch.nn.Module:
    """A timm model for `name` with a single-logit head (logit > 0 means fake).

    `pretrained=None` uses the spec's default. Pretrained weights come from `weights_file`
    (a verified download, `pretrained_source`) and never from timm's own Hub client, which
    trusts the endpoint's headers with cache paths (hub_client/answers.py).
    """
    import timm

    spec = get_backbone(name)
    use_pretrained = spec.pretrained if pretrained is None else pretrained
    kwargs = dict(spec.model_kwargs)
    if use_pretrained:
        if weights_file is None:
            raise ValueError(
                f"backbone {name!r} starts from pretrained weights: fetch them with "
                "HubResource.pretrained_weights(*pretrained_source(name)) and pass weights_file, "
                "or pass pretrained=False"
            )
        kwargs["pretrained_cfg_overlay"] = {"file": str(weights_file)}
    model = timm.create_model(spec.timm_name, pretrained=use_pretrained, num_classes=1, **kwargs)
    return with_layout_max_pool(model)  # bit-identical, faster on CPU (detection/pooling.py)


# Park & Owens, "Community Forensics" (CVPR 2025), official code defaults: ViT-S/16 at 384
# px with ImageNet-21k AugReg weights, Linear(384->1) head, BCE-with-logits, AdamW 2e-5 /
# wd 1e-2, batch 32, 20 epochs, Resize(440) + RandomCrop(384).
register_backbone(
    BackboneSpec(
        name="community-forensics-vit-s384",
        timm_name="vit_small_patch16_384.augreg_in21k_ft_in1k",
        image_size=384,
        resize_size=440,
        pretrained=True,
        lr=2e-5,
        weight_decay=1e-2,
        batch_size=32,
        epochs=20,
        description="Community Forensics recipe: ViT-S/16 384px, IN-21k AugReg weights, "
        "Linear(384->1) head, AdamW 2e-5, warm-up + cosine to 1e-3 x lr, fp16 AMP, clip 1.0.",
    )
)

register_backbone(
    BackboneSpec(
        name="resnet50",
        timm_name="resnet50.a1_in1k",
        image_size=224,
        pretrained=True,
        lr=1e-4,
        weight_decay=1e-2,
        batch_size=64,
        epochs=10,
        resize_size=256,
        description="Conventional CNN baseline (Wang et al. 2020 style), ImageNet-1k weights.",
    )
)

register_backbone(
    BackboneSpec(
        name="tiny-resnet",
        timm_name="resnet10t",
        image_size=64,
        pretrained=False,
        lr=1e-3,
        weight_decay=1e-2,
        batch_size=32,
        epochs=3,
        description="CPU demo/test backbone: ResNet-10-T from scratch at 64 px.",
    )
)

register_backbone(
    BackboneSpec(
        name="tiny-vit",
        timm_name="test_vit",
        image_size=64,
        pretrained=False,
        lr=1e-3,
        weight_decay=1e-2,
        batch_size=32,
        epochs=5,
        description="CPU demo/test ViT: timm test_vit (0.3M params) at 64 px with 8 px patches.",
        model_kwargs={"img_size": 64, "patch_size": 8},
    )
)

# The miniature world's detector (`make science`): the world draws 32 px images, and the
# Community Forensics augmentations (JPEG, resize, rotate, shear... about 11 ops per image)
# erase at that size the pixel statistics a detector must learn: with them the seen-
# generator AP fell to 0.83 at 15 training generators, without them it stayed 0.996 (same
# images, same runs, measured). The world has no post-processing to be robust to, so this
# recipe trains on the images as they are, at their own size (no Resize, no crop jitter).
register_backbone(
    BackboneSpec(
        name="world-resnet",
        timm_name="resnet10t",
        image_size=32,
        resize_size=32,
        pretrained=False,
        lr=2e-3,
        weight_decay=1e-2,
        batch_size=64,
        epochs=10,
        op_count_range=(0, 0),
        description="Miniature-world backbone: ResNet-10-T from scratch at 32 px, no "
        "augmentation (the CF ops erase 32 px statistics).",
    )
)
