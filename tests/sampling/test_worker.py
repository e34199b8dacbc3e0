"""The warm sampling worker: same bytes as in-run sampling, reused across runs, and a worker
that dies or hangs fails only the partition it was sampling."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from fakeimg_assets.lib.errors import ResourceLimitError
from fakeimg_assets.models.assets import model_metadata, sampled_images
from fakeimg_assets.real.assets import prompts, real_photos
from fakeimg_assets.sampling import worker
from fakeimg_assets.sampling import worker_client as client
from fakeimg_assets.sampling import worker_files as files
from fakeimg_assets.sampling import worker_protocol as wire
from fakeimg_assets.sampling.execute import SampleOutcome, SampleRequest, execute
from fakeimg_assets.sampling.fetch import prepare
from fakeimg_assets.sampling.remote_plan import fetch_plan
from fakeimg_assets.sampling.sample import image_requests
from fakeimg_assets.sampling.types import SamplingParams
from fakeimg_assets.warehouse.store import Warehouse
from resources import ComputeResource
from tests.helpers.repo import ROOT
from tests.helpers.zoo import pick

SMALL_REAL = {"ops": {"real_photos": {"config": {"min_side": 64}}}}
SAMPLING = {"ops": {"sampled_images": {"config": {"images_per_model": 3, "steps": 2}}}}


def _request(resources: dict, model_id: str, n: int = 2, max_seconds: float = 600.0) -> SampleRequest:
    hub = resources["hub"]
    remote = fetch_plan(hub, model_id)
    prepared = prepare(model_id, remote.revision, remote.plan, hub.download)
    requests = image_requests(model_id, n, [("p0", "a red cube"), ("p1", "a cat")])
    params = SamplingParams(n_images=n, steps=2, batch_size=2)
    return SampleRequest.of(prepared, requests, params, device="cpu", threads=1,
                            max_seconds=max_seconds)


def _stop(home: Path) -> None:
    client.stop_worker(home, "cpu", "auto")


def _sample_in_thread(request: SampleRequest, home: Path) -> tuple[threading.Thread, list]:
    """Sample in a thread (the test then acts on the worker mid-request); errors collected."""
    errors: list[BaseException] = []

    def sample() -> None:
        try:
            client.sample_in_worker(request, home, idle_seconds=60)
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            errors.append(exc)

    thread = threading.Thread(target=sample)
    thread.start()
    return thread, errors


def _wait_until_taken(address: files.WorkerAddress, model_id: str) -> int:
    """The worker's pid once it has logged taking `model_id`'s request."""
    give_up = time.monotonic() + 120
    while not address.log.exists() or f"{model_id} started" not in address.log.read_text():
        assert time.monotonic() < give_up, "the worker never took the request"
        time.sleep(0.05)
    return files.worker_pid(address)


@pytest.fixture
def sd1(zoo_catalog) -> str:
    return pick(zoo_catalog, expect="ok", architecture="sd1").model_id


@pytest.mark.slow
def test_worker_draws_the_same_bytes_and_stays_warm(resources: dict, home: Path, sd1: str) -> None:
    request = _request(resources, sd1)
    here = execute(request)
    try:
        first = client.sample_in_worker(request, home, idle_seconds=60)
        second = client.sample_in_worker(request, home, idle_seconds=60)
        # Dagster starts runs with another name of the venv's python (python3.11): the same
        # worker all the same, so a benchmark or user stopping it from here finds it
        other = next(p for p in sorted(Path(sys.executable).parent.glob("python3*"))
                     if p.name != Path(sys.executable).name)
        stopped = subprocess.run(
            [str(other), "-c", "import sys; from pathlib import Path; from fakeimg_assets."
             "sampling.worker_client import stop_worker; print(stop_worker(Path(sys.argv[1]), 'cpu'))",
             str(home)], capture_output=True, text=True, check=True, cwd=ROOT)
        assert stopped.stdout.strip() == "True"
    finally:
        _stop(home)
    assert [i.png for i in first.run.images] == [i.png for i in here.run.images]
    assert [i.png for i in second.run.images] == [i.png for i in here.run.images]
    assert here.worker == {"mode": "in_run"}
    assert first.worker["mode"] == "warm_worker"
    assert first.worker["pid"] == second.worker["pid"] != os.getpid()  # one warm process
    assert (first.worker["request"], second.worker["request"]) == (1, 2)


@pytest.mark.slow
def test_a_failing_repo_keeps_its_error_type_and_stage_and_the_worker_lives(
    resources: dict, home: Path, sd1: str
) -> None:
    good = _request(resources, sd1)
    broken = SampleRequest.of(good.prepared(), good.requests, good.params, device="cpu",
                              threads=1, max_seconds=0.0)  # over budget before the 1st batch
    stages: list[str] = []
    try:
        with pytest.raises(ResourceLimitError, match="partition time limit exceeded"):
            client.sample_in_worker(broken, home, on_stage=stages.append, idle_seconds=60)
        assert stages[-1] == "sample"
        again = client.sample_in_worker(good, home, idle_seconds=60)
    finally:
        _stop(home)
    assert again.worker["request"] == 2  # the same worker answered the next run


@pytest.mark.slow
def test_a_worker_killed_mid_request_fails_that_partition_and_a_fresh_one_follows(
    resources: dict, home: Path, sd1: str
) -> None:
    big = _request(resources, sd1, n=64)
    address = files.worker_address(home, "cpu", "auto")
    thread, errors = _sample_in_thread(big, home)
    try:
        dead = _wait_until_taken(address, big.model_id)
        os.kill(dead, signal.SIGKILL)
        thread.join(60)
        assert len(errors) == 1 and isinstance(errors[0], files.WorkerError)
        assert big.model_id in str(errors[0]) and str(address.log) in str(errors[0])
        fresh = client.sample_in_worker(_request(resources, sd1), home, idle_seconds=60)
        assert fresh.worker["pid"] != dead and fresh.worker["request"] == 1
    finally:
        thread.join(60)
        _stop(home)


@pytest.mark.slow
def test_a_hung_worker_is_killed_after_the_budget_and_the_partition_fails(
    resources: dict, home: Path, sd1: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = files.worker_address(home, "cpu", "auto")
    monkeypatch.setattr(client, "HANG_GRACE_S", 2.0)
    thread, errors = _sample_in_thread(_request(resources, sd1, n=64, max_seconds=5.0), home)
    try:
        pid = _wait_until_taken(address, sd1)
        os.kill(pid, signal.SIGSTOP)  # stuck mid-request, as in one enormous batch
        thread.join(60)
        assert len(errors) == 1 and isinstance(errors[0], ResourceLimitError)
        assert "gave no answer" in str(errors[0]) and str(address.log) in str(errors[0])
        give_up = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < give_up:
            time.sleep(0.1)
        assert not _alive(pid)
    finally:
        thread.join(60)
        _stop(home)


@pytest.mark.slow
def test_a_worker_guards_its_own_budget(home: Path) -> None:
    """A client that connects and never sends (or a run that died while the worker hangs)
    cannot block the worker: its watchdog exits once the phase overruns its limit."""
    address = files.worker_address(home, "cpu", "auto")
    watchdog = worker._Watchdog(60.0, address)
    exits: list[int] = []
    watchdog._exit = lambda code, message: exits.append(code)  # type: ignore[method-assign]
    watchdog.start(0.5)
    time.sleep(2.5)
    assert exits and exits[0] == 3
    exits.clear()
    watchdog.done()
    time.sleep(2.0)
    assert exits == []  # not busy, not yet idle for 60 s


@pytest.mark.slow
def test_an_idle_worker_exits_and_removes_its_socket(resources: dict, home: Path, sd1: str) -> None:
    out = client.sample_in_worker(_request(resources, sd1), home, idle_seconds=1.0)
    address = files.worker_address(home, "cpu", "auto")
    give_up = time.monotonic() + 30
    while (address.socket.exists() or _alive(out.worker["pid"])) and time.monotonic() < give_up:
        time.sleep(0.2)
    assert not address.socket.exists()
    assert not _alive(out.worker["pid"])


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent (the test process) to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sweep_removes_only_what_dead_workers_left(home: Path) -> None:
    folder = files.worker_address(home, "cpu", "auto").socket.parent
    dead = subprocess.Popen(["true"])
    dead.wait()
    for name, pid in (("deadbeef00000001", dead.pid), ("deadbeef00000002", os.getpid())):
        for suffix in (".sock", ".key"):
            (folder / f"{name}{suffix}").write_text("")
        (folder / f"{name}.pid").write_text(str(pid))
    orphan = folder / "deadbeef00000003.key"  # a start that never listened, long ago
    orphan.write_text("")
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    try:
        assert files.sweep(folder) == 4
        assert not list(folder.glob("deadbeef00000001.*")) and not orphan.exists()
        assert len(list(folder.glob("deadbeef00000002.*"))) == 3  # a live pid keeps its files
    finally:
        for path in folder.glob("deadbeef*"):
            path.unlink()


def test_the_worker_address_depends_on_the_code(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = files.worker_address(home, "cpu", "auto")
    monkeypatch.setattr(files, "code_fingerprint", lambda: "edited")
    after = files.worker_address(home, "cpu", "auto")
    assert before.socket != after.socket
    assert len(str(after.socket)) < 100  # AF_UNIX paths are limited to 107 bytes
    assert (after.socket.parent.stat().st_mode & 0o777) == 0o700


@pytest.mark.slow
def test_sampled_images_through_the_worker_match_in_run(resources: dict, home: Path, sd1: str) -> None:
    def materialize(compute: ComputeResource) -> list[str]:
        run_resources = {**resources, "compute": compute}
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("hub_models", [sd1])
            assert dg.materialize([real_photos, prompts], resources=run_resources,
                                  instance=instance, run_config=SMALL_REAL).success
            result = dg.materialize([model_metadata, sampled_images], partition_key=sd1,
                                    resources=run_resources, instance=instance,
                                    run_config=SAMPLING)
            assert result.success
            meta = result.asset_materializations_for_node("sampled_images")[0].metadata
            assert meta["sampler"].value["mode"] == compute.sampler
        images = Warehouse(home).read("images")
        return sorted(images.filter(images["source"] == sd1)["sha256"].to_list())

    in_run = materialize(ComputeResource(device="cpu", batch_size=2))
    try:
        warm = materialize(ComputeResource(device="cpu", batch_size=2, sampler="warm_worker",
                                           worker_idle_seconds=60))
    finally:
        _stop(home)
    assert len(in_run) == 3 and warm == in_run


def test_an_unknown_sampler_is_refused_by_name(resources: dict, sd1: str) -> None:
    bad = {**resources, "compute": ComputeResource(device="cpu", sampler="warm")}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", [sd1])
        with pytest.raises(dg.DagsterResourceFunctionError) as caught:
            dg.materialize([model_metadata, sampled_images], partition_key=sd1,
                           resources=bad, instance=instance)
    assert "ComputeResource.sampler must be one of" in str(caught.value.__cause__)
    assert "'warm'" in str(caught.value.__cause__)


def _send_raw(address: files.WorkerAddress, data: bytes, key: bytes | None) -> Any:
    """Send one frame as a client holding `key` (None: no key at all); the answer, or the
    error the connection ended with."""
    conn = Client(str(address.socket), family="AF_UNIX", authkey=key)
    try:
        try:
            conn.send_bytes(data)
        except (BrokenPipeError, ConnectionResetError) as exc:  # refused mid-frame
            return exc
        try:
            return wire.recv_answer(conn)
        except (wire.WorkerProtocolError, EOFError, ConnectionResetError) as exc:
            return exc
    finally:
        conn.close()


def _log_count(address: files.WorkerAddress, text: str) -> int:
    return address.log.read_text().count(text)


@pytest.mark.slow
def test_the_worker_serves_only_key_holders_and_keeps_serving(
    resources: dict, home: Path, sd1: str
) -> None:
    """Its key is a 0600 file of this user; a client without the key, or with a wrong one,
    cannot submit work (the worker logs the refusal and goes on serving)."""
    request = _request(resources, sd1)
    address = files.worker_address(home, "cpu", "auto")
    try:
        first = client.sample_in_worker(request, home, idle_seconds=60)
        st = os.lstat(address.key)
        assert (st.st_mode & 0o777) == 0o600 and st.st_uid == os.getuid()
        keyless = _send_raw(address, wire.encode_request(request), key=None)
        assert not isinstance(keyless, SampleOutcome)  # refused: the challenge, or EOF
        with pytest.raises(AuthenticationError):
            Client(str(address.socket), family="AF_UNIX", authkey=b"0" * files.KEY_BYTES)
        again = client.sample_in_worker(request, home, idle_seconds=60)
    finally:
        _stop(home)
    assert _log_count(address, f"{sd1} started") == 2  # the keyless request never ran
    assert _log_count(address, "refused a connection") == 2
    assert again.worker["pid"] == first.worker["pid"] and again.worker["request"] == 2
    assert [i.png for i in again.run.images] == [i.png for i in first.run.images]


class _Canary:
    """Unpickling this creates a folder: proof that the worker never unpickles a request."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.path,))


@pytest.mark.slow
def test_a_key_holder_can_send_only_data_and_bad_frames_are_refused(
    resources: dict, home: Path, sd1: str, tmp_path: Path
) -> None:
    """A pickle (whose unpickling would create a canary), malformed JSON, a wrong type and an
    oversize frame each get a refusal naming what was wrong; the worker then serves on."""
    request = _request(resources, sd1)
    address = files.worker_address(home, "cpu", "auto")
    canary = tmp_path / "canary"
    wrong_type = json.loads(wire.encode_request(request))
    wrong_type["request"]["threads"] = "all of them"
    attacks = [
        (pickle.dumps(_Canary(canary)), "a pickle: never unpickled"),
        (b'{"fakeimg_worker": 1, "kind": "sample_request", "request": {', "not valid UTF-8 JSON"),
        (json.dumps(wrong_type).encode(), "request.threads: expected an integer"),
        (b"{" + b" " * wire.MAX_HEADER_BYTES, f"over the {wire.MAX_HEADER_BYTES}-byte cap"),
    ]
    try:
        first = client.sample_in_worker(request, home, idle_seconds=60)
        key = files.read_key(address)
        for data, refusal in attacks:
            answer = _send_raw(address, data, key)
            if isinstance(answer, wire.WorkerFailure):
                assert type(answer.error).__name__ == "WorkerProtocolError"
                assert refusal in str(answer.error) and answer.stage == "request"
            assert _log_count(address, refusal) == 1, refusal
            assert not canary.exists()  # the pickle was refused unread
        last = client.sample_in_worker(request, home, idle_seconds=60)
    finally:
        _stop(home)
    assert not canary.exists()
    assert _log_count(address, f"{sd1} started") == 2
    assert last.worker["pid"] == first.worker["pid"]
    assert last.worker["request"] == 2 + len(attacks)
    assert [i.png for i in last.run.images] == [i.png for i in first.run.images]
