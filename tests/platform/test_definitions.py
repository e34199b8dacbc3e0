"""The code location loads fast, validates with the Dagster CLI, and holds every piece."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.repo import ROOT


def test_definitions_hold_every_asset_job_schedule_and_sensor() -> None:
    from fakeimg_assets.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "hub_catalog", "model_metadata", "sampled_images", "image_quality_stats", "prompts",
        "real_images", "detector_dataset", "detector", "detector_evaluation", "scaling_study",
        "real_photos", "shortcut_audit",
    } <= keys
    assert defs.resolve_sensor_def("new_hub_models")
    assert defs.resolve_schedule_def("daily_hub_crawl").cron_schedule == "0 4 * * *"
    for job in ("hub_crawl", "real_data", "sample_model", "train_detector"):
        assert defs.resolve_job_def(job)
    partitions = defs.resolve_assets_def("sampled_images").partitions_def
    assert partitions.name == "hub_models"


def test_code_location_imports_without_heavy_libraries() -> None:
    code = (
        "import sys, fakeimg_assets.definitions as d; "
        "heavy = [m for m in ('torch', 'diffusers', 'timm', 'transformers') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr


def test_cli_help_lists_contract_commands() -> None:
    exe = Path(sys.executable).with_name("fakeimg")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("zoo", "hub", "run"):
        assert cmd in out
    bad = subprocess.run([str(exe), "hub", "serve", str(ROOT / "no-such-dir")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "no-such-dir" in bad.stderr
