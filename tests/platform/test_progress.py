"""Progress on long work (issue 21): sampling a partition and training a detector log rate
and ETA per batch in the Dagster run log; `fakeimg run` shows a bar over its jobs on a
terminal and nothing else where stderr is no terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path

import dagster as dg
import pytest

from fakeimg_assets.lib.progress import RateMeter, duration_text, rate_text
from fakeimg_assets.run_progress import JobProgress

RATE_LINE = re.compile(r"(?:epoch \d+/\d+: )?(sampled|trained) (\d+)/(\d+) images, "
                       r"[0-9.]+ img/s, ETA ([0-9.]+ s|\d+ min \d\d s|\d+ h \d\d min|unknown)$")


def run_log(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The user log lines of one run, as the UI's run log shows them."""
    return [e.user_message for e in instance.all_logs(run_id) if e.dagster_event is None]


def test_rate_meter_writes_one_line_per_batch_with_rate_and_eta() -> None:
    now = [0.0]
    lines: list[str] = []
    meter = RateMeter(16, log=lines.append, clock=lambda: now[0])
    for _ in range(4):
        now[0] += 2.5
        meter.update(4)
    assert lines == ["sampled 4/16 images, 1.6 img/s, ETA 7.5 s",
                     "sampled 8/16 images, 1.6 img/s, ETA 5.0 s",
                     "sampled 12/16 images, 1.6 img/s, ETA 2.5 s",
                     "sampled 16/16 images, 1.6 img/s, ETA 0.0 s"]
    assert all(RATE_LINE.match(x) for x in lines)
    # fast loops are throttled, the last batch always logged
    lines.clear()
    now[0] = 0.0
    fast = RateMeter(100, verb="trained", log=lines.append, every_s=5, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 1
        fast.update(10)
    assert [x.split(",")[0] for x in lines] == ["trained 10/100 images", "trained 60/100 images",
                                                "trained 100/100 images"]
    assert [duration_text(s) for s in (0.42, 12.4, 185, 7620)] == [
        "0.4 s", "12 s", "3 min 05 s", "2 h 07 min"]
    assert [rate_text(r) for r in (0.052, 3.21, 41.25, 1250.4)] == ["0.052", "3.2", "41.2", "1250"]


@pytest.mark.slow  # the zoo, real photos and prompts, one real partition: ~30 s on 2 cores
def test_sampling_a_partition_logs_rate_and_eta_per_batch(
    resources: dict, home: Path, zoo_catalog
) -> None:
    from fakeimg_assets.models.assets import model_metadata, sampled_images
    from tests.helpers.partitions import prepare_partition, run_partition
    from tests.helpers.zoo import pick

    model = pick(zoo_catalog, expect="ok", architecture="sd1")
    cfg = {"ops": {"sampled_images": {"config": {"images_per_model": 3, "steps": 2}}}}
    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, model.model_id)  # compute batch size 2
        assert run_partition(model_metadata, instance, resources, model.model_id).success
        result = run_partition(sampled_images, instance, resources, model.model_id,
                               run_config=cfg)
        assert result.success
        lines = [x for x in run_log(instance, result.run_id) if RATE_LINE.match(x)]
    assert [RATE_LINE.match(x).group(2, 3) for x in lines] == [("2", "3"), ("3", "3")], lines
    assert lines[-1].endswith("ETA 0.0 s")


@pytest.mark.slow  # a learnable home, its split and a 2-epoch tiny detector: ~25 s
def test_training_a_detector_logs_rate_and_eta_per_batch_and_each_epoch(
    tmp_path: Path,
) -> None:
    from fakeimg_assets.detection.assets import detector
    from fakeimg_assets.splits.assets import detector_dataset
    from tests.helpers.learnable_home import learnable_home

    _, resources = learnable_home(tmp_path)
    cfg = {"ops": {"detector": {"config": {"epochs": 2, "batch_size": 8}}}}
    with dg.instance_for_test() as instance:
        result = dg.materialize([detector_dataset, detector], resources=resources,
                                instance=instance, run_config=cfg)
        log = run_log(instance, result.run_id)
    rate = [RATE_LINE.match(x) for x in log if RATE_LINE.match(x)]
    assert {m.group(1) for m in rate} == {"trained"}
    total = int(rate[-1].group(3))
    assert rate[-1].group(2) == rate[-1].group(3) and rate[-1].group(4) == "0.0 s"
    # each epoch's last batch is logged: half the images at the end of epoch 1
    assert [m.group(0).split(":")[0] for m in rate if int(m.group(2)) in (total // 2, total)] \
        == ["epoch 1/2", "epoch 2/2"]
    epochs = [x for x in log if re.match(r"epoch \d/2 done: loss [0-9.]+, train accuracy "
                                         r"[0-9.]+, [0-9.]+ img/s, [0-9.]+ s$", x)]
    assert len(epochs) == 2, log


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_run_bar_shows_on_a_terminal_only_and_log_lines_go_above_it() -> None:
    screen = _Terminal()
    printed: list[str] = []
    bar = JobProgress(3, stream=screen)
    log = bar.wrap(printed.append)
    assert bar.shown
    for job in ("sampling org/a", "model_report", "detector chain"):
        bar.start(job)
        log(f"{job}: ok")
        bar.done()
    bar.close()
    assert printed == ["sampling org/a: ok", "model_report: ok", "detector chain: ok"]
    assert "3/3 jobs" in screen.getvalue() and "detector chain" in screen.getvalue()
    quiet = io.StringIO()  # a pipe, CI, a test's captured stderr: no bar at all
    off = JobProgress(3, stream=quiet)
    assert not off.shown and off.wrap(printed.append) == printed.append
    off.start("x")
    off.done()
    off.close()
    assert quiet.getvalue() == ""
    assert not JobProgress(3, enabled=False, stream=_Terminal()).shown
