"""One step per device: names checked, GPUs counted without torch, leases exclusive across
processes and freed when a holder dies. CUDA is absent here, so the binding logic runs on
fake device names (`cuda:K` strings and lock files); nothing here touches a GPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import dagster as dg
import pytest

from fakeimg_assets.sampling.device_slots import (
    DeviceBusyError,
    check_device_setting,
    driver_device_count,
    lease_device,
    slot_devices,
)
from resources import ComputeResource

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("bad", ["", " ", "gpu", "CUDA", "cuda:", "cuda:-1", "cuda:1e3",
                                 "cuda:64", "cuda:0;rm -rf /", "cuda:0 cuda:1", "cpu:0",
                                 "cuda:0,cpu", "cuda:0,cuda:0", "cuda,cuda:1", "mps", 3, None])
def test_a_bad_device_setting_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(ValueError) as err:
        check_device_setting(bad)
    parts = [bad, *(p.strip() for p in bad.split(","))] if isinstance(bad, str) else [bad]
    assert any(repr(p) in str(err.value) for p in parts), err.value


def test_auto_offers_every_gpu_and_the_cpu_without_one() -> None:
    assert slot_devices("auto", 0) == ["cpu"]
    assert slot_devices("auto", 4) == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert slot_devices("cuda", 2) == ["cuda:0", "cuda:1"]
    assert slot_devices("cuda:1", 2) == ["cuda:1"]
    assert slot_devices("cuda:2, cuda:0", 4) == ["cuda:2", "cuda:0"]
    assert slot_devices("cpu", 4) == ["cpu"]


@pytest.mark.parametrize(("device", "count", "named"), [
    ("cuda", 0, "CUDA is not available"), ("cuda:0", 0, "CUDA is not available"),
    ("cuda:4", 4, "cuda:4"), ("cuda:0,cuda:7", 2, "cuda:7"),
])
def test_a_device_the_machine_lacks_is_refused(device: str, count: int, named: str) -> None:
    with pytest.raises(RuntimeError, match=named):
        slot_devices(device, count)


@pytest.mark.parametrize("count", [-1, True, 1.0, "2"])
def test_a_bad_device_count_is_refused(count: object) -> None:
    with pytest.raises(ValueError, match="cuda_count"):
        slot_devices("auto", count)  # type: ignore[arg-type]


def test_the_driver_count_follows_cuda_visible_devices(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"
    for bus in ("0000:01:00.0", "0000:02:00.0", "0000:03:00.0"):
        (gpus / bus).mkdir(parents=True)
    assert driver_device_count(gpus, {}) == 3
    assert driver_device_count(gpus, {"CUDA_VISIBLE_DEVICES": "1"}) == 1
    assert driver_device_count(gpus, {"CUDA_VISIBLE_DEVICES": "0,2"}) == 2
    assert driver_device_count(gpus, {"CUDA_VISIBLE_DEVICES": "0,-1,2"}) == 1
    assert driver_device_count(gpus, {"CUDA_VISIBLE_DEVICES": ""}) == 0
    assert driver_device_count(gpus, {"CUDA_VISIBLE_DEVICES": "-1"}) == 0
    assert driver_device_count(gpus, {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5"}) == 3
    assert driver_device_count(tmp_path / "no-driver", {}) == 0


class _Holder:
    """A lease held by another thread (a step of another run) until `release`."""

    def __init__(self, devices: list[str], folder: Path, holder: str) -> None:
        import threading

        self.device: str | None = None
        self._got, self._go = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(devices, folder, holder))
        self._thread.start()
        assert self._got.wait(30)

    def _hold(self, devices: list[str], folder: Path, holder: str) -> None:
        with lease_device(devices, lock_folder=folder, holder=holder) as lease:
            self.device = lease.device
            self._got.set()
            self._go.wait(30)

    def release(self) -> None:
        self._go.set()
        self._thread.join(30)


def test_leases_are_exclusive_and_a_busy_machine_is_named(tmp_path: Path) -> None:
    devices = ["cuda:0", "cuda:1"]
    a, b = _Holder(devices, tmp_path, "run A"), _Holder(devices, tmp_path, "run B")
    try:
        assert {a.device, b.device} == {"cuda:0", "cuda:1"}
        with pytest.raises(DeviceBusyError) as err, \
                lease_device(devices, lock_folder=tmp_path, timeout_seconds=0.3):
            pass
        assert "cuda:0: run A" in str(err.value) and "cuda:1: run B" in str(err.value)
    finally:
        a.release()
        b.release()
    with lease_device(devices, lock_folder=tmp_path, timeout_seconds=0) as again:
        assert again.device == "cuda:0"  # released at the end of the block


def test_a_failing_step_releases_its_device(tmp_path: Path) -> None:
    with pytest.raises(KeyError), lease_device(["cuda:0"], lock_folder=tmp_path):
        raise KeyError("the step failed")
    with lease_device(["cuda:0"], lock_folder=tmp_path, timeout_seconds=0) as lease:
        assert lease.device == "cuda:0"


def test_the_cpu_is_shared_not_leased(tmp_path: Path) -> None:
    with lease_device(["cpu"], lock_folder=tmp_path) as a, \
            lease_device(["cpu"], lock_folder=tmp_path, timeout_seconds=0) as b:
        assert a.device == b.device == "cpu"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="shared"), \
            lease_device(["cuda:0", "cpu"], lock_folder=tmp_path):
        pass


HOLDER = """
import json, os, sys, time
from pathlib import Path
from fakeimg_assets.sampling.device_slots import lease_device
locks, marks, out, n_devices = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
devices = [f"cuda:{k}" for k in range(n_devices)]
with lease_device(devices, lock_folder=locks, holder=out.stem, poll_seconds=0.02) as lease:
    t0 = time.time()
    mark = marks / f"{out.stem}.{lease.device}"
    mark.touch()
    deadline = time.time() + 20  # hold until every device is held at once (or 20 s)
    while len(list(marks.iterdir())) < n_devices and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    mark.unlink()
    out.write_text(json.dumps({"device": lease.device, "start": t0, "end": time.time()}))
"""


def test_n_processes_hold_n_devices_at_once_and_never_share_one(tmp_path: Path) -> None:
    """Six steps, three fake GPUs: three run at once on three distinct devices, the others
    wait for a free one, and no device ever has two holders."""
    locks, marks, outs = tmp_path / "locks", tmp_path / "marks", tmp_path / "out"
    for d in (locks, marks, outs):
        d.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", HOLDER, str(locks), str(marks),
                               str(outs / f"step{i}.json"), "3"], env=env, cwd=ROOT)
             for i in range(6)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    rows = [json.loads(f.read_text()) for f in sorted(outs.iterdir())]
    assert len(rows) == 6 and {r["device"] for r in rows} == {"cuda:0", "cuda:1", "cuda:2"}
    for device in ("cuda:0", "cuda:1", "cuda:2"):
        spans = sorted((r["start"], r["end"]) for r in rows if r["device"] == device)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in pairwise(spans))
    starts = sorted(r["start"] for r in rows)
    ends = sorted(r["end"] for r in rows)
    at_once = max(sum(1 for r in rows if r["start"] <= t < r["end"]) for t in starts)
    assert at_once == 3, (starts, ends)


def test_a_killed_holder_frees_its_device(tmp_path: Path) -> None:
    locks, marks, outs = tmp_path / "locks", tmp_path / "marks", tmp_path / "out"
    for d in (locks, marks, outs):
        d.mkdir()
    (marks / "never-done").touch()  # two marks needed for one device: it holds until killed
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER.replace("< n_devices", "< 99"),
                             str(locks), str(marks), str(outs / "victim.json"), "1"],
                            env=env, cwd=ROOT)
    try:
        deadline = time.time() + 60
        while not (marks / "victim.cuda:0").exists():
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        with pytest.raises(DeviceBusyError, match="victim"), \
                lease_device(["cuda:0"], lock_folder=locks, timeout_seconds=0.2):
            pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        with lease_device(["cuda:0"], lock_folder=locks, timeout_seconds=10) as lease:
            assert lease.device == "cuda:0"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_compute_resource_binds_each_step_to_its_own_device(tmp_path: Path) -> None:
    compute = ComputeResource(device="auto", device_wait_seconds=0.2)
    other = _Holder(compute.slots(cuda_count=2), tmp_path, "training")  # another step
    try:
        assert other.device == "cuda:0"
        with compute.bound_device("sampling", cuda_count=2, lock_folder=tmp_path) as mine:
            assert mine == "cuda:1"
        third = _Holder(["cuda:1"], tmp_path, "sampling elsewhere")
        try:  # both GPUs held by other steps: this one waits 0.2 s, then names them
            with pytest.raises(DeviceBusyError, match="training.*sampling elsewhere"), \
                    compute.bound_device(cuda_count=2, lock_folder=tmp_path):
                pass
        finally:
            third.release()
    finally:
        other.release()
    with ComputeResource(device="auto").bound_device(cuda_count=0) as device:
        assert device == "cpu"  # no GPU: the shared CPU, as before


@pytest.mark.parametrize("bad", ["cuda:x", "cuda:0,cuda:0", "gpu0"])
def test_a_mistyped_device_fails_the_run_at_start(bad: str) -> None:
    with pytest.raises(dg.DagsterResourceFunctionError) as err:
        with dg.build_resources({"compute": ComputeResource(device=bad)}):
            pass
    assert isinstance(err.value.user_exception, ValueError)
    assert "device" in str(err.value.user_exception)


@pytest.mark.parametrize(("recorded", "count", "where"), [
    ("cpu", 4, "cpu"), ("cuda", 0, "cpu"), ("cuda:3", 0, "cpu"), ("cuda:3", 4, "cuda:3"),
    ("cuda:3", 2, "cuda"), ("cuda", 2, "cuda"),
])
def test_regenerate_samples_where_the_image_was_made_or_the_closest(
        recorded: str, count: int, where: str) -> None:
    from fakeimg_assets.sampling.regenerate import recorded_device

    assert recorded_device({"image_id": "i", "device": recorded}, count) == where


@pytest.mark.parametrize("hostile", [None, "", "cuda:-1", "cuda:0;x", "../cuda", 7, "cuda:99"])
def test_regenerate_refuses_a_hostile_recorded_device(hostile: object) -> None:
    from fakeimg_assets.sampling.regenerate import recorded_device

    with pytest.raises(ValueError, match="'img-1' records device"):
        recorded_device({"image_id": "img-1", "device": hostile}, 2)


def test_a_step_inside_its_lease_gets_the_same_device_again(tmp_path: Path) -> None:
    """A study holds one GPU for all its training runs and scores: nested leases hand out
    the held device instead of taking a second one; another thread leases on its own."""
    import threading

    from fakeimg_assets.sampling.device_slots import held_device

    devices = ["cuda:0", "cuda:1", "cuda:2"]
    assert held_device() is None
    with lease_device(devices, lock_folder=tmp_path) as outer:
        with lease_device(devices, lock_folder=tmp_path, timeout_seconds=0) as inner:
            assert inner.device == outer.device == held_device() == "cuda:0"
        assert held_device() == "cuda:0"  # the inner block did not release the outer lease
        seen: list[str] = []
        worker = threading.Thread(target=lambda: seen.append(_lease_once(devices, tmp_path)))
        worker.start()
        worker.join(30)
        assert seen == ["cuda:1"]  # another thread holds nothing: it takes a free device
        with lease_device(["cuda:0"], lock_folder=tmp_path) as same:
            assert same.device == "cuda:0"  # held here, so not waited for
    assert held_device() is None


def _lease_once(devices: list[str], folder: Path) -> str:
    with lease_device(devices, lock_folder=folder, timeout_seconds=5) as lease:
        return lease.device


def test_the_compute_resource_resolves_the_device_its_step_holds(tmp_path: Path) -> None:
    compute = ComputeResource(device="auto")
    assert compute.resolve_device() == "cpu"  # no GPU, no lease: as configured
    with compute.bound_device(cuda_count=2, lock_folder=tmp_path) as device:
        assert device == "cuda:0"
        with pytest.raises(RuntimeError, match="'cuda:0' requested but CUDA is not"):
            compute.resolve_device()  # the held fake GPU, not `auto`'s CPU
    assert compute.resolve_device() == "cpu"
