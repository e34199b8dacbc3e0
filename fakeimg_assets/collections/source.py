"""What every reader (folder, CF Parquet, Hub dataset) hands the stager: a `Source`.

`items` yields the source's images one at a time, in a stable order: each with the
generator it belongs to (the source's own name; None for a real image), its name in the
source and either its bytes, a `read` that fetches them when a worker gets to it, or the
`error` that keeps it out. `generators` holds each generator's metadata (filled up front by
a folder, while rows are read by Parquet) and `problems` what the reader refused that is not
one image (a CSV line, a whole file); both are complete once `items` is exhausted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fakeimg_assets.collections.metadata import GeneratorInfo

MAX_PROMPT_CHARS = 4096  # as real photos' captions (real/captions.py)


@dataclass(frozen=True)
class SourceItem:
    """One image of a source, not decoded yet."""

    generator: str | None  # the source's name of its generator; None: a real image
    original: str  # its name in the source: a path, or `file.parquet#row`
    prompt: str | None = None
    data: bytes | None = None
    read: Callable[[], bytes] | None = None  # raises ValueError/OSError naming the file
    error: str | None = None  # why it is not taken (a symlink out, not an image...)

    def load(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.read is None:
            raise ValueError(f"{self.original!r} has no bytes")
        return self.read()


@dataclass(frozen=True)
class SourceProblem:
    """Something of the source not taken that is not one image: a CSV line, a file."""

    generator: str | None  # the source's name, when it concerns one generator
    file: str
    reason: str


@dataclass
class Source:
    """An opened source: its kind, where it is, and its images as they are read."""

    kind: str  # 'folder', 'cf_parquet' or 'hub_dataset'
    location: str  # as the user gave it
    default_name: str  # what the collection is called when no name is given
    items: Iterator[SourceItem]
    revision: str | None = None  # the Hub commit of a dataset repo
    generators: dict[str, GeneratorInfo] = field(default_factory=dict)
    problems: list[SourceProblem] = field(default_factory=list)


def prompt_value(value: object) -> tuple[str | None, str | None]:
    """(prompt or None, reason it was dropped or None)."""
    if value is None:
        return None, None
    text = str(value).strip()
    if not text:
        return None, None
    if len(text) > MAX_PROMPT_CHARS:
        return None, (f"prompt dropped (image kept): {len(text)} characters, over the limit "
                      f"of {MAX_PROMPT_CHARS}")
    return text, None
