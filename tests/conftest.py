"""Shared fixtures: the tiny zoo, the loopback Hub server, the demo home, the small trained
world, an isolated FAKEIMG_HOME. Helper code tests share lives in `tests/helpers/`.

No test may reach the network beyond loopback: a guard on `socket.connect` enforces it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

# Anything that slips past an explicit endpoint fails fast on a closed loopback port.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"  # noqa: E501 - tests pass endpoints explicitly
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_TOKEN", None)

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise OSError(f"test tried to reach {host}: only loopback is allowed in tests")
    return _real_connect(self, address)


if os.environ.get("FAKEIMG_REAL_HUB") != "1":  # the opt-in real-Hub tests need the network
    socket.socket.connect = _loopback_only  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _torch_threads_restored() -> Iterator[None]:
    """A test that sets torch's process-wide thread count (in-process evaluation sets it
    from the compute resource) must not change the bytes later tests sample."""
    import sys

    torch = sys.modules.get("torch")  # never import torch just for this
    before = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)


# Session fixtures that take minutes to build: only `slow` tests may use them, so that one
# cheap test never pulls them into `make test`.
SLOW_FIXTURES = ("demo_home", "small_world")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        f"{item.nodeid} uses {name}"
        for item in items if item.get_closest_marker("slow") is None
        for name in SLOW_FIXTURES if name in getattr(item, "fixturenames", ())
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests that use a minutes-long session fixture must be marked slow:\n"
            + "\n".join(unmarked))


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole tiny zoo, built once per test session."""
    from fakeimg_assets.testbed.zoo.build import build_zoo

    root = tmp_path_factory.mktemp("zoo")
    build_zoo(root)
    return root


@pytest.fixture(scope="session")
def zoo_catalog() -> list:
    from fakeimg_assets.testbed.zoo.models import zoo_models

    return zoo_models()


@pytest.fixture(scope="session")
def hub_url(zoo_dir: Path) -> Iterator[str]:
    from fakeimg_assets.testbed.local_hub.server import HubServer

    with HubServer(zoo_dir) as server:
        yield server.url


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory, hub_url: str) -> tuple:
    """A demo-like home, built once per session and shared read-only: the whole tiny zoo
    crawled and sampled (6 images, 3 steps), reals cut, the detector trained (2 epochs) and
    evaluated, the studies run, the way `make demo` does it with its outside collection
    (about 5 minutes on 2 cores: only `slow` tests use it). Returns `(home, RunReport)`."""
    from fakeimg_assets.collections.add import add_collection
    from fakeimg_assets.platform_run import RunOptions, run_platform
    from fakeimg_assets.testbed.demo_collection import write_demo_collection

    home = tmp_path_factory.mktemp("demo-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_ENDPOINT", hub_url)
    mp.setenv("FAKEIMG_HOME", str(home))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    try:
        # reals as many as fakes at every size (crops_per_photo 0): a fixed count per photo
        # would make image size predict the label, and the shortcut audit rightly blocks that
        opts = RunOptions(images_per_model=6, steps=3, epochs=2, device="cpu")
        # as `make demo`: the demo collection (two generators no pipeline runs) as an
        # outside evaluation set, added before the run
        folder = write_demo_collection(home / "demo-collection")
        added = add_collection(str(folder), name="demo-outside", role="eval", home=home,
                               log=lambda _msg: None)
        assert added.ok, added.failed
        report = run_platform(opts, home=home, log=lambda _msg: None)
    finally:
        mp.undo()
    return home, report


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory):
    """The trained world all world tests share, built once per session: a base and a
    fine-tune of each family in `tests.helpers.world.FAMILIES` at reduced steps (minutes on
    2 cores: only `slow` tests use it). Returns a `SmallWorld`."""
    import time

    import torch

    from fakeimg_assets.testbed.world.build import build_world
    from tests.helpers.world import STEPS, VAE_STEPS, SmallWorld, small_world_spec

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("small-world")
    spec = small_world_spec()
    start = time.perf_counter()
    built = build_world(root, spec, steps=STEPS, vae_steps=VAE_STEPS)
    return SmallWorld(root, spec, tuple(built), time.perf_counter() - start)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("FAKEIMG_HOME", str(path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home-unused"))
    return path


@pytest.fixture
def resources(home: Path, hub_url: str) -> dict:
    from fakeimg_assets.definitions import build_resources
    from resources import ComputeResource

    return build_resources(
        home=str(home), endpoint=hub_url, compute=ComputeResource(device="cpu", batch_size=2)
    )
