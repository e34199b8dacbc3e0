"""`fakeimg detect`: files and folders scored by a real trained detector's timm folder, one
row per image, an error row per unreadable file, exit status, CSV and JSON shapes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pytest

from fakeimg_assets.cli import main
from fakeimg_assets.detection.detect import Detection, detect
from fakeimg_assets.detection.synthetic import make_synthetic_dataset, synthetic_image
from fakeimg_assets.detection.train import TrainConfig, predict, train_detector


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("detect")
    samples = make_synthetic_dataset(root / "data", 6, 6, size=32, seed=4)
    cfg = TrainConfig(backbone="tiny-resnet", epochs=1, batch_size=6, seed=1, num_threads=1)
    return train_detector(samples, root / "run", cfg)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Good images (one in a sub-folder, one JPEG, one grey), a corrupt PNG, a non-image, a
    hidden file."""
    rng = np.random.default_rng(0)
    top = tmp_path / "images"
    (top / "sub").mkdir(parents=True)
    synthetic_image(1, rng, 40).save(top / "b.png")
    synthetic_image(0, rng, 48).convert("L").save(top / "a.PNG")
    synthetic_image(0, rng, 36).save(top / "sub" / "c.jpg", quality=90)
    (top / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (top / "notes.txt").write_text("not an image")
    synthetic_image(1, rng, 40).save(top / ".hidden.png")
    return top


def cli(args: list[str], capsys) -> tuple[int, str, str]:  # noqa: ANN001
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_folder_with_a_corrupt_file_scores_the_rest_and_exits_nonzero(run, folder, capsys) -> None:
    code, out, err = cli(["detect", str(folder), "--detector", str(run.timm_dir)], capsys)
    assert code == 1
    assert "1 of 4 file(s) could not be scored" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["path", "score", "label", "error"]
    names = [Path(r["path"]).relative_to(folder).as_posix() for r in rows]
    assert names == ["a.PNG", "b.png", "broken.png", "sub/c.jpg"]  # sorted; txt, hidden left out
    broken = rows[2]
    assert broken["score"] == "" and broken["label"] == "" and "unreadable image" in broken["error"]
    good = [r for r in rows if not r["error"]]
    expected = predict(run.checkpoint_dir, [r["path"] for r in good])
    np.testing.assert_allclose([float(r["score"]) for r in good], expected, atol=1e-6)
    assert [r["label"] for r in good] == ["fake" if s >= 0.5 else "real" for s in expected]


def test_json_output_to_a_file_and_the_python_function(run, folder, tmp_path, capsys) -> None:
    target = tmp_path / "out.json"
    code, out, _ = cli(["detect", str(folder / "b.png"), str(folder / "sub"), "--format", "json",
                        "--detector", str(run.timm_dir), "--output", str(target),
                        "--batch-size", "1", "--quiet"], capsys)
    assert code == 0 and out == ""
    rows = json.loads(target.read_text())
    assert [set(r) for r in rows] == [{"path", "score", "label", "error"}] * 2
    assert [Path(r["path"]).name for r in rows] == ["b.png", "c.jpg"]
    assert all(r["error"] is None and 0.0 <= r["score"] <= 1.0 for r in rows)
    got = detect([folder / "b.png", folder / "notes.txt"], run.checkpoint_dir, batch_size=3)
    assert isinstance(got[0], Detection) and got[0].error is None
    assert got[0].score == pytest.approx(rows[0]["score"], abs=1e-6)
    assert got[1].score is None and "unreadable image" in got[1].error  # named explicitly


def test_default_detector_is_the_newest_main_run_of_the_home(run, folder, home, capsys) -> None:
    from fakeimg_assets.warehouse.store import Warehouse

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = [{"run_id": "old", "purpose": "main", "created_at": t0, "timm_dir": str(home / "gone"),
             "checkpoint_path": str(home / "gone")},
            {"run_id": "new", "purpose": "main", "created_at": t0 + dt.timedelta(days=1),
             "timm_dir": str(run.timm_dir), "checkpoint_path": str(run.checkpoint_dir)},
            {"run_id": "study", "purpose": "scaling", "created_at": t0 + dt.timedelta(days=2),
             "timm_dir": str(home / "gone"), "checkpoint_path": str(home / "gone")}]
    Warehouse(home).write("trained_detectors", "runs", rows)
    code, out, _ = cli(["detect", str(folder / "b.png"), "--quiet"], capsys)
    assert code == 0 and len(list(csv.DictReader(io.StringIO(out)))) == 1


@pytest.mark.parametrize(("args", "message"), [
    (["nope.png"], "no such file or folder: nope.png"),
    (["{folder}", "--batch-size", "0"], "--batch-size must be > 0, got 0"),
    (["{folder}", "--detector", "{folder}"], "neither a timm folder"),
    (["{folder}", "--detector", "missing-dir"], "detector missing-dir: no such folder"),
    (["{folder}", "--device", "tpu"], "unknown device 'tpu'; valid: auto, cpu, cuda, cuda:N"),
    (["{folder}", "--output", "{folder}"], "not a file in an existing folder"),
])
def test_bad_arguments_are_refused_naming_the_problem(args, message, folder, home, capsys) -> None:
    code, out, err = cli(["detect", *[a.format(folder=folder) for a in args]], capsys)
    assert code == 2 and out == "" and message in err


def test_without_a_detector_in_the_home_the_error_says_what_to_do(folder, home, capsys) -> None:
    code, _, err = cli(["detect", str(folder)], capsys)
    assert code == 2 and "pass --detector DIR" in err


def test_an_unknown_format_is_refused_by_the_parser(folder, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["detect", str(folder), "--format", "xml"])
    assert exc.value.code == 2 and "invalid choice: 'xml'" in capsys.readouterr().err


def test_a_run_written_before_timm_dir_existed_reads_null_and_detect_uses_its_checkpoint(
        run, folder, home, capsys) -> None:
    import polars as pl

    from fakeimg_assets.warehouse.store import Warehouse

    wh = Warehouse(home)
    wh.write("trained_detectors", "other", [{"run_id": "x", "purpose": "scaling"}])  # folder
    old = pl.DataFrame({"run_id": ["old"], "purpose": ["main"],  # the old schema: no timm_dir
                        "created_at": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)],
                        "checkpoint_path": [str(run.checkpoint_dir)]})
    old.write_parquet(home / "parquet" / "trained_detectors" / "old.parquet")
    got = wh.query("SELECT run_id, timm_dir FROM detector_runs WHERE run_id = 'old'")
    assert got.to_dicts() == [{"run_id": "old", "timm_dir": None}]
    code, out, _ = cli(["detect", str(folder / "b.png"), "--quiet"], capsys)
    score = float(next(csv.DictReader(io.StringIO(out)))["score"])
    assert code == 0 and score == pytest.approx(
        float(predict(run.checkpoint_dir, [folder / "b.png"])[0]), abs=1e-6)


def test_a_timm_folder_whose_config_builds_another_model_is_refused(run, folder, tmp_path,
                                                                    capsys) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(run.timm_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["model_args"] = {"stem_width": 1 << 16}  # a far bigger stem: built on meta only
    (other / "config.json").write_text(json.dumps(config))
    code, out, err = cli(["detect", str(folder), "--detector", str(other)], capsys)
    assert code == 2 and out == "" and "does not fit the architecture" in err
