"""`fakeimg detect`: score image files and folders with a trained detector.

`detect(paths, detector)` returns one `Detection` per image (path, P(fake), label, error),
in input order, folders walked for image files (sorted by path, so runs are
deterministic). An unreadable file gets its own row with `error` set and never stops the
others. The detector is a timm folder (`detection/timm_folder.py`: loaded by timm itself,
scored with timm's own data config and transform), or a platform checkpoint folder;
by default the newest main run of `$FAKEIMG_HOME`'s warehouse.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakeimg_assets.detection.timm_folder import (
    check_weights_fit,
    is_checkpoint_folder,
    is_timm_folder,
)
from fakeimg_assets.lib.leftovers import writer_id

if TYPE_CHECKING:
    import torch

# what a folder walk scores (case-insensitive); a file named on the command line is tried
# whatever its suffix
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
THRESHOLD = 0.5  # label 'fake' if P(fake) >= THRESHOLD
FORMATS = ("csv", "json")
CSV_COLUMNS = ("path", "score", "label", "error")


@dataclass(frozen=True)
class Detection:
    """One image's result: `score` = P(fake), or `error` when the file could not be scored."""

    path: str
    score: float | None
    label: str | None  # 'fake' or 'real'; None on error
    error: str | None


@dataclass
class Scorer:
    """A loaded detector: PIL RGB image -> CHW tensor, and the model taking a batch of them."""

    model: Any  # torch.nn.Module
    transform: Callable[[Any], torch.Tensor]
    source: str  # what was loaded, for messages
    device: str = "cpu"


def check_device(device: str) -> str:
    """'cpu', 'cuda', 'cuda:N' or 'auto' (cuda when available); anything else is refused."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" or device == "cuda" or (
            device.startswith("cuda:") and device[5:].isdigit()):
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"device {device!r}: CUDA is not available on this machine; "
                                 "use --device cpu (or auto)")
        return device
    raise ValueError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N")


def load_scorer(folder: Path | str, device: str = "cpu") -> Scorer:
    """A timm folder (loaded by `timm.create_model('local-dir:...')`, transformed by timm's
    `resolve_data_config` + `create_transform`; its config checked against its weights
first) or a platform checkpoint folder."""
    import timm

    from fakeimg_assets.detection.augment import eval_transform
    from fakeimg_assets.detection.predict import load_detector, memory_format

    folder = Path(folder)
    device = check_device(device)
    if is_timm_folder(folder):
        check_weights_fit(folder)  # before building it for real: a hostile config allocates nothing
        model = timm.create_model(f"local-dir:{folder.resolve()}", pretrained=True)
        if getattr(model, "num_classes", None) != 1:
            raise ValueError(f"{folder}: the model has {model.num_classes} outputs; a detector "
                             "has one logit (sigmoid = P(fake))")
        cfg = timm.data.resolve_data_config(model=model)
        transform = timm.data.create_transform(**cfg)
        model.to(device=device, memory_format=memory_format(device)).eval()
        return Scorer(model, transform, f"timm folder {folder}", device)
    if is_checkpoint_folder(folder):
        model, config = load_detector(folder, device=device)
        transform = eval_transform(
            int(config["image_size"]), mean=config["mean"], std=config["std"],
            resize_size=config.get("resize_size", int(config["image_size"])))
        return Scorer(model, transform, f"checkpoint {folder}", device)
    raise ValueError(
        f"detector {folder} is neither a timm folder (config.json and model.safetensors) nor "
        "a platform checkpoint folder (detector_config.json)")


def default_detector(home: Path) -> Path:
    """The newest main run's timm folder (its checkpoint folder for runs trained before
    timm folders were written) in `home`'s warehouse."""
    from fakeimg_assets.warehouse.store import Warehouse

    if not (home / "parquet").is_dir():
        raise ValueError(f"no trained detector: {home} holds no fakeimg warehouse (set "
                         "FAKEIMG_HOME, run `fakeimg run`, or pass --detector DIR)")
    runs = Warehouse(home).query(
        "SELECT run_id, timm_dir, checkpoint_path FROM detector_runs WHERE purpose = 'main' "
        "ORDER BY created_at DESC LIMIT 1")
    if runs.height == 0:
        raise ValueError(f"no trained detector in {home}: run `fakeimg run` first, or pass "
                         "--detector DIR")
    run = runs.row(0, named=True)
    for key in ("timm_dir", "checkpoint_path"):
        if run[key] and Path(run[key]).is_dir():
            return Path(run[key])
    raise ValueError(f"the newest detector run {run['run_id']} has no folder on disk "
                     f"({run['timm_dir'] or run['checkpoint_path']}): pass --detector DIR")


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given, folders walked (image suffixes only, sorted, hidden names skipped).
    Every missing path is named before any work."""
    if not paths:
        raise ValueError("no PATH given: name image files or folders to score")
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise ValueError(f"no such file or folder: {', '.join(missing)}")
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            out.append(p)
            continue
        found = []
        for root, dirs, files in os.walk(p):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found += [Path(root) / f for f in files
                      if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES)]
        out += sorted(found, key=lambda f: f.as_posix())
    return out


def _read(path: Path, transform: Callable) -> tuple[Any, str | None]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
        return transform(rgb), None
    except Exception as exc:  # noqa: BLE001 - any decoder error is this file's own row
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"unreadable image: {type(exc).__name__}: {detail}"


def score_files(scorer: Scorer, paths: Sequence[Path], *, batch_size: int = 32,
                progress: bool = False) -> list[Detection]:
    """One `Detection` per path, in order; files that fail to decode get an error row."""
    import torch
    from tqdm import tqdm

    from fakeimg_assets.detection.predict import memory_format

    if batch_size <= 0:
        raise ValueError(f"batch size must be > 0, got {batch_size}")
    out: list[Detection] = []
    bar = tqdm(total=len(paths), unit="img", file=sys.stderr, disable=not progress,
               desc="detect")
    with torch.inference_mode():
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            read = [_read(p, scorer.transform) for p in chunk]
            good = [x for x, err in read if err is None]
            scores: list[float] = []
            if good:
                batch = torch.stack(good).to(scorer.device,
                                             memory_format=memory_format(scorer.device))
                logits = scorer.model(batch).float().reshape(len(good), -1)[:, 0]
                scores = torch.sigmoid(logits).cpu().tolist()
            it = iter(scores)
            for p, (_, err) in zip(chunk, read, strict=True):
                if err is not None:
                    out.append(Detection(str(p), None, None, err))
                else:
                    s = float(next(it))
                    out.append(Detection(str(p), s, "fake" if s >= THRESHOLD else "real", None))
            bar.update(len(chunk))
    bar.close()
    return out


def detect(paths: Sequence[str | Path], detector: str | Path | None = None, *,
           batch_size: int = 32, device: str = "cpu", home: Path | None = None,
           progress: bool = False) -> list[Detection]:
    """Score files and folders; `detector` a timm folder or a checkpoint folder (default:
    the newest main run in `home`, i.e. `$FAKEIMG_HOME`)."""
    from fakeimg_assets.lib.paths import fakeimg_home

    if batch_size <= 0:
        raise ValueError(f"batch size must be > 0, got {batch_size}")
    files = expand_paths(paths)
    if detector is not None and not Path(detector).is_dir():
        raise ValueError(f"detector {detector}: no such folder")
    folder = Path(detector) if detector is not None else default_detector(home or fakeimg_home())
    scorer = load_scorer(folder, device)
    return score_files(scorer, files, batch_size=batch_size, progress=progress)


def render(rows: Iterable[Detection], fmt: str) -> str:
    """CSV (`path,score,label,error`, scores to 6 decimals) or a JSON list of objects."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    rows = list(rows)
    if fmt == "json":
        return json.dumps([asdict(r) | {"score": None if r.score is None else round(r.score, 6)}
                           for r in rows], indent=2) + "\n"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([r.path, "" if r.score is None else f"{r.score:.6f}", r.label or "",
                         r.error or ""])
    return buf.getvalue()


def write_output(text: str, output: Path | None) -> None:
    """stdout, or `output` written whole (temp name, then rename)."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    tmp = output.with_name(f".{output.name}.{writer_id()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)


def detect_command(args: Any) -> int:
    """The CLI: arguments checked first; exit 1 when any file could not be scored."""
    if args.batch_size <= 0:
        raise ValueError(f"--batch-size must be > 0, got {args.batch_size}")
    output = Path(args.output) if args.output else None
    if output is not None and (output.is_dir() or not output.parent.is_dir()):
        raise ValueError(f"--output {output}: not a file in an existing folder")
    check_device(args.device)
    rows = detect(args.paths, args.detector, batch_size=args.batch_size, device=args.device,
                  progress=not args.quiet)
    write_output(render(rows, args.format), output)
    failed = [r for r in rows if r.error]
    if failed:
        print(f"fakeimg detect: {len(failed)} of {len(rows)} file(s) could not be scored",
              file=sys.stderr)
    return 1 if failed else 0
