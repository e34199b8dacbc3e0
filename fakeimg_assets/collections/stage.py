"""`stage_collection`: read a source's images and stage them under
`$FAKEIMG_HOME/collections/<name>/` with their manifest (`manifest.py`).

Each image is read, decoded once in full (`decode.py`), hashed and written, in a small
thread pool; at most `2 x workers` images are in flight, so memory holds a few images, never
the collection. Results are taken in the source's order, which makes every decision
deterministic: a generator's id is `ids.safe_id` of its name (a second name giving the same
id is reported and left out), an image's bytes are stored unchanged at
`images/<generator>/<sha256[:16]>.<ext>` (reals under `real/`), and an image whose sha256
the generator (or the reals) already holds is reported as a duplicate and kept once. Every
image, line or file not taken is a problem in the manifest, never an exception; only a
collection with no generator holding any image fails (nothing written). The folder is
written beside the target and swapped in complete (`swap.py`).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakeimg_assets.collections.decode import ImageFacts, check_image
from fakeimg_assets.collections.dispatch import open_source
from fakeimg_assets.collections.ids import safe_id
from fakeimg_assets.collections.manifest import (
    Collection,
    GeneratorEntry,
    ImageRecord,
    Problem,
    check_collection_name,
    check_role,
    digest_of,
    image_file,
    real_file,
    revision_of,
    write_manifest,
)
from fakeimg_assets.collections.metadata import GeneratorInfo
from fakeimg_assets.collections.source import Source, SourceItem
from fakeimg_assets.collections.swap import CollectionSwap
from fakeimg_assets.lib.paths import shown_id

MAX_WORKERS = 4
SHOWN_PROBLEMS = 20  # problems echoed to `log`; all of them are in the manifest


def default_workers() -> int:
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def stage_collection(
    home: str | os.PathLike[str], source: str | os.PathLike[str], *, name: str | None = None,
    role: str = "train", hub: Any = None, log: Callable[[str], None] = print,
    workers: int | None = None,
) -> Collection:
    """Stage SOURCE as collection `name` (default: the source's name made safe) with `role`;
    replaces a collection of that name only once the new one is complete. Returns its
    manifest. Bad arguments fail naming them before anything is read."""
    role = check_role(role)
    if name is not None:
        name = check_collection_name(name)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    started = time.perf_counter()
    opened = open_source(source, hub=hub)
    name = name or check_collection_name(safe_id(opened.default_name))
    with CollectionSwap(home, name) as swap:
        staged = _Staging(swap.staging, workers).run(opened)
        collection = staged.collection(name, role, opened)
        if not collection.generators:
            shown = "".join(f"; {p.file}: {p.reason}" for p in collection.problems[:5])
            raise ValueError(
                f"collection source {shown_id(opened.location)} gave no generator with a usable "
                f"image: nothing written ({len(collection.problems)} problems{shown})"
            )
        write_manifest(swap.staging, collection)
        swap.publish()
    _log_summary(log, collection, time.perf_counter() - started)
    return collection


@dataclass
class _Stored:
    facts: ImageFacts
    sha256: str
    size: int
    tmp: Path


@dataclass
class _Group:
    """The images taken so far for one generator (or the reals)."""

    folder: Path
    records: list[ImageRecord]
    by_sha: dict[str, str]  # sha256 -> original of the image kept
    by_prefix: dict[str, str]  # sha256[:16] -> sha256
    n_bytes: int = 0


def _ingest(item: SourceItem, folder: Path, seq: int) -> _Stored | str:
    """Worker: read, decode, hash and write one image to a temp name in `folder`; or why not."""
    try:
        data = item.load()
        facts = check_image(data)
    except (ValueError, OSError) as exc:
        return str(exc)
    sha = hashlib.sha256(data).hexdigest()
    tmp = folder / f".{seq}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    return _Stored(facts, sha, len(data), tmp)


class _Staging:
    def __init__(self, staging: Path, workers: int) -> None:
        self.staging = staging
        self.workers = workers
        self.ids: dict[str, str | None] = {}  # source name -> id (None: left out)
        self.taken: dict[str, str] = {}  # id -> source name
        self.groups: dict[str | None, _Group] = {}  # id (None: reals) -> group
        self.problems: list[Problem] = []

    def run(self, source: Source) -> _Staging:
        pending: collections.deque[tuple[SourceItem, str | None, Future]] = collections.deque()
        for source_name in source.generators:  # known up front (a folder): ids in its order
            self._id(source_name)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="collection") as pool:
            try:
                for seq, item in enumerate(source.items):
                    if item.generator is not None and self._id(item.generator) is None:
                        continue  # its generator was left out (reported once)
                    gid = None if item.generator is None else self.ids[item.generator]
                    if item.error is not None:
                        self.problems.append(Problem(gid, item.original, item.error))
                        continue
                    group = self._group(gid)
                    pending.append((item, gid, pool.submit(_ingest, item, group.folder, seq)))
                    while len(pending) >= 2 * self.workers:
                        self._take(*pending.popleft())
                while pending:
                    self._take(*pending.popleft())
            except BaseException:
                for _, _, future in pending:
                    future.cancel()
                raise
        return self

    def _id(self, name: str) -> str | None:
        if name in self.ids:
            return self.ids[name]
        gid = safe_id(name)
        if gid in self.taken:
            self.problems.append(Problem(gid, name, (
                f"generator {name!r} has the id {gid!r} of generator {self.taken[gid]!r}: "
                "left out (rename one of them)")))
            self.ids[name] = None
            return None
        self.ids[name], self.taken[gid] = gid, name
        return gid

    def _group(self, gid: str | None) -> _Group:
        group = self.groups.get(gid)
        if group is None:
            folder = self.staging / ("real" if gid is None else f"images/{gid}")
            folder.mkdir(parents=True, exist_ok=True)
            group = self.groups[gid] = _Group(folder, [], {}, {})
        return group

    def _take(self, item: SourceItem, gid: str | None, future: Future) -> None:
        result = future.result()
        if isinstance(result, str):
            self.problems.append(Problem(gid, item.original, result))
            return
        group = self.groups[gid]
        sha, facts = result.sha256, result.facts
        if sha in group.by_sha:
            result.tmp.unlink()
            self.problems.append(Problem(gid, item.original, (
                f"duplicate of {group.by_sha[sha]!r} (same sha256 {sha[:16]}): kept once")))
            return
        if sha[:16] in group.by_prefix:
            result.tmp.unlink()
            self.problems.append(Problem(gid, item.original, (
                f"sha256 {sha} shares its first 16 hex digits with another image's "
                f"({group.by_prefix[sha[:16]]}): left out")))
            return
        file = real_file(sha, facts.format) if gid is None else image_file(gid, sha, facts.format)
        os.rename(result.tmp, self.staging / file)
        group.by_sha[sha], group.by_prefix[sha[:16]] = item.original, sha
        group.n_bytes += result.size
        group.records.append(ImageRecord(
            file=file, sha256=sha, original=item.original, prompt=item.prompt,
            width=facts.width, height=facts.height, format=facts.format, mode=facts.mode))

    def collection(self, name: str, role: str, source: Source) -> Collection:
        """The manifest of what was staged (generators without an image are reported)."""
        source_problems = [
            Problem(None if p.generator is None else self.ids.get(p.generator) or safe_id(
                p.generator), p.file, p.reason) for p in source.problems]
        for source_name in source.generators:  # generators no item named (an empty folder)
            self._id(source_name)
        entries, empty = [], []
        for gid, source_name in self.taken.items():
            group = self.groups.get(gid)
            if group is None or not group.records:
                empty.append(Problem(gid, source_name, "no usable image: generator left out"))
                continue
            info = source.generators.get(source_name) or GeneratorInfo(name=source_name)
            entries.append(GeneratorEntry(
                generator=gid, name=source_name, family_group=info.family_group,
                family=info.family, architecture=info.architecture,
                release_date=info.release_date, license=info.license,
                n_images=len(group.records), n_bytes=group.n_bytes,
                digest=digest_of(r.sha256 for r in group.records), images=tuple(group.records)))
        reals = tuple(self.groups[None].records) if None in self.groups else ()
        return Collection(
            name=name, role=role, source=source.location, source_kind=source.kind,
            source_revision=source.revision,
            added_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            revision=revision_of({g.generator: g.digest for g in entries},
                                 [r.sha256 for r in reals]),
            generators=tuple(entries), reals=reals,
            problems=tuple(source_problems + self.problems + empty),
        )


def _log_summary(log: Callable[[str], None], c: Collection, seconds: float) -> None:
    n = sum(g.n_images for g in c.generators)
    log(f"collection {c.name!r} ({c.role}): {n} images of {len(c.generators)} generators, "
        f"{len(c.reals)} real images, {len(c.problems)} problems, revision {c.revision[:12]} "
        f"({seconds:.1f} s, {(n + len(c.reals)) / max(seconds, 1e-9):.0f} images/s)")
    for p in c.problems[:SHOWN_PROBLEMS]:
        log(f"  {p.generator or '-'}: {p.file}: {p.reason}")
    if len(c.problems) > SHOWN_PROBLEMS:
        log(f"  ... and {len(c.problems) - SHOWN_PROBLEMS} more (manifest.json lists them all)")
