"""Checkpoints without pickles: the final detector and the per-epoch training state.

Final: `model.safetensors` (one metadata key, so same-seed runs are byte-identical) and
`detector_config.json`, renamed last as the commit marker. Training state, written after
every epoch into `<work_dir>/epoch-NNNN/` (built under a temp name, then one atomic rename):
`state.safetensors` (weights, optimizer tensors, torch RNG) and `state.json` (optimizer
groups, scheduler, grad scaler, python/numpy RNG, epoch, data order, history, fingerprint).
A run killed at any instant leaves either the previous epoch or the new one, never half.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fakeimg_assets.lib.leftovers import writer_id

if TYPE_CHECKING:
    import torch

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "detector_config.json"
STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"
STATE_PREFIX = "epoch-"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_final(model: torch.nn.Module, out_dir: Path, config: dict[str, Any]) -> None:
    """Write weights then config via temp names; the config is renamed last as commit marker.

    A stale config is removed first, so a run killed midway leaves either no config (not
    loadable) or a config whose sha256 matches the weights beside it.
    """
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{writer_id()}.tmp"
    model_tmp = out_dir / f".{MODEL_FILE}.{tag}"
    config_tmp = out_dir / f".{CONFIG_FILE}.{tag}"
    try:
        # one metadata key only: safetensors writes its metadata map in hash order, so two
        # keys made same-seed checkpoints differ byte-wise (and by sha256) between processes
        save_file(_cpu_state(model), str(model_tmp), metadata={"format": "pt"})
        config["model_file"] = MODEL_FILE
        config["model_sha256"] = sha256_file(model_tmp)
        config_tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        (out_dir / CONFIG_FILE).unlink(missing_ok=True)
        for tmp, final in ((model_tmp, MODEL_FILE), (config_tmp, CONFIG_FILE)):
            _fsync(tmp)
            os.replace(tmp, out_dir / final)
    finally:
        model_tmp.unlink(missing_ok=True)
        config_tmp.unlink(missing_ok=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def rng_states() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(JSON part, tensor part) of the python, numpy and torch global RNG states."""
    import torch

    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    return {
        "python": _jsonable(random.getstate()),
        "numpy": _jsonable(np.random.get_state(legacy=False)),
    }, tensors


def restore_rng(states: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    import torch

    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = dict(states["numpy"])
    np_state["state"] = {
        "key": np.asarray(np_state["state"]["key"], dtype=np.uint32),
        "pos": np_state["state"]["pos"],
    }
    np.random.set_state(np_state)
    torch.set_rng_state(tensors["rng.torch"])
    cuda = sorted(k for k in tensors if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])


def save_state(work_dir: Path, epoch: int, parts: dict[str, Any]) -> Path:
    """Write the state after `epoch` (1-based count of finished epochs); drop older ones.

    `parts`: model, optimizer, scheduler, scaler, plus JSON-able extras (history, order...).
    """
    from safetensors.torch import save_file

    model, optimizer = parts.pop("model"), parts.pop("optimizer")
    scheduler, scaler = parts.pop("scheduler"), parts.pop("scaler")
    tensors = {f"model.{k}": v for k, v in _cpu_state(model).items()}
    opt = optimizer.state_dict()
    opt_scalars: dict[str, dict[str, Any]] = {}
    for idx, st in opt["state"].items():
        for name, value in st.items():
            if hasattr(value, "detach"):
                tensors[f"optim.{idx}.{name}"] = value.detach().to("cpu").contiguous().clone()
            else:
                opt_scalars.setdefault(str(idx), {})[name] = value
    rng_json, rng_tensors = rng_states()
    tensors.update(rng_tensors)
    meta = {
        "epoch": epoch,
        "optimizer_groups": _jsonable(opt["param_groups"]),
        "optimizer_scalars": _jsonable(opt_scalars),
        "scheduler": _jsonable(scheduler.state_dict()),
        "scaler": _jsonable(scaler.state_dict()),
        "rng": rng_json,
        **_jsonable(parts),
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    final = work_dir / f"{STATE_PREFIX}{epoch:04d}"
    tmp = work_dir / f".{final.name}.{writer_id()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(tensors, str(tmp / STATE_TENSORS), metadata={"format": "pt"})
    (tmp / STATE_JSON).write_text(json.dumps(meta, sort_keys=True))
    for name in (STATE_TENSORS, STATE_JSON):
        _fsync(tmp / name)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in work_dir.glob(f"{STATE_PREFIX}*"):
        if old.name < final.name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_state(work_dir: Path) -> Path | None:
    """The newest complete epoch state in `work_dir` (temp leftovers are ignored)."""
    if not work_dir.is_dir():
        return None
    done = sorted(p for p in work_dir.glob(f"{STATE_PREFIX}*") if (p / STATE_JSON).is_file())
    return done[-1] if done else None


def load_state(state_dir: Path, model, optimizer, scheduler, scaler) -> dict[str, Any]:
    """Restore everything saved by `save_state` in place; returns the JSON metadata."""
    from safetensors.torch import load_file

    meta = json.loads((state_dir / STATE_JSON).read_text())
    tensors = load_file(str(state_dir / STATE_TENSORS), device="cpu")
    model.load_state_dict(
        {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")},
        strict=True,
    )
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = value
    for idx, extra in meta["optimizer_scalars"].items():
        opt_state.setdefault(int(idx), {}).update(extra)
    optimizer.load_state_dict({"state": opt_state, "param_groups": meta["optimizer_groups"]})
    scheduler.load_state_dict(meta["scheduler"])
    if meta["scaler"]:
        scaler.load_state_dict(meta["scaler"])
    restore_rng(meta["rng"], tensors)
    return meta


def clear_states(work_dir: Path) -> None:
    """Remove saved epoch states (and temp leftovers), then the folder if that empties it."""
    if not work_dir.is_dir():
        return
    for p in work_dir.iterdir():
        if p.name.startswith((STATE_PREFIX, f".{STATE_PREFIX}")) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
    try:
        work_dir.rmdir()
    except OSError:
        pass  # something else lives there: leave it
