"""Image files on disk under `$FAKEIMG_HOME/images`, never inside DuckDB."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from fakeimg_assets.integrity.publish import PartitionWriter, RowStore, partition_folder
from fakeimg_assets.lib.paths import fakeimg_home, model_slug


class ImageStoreResource(ConfigurableResource):
    """Folders for fake and real images; rows store paths relative to `$FAKEIMG_HOME`.

    Relative paths keep the warehouse portable: move or export the folder and rows still
    point at their files. Each partition's files live in a fresh version folder
    (`images/fake/<org--name>/<version>/`), published by `partition_writer`.
    """

    home: str = ""

    def home_dir(self) -> Path:
        return fakeimg_home(self.home or None)

    def root(self) -> Path:
        return self.home_dir() / "images"

    def fake_dir(self, model_id: str) -> Path:
        """The folder holding every version of one model's images."""
        return partition_folder(self.home_dir(), "fake", model_slug(model_id))

    def real_dir(self, source: str) -> Path:
        if not source or "/" in source or source.startswith("."):
            raise ValueError(f"invalid real image source name {source!r}")
        return partition_folder(self.home_dir(), "real", source)

    def relative(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.home_dir()).as_posix()

    def absolute(self, relative: str) -> Path:
        return self.home_dir() / relative

    def partition_writer(self, kind: str, name: str, rows: RowStore) -> PartitionWriter:
        """Crash-consistent writer of one partition's files and `images` rows.

        `kind` is "fake" (name: the model slug) or "real" (name: the source).
        """
        if kind == "real":
            self.real_dir(name)
        return PartitionWriter(self.home_dir(), kind, name, rows)
