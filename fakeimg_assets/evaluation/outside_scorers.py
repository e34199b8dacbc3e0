"""How each kind of outside detector (`outside_spec`) turns image paths into scores.

- a timm folder: loaded by timm (`detection.detect.load_scorer`), timm's own transform;
- a Hub repo: its `config.json` and `model.safetensors` fetched through the platform's
  verified client (`HubResource.download`: pinned sha, sizes and LFS sha256 checked; never
  timm's own download, which trusts the endpoint's headers), then as a timm folder;
- a command: run once per image set without a shell, the paths on stdin one per line; it
  must exit 0 within the timeout and print exactly one finite number per path, in order,
  else the evaluation stops with an error naming the line, and nothing is written.

A folder's `config.json` is checked against its weights before the real model is built
(`timm_folder.check_weights_fit`).
"""

from __future__ import annotations

import math
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fakeimg_assets.detection.checkpoint import MODEL_FILE
from fakeimg_assets.detection.timm_folder import TIMM_CONFIG
from fakeimg_assets.evaluation.fixed_detector import ScoreFn
from fakeimg_assets.evaluation.outside_spec import OutsideSpec
from resources import HubResource

HUB_FILES = (TIMM_CONFIG, MODEL_FILE)


def command_scores(argv: Sequence[str], paths: Sequence[str], timeout_s: float) -> np.ndarray:
    """Run `argv` with `paths` on stdin; its stdout lines as scores, checked."""
    if not paths:
        return np.zeros(0, dtype=np.float64)
    bad = [p for p in paths if "\n" in p or "\r" in p]
    if bad:
        raise ValueError(f"image path {bad[0]!r} holds a line break: cannot pass it on stdin")
    shown = shlex.join(argv)
    try:
        proc = subprocess.run(list(argv), input="".join(f"{p}\n" for p in paths),
                              capture_output=True, text=True, encoding="utf-8",
                              errors="replace", timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise ValueError(f"detector command {shown!r}: program {argv[0]!r} not found") from None
    except PermissionError:
        raise ValueError(f"detector command {shown!r}: {argv[0]!r} is not executable") from None
    except subprocess.TimeoutExpired:
        raise ValueError(f"detector command {shown!r} did not finish within {timeout_s:g} s "
                         f"for {len(paths)} images") from None
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:]) or "(no stderr)"
        raise ValueError(f"detector command {shown!r} exited with status {proc.returncode}: "
                         f"{tail}")
    lines = proc.stdout.splitlines()
    if len(lines) != len(paths):
        raise ValueError(f"detector command {shown!r} printed {len(lines)} line(s) for "
                         f"{len(paths)} image path(s): it must print one score per path, in "
                         "order")
    scores = np.empty(len(lines), dtype=np.float64)
    for i, line in enumerate(lines):
        try:
            value = float(line.strip())
        except ValueError:
            value = None
        if value is None or not math.isfinite(value):
            raise ValueError(f"detector command {shown!r}: output line {i + 1} is "
                             f"{line[:80]!r}, not a finite number (the score of {paths[i]})")
        scores[i] = value
    return scores


def hub_folder(hub: HubResource, repo_id: str) -> Path:
    """`config.json` + `model.safetensors` of a Hub timm repo's current revision, verified."""
    from fakeimg_assets.hub_client.answers import sha256s_from_siblings, sizes_from_siblings
    from fakeimg_assets.hub_client.verified import RepoFile

    info = hub.model_info(repo_id)
    siblings = getattr(info, "siblings", None) or []
    sizes = sizes_from_siblings(siblings)
    missing = [f for f in HUB_FILES if f not in sizes]
    if missing:
        raise ValueError(f"hf-hub:{repo_id} at {hub.resolved_endpoint()} has no "
                         f"{', '.join(missing)}: a timm detector repo needs {' and '.join(HUB_FILES)} "
                         "(only safetensors weights are loaded)")
    hashes = sha256s_from_siblings(siblings)
    return hub.download(repo_id, info.sha, [RepoFile(f, sizes[f], hashes.get(f)) for f in HUB_FILES])


def model_scores(scorer, paths: Sequence[str], batch_size: int) -> np.ndarray:  # noqa: ANN001
    """Scores of a loaded model; an image it cannot read stops the evaluation, named."""
    from fakeimg_assets.detection.detect import score_files

    rows = score_files(scorer, [Path(p) for p in paths], batch_size=batch_size)
    failed = [r for r in rows if r.error]
    if failed:
        raise ValueError(f"{len(failed)} image(s) could not be scored: {failed[0].path}: "
                         f"{failed[0].error}")
    return np.asarray([r.score for r in rows], dtype=np.float64)


def score_fn(spec: OutsideSpec, *, hub: HubResource, device: str = "cpu",
             batch_size: int = 32, timeout_s: float = 600.0) -> ScoreFn:
    """A function from image paths to scores for `spec` (models loaded once, here)."""
    from fakeimg_assets.detection.detect import load_scorer

    if spec.kind == "command":
        argv = tuple(spec.target)
        return lambda paths: command_scores(argv, list(paths), timeout_s)
    folder = hub_folder(hub, str(spec.target)) if spec.kind == "hub" else Path(str(spec.target))
    scorer = load_scorer(folder, device)  # a timm folder's config is checked first
    return lambda paths: model_scores(scorer, paths, batch_size)
