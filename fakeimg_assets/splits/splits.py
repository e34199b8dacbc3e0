"""Train/test splits that hold whole generators out (pure functions).

A detector is only interesting on generators it never saw, so fakes are split by lineage
group (a model with its mirrors and fine-tunes, see `lineage`) and reals by their source
photo (crops of one photo never straddle the split). Each side is `sides.side_of` of the
key alone: adding a model never moves another. A split's content names it (`split_id`),
so a detector run can record exactly what it trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from fakeimg_assets.lib.paths import derive_seed
from fakeimg_assets.splits.lineage import ModelLineage, lineage_groups
from fakeimg_assets.splits.sides import Side, model_side, photo_side

SPLIT_ID_CHARS = 16


def model_sides(
    models: Sequence[ModelLineage], test_fraction: float, seed: int = 0
) -> dict[str, tuple[str, Side]]:
    """`{model_id: (group_key, side)}`: each lineage group's side from its key alone."""
    groups = lineage_groups(models)
    return {
        mid: (key, model_side(key, test_fraction, seed)) for mid, key in sorted(groups.items())
    }


def photo_sides(photo_ids: Iterable[str], test_fraction: float, seed: int = 0) -> dict[str, Side]:
    """`{photo_id: side}` for real source photos (all crops of a photo follow it)."""
    return {p: photo_side(p, test_fraction, seed) for p in sorted(set(photo_ids))}


def fallback_photo_id(source: str, origin: str | None, image_id: str) -> str:
    """A real image's source photo when the row predates `photo_id`: source + origin file.

    `origin` is `<photo name>#crop=x,y,w,h`; without it the image is its own photo.
    """
    photo = (origin or image_id).split("#", 1)[0]
    return f"{source}:{photo}"


def split_id_of(pairs: Iterable[tuple[str, str]]) -> str:
    """Short sha256 of the sorted (image_id, split) content: same content, same id."""
    items = sorted(pairs)
    if not items:
        raise ValueError("cannot name an empty split")
    ids = [i for i, _ in items]
    if len(set(ids)) != len(ids):
        dup = next(a for a, b in zip(ids, ids[1:], strict=False) if a == b)
        raise ValueError(f"image {dup!r} appears more than once in the split")
    bad = sorted({s for _, s in items} - {"train", "test"})
    if bad:
        raise ValueError(f"split labels must be 'train' or 'test', got {bad}")
    h = hashlib.sha256()
    for image_id, split in items:
        h.update(f"{image_id}\x1f{split}\n".encode())
    return h.hexdigest()[:SPLIT_ID_CHARS]


def check_split(
    rows: Iterable[Mapping[str, object]], test_fraction: float, seed: int = 0
) -> None:
    """Refuse a split that breaks the rule, naming the first offender.

    Each row has image_id, label, source, group_key and split. Fakes must sit on
    `model_side(group_key)`, reals on `photo_side(group_key)`; a model, group or photo on
    both sides is a leak.
    """
    sides_of: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        label, key, split = r["label"], r["group_key"], r["split"]
        if split not in ("train", "test"):
            raise ValueError(f"image {r['image_id']!r} has split {split!r}")
        if not key:
            raise ValueError(f"image {r['image_id']!r} has no group key")
        rule = model_side if label == "fake" else photo_side
        want = rule(str(key), test_fraction, seed)
        if split != want:
            what = "model" if label == "fake" else "photo"
            raise ValueError(
                f"{label} image {r['image_id']!r} ({what} {r['source']!r}, key {key!r}) is "
                f"labelled {split!r} but the rule puts it on {want!r}"
            )
        for kind, value in (("model", r["source"]), ("group", key)):
            if label == "fake" or kind == "group":
                sides_of.setdefault((f"{label} {kind}", str(value)), set()).add(str(split))
    for (kind, value), seen in sorted(sides_of.items()):
        if len(seen) > 1:
            raise ValueError(f"{kind} {value!r} is on both sides of the split")


def time_bucket(created_at: object | None) -> str:
    """Half-year bucket of a model's publication time, e.g. '2024-H2'."""
    if created_at is None:
        return "unknown"
    year, month = created_at.year, created_at.month  # type: ignore[attr-defined]
    return f"{year}-H{1 if month <= 6 else 2}"


def nested_subsets(items: Sequence[str], sizes: Sequence[int], seed: int = 0) -> dict[int, list[str]]:
    """Seeded nested subsets: the k-model set is contained in every larger one.

    Nesting makes a scaling curve compare like with like: adding generators, never swapping.
    """
    order = sorted(items, key=lambda m: derive_seed("scaling", seed, m))
    out = {}
    for k in sizes:
        if not 1 <= k <= len(order):
            raise ValueError(f"subset size {k} out of range 1..{len(order)}")
        out[k] = order[:k]
    return out


def default_scaling_sizes(n: int) -> list[int]:
    """1, 2, 4, ... up to n (n itself included)."""
    sizes, k = [], 1
    while k < n:
        sizes.append(k)
        k *= 2
    if n >= 1:
        sizes.append(n)
    return sizes
