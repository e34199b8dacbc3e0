"""`fakeimg evaluate`: outside detectors scored like the platform's own, into eval_results.

One home with learnable synthetic images (tests/helpers/learnable_home.py) runs the real
chain (detector_dataset -> detector -> detector_evaluation); outside detectors are then
launched the way the CLI does, on the home's persistent Dagster instance.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from fakeimg_assets.evaluation.outside_scorers import command_scores
from fakeimg_assets.evaluation.outside_spec import parse_spec, result_key
from fakeimg_assets.outside_run import OutsideOptions, evaluate_outside
from tests.helpers.learnable_home import learnable_home

PERTURB = ["jpeg75"]
N_BOOT = 100
DOCS = Path(__file__).resolve().parents[2] / "docs" / "detectors.md"


def leaderboard_sql() -> str:
    """The documented leaderboard query (the docs page's `sql` block under Leaderboard)."""
    section = DOCS.read_text().split("## Leaderboard", 1)[1]
    return section.split("```sql\n", 1)[1].split("```", 1)[0]

SCRIPT = """
import sys, zlib
for line in sys.stdin:
    path = line.rstrip("\\n")
    print(zlib.crc32(path.encode()) % 1000 / 1000)  # any number per path
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory):
    """(home, main run row): the platform's detector trained and evaluated."""
    from fakeimg_assets.detection.assets import detector
    from fakeimg_assets.evaluation.assets import detector_evaluation
    from fakeimg_assets.splits.assets import detector_dataset
    from fakeimg_assets.warehouse.store import Warehouse

    home, resources = learnable_home(tmp_path_factory.mktemp("outside"))
    config = {"ops": {"detector": {"config": {"epochs": 1}},
                      "detector_evaluation": {"config": {
                          "n_boot": N_BOOT, "protocols": ["held_out_models", "external"],
                          "perturbations": PERTURB}}}}
    with dg.instance_for_test() as instance:
        result = dg.materialize([detector_dataset, detector, detector_evaluation],
                                resources=resources, instance=instance, run_config=config)
        assert result.success
    run = Warehouse(home).query("SELECT * FROM detector_runs WHERE purpose = 'main'")
    return home, run.row(0, named=True)


@pytest.fixture
def env(platform, monkeypatch: pytest.MonkeyPatch):
    home, run = platform
    monkeypatch.setenv("FAKEIMG_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # prepare_instance sets it
    return home, run


def outside(home: Path, spec: str, name: str = "", **kw) -> pl.DataFrame:
    opts = OutsideOptions(detector=spec, name=name, perturbations=PERTURB, n_boot=N_BOOT, **kw)
    return evaluate_outside(opts, home=home)


def compare(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select("protocol", "perturbation", "group_kind", "group_value", "n_real",
                       "n_fake", "ap", "ap_ci_low", "ap_ci_high", "accuracy", "auc").sort(
        "protocol", "perturbation", "group_kind", "group_value", nulls_last=True)


def test_exported_timm_folder_scores_exactly_the_platforms_own_rows(env) -> None:
    from fakeimg_assets.warehouse.store import Warehouse

    home, run = env
    rows = outside(home, run["timm_dir"], name="exported")
    ours = Warehouse(home).query("SELECT * FROM eval_results WHERE detector = ?", [run["run_id"]])
    assert rows.height == ours.height > 0
    assert set(rows["run_id"]) == {"outside:exported"} and set(rows["detector"]) == {"exported"}
    assert set(rows["perturbation"].drop_nulls()) == set(PERTURB)
    a, b = compare(rows), compare(ours)
    assert a.drop("ap", "ap_ci_low", "ap_ci_high", "accuracy", "auc").equals(
        b.drop("ap", "ap_ci_low", "ap_ci_high", "accuracy", "auc"))
    for col in ("ap", "ap_ci_low", "ap_ci_high", "accuracy", "auc"):
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), atol=1e-6, err_msg=col)
    instance = dg.DagsterInstance.get()  # the home's persistent instance: shown in `make dev`
    event = instance.get_latest_materialization_event(dg.AssetKey("outside_detector_evaluation"))
    assert event.asset_materialization.metadata["detector"].value == "exported"


def test_a_command_detector_lands_rows_under_its_name_and_reruns_replace_only_them(
        env, tmp_path: Path) -> None:
    from fakeimg_assets.warehouse.store import Warehouse

    home, run = env
    script = tmp_path / "my_detector.py"
    script.write_text(SCRIPT)
    rows = outside(home, f"{sys.executable} {script}", name="crc-detector")
    assert rows.height > 0 and set(rows["detector"]) == {"crc-detector"}
    wh = Warehouse(home)
    before = wh.query("SELECT count(*) AS n FROM eval_results WHERE detector <> 'crc-detector'")
    again = outside(home, f"cmd:{sys.executable} {script}", name="crc-detector")
    assert again.height == rows.height  # replaced, not appended
    after = wh.query("SELECT count(*) AS n FROM eval_results WHERE detector <> 'crc-detector'")
    assert before.equals(after)
    files = list((home / "parquet" / "outside_eval_results").glob("crc-detector-*.parquet"))
    assert [f.stem for f in files] == [result_key("crc-detector", run["split_id"])]
    board = wh.query(leaderboard_sql())
    with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60, tbl_hide_dataframe_shape=True):
        print("\n" + str(board))  # the docs quote it
    assert {"crc-detector", run["run_id"]} <= set(board["detector"])
    assert board.filter(pl.col("detector") == "crc-detector")["jpeg75_ap"][0] is not None
    newest = board.filter(pl.col("detector") == "crc-detector")["newest_ap"][0]
    assert newest is not None and 0.0 <= newest <= 1.0


@pytest.mark.parametrize(("body", "message"), [
    ("import sys\nfor i, _ in enumerate(sys.stdin):\n    print(0.5) if i else None\n",
     "line(s) for"),
    ("import sys\nfor i, _ in enumerate(sys.stdin):\n    print('high' if i == 2 else 0.1)\n",
     "output line 3 is 'high', not a finite number"),
    ("import sys\nsys.stdin.read()\nprint('model file missing', file=sys.stderr)\nsys.exit(3)\n",
     "exited with status 3: model file missing"),
    ("import sys\nfor _ in sys.stdin:\n    print('nan')\n", "output line 1 is 'nan'"),
])
def test_a_bad_command_is_refused_clearly_and_writes_nothing(env, tmp_path, body, message) -> None:
    home, _ = env
    script = tmp_path / "bad.py"
    script.write_text(body)
    table = home / "parquet" / "outside_eval_results"
    before = sorted(p.name for p in table.glob("*.parquet")) if table.exists() else []
    with pytest.raises(ValueError, match="outside detector 'bad'") as exc:
        outside(home, f"cmd:{sys.executable} {script}", name="bad")
    assert message in str(exc.value)
    after = sorted(p.name for p in table.glob("*.parquet")) if table.exists() else []
    assert after == before


def test_command_timeout_and_missing_program(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="did not finish within 0.5 s"):
        command_scores([sys.executable, "-c", "import time; time.sleep(5)"], ["a.png"], 0.5)
    with pytest.raises(ValueError, match="program 'no-such-program-x' not found"):
        command_scores(["no-such-program-x"], ["a.png"], 5)
    with pytest.raises(ValueError, match="holds a line break"):
        command_scores([sys.executable, "-c", "pass"], ["a\n.png"], 5)


def test_an_hf_hub_detector_is_fetched_through_the_verified_client(
        env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fakeimg_assets.testbed.local_hub.server import HubServer
    from fakeimg_assets.warehouse.store import Warehouse

    home, run = env
    root = tmp_path / "hub"
    repo = root / "someone" / "their-detector"
    repo.mkdir(parents=True)
    for f in ("config.json", "model.safetensors"):
        shutil.copyfile(Path(run["timm_dir"]) / f, repo / f)
    with HubServer(root) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        rows = outside(home, "hf-hub:someone/their-detector")
        fetched = [r for r in server.requests if "/resolve/" in str(r)]
    assert set(rows["detector"]) == {"someone/their-detector"}
    ours = Warehouse(home).query("SELECT * FROM eval_results WHERE detector = ?", [run["run_id"]])
    np.testing.assert_allclose(compare(rows)["ap"].to_numpy(), compare(ours)["ap"].to_numpy(),
                               atol=1e-6)
    assert fetched, "the weights came from the local Hub"
    assert list((home / "hf-cache").rglob("model.safetensors"))  # the platform's own cache


def test_a_repo_without_safetensors_or_with_weights_that_do_not_fit_is_refused(
        env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from fakeimg_assets.testbed.local_hub.server import HubServer

    home, run = env
    root = tmp_path / "hub"
    (root / "a" / "no-weights").mkdir(parents=True)
    shutil.copyfile(Path(run["timm_dir"]) / "config.json", root / "a" / "no-weights" / "config.json")
    wide = root / "a" / "wide"
    wide.mkdir()
    config = json.loads((Path(run["timm_dir"]) / "config.json").read_text())
    config["model_args"] = {"stem_width": 4096}  # asks for another (bigger) model
    (wide / "config.json").write_text(json.dumps(config))
    shutil.copyfile(Path(run["timm_dir"]) / "model.safetensors", wide / "model.safetensors")
    with HubServer(root) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        with pytest.raises(ValueError, match="has no model.safetensors"):
            outside(home, "hf-hub:a/no-weights")
        with pytest.raises(ValueError, match="does not fit the architecture"):
            outside(home, "hf-hub:a/wide")


@pytest.mark.parametrize(("spec", "message"), [
    ("resnet50.a1_in1k", "plain timm architecture name has no fake-detector weights"),
    ("nope:thing", "is none of the three kinds"),
    ("", "empty detector SPEC"),
    ("hf-hub:../etc", "is no Hub repo id ORG/NAME"),
    ("local-dir:/no/such/folder", "no such folder"),
    ("cmd:", "the command is empty"),
    ("cmd:python 'unclosed", "cannot split the command"),
])
def test_unknown_or_malformed_specs_are_refused_naming_the_kinds(spec, message) -> None:
    with pytest.raises(ValueError, match="detector SPEC") as exc:
        parse_spec(spec)
    assert message in str(exc.value)


def test_spec_rule_decides_one_kind(tmp_path: Path) -> None:
    folder = tmp_path / "run 1" / "timm"  # a folder with a space is still a folder
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    assert parse_spec(str(folder)).kind == "timm_folder"
    assert parse_spec(str(folder)).default_name == "run 1"
    assert parse_spec(f"local-dir:{folder}").kind == "timm_folder"
    assert parse_spec("hf-hub:org/det").target == "org/det"
    assert parse_spec("python det.py --fast").target == ("python", "det.py", "--fast")
    assert parse_spec("cmd:./det").target == ("./det",)
    with pytest.raises(ValueError, match="is no timm folder"):
        parse_spec(str(tmp_path))
    program = tmp_path / "det.sh"
    program.write_text("#!/bin/sh\n")
    with pytest.raises(ValueError, match=f"write cmd:{program}"):
        parse_spec(str(program))


def test_cli_refuses_bad_arguments_before_any_work(home: Path, capsys) -> None:
    from fakeimg_assets.cli import main

    for args, message in [
        (["--detector", "resnet50"], "none of the three kinds"),
        (["--detector", "cmd:true", "--n-boot", "0"], "n_boot must be > 0, got 0"),
        (["--detector", "cmd:true", "--timeout", "-1"], "timeout_s must be > 0, got -1"),
        (["--detector", "cmd:true", "--name", "a\nb"], "printable characters on one line"),
        (["--detector", "cmd:true", "--device", "tpu"], "unknown device 'tpu'"),
        (["--detector", "cmd:true"], "holds no fakeimg warehouse"),
    ]:
        assert main(["evaluate", *args]) == 2
        assert message in capsys.readouterr().err, args
    assert not (home / "dagster").exists()  # nothing started


def test_cli_evaluate_prints_the_headline_and_exits_zero(env, tmp_path: Path, capsys) -> None:
    from fakeimg_assets.cli import main
    from fakeimg_assets.warehouse.store import Warehouse

    home, _ = env
    script = tmp_path / "det.py"
    script.write_text(SCRIPT)
    code = main(["evaluate", "--detector", f"{sys.executable} {script}", "--name", "cli-det",
                 "--no-perturbations", "--n-boot", "50"])
    out = capsys.readouterr().out
    assert code == 0 and "cli-det" in out and "held_out_models" in out
    rows = Warehouse(home).query("SELECT * FROM eval_results WHERE detector = 'cli-det'")
    assert rows.height > 0 and rows["perturbation"].null_count() == rows.height
