"""A staged collection as it lies on disk: `$FAKEIMG_HOME/collections/<name>/manifest.json`
plus the image files it lists, paths relative to the collection's folder.

```
{"name", "role", "source", "source_kind", "source_revision", "added_at", "revision",
 "generators": [{"generator", "name", "family_group", "family", "architecture",
   "release_date", "license", "n_images", "n_bytes", "digest", "images": [RECORD...]}],
 "reals": [RECORD...],
 "problems": [{"generator", "file", "reason"}]}
RECORD = {"file", "sha256", "original", "prompt", "width", "height", "format", "mode"}
```
A generator's images lie at `images/<generator>/<sha256[:16]>.<ext>`, the reals at
`real/<sha256[:16]>.<ext>`, `ext` by the decoded format (`FORMAT_EXT`); the bytes are the
source's own (never re-encoded). `digest` is the sha256 of the generator's sorted image
sha256s (one per line, each line ending in a newline); `revision` the sha256 of the lines
`<generator> <digest>` (sorted by generator) followed by `real <digest of the reals>`: the
same images under the same ids give the same revision, whatever the order or the time.

Reading checks everything a reader will turn into a path or trust: names, files (exactly
the path the record's sha256 and format give), counts, digests and the revision. A manifest
that fails any check raises `ManifestError` naming the file and what is wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fakeimg_assets.collections.metadata import release_date_problem
from fakeimg_assets.lib.family_groups import FAMILY_GROUPS
from fakeimg_assets.lib.leftovers import writer_id
from fakeimg_assets.lib.paths import name_problem, shown_id

ROLES = ("train", "eval", "both")
SOURCE_KINDS = ("folder", "cf_parquet", "hub_dataset")
MANIFEST_NAME = "manifest.json"
COLLECTIONS_FOLDER = "collections"
# PIL format -> the stored file's extension; only these formats are staged
FORMAT_EXT = {"PNG": "png", "JPEG": "jpg", "MPO": "jpg", "WEBP": "webp", "BMP": "bmp",
              "TIFF": "tif"}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")


class CollectionNotFoundError(FileNotFoundError):
    """No staged collection of that name; the message lists the known ones."""


class ManifestError(ValueError):
    """A manifest.json that cannot be trusted; the message names the file and why."""


@dataclass(frozen=True)
class ImageRecord:
    """One stored image: where it lies, its bytes' sha256 and what decoding it showed."""

    file: str
    sha256: str
    original: str  # its name in the source (a path, or `file.parquet#row`)
    prompt: str | None
    width: int
    height: int
    format: str  # PIL format: 'PNG', 'JPEG', ...
    mode: str  # PIL mode: 'RGB', 'L', 'RGBA', ...


@dataclass(frozen=True)
class GeneratorEntry:
    """One generator of the collection and its images."""

    generator: str  # safe id: the partition key's generator part
    name: str  # as the source spells it
    family_group: str
    family: str | None
    architecture: str | None
    release_date: str | None  # 'YYYY-MM-DD'
    license: str | None
    n_images: int
    n_bytes: int
    digest: str
    images: tuple[ImageRecord, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Problem:
    """A file, row or line of the source that was not taken, and why."""

    generator: str | None
    file: str
    reason: str


@dataclass(frozen=True)
class Collection:
    """A staged collection: the content of its manifest.json."""

    name: str
    role: str
    source: str
    source_kind: str
    source_revision: str | None
    added_at: str
    revision: str
    generators: tuple[GeneratorEntry, ...]
    reals: tuple[ImageRecord, ...]
    problems: tuple[Problem, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def generator(self, generator: str) -> GeneratorEntry:
        """The entry of one generator id; KeyError naming the ids there are."""
        for entry in self.generators:
            if entry.generator == generator:
                return entry
        raise KeyError(
            f"collection {self.name!r} has no generator {generator!r} "
            f"(it has {', '.join(g.generator for g in self.generators)})"
        )


def image_file(generator: str, sha256: str, fmt: str) -> str:
    """Where a generator's image is stored, relative to the collection's folder."""
    return f"images/{generator}/{sha256[:16]}.{FORMAT_EXT[fmt]}"


def real_file(sha256: str, fmt: str) -> str:
    """Where a real image is stored, relative to the collection's folder."""
    return f"real/{sha256[:16]}.{FORMAT_EXT[fmt]}"


def digest_of(sha256s: Iterable[str]) -> str:
    """sha256 of the sorted sha256s, one per line."""
    return hashlib.sha256("".join(f"{s}\n" for s in sorted(sha256s)).encode()).hexdigest()


def revision_of(generator_digests: dict[str, str], real_sha256s: Iterable[str]) -> str:
    """The collection's content revision: its generators' digests and its reals'."""
    lines = [f"{g} {d}\n" for g, d in sorted(generator_digests.items())]
    lines.append(f"real {digest_of(real_sha256s)}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def check_collection_name(name: object) -> str:
    """`name` if it is a safe collection name, else ValueError naming it and why."""
    problem = name_problem(name, "collection name")
    if problem:
        raise ValueError(
            f"invalid collection name {shown_id(name)}: {problem}; use letters, digits, "
            "'-', '_' or '.' (at most 96, no '--' or '..', not starting or ending in '-' or '.')"
        )
    return str(name)


def check_role(role: object) -> str:
    if role not in ROLES:
        raise ValueError(f"invalid collection role {shown_id(role)}: use one of {', '.join(ROLES)}")
    return str(role)


def collections_root(home: str | os.PathLike[str]) -> Path:
    return Path(home) / COLLECTIONS_FOLDER


def collection_dir(home: str | os.PathLike[str], name: str) -> Path:
    """`$FAKEIMG_HOME/collections/<name>`, refusing a name that is not safe."""
    return collections_root(home) / check_collection_name(name)


def collection_names(home: str | os.PathLike[str]) -> list[str]:
    """Names of the staged collections (folders holding a manifest), sorted."""
    root = collections_root(home)
    if not root.is_dir():
        return []
    return sorted(
        e.name for e in os.scandir(root)
        if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
        and name_problem(e.name, "c") is None and Path(e.path, MANIFEST_NAME).is_file()
    )


def read_manifest(home: str | os.PathLike[str], name: str) -> Collection:
    """The checked manifest of collection `name`; CollectionNotFoundError (listing the known
    collections) when there is none, ManifestError naming the file when it is damaged."""
    path = collection_dir(home, name) / MANIFEST_NAME
    if not path.is_file():
        known = collection_names(home)
        raise CollectionNotFoundError(
            f"no collection {name!r} under {collections_root(home)}; known collections: "
            f"{', '.join(known) if known else 'none'} (add one with `fakeimg collection add`)"
        )
    return load_manifest(path, expected_name=name)


def list_manifests(home: str | os.PathLike[str]) -> list[Collection]:
    """Every staged collection, by name; a damaged manifest raises ManifestError naming it."""
    return [read_manifest(home, name) for name in collection_names(home)]


def load_manifest(path: Path, *, expected_name: str | None = None) -> Collection:
    """Read and check one manifest file."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"damaged collection manifest {path}: {exc}") from exc
    try:
        collection = collection_from_dict(raw)
    except (ValueError, TypeError, KeyError) as exc:
        raise ManifestError(f"damaged collection manifest {path}: {exc}") from exc
    if expected_name is not None and collection.name != expected_name:
        raise ManifestError(
            f"damaged collection manifest {path}: it names collection {collection.name!r}, "
            f"not {expected_name!r}"
        )
    return collection


def write_manifest(folder: Path, collection: Collection) -> Path:
    """Write `folder/manifest.json` durably (temp file, fsync, rename)."""
    path = Path(folder) / MANIFEST_NAME
    tmp = path.with_name(f".{MANIFEST_NAME}.{writer_id()}.tmp")
    data = json.dumps(collection.to_dict(), indent=1, ensure_ascii=False) + "\n"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


# ---- checking what is read


def _get(d: Any, key: str, types: type | tuple[type, ...], where: str, *,
         nullable: bool = False) -> Any:
    if not isinstance(d, dict):
        raise TypeError(f"{where} is not an object")
    if key not in d:
        raise KeyError(f"{where} has no {key!r}")
    value = d[key]
    if value is None and nullable:
        return None
    wanted = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
        raise TypeError(f"{where}.{key} is {shown_id(value)}, not {_type_names(wanted)}")
    return value


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


def _record(d: Any, where: str, expected_file: Any) -> ImageRecord:
    sha = _get(d, "sha256", str, where)
    if not _SHA256.fullmatch(sha):
        raise ValueError(f"{where}.sha256 {shown_id(sha)} is not 64 hex digits")
    fmt = _get(d, "format", str, where)
    if fmt not in FORMAT_EXT:
        raise ValueError(f"{where}.format {shown_id(fmt)} is not one of {', '.join(FORMAT_EXT)}")
    file = _get(d, "file", str, where)
    if file != expected_file(sha, fmt):
        raise ValueError(
            f"{where}.file {shown_id(file)} is not {expected_file(sha, fmt)!r} (the path its "
            "sha256 and format give)"
        )
    width, height = _get(d, "width", int, where), _get(d, "height", int, where)
    if width < 1 or height < 1:
        raise ValueError(f"{where} has size {width}x{height}")
    return ImageRecord(
        file=file, sha256=sha, original=_get(d, "original", str, where),
        prompt=_get(d, "prompt", str, where, nullable=True), width=width, height=height,
        format=fmt, mode=_get(d, "mode", str, where),
    )


def _generator(d: Any, where: str) -> GeneratorEntry:
    gen = _get(d, "generator", str, where)
    problem = name_problem(gen, "generator id")
    if problem:
        raise ValueError(f"{where}.generator {shown_id(gen)}: {problem}")
    where = f"generator {gen!r}"
    group = _get(d, "family_group", str, where)
    if group not in FAMILY_GROUPS:
        raise ValueError(f"{where}.family_group {shown_id(group)} is not one of "
                         f"{', '.join(FAMILY_GROUPS)}")
    date = _get(d, "release_date", str, where, nullable=True)
    if date is not None and (bad := release_date_problem(date)):
        raise ValueError(f"{where}: {bad}")
    images = tuple(
        _record(r, f"{where}.images[{i}]", lambda sha, fmt: image_file(gen, sha, fmt))
        for i, r in enumerate(_get(d, "images", list, where))
    )
    shas = [r.sha256 for r in images]
    if len(set(shas)) != len(shas) or len({s[:16] for s in shas}) != len(shas):
        raise ValueError(f"{where} lists one image file twice")
    n_images, n_bytes = _get(d, "n_images", int, where), _get(d, "n_bytes", int, where)
    digest = _get(d, "digest", str, where)
    if n_images != len(images) or n_images < 1 or n_bytes < 0:
        raise ValueError(f"{where}.n_images is {n_images} but it lists {len(images)} images")
    if digest != digest_of(shas):
        raise ValueError(f"{where}.digest does not match its images' sha256s")
    return GeneratorEntry(
        generator=gen, name=_get(d, "name", str, where), family_group=group,
        family=_get(d, "family", str, where, nullable=True),
        architecture=_get(d, "architecture", str, where, nullable=True),
        release_date=date, license=_get(d, "license", str, where, nullable=True),
        n_images=n_images, n_bytes=n_bytes, digest=digest, images=images,
    )


def collection_from_dict(d: Any) -> Collection:
    """A `Collection` from parsed JSON, every field checked (ValueError/TypeError/KeyError)."""
    where = "manifest"
    name = check_collection_name(_get(d, "name", str, where))
    role = check_role(_get(d, "role", str, where))
    kind = _get(d, "source_kind", str, where)
    if kind not in SOURCE_KINDS:
        raise ValueError(f"source_kind {shown_id(kind)} is not one of {', '.join(SOURCE_KINDS)}")
    source_revision = _get(d, "source_revision", str, where, nullable=True)
    if source_revision is not None and not _COMMIT.fullmatch(source_revision):
        raise ValueError(f"source_revision {shown_id(source_revision)} is not a 40-hex commit")
    added_at = _get(d, "added_at", str, where)
    try:
        dt.datetime.fromisoformat(added_at.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"added_at {shown_id(added_at)} is not an ISO time") from exc
    generators = tuple(
        _generator(g, f"generators[{i}]") for i, g in enumerate(_get(d, "generators", list, where))
    )
    ids = [g.generator for g in generators]
    if not generators or len(set(ids)) != len(ids):
        raise ValueError("generators are missing or listed twice")
    reals = tuple(
        _record(r, f"reals[{i}]", real_file) for i, r in enumerate(_get(d, "reals", list, where))
    )
    if len({r.sha256[:16] for r in reals}) != len(reals):
        raise ValueError("reals list one image file twice")
    problems = tuple(
        Problem(
            generator=_get(p, "generator", str, f"problems[{i}]", nullable=True),
            file=_get(p, "file", str, f"problems[{i}]"),
            reason=_get(p, "reason", str, f"problems[{i}]"),
        )
        for i, p in enumerate(_get(d, "problems", list, where))
    )
    revision = _get(d, "revision", str, where)
    expected = revision_of({g.generator: g.digest for g in generators},
                           [r.sha256 for r in reals])
    if revision != expected:
        raise ValueError(f"revision {shown_id(revision)} does not match the listed images")
    return Collection(
        name=name, role=role, source=_get(d, "source", str, where), source_kind=kind,
        source_revision=source_revision, added_at=added_at, revision=revision,
        generators=generators, reals=reals, problems=problems,
    )
