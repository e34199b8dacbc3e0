"""The Dagster UI as a researcher uses it, driven in Debian's Chromium by Playwright on a
copy of the demo-like home (`make dev`'s `dg dev`: webserver and daemon): the asset graph
renders, a sampled partition shows its picture, the evaluation shows its plot and tables, a
refused model shows its reason, and a 2-partition backfill launched from the UI's dialog
(empty config) after the home's settings changed samples at the new settings and leaves
images and stats consistent; an identical second backfill samples nothing. Screenshots go to `data/browser-test/` (git-ignored).

Skipped, saying why, where Chromium (`apt-get install chromium`, `make browser-deps`) or
the `playwright` package is missing."""

from __future__ import annotations

import os
import shutil
import time
from urllib.parse import quote

import dagster as dg
import pytest

from tests.helpers.dagster_ui import dagster_ui
from tests.helpers.repo import ROOT
from tests.helpers.zoo import pick

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "data" / "browser-test"
RUNNING = ("REQUESTED", "CANCELING", "FAILING")  # backfill states that are not final yet


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium, or "
                    "`make browser-deps` as root): the browser test did not run")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def ui(demo_home, hub_url, tmp_path_factory, browser):
    """The UI on a copy of the demo home (the backfill writes to it)."""
    src, _ = demo_home
    home = tmp_path_factory.mktemp("ui") / "home"
    shutil.copytree(src, home, symlinks=True, ignore=shutil.ignore_patterns("hf-cache"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    with dagster_ui(home, hub_url, SHOTS / "dg-dev.log") as url:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        # Dagster's one-time "Join the Dagster community" dialog covers whatever is open,
        # and a handler clicking its Skip can itself be blocked by a dialog the test opened:
        # the UI's own "dismissed" flag (CommunityNux, localStorage `communityNux`) keeps it
        # shut from the first page on; the handler stays for a UI that renames the flag.
        page.add_init_script("window.localStorage.setItem('communityNux', '\"1\"')")
        page.add_locator_handler(page.get_by_text("Join the Dagster community"),
                                 lambda _: page.get_by_role("button", name="Skip").click())
        yield home, url, page
        page.close()


def _shown(locator) -> bool:
    """Wait (the page's timeout) for the element to show: the UI renders after load."""
    locator.wait_for(state="visible")
    return True


def _open(page, url: str, shot: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)


def _partition_url(url: str, asset: str, key: str) -> str:
    return f"{url}/assets/{asset}?view=partitions&partition={quote(key, safe='')}"


def _inline_images(page) -> list[int]:
    """Natural widths of the inline (data: URL) pictures the page shows, once loaded."""
    page.wait_for_function("Array.from(document.images).some("
                           "i => i.src.startsWith('data:image/') && i.naturalWidth > 0)")
    return page.evaluate("Array.from(document.images).filter(i => i.src.startsWith("
                         "'data:image/')).map(i => i.naturalWidth)")


def test_asset_graph_renders(ui) -> None:
    _, url, page = ui
    _open(page, f"{url}/asset-groups", "01-asset-graph")
    for name in ("per_model", "detector", "real"):
        assert _shown(page.get_by_text(name, exact=True).first)


def test_sampled_partition_shows_its_picture(ui, zoo_catalog) -> None:
    _, url, page = ui
    model = pick(zoo_catalog, expect="ok", architecture="sd1").model_id
    _open(page, _partition_url(url, "sampled_images", model), "02-sampled-partition")
    assert _shown(page.get_by_text(model, exact=True).first)
    widths = _inline_images(page)
    assert widths and min(widths) >= 32, widths
    assert _shown(page.get_by_text("previews/fake/").first)  # the sheet, home-relative


def test_evaluation_shows_its_plot_and_tables(ui) -> None:
    _, url, page = ui
    _open(page, f"{url}/assets/detector_evaluation?view=events", "03-evaluation")
    assert _inline_images(page)
    for label in ("summary", "ap_by_family_group", "ap_by_model"):
        assert _shown(page.get_by_text(label, exact=True).first), label
    tables = page.locator("table:has(th:text-is('ap'))")
    assert tables.count() >= 2  # rendered tables, not "[Show Markdown]"
    assert page.get_by_text("[Show Markdown]").count() == 0


def test_refused_model_shows_its_reason(ui, zoo_catalog) -> None:
    _, url, page = ui
    refused = pick(zoo_catalog, expect="failure", reason="pickle").model_id
    _open(page, _partition_url(url, "sampled_images", refused), "04-refused-partition")
    assert _shown(page.get_by_text("refused_reason", exact=True).first)
    assert _shown(page.get_by_text("refused", exact=True).first)
    assert _shown(page.get_by_text("Materialized").first)  # an outcome, not a failure


def _launch_backfill(page, url: str, keys: list[str], shot: str) -> None:
    """The asset page's "Materialize…" dialog: Custom partitions, empty config, launch."""
    _open(page, f"{url}/assets/sampled_images?view=partitions", f"{shot}-before")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Select a partition or create one").click()
    search = page.get_by_placeholder("Filter partitions")
    for key in keys:
        search.fill(key)
        page.get_by_text(key, exact=True).filter(visible=True).last.click()
    page.keyboard.press("Escape")  # closes the partition list, not the dialog
    if search.is_visible():
        dialog.get_by_text("Launch runs to materialize sampled_images").click()
    search.wait_for(state="hidden")
    assert _shown(dialog.get_by_text(f"{len(keys)} partitions"))
    page.screenshot(path=str(SHOTS / f"{shot}-dialog.png"))
    dialog.get_by_role("button", name="Launch backfill").click()


def _wait_backfill(instance: dg.DagsterInstance, before: set[str], timeout_s: float = 600):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = [b for b in instance.get_backfills(limit=10) if b.backfill_id not in before]
        if new and new[0].status.value not in RUNNING:
            return new[0]
        time.sleep(2)
    raise TimeoutError("the backfill launched from the UI did not finish")


def _latest(instance, asset: str, key: str):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
    ).records
    return records[0] if records else None


def test_ui_backfill_keeps_images_and_stats_consistent(ui, zoo_catalog) -> None:
    from fakeimg_assets.lib.paths import model_slug
    from fakeimg_assets.models.sampling_settings import write_home_settings
    from fakeimg_assets.warehouse.store import Warehouse

    home, url, page = ui
    keys = [pick(zoo_catalog, expect="ok", architecture=a).model_id for a in ("sd1", "sdxl")]
    # the home's settings changed since the demo sampled 6 images at 3 steps, as after
    # `fakeimg run --images-per-model 4 --steps 3`: an empty launch config must follow them
    write_home_settings(home, {"images_per_model": 4, "steps": 3, "post": ""},
                        written_by="test_browser", written_at=time.strftime("%FT%TZ"))
    old = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    try:
        with dg.DagsterInstance.get() as instance:
            stats_before = {k: _latest(instance, "model_stats", k).storage_id for k in keys}
            before = {b.backfill_id for b in instance.get_backfills()}
            t0 = time.perf_counter()
            _launch_backfill(page, url, keys, "05-backfill")
            backfill = _wait_backfill(instance, before)
            assert backfill.status.value == "COMPLETED_SUCCESS", backfill.status
            # the stats follow the images (the RUNNING stats sensor), at the home's settings
            deadline = time.monotonic() + 300
            while any(_latest(instance, "model_stats", k).storage_id == stats_before[k]
                      for k in keys):
                assert time.monotonic() < deadline, "stats were not refreshed after a backfill"
                time.sleep(3)
            seconds = time.perf_counter() - t0
            store = Warehouse(home)
            for k in keys:
                meta = _latest(instance, "sampled_images", k).asset_materialization.metadata
                assert meta["outcome"].value == "sampled"
                fakes = store.read_key("fake_images", f"fake--{model_slug(k)}")
                stats = store.read_key("fake_image_stats", f"fake--{model_slug(k)}")
                agg = store.read_key("model_stats", model_slug(k))
                assert fakes.height == 4 and set(fakes["steps"]) == {3}, (k, fakes.height)
                assert sorted(stats["image_id"]) == sorted(fakes["image_id"])
                assert agg["n_images"].to_list() == [4]
            # the same backfill again: nothing re-sampled
            before = {b.backfill_id for b in instance.get_backfills()}
            _launch_backfill(page, url, keys, "06-backfill-again")
            backfill = _wait_backfill(instance, before)
            assert backfill.status.value == "COMPLETED_SUCCESS", backfill.status
            for k in keys:
                meta = _latest(instance, "sampled_images", k).asset_materialization.metadata
                assert meta["outcome"].value == "unchanged", k
            _open(page, _partition_url(url, "sampled_images", keys[0]), "07-after-backfills")
    finally:
        if old is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = old
    print(f"UI backfill of 2 partitions, stats refreshed: {seconds:.0f} s; shots in {SHOTS}")
