"""Listing ids (and the other listed fields) are vetted at the crawl (issue 16, item 7).

A Hub endpoint is often a mirror nobody here controls, and its `GET /api/models` entries
become partitions, file names and revisions. The local Hub server refuses to serve repos
with invalid names, so this file has its own loopback server that lies: it lists hostile
ids and fields beside valid entries. The real `hub_catalog` crawls it through the real
`HubResource`; valid entries reach `hub_models` and become partitions, the rest are rows
of `crawl_rejects` with the reason, and the crawl carries on past each.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from fakeimg_assets.catalog.assets import hub_catalog
from fakeimg_assets.catalog.listing import MAX_RAW_ID_CHARS, entry_problem, raw_id_of
from fakeimg_assets.catalog.selection import SelectionPolicy, rejection_reason, select_models
from fakeimg_assets.lib.paths import InvalidModelIdError, validate_model_id
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.warehouse.store import Warehouse
from resources import HubResource, WarehouseResource
from sensors.hub_sensors import build_new_hub_models_sensor

SHA = "0123456789abcdef0123456789abcdef01234567"
LONG_ID = "evil/" + "x" * 300  # 305 characters


def _good(model_id: str, day: int) -> dict:
    when = f"2025-01-{day:02d}T00:00:00.000Z"
    return {"id": model_id, "author": model_id.split("/")[0], "sha": SHA, "createdAt": when,
            "lastModified": when, "downloads": day, "likes": 0, "private": False,
            "gated": False, "pipeline_tag": "text-to-image", "library_name": "diffusers",
            "tags": ["diffusers", "license:mit"]}  # fmt: skip


VALID = ["good/one", "good/two_", "Good/_three.v2"]
# (entry, the id recorded in crawl_rejects, words the reason must hold)
HOSTILE: list[tuple[object, str, str]] = [
    ({"id": "evil/a\nb"}, "evil/a\nb", "character '\\n' in the name"),
    ({"id": "evil/trailing\n"}, "evil/trailing\n", "character '\\n' in the name"),
    ({"id": "evil/a...b"}, "evil/a...b", "contains '--' or '..'"),
    ({"id": "../../../etc"}, "../../../etc", "3 '/' where 'org/name' has exactly one"),
    ({"id": LONG_ID}, LONG_ID, "name longer than 96 characters (300)"),
    ({"id": "evil/a\x00b"}, "evil/a\x00b", "character '\\x00' in the name"),
    ({"id": "noslash"}, "noslash", "0 '/' where 'org/name' has exactly one"),
    ({"id": 42}, "42", "not a string (int)"),
    ({**_good("ok/bad-sha", 5), "sha": "../../../home/user/.bashrc"}, "ok/bad-sha",
     "sha '../../../home/user/.bashrc' is neither null nor a 40-hex commit sha"),
    ({**_good("ok/bad-time", 6), "createdAt": "yesterday"}, "ok/bad-time",
     "createdAt 'yesterday' is not an ISO 8601 time"),
    ("just a string", '"just a string"', "is not a JSON object"),
    ({"sha": SHA}, "null", "no id"),
]


class _LyingListing(BaseHTTPRequestHandler):
    entries: list = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path.split("?", 1)[0] != "/api/models":
            self.send_error(404)
            return
        body = json.dumps(self.entries).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def lying_hub() -> Iterator[str]:
    """A loopback endpoint whose listing is one page (no Link header) of hostile entries
    around valid ones, newest first (an incremental crawl stops at the first old entry:
    its second pass, by `lastModified`, sees only the entries before `good/one`)."""
    entries = [*(h[0] for h in HOSTILE[:6]), _good(VALID[0], 3), *(h[0] for h in HOSTILE[6:]),
               _good(VALID[1], 2), _good(VALID[2], 1)]  # fmt: skip
    handler = type("Handler", (_LyingListing,), {"entries": entries})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _crawl(instance: dg.DagsterInstance, url: str, home: Path, **config: object) -> dict:
    result = dg.materialize(
        [hub_catalog], instance=instance,
        resources={"hub": HubResource(endpoint=url), "warehouse": WarehouseResource(home=str(home))},
        run_config={"ops": {"hub_catalog": {"config": config}}} if config else None,
    )  # fmt: skip
    assert result.success
    (mat,) = [m for m in result.asset_materializations_for_node("hub_catalog")
              if m.asset_key == dg.AssetKey("hub_catalog")]  # fmt: skip
    return {k: v.value for k, v in mat.metadata.items()} | {"run_id": result.run_id}


class _Logged(logging.Handler):
    """What a sensor context's logger emitted (Dagster's sensor logger does not propagate)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.text += record.getMessage() + "\n"


def _tick(instance: dg.DagsterInstance, home: Path, logged: _Logged | None = None) -> list[str]:
    sensor = build_new_hub_models_sensor(crawl_every_s=10**9)
    ctx = dg.build_sensor_context(
        instance=instance, resources={"warehouse": WarehouseResource(home=str(home))}
    )
    if logged is not None:
        ctx.log.addHandler(logged)
    result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    added = [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]
    instance.add_dynamic_partitions("hub_models", added)  # what the daemon would apply
    assert sorted(r.partition_key for r in result.run_requests if r.partition_key) == sorted(added)
    return sorted(added)


# -- the validator: the Hub's own rules ----------------------------------------------------


@pytest.mark.parametrize(
    "good",
    ["a/b", "stabilityai/sd-turbo.v2", "org/_leading-underscore", "org/trailing_",
     "A1/B.c-d_e", "a" * 96 + "/" + "b" * 96],
)  # fmt: skip
def test_valid_hub_ids_pass(good: str) -> None:
    assert validate_model_id(good) == good


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("evil/ab\n", "character '\\n' in the name"),  # `$` matched before a final newline
        ("evil/a\nb", "character '\\n'"),
        ("evil/a\x00b", "character '\\x00'"),
        ("a/é", "character 'é'"),
        ("a/b c", "character ' '"),
        ("evil/a...b", "contains '--' or '..'"),
        ("a--b/c", "contains '--' or '..'"),
        ("../../../etc", "3 '/'"),
        ("noslash", "0 '/'"),
        ("a/b/c", "2 '/'"),
        ("a" * 97 + "/b", "namespace longer than 96 characters (97)"),
        ("a/" + "b" * 97, "name longer than 96 characters (97)"),
        ("a/", "empty name"),
        ("/b", "empty namespace"),
        ("a/-b", "starts or ends with '-' or '.'"),
        ("a/b-", "starts or ends with '-' or '.'"),
        ("a/.b", "starts or ends with '-' or '.'"),
        ("a./b", "starts or ends with '-' or '.'"),
        ("a/b.git", "ends with '.git'"),
        ("_a/b", "namespace starts with '_'"),
        (42, "not a string (int)"),
        (None, "not a string (NoneType)"),
    ],
)
def test_invalid_ids_are_refused_naming_why(bad: object, why: str) -> None:
    with pytest.raises(InvalidModelIdError, match="invalid Hugging Face model id") as err:
        validate_model_id(bad)  # type: ignore[arg-type]
    assert why in str(err.value) and repr(bad)[:40] in str(err.value)


def test_a_huge_id_gives_a_short_message() -> None:
    with pytest.raises(InvalidModelIdError) as err:
        validate_model_id("a/" + "b" * 1_000_000)
    assert len(str(err.value)) < 500 and "(1000002 chars)" in str(err.value)


# -- listing entries, field by field ------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("sha", "A" * 40, "sha 'AAAA"),  # commit shas are lowercase
        ("sha", SHA + "\n", "40-hex commit sha"),
        ("sha", 7, "40-hex commit sha"),
        ("createdAt", 1700000000, "createdAt 1700000000 is not an ISO 8601 time"),
        ("lastModified", "2025-13-45T00:00:00Z", "lastModified"),
        ("downloads", "many", "downloads 'many' is not a count"),
        ("likes", True, "likes True is not a count"),
        ("downloads", 2**70, "is not a count"),
        ("downloads", -1, "is not a count"),
        ("author", ["x"], "author ['x'] is not a string"),
        ("pipeline_tag", 3, "pipeline_tag 3 is not a string"),
        ("library_name", {}, "library_name {} is not a string"),
        ("gated", ["manual"], "gated ['manual'] is neither a bool nor a string"),
        ("private", "no", "private 'no' is not a bool"),
        ("tags", "diffusers", "tags 'diffusers' is not a list of strings"),
        ("tags", ["ok", 1], "is not a list of strings"),
    ],
)
def test_a_bad_field_refuses_the_entry_naming_it(field: str, value: object, why: str) -> None:
    entry = {**_good("good/one", 1), field: value}
    problem = entry_problem(entry)
    assert problem is not None and why in problem


def test_a_good_entry_and_null_fields_pass() -> None:
    assert entry_problem(_good("good/one", 1)) is None
    nulls = dict.fromkeys(["sha", "createdAt", "lastModified", "downloads", "likes", "author",
                           "pipeline_tag", "library_name", "gated", "private", "tags"])
    assert entry_problem({"id": "good/one", **nulls}) is None
    assert entry_problem({"id": "good/one", "gated": "manual"}) is None


def test_raw_ids_are_kept_readable_and_bounded() -> None:
    assert raw_id_of({"id": "evil/a\nb"}) == "evil/a\nb"
    assert raw_id_of({"id": {"x": 1}}) == '{"x": 1}'
    assert raw_id_of(["a/b"]) == '["a/b"]'  # an entry that is no object
    cut = raw_id_of({"id": "a/" + "b" * 5000})
    assert len(cut) < MAX_RAW_ID_CHARS + 30 and cut.endswith("(5002 chars)")


# -- the crawl against a lying listing ------------------------------------------------------


def test_a_lying_listing_feeds_crawl_rejects_and_never_a_partition(
    tmp_path: Path, home: Path, lying_hub: str
) -> None:
    with dg.instance_for_test() as instance:
        meta = _crawl(instance, lying_hub, home)
        assert (meta["crawled"], meta["rejected"]) == (len(VALID), len(HOSTILE))
        wh = WarehouseResource(home=str(home))
        models = wh.query("SELECT model_id, sha, created_at FROM hub_models ORDER BY model_id")
        assert sorted(models["model_id"].to_list()) == sorted(VALID)
        assert set(models["sha"].to_list()) == {SHA}
        rejects = wh.query("SELECT * FROM crawl_rejects")
        assert set(rejects["crawl_id"].to_list()) == {meta["crawl_id"]}
        assert set(rejects["dagster_run_id"].to_list()) == {meta["run_id"]}
        assert rejects["seen_at"].null_count() == 0
        reasons = dict(zip(rejects["raw_id"].to_list(), rejects["reason"].to_list(), strict=True))
        assert len(reasons) == len(HOSTILE)
        for _, raw_id, why in HOSTILE:
            assert why in reasons[raw_id], (raw_id, reasons[raw_id])

        # the sensor adds the valid models only
        assert _tick(instance, home) == sorted(VALID)
        assert sorted(instance.get_dynamic_partitions("hub_models")) == sorted(VALID)

        # the next crawl (incremental: two listing passes) records each refusal again, once
        again = _crawl(instance, lying_hub, home)
        assert again["crawl_mode"] == "incremental" and again["crawl_id"] != meta["crawl_id"]
        second = wh.query(
            "SELECT raw_id FROM crawl_rejects WHERE crawl_id = ?", params=[again["crawl_id"]]
        )
        assert sorted(second["raw_id"].to_list()) == sorted(h[1] for h in HOSTILE)
        assert _tick(instance, home) == []
    # nothing was written outside the home, and no file is named after a hostile id
    assert [p.name for p in tmp_path.iterdir()] == ["home"]
    written = [str(p.relative_to(home)) for p in home.rglob("*")]
    assert not [p for p in written if "etc" in p or "evil" in p or "\n" in p or "\x00" in p]


def test_a_limited_crawl_that_hit_its_limit_is_no_full_sweep(home: Path, lying_hub: str) -> None:
    """`limit` counts listing entries, refused ones included: a crawl that listed exactly
    `limit` entries may have stopped short, so it never counts as a complete sweep."""
    total = len(VALID) + len(HOSTILE)
    with dg.instance_for_test() as instance:
        assert "full_sweep_at" not in _crawl(instance, lying_hub, home, limit=total)
        assert "full_sweep_at" in _crawl(instance, lying_hub, home, limit=total + 1, mode="full")


def test_invalid_ids_in_an_old_catalogue_are_never_added_then_moved_out(
    home: Path, lying_hub: str
) -> None:
    """A `hub_models` file written before ids were vetted: the sensor and `fakeimg run`'s
    selection skip its invalid ids (the sensor logs them), and the next crawl moves them
    to `crawl_rejects`."""
    old = [{"model_id": m, "created_at": None, "first_seen_at": None, "gated": "false",
            "private": False, "library_name": "diffusers", "pipeline_tag": "text-to-image"}
           for m in ("old/fine", "../../../etc", "evil/a\nb", LONG_ID)]  # fmt: skip
    Warehouse(home).write("hub_models", "all", old)
    with dg.instance_for_test() as instance:
        logged = _Logged()
        assert _tick(instance, home, logged) == ["old/fine"]
        assert "not adding 3 catalogued ids that are no Hub model id" in logged.text
        assert "'../../../etc'" in logged.text and "'evil/a\\nb'" in logged.text
        assert select_models(old, (), SelectionPolicy()) == ["old/fine"]  # `fakeimg run`
        assert rejection_reason(old[1], SelectionPolicy()) == (
            "invalid model id (3 '/' where 'org/name' has exactly one)"
        )

        meta = _crawl(instance, lying_hub, home)
        ids = Warehouse(home).read("hub_models")["model_id"].to_list()
        assert sorted(ids) == sorted(["old/fine", *VALID])
        rejects = Warehouse(home).read("crawl_rejects")
        moved = rejects.filter(rejects["reason"].str.contains("stored by an earlier crawl"))
        assert sorted(moved["raw_id"].to_list()) == sorted(["../../../etc", "evil/a\nb", LONG_ID])
        assert set(moved["crawl_id"].to_list()) == {meta["crawl_id"]}
        assert _tick(instance, home) == sorted(VALID)


# -- sensors on an instance that already holds invalid partitions ---------------------------


def test_record_dead_runs_logs_an_invalid_partition_and_writes_nothing(home: Path) -> None:
    from fakeimg_assets.definitions import build_definitions
    from sensors.run_failures import record_dead_runs

    keys = ["evil/a\nb", "../../../etc", LONG_ID]
    job = build_definitions().resolve_job_def("sample_model")
    warehouse = WarehouseResource(home=str(home))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", keys)  # an instance from before the fix
        for key in keys:  # a sampling run of that partition died
            run = instance.create_run_for_job(job_def=job, tags={"dagster/partition": key})
            instance.report_run_failed(run, "worker process exited unexpectedly (SIGKILL)")
            (record,) = instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
            ).records
            ctx = dg.build_run_status_sensor_context(
                sensor_name="record_dead_runs", dagster_instance=instance,
                dagster_run=instance.get_run_by_id(run.run_id),
                dagster_event=record.event_log_entry.dagster_event,
                resources={"warehouse": warehouse},
            ).for_run_failure()  # fmt: skip
            logged = _Logged()
            ctx.log.addHandler(logged)
            record_dead_runs(ctx)
            assert f"no model_failures row for dead run {run.run_id}" in logged.text, key
            assert "invalid Hugging Face model id" in logged.text
    assert Warehouse(home).read("model_failures").height == 0
    assert [p.name for p in home.parent.iterdir()] == ["home"]


def test_a_tick_survives_an_invalid_partition_with_a_failure_row(home: Path) -> None:
    """An old instance: an invalid partition, and a transient failure row naming it. The
    retry pass never builds a file name from it (that raised and killed the tick)."""
    bad = "evil/a\nb"
    row = {"model_id": bad, "asset": "sampled_images", "stage": "plan", "error_type": "X",
           "message": "m", "transient": True, "dagster_run_id": "r1"}  # fmt: skip
    Warehouse(home).write("model_failures", "legacy", [{**row, "failed_at": utcnow()}])
    Warehouse(home).write("hub_models", "all", [{"model_id": "old/fine", "private": False}])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", [bad])
        assert _tick(instance, home) == ["old/fine"]
