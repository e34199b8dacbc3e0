"""The shortcut audit: metadata alone must not tell fake from real, or the detector waits.

Images are written straight into the warehouse (no generator needed): fakes as PNG noise
from several "models", reals from several "photos". Planting a shortcut (reals saved as
JPEG, or at another size) must block `detector` through the blocking check; matched classes
must pass. The demo-like world in tests/real/test_real_assets.py checks a real sampled
dataset passes too.
"""

from __future__ import annotations

import io
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from PIL import Image

from fakeimg_assets.audit.assets import CHECK_NAME, run_audit, shortcut_audit
from fakeimg_assets.audit.features import FEATURE_SETS, feature_matrix, file_features
from fakeimg_assets.detection.assets import detector
from fakeimg_assets.lib.png import encode_png
from fakeimg_assets.warehouse.store import Warehouse


def _noise(seed: int, size: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (size // 4, size // 4, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.NEAREST)


def _write(home: Path, *, real_format: str = "PNG", real_size: int = 64) -> list[dict]:
    """12 fake models x 8 images and 10 photos x 8 crops, files plus `images` rows."""
    wh, rows = Warehouse(home), []
    for label, n_groups, fmt, size in (("fake", 12, "PNG", 64), ("real", 10, real_format, real_size)):
        for g in range(n_groups):
            group_rows = []
            for i in range(8):
                im = _noise(hash((label, g, i)) & 0xFFFF, size)
                if fmt == "PNG":
                    data = encode_png(im)
                elif fmt == "PNG0":  # another encoder's PNG: same pixels, other bytes
                    buf = io.BytesIO()
                    im.save(buf, format="PNG", compress_level=0)
                    data = buf.getvalue()
                else:
                    buf = io.BytesIO()
                    im.save(buf, format="JPEG", quality=70 + (i * 3) % 25)
                    data = buf.getvalue()
                rel = f"images/{label}/{g}/{i}.{fmt.lower()[:4]}"
                (home / rel).parent.mkdir(parents=True, exist_ok=True)
                (home / rel).write_bytes(data)
                group_rows.append({
                    "image_id": f"{label}:{g}:{i}", "label": label, "path": rel,
                    "source": f"org/model-{g}" if label == "fake" else "photos",
                    "photo_id": f"photos:{g:016x}" if label == "real" else None,
                    "width": size, "height": size, "format": fmt, "mode": "RGB",
                })
            wh.write(f"{label}_images", f"{label}-{g}", group_rows)
            rows += group_rows
    return rows


def _resources(home: Path) -> dict:
    from fakeimg_assets.definitions import build_resources
    from resources import ComputeResource

    return build_resources(home=str(home), endpoint="http://127.0.0.1:9",
                           compute=ComputeResource(device="cpu"))


def _started(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}


@pytest.mark.parametrize("shortcut", ["jpeg_reals", "smaller_reals", "other_png_encoder"])
def test_planted_shortcut_blocks_the_detector(home: Path, shortcut: str) -> None:
    if shortcut == "jpeg_reals":
        _write(home, real_format="JPEG")
    elif shortcut == "other_png_encoder":
        _write(home, real_format="PNG0")
    else:
        _write(home, real_size=48)
    with dg.instance_for_test() as instance:
        result = dg.materialize([shortcut_audit, detector], resources=_resources(home),
                                instance=instance, raise_on_error=False)
    checks = result.get_asset_check_evaluations()
    assert [c.check_name for c in checks] == [CHECK_NAME]
    assert not checks[0].passed
    assert "> 0.65" in checks[0].description and "metadata alone" in checks[0].description
    assert _started(result) == {"shortcut_audit"}  # detector blocked: never even started
    assert not result.success
    row = Warehouse(home).read("shortcut_audit").filter(feature_set="metadata").row(0, named=True)
    assert row["auc"] > 0.9 and row["passed"] is False
    assert row["auc_ci_low"] <= row["auc"] <= row["auc_ci_high"] and row["n_images"] == 176


def test_matched_classes_pass_the_audit(home: Path) -> None:
    _write(home)
    with dg.instance_for_test() as instance:
        result = dg.materialize([shortcut_audit], resources=_resources(home), instance=instance,
                                raise_on_error=False)
    checks = result.get_asset_check_evaluations()
    assert checks[0].passed, checks[0].description
    rows = Warehouse(home).read("shortcut_audit")
    assert set(rows["feature_set"]) == set(FEATURE_SETS)
    assert rows["auc"].max() <= 0.65


def test_threshold_edge_is_inclusive(home: Path) -> None:
    rows = _write(home, real_format="JPEG")

    def read(p: str) -> bytes:
        return (home / p).read_bytes()

    planted = run_audit(rows, read, threshold=1.0)
    assert planted["scores"]["metadata"][0].auc == 1.0
    assert planted["passed"]  # AUC 1.0 <= 1.0: at the threshold passes
    assert not run_audit(rows, read, threshold=0.999)["passed"]
    assert any("format" in t or "jpeg" in t for t in planted["top"])


def test_features_see_exif_icc_jpeg_tables_and_grayscale() -> None:
    im = _noise(1, 32)
    exif = Image.Exif()
    exif[0x0110] = "camera"
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=50, exif=exif.tobytes(), icc_profile=b"\0" * 128)
    f = file_features(buf.getvalue())
    assert f["format_JPEG"] == 1 and f["has_exif"] == 1 and f["has_icc"] == 1
    assert f["jpeg_q0_mean"] > 0 and f["jpeg_n_tables"] >= 1
    g = file_features(encode_png(im.convert("L")))
    assert g["grayscale"] == 1 and g["mode_L"] == 1 and g["has_exif"] == 0
    assert g["jpeg_q0_mean"] == 0 and g["bytes_per_pixel"] > 0
    with pytest.raises(ValueError, match="unreadable image"):
        file_features(b"nope")
    with pytest.raises(KeyError, match="unknown audit feature set"):
        feature_matrix([f], "pixels")
