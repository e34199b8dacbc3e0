"""One step per device: which device a sampling or training step runs on.

A machine with N GPUs offers N slots (`cuda:0` ... `cuda:N-1` for `device="auto"` or
`"cuda"`, or the list a user names: `"cuda:0,cuda:2"`). Dagster's `gpu` pool lets N steps
run at once (`instance_config.py`), and each of them leases a free device here: a lock
file per device (`<lock folder>/cuda-K.lock`, `flock`), held for the step and released by
the kernel when its process dies, so a killed run never keeps a GPU. The lease also names
the warm sampling worker (one per device, `worker_files.worker_address`), so N GPUs sample
N partitions at once, and a detector trains on one device while the others sample.

The CPU is one shared device: it is not leased (runs share its cores by thread count).
Names are checked before anything is locked; nothing here imports torch.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.lib.flock import open_locked, unlock

_HELD: ContextVar[str | None] = ContextVar("fakeimg_held_device", default=None)
MAX_DEVICES = 64  # more CUDA devices than any machine offers: a typo, not a machine
_DEVICE = re.compile(r"(cpu|cuda)(?::([0-9]{1,2}))?")


class DeviceBusyError(RuntimeError):
    """Every device a step may run on stayed leased for the whole wait."""


def check_device_name(name: object) -> str:
    """`cpu`, `cuda` or `cuda:K` (K from 0 to 63); anything else is refused by name."""
    if not isinstance(name, str):
        raise ValueError(f"device must be a string such as 'cuda:0', got {name!r}")
    m = _DEVICE.fullmatch(name)
    if m is None or (m.group(1) == "cpu" and m.group(2) is not None):
        raise ValueError(
            f"unknown compute device {name!r}: use 'auto', 'cpu', 'cuda', 'cuda:K' or a comma "
            "list of 'cuda:K'")
    if m.group(2) is not None and int(m.group(2)) >= MAX_DEVICES:
        raise ValueError(f"device index in {name!r} is {m.group(2)}, above {MAX_DEVICES - 1}")
    return name


def check_device_setting(device: object) -> list[str]:
    """The names in a `device` setting (`auto`, one name or a comma list of `cuda:K`),
    checked without looking at the machine; refused by name."""
    if not isinstance(device, str) or not device.strip():
        raise ValueError(f"compute device must be a non-empty string, got {device!r}")
    if device == "auto":
        return [device]
    names = [check_device_name(part.strip()) for part in device.split(",")]
    if len(names) > 1 and any(not n.startswith("cuda:") for n in names):
        raise ValueError(f"a device list names CUDA devices as 'cuda:K' only, got {device!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"device list {device!r} names a device twice")
    return names


def slot_devices(device: str, cuda_count: int) -> list[str]:
    """The devices a step configured with `device` may be bound to, on a machine with
    `cuda_count` CUDA devices: every GPU for `auto` (the CPU when there is none) and `cuda`,
    the named ones for `cuda:K` or a comma list, `["cpu"]` for `cpu`."""
    if isinstance(cuda_count, bool) or not isinstance(cuda_count, int) or cuda_count < 0:
        raise ValueError(f"cuda_count must be an int >= 0, got {cuda_count!r}")
    names = check_device_setting(device)
    if names == ["auto"]:
        return [f"cuda:{k}" for k in range(cuda_count)] or ["cpu"]
    if names == ["cpu"]:
        return names
    if cuda_count == 0:
        raise RuntimeError(f"compute device {device!r} requested but CUDA is not available")
    if names == ["cuda"]:
        return [f"cuda:{k}" for k in range(cuda_count)]
    missing = [n for n in names if int(n.split(":")[1]) >= cuda_count]
    if missing:
        raise RuntimeError(f"compute device(s) {', '.join(missing)} requested but this "
                           f"machine has {cuda_count} CUDA device(s) (cuda:0..cuda:{cuda_count - 1})")
    return names


def cuda_device_count() -> int:
    """CUDA devices this process may use, without importing torch when it is not loaded yet
    (a run that samples in the warm worker never pays torch's import): torch's count when
    torch is imported, else the driver's (`driver_device_count`)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "cuda"):
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    return driver_device_count()


def driver_device_count(proc_root: Path = Path("/proc/driver/nvidia/gpus"),
                        environ: Mapping[str, str] | None = None) -> int:
    """The NVIDIA driver's GPUs (one folder each under `proc_root`), cut to
    `CUDA_VISIBLE_DEVICES` when it is set: CUDA stops at its first empty or negative entry
    (so empty or `-1` means none). 0 without the driver."""
    env = os.environ if environ is None else environ
    try:
        found = sum(1 for p in Path(proc_root).iterdir() if p.is_dir())
    except OSError:
        return 0
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return found
    count = 0
    for entry in visible.split(","):
        if not entry.strip() or entry.strip().startswith("-"):
            break
        count += 1
    return min(count, found)


def default_lock_folder() -> Path:
    """This user's private folder of device locks (beside the warm workers' sockets)."""
    from fakeimg_assets.sampling.worker_files import worker_folder

    folder = worker_folder() / "devices"
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        if folder.is_symlink() or not folder.is_dir():
            raise RuntimeError(f"{folder} is not a folder of fakeimg's (a link or a file)") from None
    return folder


def lock_path(folder: Path, device: str) -> Path:
    return Path(folder) / f"{check_device_name(device).replace(':', '-')}.lock"


@dataclass(frozen=True)
class Lease:
    """A device held by this process until the `lease_device` block ends."""

    device: str
    waited_seconds: float


def _try_lock(path: Path, holder: str) -> int | None:
    fd = open_locked(path, wait=False, mode=0o600)
    if fd is None:
        return None
    os.ftruncate(fd, 0)  # who holds it, for the busy message of the others
    os.write(fd, f"{holder} (pid {os.getpid()})\n".encode()[:300])
    return fd


def _holder(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read(300).decode("utf-8", "replace").strip()
    except OSError:
        return "?"
    return text or "?"


def held_device() -> str | None:
    """The device this step holds (inside `lease_device`), or None."""
    return _HELD.get()


@contextmanager
def lease_device(devices: list[str], *, lock_folder: Path | None = None,
                 timeout_seconds: float | None = None, poll_seconds: float = 0.2,
                 holder: str = "") -> Iterator[Lease]:
    """Hold one free device of `devices` for the block: the first free one in order, else
    wait (polling) until one frees or `timeout_seconds` passes (`DeviceBusyError`, naming
    every device and its holder). `["cpu"]` is never leased. Re-entrant: inside a lease of
    one of `devices`, the same device is handed out again (a study holds one GPU for its
    every training run and prediction)."""
    if not devices:
        raise ValueError("no devices to lease")
    for d in devices:
        check_device_name(d)
    if devices == ["cpu"]:
        yield Lease("cpu", 0.0)
        return
    held = _HELD.get()
    if held in devices:
        yield Lease(held, 0.0)
        return
    if "cpu" in devices:
        raise ValueError(f"the CPU is shared, not leased: {devices!r}")
    if timeout_seconds is not None and not timeout_seconds >= 0:
        raise ValueError(f"timeout_seconds must be >= 0, got {timeout_seconds!r}")
    folder = Path(lock_folder) if lock_folder is not None else default_lock_folder()
    folder.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    while True:
        for device in devices:
            fd = _try_lock(lock_path(folder, device), holder or "a fakeimg step")
            if fd is None:
                continue
            token = _HELD.set(device)
            try:
                yield Lease(device, time.monotonic() - start)
            finally:
                _HELD.reset(token)
                unlock(fd)
            return
        waited = time.monotonic() - start
        if timeout_seconds is not None and waited >= timeout_seconds:
            held = "; ".join(f"{d}: {_holder(lock_path(folder, d))}" for d in devices)
            raise DeviceBusyError(
                f"no free device among {', '.join(devices)} after {waited:.1f} s ({held}); "
                "the `gpu` pool's limit should not exceed the devices (instance_config.py)")
        time.sleep(poll_seconds)
