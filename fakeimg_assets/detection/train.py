"""Train a binary real/fake detector (label 1 = fake), resumable after a kill.

The loop follows the Community Forensics code: BCE-with-logits on one logit, AdamW, linear
warm-up then cosine to lr x min_lr_factor, gradient clipping, fp16 autocast + GradScaler on
CUDA, reals subsampled to the fake count. After every epoch the full training state is saved
(`checkpoint.save_state`), and a run restarted with the same data and config continues from
it; on CPU (deterministic algorithms, per-sample augmentation seeds, order a function of the
epoch) the final weights are byte-identical to an uninterrupted run's.
torch/timm are imported inside functions so importing this module stays cheap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fakeimg_assets.detection.backbones import create_detector, get_backbone
from fakeimg_assets.detection.checkpoint import (
    CONFIG_FILE,
    MODEL_FILE,
    clear_states,
    latest_state,
    load_state,
    save_final,
    save_state,
)
from fakeimg_assets.detection.data import (
    DecodedImages,
    ImageDataset,
    balance_reals,
    class_counts,
    epoch_order,
    seed_worker,
    validate_samples,
)
from fakeimg_assets.detection.predict import (
    FORMAT_VERSION,
    load_detector,
    predict,
    predict_with_model,
    torch_threads,
)
from fakeimg_assets.detection.recipe import (
    LABEL_CONVENTION,
    TrainConfig,
    TrainResult,
    check_input_size,
    fingerprint,
    library_versions,
    lr_factor,
    param_groups,
    recipe_of,
    resolve,
)
from fakeimg_assets.detection.timm_folder import write_timm_folder
from fakeimg_assets.lib.progress import RateMeter, duration_text, rate_text

PROGRESS_EVERY_S = 5.0  # a batch line at most this often (fast tiny batches), and per epoch

__all__ = [
    "CONFIG_FILE",
    "MODEL_FILE",
    "TrainConfig",
    "TrainResult",
    "load_detector",
    "lr_factor",
    "predict",
    "predict_with_model",
    "torch_threads",
    "train_detector",
]

STATE_DIR = ".train_state"


def train_detector(
    samples: Sequence[tuple[Any, ...]],
    out_dir: Path,
    config: TrainConfig,
    *,
    work_dir: Path | None = None,
    resume: bool = True,
    on_epoch_end: Callable[[int], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
    decoded: DecodedImages | None = None,
) -> TrainResult:
    """Train a registered recipe on (path, label[, source]) samples; checkpoint to out_dir.

    The training state goes to `work_dir` (default `out_dir/.train_state`) after every epoch
    and is removed on success; with `resume`, a state made from the same config and samples
    is continued, and one from anything else is refused. The global RNGs are restored after.
    `on_progress` (default: the progress module's logger) hears a rate and ETA line per
    batch, at most every `PROGRESS_EVERY_S` seconds and at each epoch's last batch
    (`epoch 1/3: trained 64/192 images, 120 img/s, ETA 1.1 s`), and one line per epoch.
    `decoded` shares the images' decoding with the other runs of a study (bit-identical).
    """
    import timm  # noqa: F401  (fail early if missing)
    import torch
    from torch.utils.data import DataLoader

    start = time.perf_counter()
    spec = get_backbone(config.backbone)
    cfg = resolve(config, spec)
    recipe = recipe_of(spec, cfg)
    checked = validate_samples(samples)
    data = balance_reals(checked, cfg.seed) if cfg.balance_reals else checked
    n_real, n_fake = class_counts(data)
    out_dir = Path(out_dir)
    work_dir = Path(work_dir) if work_dir is not None else out_dir / STATE_DIR
    fp = fingerprint(cfg, data)
    device = torch.device(cfg.device)
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = getattr(torch, spec.amp_dtype)
    deterministic = device.type == "cpu"

    fork_devices = [device.index or 0] if device.type == "cuda" else []
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    with torch_threads(cfg.num_threads), torch.random.fork_rng(devices=fork_devices):
        torch.use_deterministic_algorithms(deterministic or was_deterministic)
        try:
            torch.manual_seed(cfg.seed)
            model = create_detector(spec.name, pretrained=cfg.pretrained,
                                    weights_file=cfg.pretrained_file)
            check_input_size(model, cfg.image_size)
            fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
            model.to(device=device, memory_format=fmt)
            dataset = ImageDataset(
                [p for p, _, _ in data],
                [lbl for _, lbl, _ in data],
                cfg.image_size,
                spec.mean,
                spec.std,
                train=True,
                resize_size=recipe["resize_size"],
                count_range=tuple(recipe["op_count_range"]),
                seed=cfg.seed,
                decoded=decoded,
            )
            steps_per_epoch = math.ceil(len(dataset) / cfg.batch_size)
            total_steps = cfg.epochs * steps_per_epoch
            warmup_steps = round(cfg.warmup_fraction * total_steps)
            optimizer = torch.optim.AdamW(
                param_groups(model, cfg.weight_decay, spec.decay_all_params), lr=cfg.lr
            )
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer,
                lambda s: lr_factor(s, total_steps, warmup_steps, spec.min_lr_factor),
            )
            pos_weight = torch.tensor([n_real / n_fake], device=device)
            criterion = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
            scaler = torch.amp.GradScaler(
                "cuda", enabled=use_amp and amp_dtype == torch.float16
            )
            history: list[dict[str, Any]] = []
            first_epoch, step = 0, 0
            state = latest_state(work_dir) if resume else None
            if state is not None:
                meta = load_state(state, model, optimizer, scheduler, scaler)
                if meta.get("fingerprint") != fp:
                    raise ValueError(
                        f"training state {state} was saved for other data or settings; "
                        "delete it or pass resume=False"
                    )
                first_epoch, step, history = meta["epoch"], meta["step"], meta["history"]
            elif not resume:
                clear_states(work_dir)
            meter = RateMeter((cfg.epochs - first_epoch) * len(dataset), verb="trained",
                              unit="images", short="img", log=on_progress,
                              every_s=PROGRESS_EVERY_S)
            for epoch in range(first_epoch, cfg.epochs):
                meter.prefix = f"epoch {epoch + 1}/{cfg.epochs}: "
                model.train()
                dataset.epoch = epoch
                order = epoch_order(len(dataset), cfg.seed, epoch)
                loader = DataLoader(
                    dataset,
                    batch_size=cfg.batch_size,
                    sampler=order,
                    num_workers=cfg.num_workers,
                    worker_init_fn=seed_worker,
                    generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch),
                    pin_memory=device.type == "cuda",
                )
                t0 = time.perf_counter()
                loss_sum, correct, seen = 0.0, 0, 0
                for batch_index, (x, y) in enumerate(loader):
                    x = x.to(device, non_blocking=True, memory_format=fmt)
                    y = y.to(device, non_blocking=True)
                    with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                        logits = model(x).squeeze(1)
                    loss = criterion(logits.float(), y)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"non-finite loss at epoch {epoch} step {step}")
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if spec.grad_clip:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                    scheduler.step()
                    step += 1
                    n = y.shape[0]
                    loss_sum += float(loss.detach()) * n
                    correct += int(((logits.detach() > 0).float() == y).sum())
                    seen += n
                    meter.update(n, force=batch_index == steps_per_epoch - 1)
                seconds = time.perf_counter() - t0
                meter.log(f"epoch {epoch + 1}/{cfg.epochs} done: loss {loss_sum / seen:.3f}, "
                          f"train accuracy {correct / seen:.3f}, "
                          f"{rate_text(seen / seconds) if seconds > 0 else '?'} img/s, "
                          f"{duration_text(seconds)}")
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
                save_state(
                    work_dir,
                    epoch + 1,
                    {
                        "model": model,
                        "optimizer": optimizer,
                        "scheduler": scheduler,
                        "scaler": scaler,
                        "fingerprint": fp,
                        "step": step,
                        "order": order,
                        "history": history,
                    },
                )
                if on_epoch_end is not None:
                    on_epoch_end(epoch + 1)
        finally:
            torch.use_deterministic_algorithms(was_deterministic)

    detector_config: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "backbone": spec.name,
        "recipe": recipe,
        "timm_name": spec.timm_name,
        "model_kwargs": dict(spec.model_kwargs),
        "image_size": cfg.image_size,
        "resize_size": recipe["resize_size"],
        "mean": list(spec.mean),
        "std": list(spec.std),
        "eval_transform": "resize shorter side (bilinear) then center crop",
        "label_convention": LABEL_CONVENTION,
        "train_config": asdict(cfg),
        "n_train_images": len(data),
        "n_real": n_real,
        "n_fake": n_fake,
        "n_real_offered": len(checked) - n_fake,
        "pos_weight": n_real / n_fake,
        "amp_dtype": spec.amp_dtype if use_amp else None,
        "resumed_from_epoch": first_epoch,
        "fingerprint": fp,
        "history": history,
        "versions": library_versions(),
        "train_seconds": round(time.perf_counter() - start, 3),
    }
    save_final(model, out_dir, detector_config)
    timm_dir = write_timm_folder(out_dir, run_id=Path(out_dir).name)
    clear_states(work_dir)
    return TrainResult(
        checkpoint_dir=out_dir,
        n_train_images=len(data),
        n_real=n_real,
        n_fake=n_fake,
        epochs=cfg.epochs,
        history=history,
        seconds=time.perf_counter() - start,
        config=detector_config,
        resumed_from_epoch=first_epoch,
        timm_dir=timm_dir,
    )
