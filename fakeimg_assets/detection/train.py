"""Train, save, reload and apply a binary real/fake detector (label 1 = fake).

Checkpoints are a directory with `model.safetensors` (weights only, so loading never
unpickles code) and `detector_config.json` (architecture, preprocessing, training config,
history, library versions), so a checkpoint is reloadable without the backbone registry.
torch/timm are imported inside functions so importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from fakeimg_assets.detection.augment import eval_transform, sample_rng, train_transform
from fakeimg_assets.detection.backbones import BackboneSpec, create_detector, get_backbone

if TYPE_CHECKING:
    import torch

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "detector_config.json"
FORMAT_VERSION = 1
LABEL_CONVENTION = {
    "0": "real",
    "1": "fake",
    "output": "one logit per image; sigmoid(logit) = probability the image is fake",
}


@dataclass
class TrainConfig:
    """Training knobs; `None` means the backbone spec's default."""

    backbone: str
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    warmup_fraction: float = 0.1
    seed: int = 0
    image_size: int | None = None
    device: str = "cpu"
    amp: bool = True  # mixed precision; only takes effect on CUDA
    num_workers: int = 0
    pretrained: bool | None = None
    augment: bool = True  # train-time post-processing ops; off only for ablations
    # NHWC: CNN steps 1.1-1.8x faster on CPU (oneDNN), but oneDNN then picks kernels by process
    # history and same-seed runs stop being bit-identical; None = on for CUDA, off for CPU.
    channels_last: bool | None = None
    num_threads: int | None = None  # torch intra-op threads during this call; None = unchanged


@dataclass
class TrainResult:
    """What a training run produced; `config` is the written detector_config.json."""

    checkpoint_dir: Path
    n_train_images: int
    n_real: int
    n_fake: int
    epochs: int
    history: list[dict[str, Any]]
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)


class _ImageDataset:
    """Map-style dataset over image paths (DataLoader needs only __len__/__getitem__).

    Train mode draws augmentation from `sample_rng(seed, epoch, index)`, so batches do not
    depend on worker count; set `epoch` before each epoch.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        labels: Sequence[int] | None,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        train: bool,
        augment: bool = True,
        seed: int = 0,
    ) -> None:
        self.paths = list(paths)
        self.labels = None if labels is None else list(labels)
        self.image_size = image_size
        self.mean, self.std = tuple(mean), tuple(std)
        self.train, self.augment, self.seed = train, augment, seed
        self.epoch = 0  # plain attributes only: the dataset is pickled to spawn/forkserver workers

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Any:
        path = self.paths[index]
        try:
            with Image.open(path) as im:
                image = im.convert("RGB")
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read image {path}: {e}") from e
        if self.train:
            rng = sample_rng(self.seed, self.epoch, index)
            max_ops = 2 if self.augment else 0
            x = train_transform(
                self.image_size, rng, mean=self.mean, std=self.std, max_ops=max_ops
            )(image)
        else:
            x = eval_transform(self.image_size, mean=self.mean, std=self.std)(image)
        if self.labels is None:
            return x
        return x, np.float32(self.labels[index])


def _validate_samples(samples: Sequence[tuple[str | Path, int]]) -> tuple[list[Path], list[int]]:
    if samples is None or len(samples) == 0:
        raise ValueError("no training samples given")
    paths: list[Path] = []
    labels: list[int] = []
    bad_labels: list[object] = []
    for item in samples:
        try:
            path, label = item
        except (TypeError, ValueError):
            raise ValueError(f"each sample must be (path, label), got {item!r}") from None
        if isinstance(label, bool) or label not in (0, 1):
            bad_labels.append(label)
            continue
        paths.append(Path(path))
        labels.append(int(label))
    if bad_labels:
        raise ValueError(f"labels must be 0 (real) or 1 (fake); got {bad_labels[:5]!r}")
    _check_files_exist(paths)
    n_fake = sum(labels)
    n_real = len(labels) - n_fake
    if n_real == 0 or n_fake == 0:
        raise ValueError(f"training needs both classes; got {n_real} real and {n_fake} fake images")
    return paths, labels


def _check_files_exist(paths: Sequence[Path]) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise ValueError(f"{len(missing)} image file(s) missing: {missing[:5]}{more}")


def _resolve(config: TrainConfig, spec: BackboneSpec) -> TrainConfig:
    """Fill `None` fields from the spec and check ranges, before any expensive work."""
    resolved = TrainConfig(
        backbone=spec.name,
        epochs=spec.epochs if config.epochs is None else config.epochs,
        batch_size=spec.batch_size if config.batch_size is None else config.batch_size,
        lr=spec.lr if config.lr is None else config.lr,
        weight_decay=spec.weight_decay if config.weight_decay is None else config.weight_decay,
        warmup_fraction=config.warmup_fraction,
        seed=config.seed,
        image_size=spec.image_size if config.image_size is None else config.image_size,
        device=config.device,
        amp=config.amp,
        num_workers=config.num_workers,
        pretrained=spec.pretrained if config.pretrained is None else config.pretrained,
        augment=config.augment,
        channels_last=(
            config.device.startswith("cuda") if config.channels_last is None else config.channels_last
        ),
        num_threads=config.num_threads,
    )
    assert resolved.epochs is not None and resolved.batch_size is not None
    assert resolved.lr is not None and resolved.weight_decay is not None
    assert resolved.image_size is not None
    if resolved.epochs <= 0 or resolved.batch_size <= 0 or resolved.image_size <= 0:
        raise ValueError("epochs, batch_size and image_size must be positive")
    if resolved.lr <= 0 or resolved.weight_decay < 0:
        raise ValueError("lr must be > 0 and weight_decay >= 0")
    if not 0.0 <= resolved.warmup_fraction < 1.0:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {resolved.warmup_fraction}")
    if resolved.seed < 0:
        raise ValueError(f"seed must be >= 0, got {resolved.seed}")
    if resolved.num_threads is not None and resolved.num_threads <= 0:
        raise ValueError(f"num_threads must be positive, got {resolved.num_threads}")
    if resolved.num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {resolved.num_workers}")
    return resolved


def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up to 1 over `warmup_steps`, then cosine decay to 0 at `total_steps`."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases and norm parameters (as timm does)."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _check_input_size(model: torch.nn.Module, image_size: int) -> None:
    """ViTs built for one resolution fail obscurely on another; say so up front."""
    pe = getattr(model, "patch_embed", None)
    img_size = getattr(pe, "img_size", None)
    if img_size is None or not getattr(pe, "strict_img_size", False):
        return
    if tuple(img_size) != (image_size, image_size):
        raise ValueError(
            f"backbone expects {tuple(img_size)} inputs but image_size={image_size}; "
            "register a spec with model_kwargs={'img_size': ...} instead"
        )


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count, restoring it afterwards.

    On a busy CPU, OpenMP threads that spin-wait for a core collapse throughput (measured
    10-30x slower with 2 threads than 1 on a shared 2-core box), so callers sharing a machine
    can pin the count per call without changing the process-wide default for others.
    """
    import torch

    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _memory_format(device: str):  # -> torch.memory_format
    import torch

    return torch.channels_last if str(device).startswith("cuda") else torch.contiguous_format


def _versions() -> dict[str, str]:
    import timm
    import torch
    import torchvision

    return {
        "torch": torch.__version__,
        "timm": timm.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _fsync_replace(tmp: Path, final: Path) -> None:
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


def _save_checkpoint(model: torch.nn.Module, out_dir: Path, config: dict[str, Any]) -> None:
    """Write weights then config via temp names; the config is renamed last as commit marker.

    A stale config is removed first, so a run killed midway leaves either no config (not
    loadable) or a config whose sha256 matches the weights beside it.
    """
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}.tmp"
    model_tmp = out_dir / f".{MODEL_FILE}.{tag}"
    config_tmp = out_dir / f".{CONFIG_FILE}.{tag}"
    try:
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        # one metadata key only: safetensors writes its metadata map in hash order, so two
        # keys made same-seed checkpoints differ byte-wise (and by sha256) between processes
        save_file(state, str(model_tmp), metadata={"format": "pt"})
        config["model_file"] = MODEL_FILE
        config["model_sha256"] = _sha256(model_tmp)
        config_tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        (out_dir / CONFIG_FILE).unlink(missing_ok=True)
        _fsync_replace(model_tmp, out_dir / MODEL_FILE)
        _fsync_replace(config_tmp, out_dir / CONFIG_FILE)
    finally:
        model_tmp.unlink(missing_ok=True)
        config_tmp.unlink(missing_ok=True)


def train_detector(
    samples: Sequence[tuple[str | Path, int]], out_dir: Path, config: TrainConfig
) -> TrainResult:
    """Fine-tune a registered backbone on (path, label) pairs and write a checkpoint to out_dir.

    Fakes usually outnumber reals, so the BCE loss weights the fake class by n_real / n_fake.
    Seeding covers weight init, shuffling and augmentation; the global torch RNG is restored
    afterwards. On CPU two runs with the same config give identical weights.
    """
    import timm
    import torch
    from torch.utils.data import DataLoader

    start = time.perf_counter()
    spec = get_backbone(config.backbone)
    cfg = _resolve(config, spec)
    paths, labels = _validate_samples(samples)
    n_fake = sum(labels)
    n_real = len(labels) - n_fake
    device = torch.device(cfg.device)
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.float16
    if use_amp and torch.cuda.is_bf16_supported():
        amp_dtype = torch.bfloat16  # no loss scaling needed
    assert cfg.epochs is not None and cfg.batch_size is not None and cfg.image_size is not None
    assert cfg.lr is not None and cfg.weight_decay is not None

    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with torch_threads(cfg.num_threads), torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(cfg.seed)
        model = create_detector(spec.name, pretrained=cfg.pretrained)
        _check_input_size(model, cfg.image_size)
        data_cfg = timm.data.resolve_model_data_config(model)
        mean = [float(v) for v in data_cfg["mean"]]
        std = [float(v) for v in data_cfg["std"]]
        memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        model.to(device=device, memory_format=memory_format)

        dataset = _ImageDataset(
            paths,
            labels,
            cfg.image_size,
            mean,
            std,
            train=True,
            augment=cfg.augment,
            seed=cfg.seed,
        )
        loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(cfg.seed),
            num_workers=cfg.num_workers,
            pin_memory=device.type == "cuda",
            drop_last=False,
        )
        steps_per_epoch = len(loader)
        total_steps = cfg.epochs * steps_per_epoch
        warmup_steps = round(cfg.warmup_fraction * total_steps)
        optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: lr_factor(s, total_steps, warmup_steps)
        )
        pos_weight = torch.tensor([n_real / n_fake], device=device)
        criterion = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

        history: list[dict[str, Any]] = []
        step = 0
        for epoch in range(cfg.epochs):
            model.train()
            dataset.epoch = epoch
            t0 = time.perf_counter()
            loss_sum, correct, seen = 0.0, 0, 0
            for x, y in loader:
                x = x.to(device, non_blocking=True, memory_format=memory_format)
                y = y.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    logits = model(x).squeeze(1)
                loss = criterion(logits.float(), y)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss at epoch {epoch} step {step}")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                step += 1
                n = y.shape[0]
                loss_sum += float(loss.detach()) * n
                correct += int(((logits.detach() > 0).float() == y).sum())
                seen += n
            seconds = time.perf_counter() - t0
            history.append(
                {
                    "epoch": epoch + 1,
                    "loss": loss_sum / seen,
                    "train_accuracy": correct / seen,
                    "lr": optimizer.param_groups[0]["lr"],
                    "steps": steps_per_epoch,
                    "seconds": round(seconds, 3),
                    "images_per_second": round(seen / seconds, 1) if seconds > 0 else None,
                }
            )

    train_config = asdict(cfg)
    detector_config: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "backbone": spec.name,
        "timm_name": spec.timm_name,
        "model_kwargs": dict(spec.model_kwargs),
        "image_size": cfg.image_size,
        "mean": mean,
        "std": std,
        "eval_transform": "resize shorter side (bicubic) then center crop",
        "label_convention": LABEL_CONVENTION,
        "train_config": train_config,
        "n_train_images": len(paths),
        "n_real": n_real,
        "n_fake": n_fake,
        "pos_weight": n_real / n_fake,
        "amp_dtype": str(amp_dtype).removeprefix("torch.") if use_amp else None,
        "history": history,
        "versions": _versions(),
        "train_seconds": round(time.perf_counter() - start, 3),
    }
    out_dir = Path(out_dir)
    _save_checkpoint(model, out_dir, detector_config)
    return TrainResult(
        checkpoint_dir=out_dir,
        n_train_images=len(paths),
        n_real=n_real,
        n_fake=n_fake,
        epochs=cfg.epochs,
        history=history,
        seconds=time.perf_counter() - start,
        config=detector_config,
    )


def load_detector(
    checkpoint_dir: Path, device: str = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model from detector_config.json and load safetensors weights (no pickle).

    The sha256 recorded at save time is checked so a torn or swapped weights file is refused.
    """
    import timm
    from safetensors.torch import load_file

    checkpoint_dir = Path(checkpoint_dir)
    config_path = checkpoint_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} in {checkpoint_dir} (incomplete checkpoint?)")
    config = json.loads(config_path.read_text())
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported checkpoint format {config.get('format_version')!r}")
    model_path = checkpoint_dir / config.get("model_file", MODEL_FILE)
    if not model_path.is_file():
        raise FileNotFoundError(f"missing weights file {model_path}")
    expected = config.get("model_sha256")
    if expected and _sha256(model_path) != expected:
        raise ValueError(f"{model_path} does not match the sha256 in {CONFIG_FILE}")
    model = timm.create_model(
        config["timm_name"], pretrained=False, num_classes=1, **config.get("model_kwargs", {})
    )
    model.load_state_dict(load_file(str(model_path), device="cpu"), strict=True)

    # NHWC is what cuDNN prefers; on CPU plain layout keeps predictions bit-reproducible.
    model.to(device=device, memory_format=_memory_format(device)).eval()
    return model, config


def predict_with_model(
    model: torch.nn.Module,
    config: dict[str, Any],
    paths: Sequence[str | Path],
    *,
    device: str = "cpu",
    batch_size: int = 64,
    num_threads: int | None = None,
) -> np.ndarray:
    """P(fake) per path for an already loaded model (avoids reloading in loops)."""
    import torch
    from torch.utils.data import DataLoader

    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    path_list = [Path(p) for p in paths]
    if not path_list:
        return np.zeros(0, dtype=np.float32)
    _check_files_exist(path_list)
    dataset = _ImageDataset(
        path_list, None, int(config["image_size"]), config["mean"], config["std"], train=False
    )
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    model.eval()
    out: list[np.ndarray] = []
    with torch_threads(num_threads), torch.inference_mode():
        for x in loader:
            x = x.to(device, memory_format=_memory_format(device))
            logits = model(x).float().squeeze(1)
            out.append(torch.sigmoid(logits).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def predict(
    checkpoint_dir: Path,
    paths: Sequence[str | Path],
    *,
    device: str = "cpu",
    batch_size: int = 64,
    num_threads: int | None = None,
) -> np.ndarray:
    """Sigmoid probability of "fake" for each path, with the checkpoint's eval transform."""
    _check_files_exist([Path(p) for p in paths])  # before the (slower) model load
    model, config = load_detector(checkpoint_dir, device=device)
    return predict_with_model(
        model, config, paths, device=device, batch_size=batch_size, num_threads=num_threads
    )
