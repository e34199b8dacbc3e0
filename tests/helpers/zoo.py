"""Picking zoo models by what they are expected to do, and one as a local prepared snapshot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def pick(catalog: list, *, expect: str, architecture: str | None = None, reason: str = ""):
    """First zoo model with this expectation (and architecture / reason word)."""
    for m in catalog:
        if m.expect != expect:
            continue
        if architecture and m.architecture != architecture:
            continue
        if reason and reason not in (m.reason or "").lower() and reason not in m.model_id:
            continue
        return m
    raise LookupError(f"no zoo model with expect={expect} architecture={architecture} {reason}")


def local_prepared(zoo_dir: Path, zoo_catalog: list, tmp_path: Path):
    """A zoo sd1 repo as a prepared snapshot (no Hub), planned exactly as the Hub would."""
    from fakeimg_assets.sampling.plan import plan_download
    from fakeimg_assets.sampling.recipes import get_recipe
    from fakeimg_assets.sampling.types import PreparedModel

    src = zoo_dir / pick(zoo_catalog, expect="ok", architecture="sd1").model_id
    local = tmp_path / "snap"
    shutil.copytree(src, local)
    sizes = {
        p.relative_to(local).as_posix(): p.stat().st_size
        for p in local.rglob("*") if p.is_file() and not p.name.startswith(".")
    }
    index = json.loads((local / "model_index.json").read_text())
    plan = plan_download(index, sizes, model_id="o/m")
    return PreparedModel("o/m", "0" * 40, local, plan, get_recipe(plan.recipe))
