"""Image files on disk under `$FAKEIMG_HOME/images`, never inside DuckDB."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from dagster import ConfigurableResource

from fakeimg_assets.paths import fakeimg_home, model_slug


class ImageStoreResource(ConfigurableResource):
    """Folders for fake and real images; rows store paths relative to `$FAKEIMG_HOME`.

    Relative paths keep the warehouse portable: move or export the folder and rows still
    point at their files.
    """

    home: str = ""

    def home_dir(self) -> Path:
        return fakeimg_home(self.home or None)

    def root(self) -> Path:
        return self.home_dir() / "images"

    def fake_dir(self, model_id: str) -> Path:
        return self.root() / "fake" / model_slug(model_id)

    def real_dir(self, source: str) -> Path:
        if not source or "/" in source or source.startswith("."):
            raise ValueError(f"invalid real image source name {source!r}")
        return self.root() / "real" / source

    def relative(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.home_dir()).as_posix()

    def absolute(self, relative: str) -> Path:
        return self.home_dir() / relative

    def staging_dir(self, final: Path) -> Path:
        """A fresh folder beside `final` to write a whole partition into before swapping."""
        staging = final.with_name(f".{final.name}.staging-{os.getpid()}-{uuid.uuid4().hex[:6]}")
        staging.mkdir(parents=True)
        return staging

    def publish_dir(self, staging: Path, final: Path) -> None:
        """Swap a finished staging folder into place; the old one goes only after that."""
        final.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:6]}")
            os.replace(final, old)
        os.replace(staging, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
