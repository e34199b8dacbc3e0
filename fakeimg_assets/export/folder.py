"""The export's target folder: what may be replaced, the temp folder beside it, the rename.

An export is built in a hidden temp folder next to DIR and renamed into place only when
complete, so an interrupted export never leaves a half dataset that looks complete (a
crash leaves a `.NAME.export-*` folder, removed by a later export once it is hours old).
DIR may be missing, empty, or a previous fakeimg export whose files are all listed in its
SHA256SUMS (so nothing of the user's is lost); anything else is refused naming the file in
the way.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from fakeimg_assets.export.checksums import SUMS_NAME, read_sums

MANIFEST_NAME = "fakeimg-export.json"
STALE_S = 6 * 3600.0
FORMAT = "fakeimg-export/1"


def check_target(out: Path) -> None:
    """Refuse (ValueError naming the path) a DIR that an export must not replace."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ValueError(f"export folder {out} is not a folder (a file or link is in the way)")
    if not out.exists():
        if not out.parent.is_dir():
            raise FileNotFoundError(f"parent folder of the export does not exist: {out.parent}")
        return
    entries = sorted(out.rglob("*"))
    if not entries:
        return
    manifest = out / MANIFEST_NAME
    try:
        is_export = json.loads(manifest.read_text(encoding="utf-8")).get("format") == FORMAT
        listed = set(read_sums(out))
    except (OSError, ValueError, AttributeError):
        is_export, listed = False, set()
    if not is_export:
        first = next((p for p in entries if p.is_file() or p.is_symlink()), entries[0])
        raise ValueError(f"export folder {out} is not empty and not a fakeimg export "
                         f"(no valid {MANIFEST_NAME}); in the way: {first}")
    for path in entries:
        rel = path.relative_to(out).as_posix()
        if path.is_symlink() or (path.is_file() and rel not in listed and rel != SUMS_NAME):
            raise ValueError(f"export folder {out} holds a file that is not part of the "
                             f"previous export (not in its {SUMS_NAME}): {path}")


def temp_beside(out: Path) -> Path:
    """A fresh hidden folder next to `out`; those of exports that crashed over `STALE_S`
    ago are removed (a younger one may belong to an export still running)."""
    now = time.time()
    for stale in out.parent.glob(f".{out.name}.export-*"):
        try:
            old = now - stale.stat().st_mtime > STALE_S
        except OSError:
            continue
        if old:
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would make the published folder private
    return tmp


def publish(tmp: Path, out: Path) -> None:
    """Move the finished export into place, replacing a previous one (checked already)."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-old-", dir=out.parent))
        os.replace(out, old / "previous")
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
