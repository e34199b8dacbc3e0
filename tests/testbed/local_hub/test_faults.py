"""Injected faults of the local Hub: each kind happens, once per request, deterministically.

The real huggingface_hub client shows what users see: a corrupt download that only a sha256
check notices, a truncated one the client resumes, a 429 it waits out.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download

from fakeimg_assets.cli import build_parser
from fakeimg_assets.testbed.local_hub.faults import FaultPlan
from fakeimg_assets.testbed.local_hub.options import server_options
from fakeimg_assets.testbed.local_hub.reqlog import read_request_log
from fakeimg_assets.testbed.local_hub.server import HubServer
from tests.helpers.hub_repos import make_repo, raw

WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("faults")
    for i in range(3):
        make_repo(base, f"acme/m{i}")
    return base


def lfs_sha256(url: str, repo: str, path: str) -> str:
    info = HfApi(endpoint=url, token=False).model_info(repo, files_metadata=True)
    (sibling,) = [s for s in info.siblings or [] if s.rfilename == path]
    assert sibling.lfs is not None
    return sibling.lfs.sha256


def download(hub: HubServer, cache: Path, path: str = WEIGHTS, **kw: object) -> bytes:
    local = hf_hub_download("acme/m0", path, cache_dir=cache, endpoint=hub.url, token=False, **kw)
    return Path(local).read_bytes()


def test_429_has_retry_headers_and_then_succeeds(root: Path, tmp_path: Path) -> None:
    with HubServer(root, faults=FaultPlan({"429": 1.0})) as hub:
        status, headers, _ = raw(f"{hub.url}/api/models")
        assert status == 429 and headers["Retry-After"] == "1"
        assert headers["RateLimit"] == '"api";r=0;t=1' and "RateLimit-Policy" in headers
        assert raw(f"{hub.url}/api/models")[0] == 200  # the same request succeeds the second time
        assert hub.fault_counts["429"] == 1
    with HubServer(root, faults=FaultPlan({"429": 1.0}, retry_after_s=0)) as hub:
        data = download(hub, tmp_path)  # HEAD and GET each get a 429 first; the client retries
        assert data == (root / "acme/m0" / WEIGHTS).read_bytes()
        assert [s for _, _, s in hub.requests] == [429, 200, 429, 200]
        assert hub.fault_counts == {"stall": 0, "429": 2, "5xx": 0, "truncate": 0, "corrupt": 0}


def test_5xx_and_stall(root: Path) -> None:
    with HubServer(root, faults=FaultPlan({"5xx": 1.0}, seed=3)) as hub:
        statuses = [raw(f"{hub.url}/api/models/acme/m{i}")[0] for i in range(3)]
        assert all(s in (500, 502, 503) for s in statuses)
        assert [raw(f"{hub.url}/api/models/acme/m{i}")[0] for i in range(3)] == [200] * 3
        assert hub.fault_counts["5xx"] == 3
    with HubServer(root, faults=FaultPlan({"stall": 1.0}, stall_s=1.0)) as hub:
        started = time.monotonic()
        assert raw(f"{hub.url}/api/models")[0] == 200
        assert time.monotonic() - started >= 1.0
        started = time.monotonic()
        assert raw(f"{hub.url}/api/models")[0] == 200
        assert time.monotonic() - started < 0.9
        assert hub.fault_counts["stall"] == 1


def test_fault_times_counts_attempts(root: Path) -> None:
    with HubServer(root, faults=FaultPlan({"5xx": 1.0}, times=2)) as hub:
        codes = [raw(f"{hub.url}/api/models/acme/m1")[0] for _ in range(3)]
        assert codes[0] >= 500 and codes[1] >= 500 and codes[2] == 200


def test_truncate_cuts_the_body_and_the_client_resumes(root: Path, tmp_path: Path) -> None:
    data = (root / "acme/m0" / WEIGHTS).read_bytes()
    with HubServer(root, faults=FaultPlan({"truncate": 1.0})) as hub:
        conn = http.client.HTTPConnection("127.0.0.1", hub.port_bound, timeout=5)
        conn.request("GET", f"/acme/m0/resolve/main/{WEIGHTS}")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Length") == str(len(data))
        with pytest.raises(http.client.IncompleteRead) as cut:
            resp.read()
        assert 0 < len(cut.value.partial) < len(data)
        conn.close()
        assert raw(f"{hub.url}/acme/m0/resolve/main/{WEIGHTS}")[2] == data  # second attempt
        assert raw(f"{hub.url}/acme/m0/resolve/main/README.md", method="HEAD")[0] == 200
    with HubServer(root, faults=FaultPlan({"truncate": 1.0})) as hub:
        assert download(hub, tmp_path) == data  # huggingface_hub notices and fetches again
        gets = [r for r in hub.requests if r.method == "GET"]
        assert len(gets) == 2 and hub.fault_counts["truncate"] == 1


def test_corrupt_is_noticed_only_by_sha256(root: Path, tmp_path: Path) -> None:
    data = (root / "acme/m0" / WEIGHTS).read_bytes()
    with HubServer(root, faults=FaultPlan({"corrupt": 1.0})) as hub:
        expected = lfs_sha256(hub.url, "acme/m0", WEIGHTS)
        assert expected == hashlib.sha256(data).hexdigest()
        first = download(hub, tmp_path / "a")  # the client accepts it: size and ETag look fine
        assert len(first) == len(data) and first != data
        assert hashlib.sha256(first).hexdigest() != expected
        assert sum(a != b for a, b in zip(first, data, strict=True)) == 4
        again = download(hub, tmp_path / "a", force_download=True)
        assert hashlib.sha256(again).hexdigest() == expected  # the re-fetch is clean
        readme = download(hub, tmp_path / "b", path="README.md")  # not LFS: never corrupted
        assert readme == (root / "acme/m0/README.md").read_bytes()
        assert hub.fault_counts["corrupt"] == 1


def _faulted(seed: int, root: Path, log: Path) -> list[tuple[str, str]]:
    with HubServer(root, faults=FaultPlan({"429": 0.5}, seed=seed), request_log=log) as hub:
        for i in range(3):
            for path in ("", "/tree/main", "/refs"):
                raw(f"{hub.url}/api/models/acme/m{i}{path}")
            for name in ("README.md", "unet/config.json", "vae/config.json", WEIGHTS):
                raw(f"{hub.url}/acme/m{i}/resolve/main/{name}")
    return [(r["method"], r["path"]) for r in read_request_log(log) if r["fault"] == "429"]


def test_same_seed_same_faulted_requests(root: Path, tmp_path: Path) -> None:
    first = _faulted(1, root, tmp_path / "a.jsonl")
    assert first == _faulted(1, root, tmp_path / "b.jsonl")
    assert 5 <= len(first) <= 16  # about half of 21 distinct requests
    assert first != _faulted(2, root, tmp_path / "c.jsonl")
    plan = FaultPlan({"corrupt": 0.3}, seed=9)
    hits = sum(plan.selects("corrupt", "GET", f"/o/r/resolve/main/f{i}") for i in range(2000))
    assert 500 < hits < 700


def test_request_log_in_memory_and_as_json_lines(root: Path, tmp_path: Path) -> None:
    log = tmp_path / "logs" / "requests.jsonl"
    with HubServer(root, request_log=log, faults=FaultPlan({"corrupt": 1.0})) as hub:
        raw(f"{hub.url}/api/models?author=acme")
        raw(f"{hub.url}/acme/m2/resolve/main/unet%2Fnope.bin")
        raw(f"{hub.url}/acme/m2/resolve/main/{WEIGHTS}")
        assert hub.requests == [
            ("GET", "/api/models", 200),
            ("GET", "/acme/m2/resolve/main/unet/nope.bin", 404),
            ("GET", f"/acme/m2/resolve/main/{WEIGHTS}", 200),
        ]
        hub.requests.clear()  # a copy: the server's own log is untouched
        assert len(hub.requests) == 3
    lines = read_request_log(log)
    assert [(r["method"], r["path"], r["status"], r["fault"]) for r in lines] == [
        ("GET", "/api/models", 200, None),
        ("GET", "/acme/m2/resolve/main/unet/nope.bin", 404, None),
        ("GET", f"/acme/m2/resolve/main/{WEIGHTS}", 200, "corrupt"),
    ]
    assert lines[0]["query"] == "author=acme"


def test_fault_specs_are_validated() -> None:
    plan = FaultPlan.from_specs(["429:0.25", "corrupt"], seed=4, times=2, stall_s=0.5)
    assert plan.rates == {"429": 0.25, "corrupt": 1.0} and plan.times == 2
    for spec, word in (
        ("bogus", "unknown kind"),
        ("429:x", "not a number"),
        ("5xx:1.5", "must be in"),
    ):
        with pytest.raises(ValueError, match=word):
            FaultPlan.from_specs([spec])
    with pytest.raises(ValueError, match="fault times"):
        FaultPlan({"429": 1.0}, times=0)


def test_cli_flags_reach_the_server(root: Path, tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["hub", "serve", str(root), "--fault", "429:0.5", "--fault", "stall", "--fault-seed",
         "7", "--fault-times", "3", "--stall-seconds", "0.1", "--request-log", "r.jsonl"]
    )  # fmt: skip
    opts = server_options(args, environ={})
    plan = opts["faults"]
    assert isinstance(plan, FaultPlan) and plan.rates == {"429": 0.5, "stall": 1.0}
    assert (plan.seed, plan.times, plan.stall_s) == (7, 3, 0.1)
    assert opts["request_log"] == Path("r.jsonl")

    with socket.socket() as probe:  # a free port for the real command
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "cli.jsonl"
    cmd = [sys.executable, "-m", "fakeimg_assets.cli", "hub", "serve", str(root), "--port",
           str(port), "--fault", "429", "--request-log", str(log)]  # fmt: skip
    # Ctrl-C as a user sends it: an earlier test's library code may have left SIGINT
    # ignored in this process, and an ignored signal is inherited across exec
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status = raw(f"http://127.0.0.1:{port}/api/models")[0]
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server never came up"
                time.sleep(0.2)
        assert status == 429 and raw(f"http://127.0.0.1:{port}/api/models")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)  # a loaded CI machine once needed over 10 s
    assert "injecting faults: 429:1" in out and "faults injected: {'429': 1}" in out
    assert [json.loads(x)["status"] for x in log.read_text().splitlines()] == [429, 200]
    assert os.path.getsize(log) > 0
