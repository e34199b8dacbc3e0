"""Lineage groups of generators (pure functions): relatives never straddle a split.

A mirror re-uploads a model's weights; a fine-tune declares its parent as `base_model`.
If one sat in training and the other in test, the "held-out" generator would not be
unseen. Models are linked when they share any weights-file sha256, declare the same base
model, or one declares the other as its base; linked models form one group (union-find),
and the split decides a whole group's side from its key.

The group key is the anchor of the group's earliest-created member (its smallest declared
base model, else its smallest weights sha256, else its model id). Hub models arrive in
creation order, so a new relative joins an existing group without moving it; a model with
no relatives is untouched by any addition.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fakeimg_assets.sampling.plan import is_weight_file


@dataclass(frozen=True)
class ModelLineage:
    """What links a model to its relatives: declared base models and weights sha256s."""

    model_id: str
    base_models: tuple[str, ...] = ()
    weight_sha256s: tuple[str, ...] = ()
    created_at: object | None = None  # datetime or None; orders the group's members
    architecture: str | None = field(default=None, compare=False)

    def anchor(self) -> str:
        """This model's own key: smallest base model, else smallest weights sha, else id."""
        if self.base_models:
            return min(self.base_models)
        if self.weight_sha256s:
            return min(self.weight_sha256s)
        return self.model_id


def base_models_of(value: object) -> list[str]:
    """The card's `base_model` (a string or a list of strings) as a sorted unique list."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
    return sorted({str(v).strip() for v in items if isinstance(v, str) and str(v).strip()})


def base_model_columns(value: object) -> dict[str, object]:
    """`model_metadata` columns from the card's `base_model`: the first and every base.

    `base_model` keeps the card's first entry (what users filter on); `base_models` holds
    all of them, sorted, for lineage grouping.
    """
    if isinstance(value, str):
        first = value.strip() or None
    elif isinstance(value, (list, tuple)):
        first = next((v.strip() for v in value if isinstance(v, str) and v.strip()), None)
    else:
        first = None
    return {"base_model": first, "base_models": base_models_of(value)}


# Components whose weights a family's models share unchanged (pipeline folder names).
SHARED_COMPONENTS = frozenset({
    "vae", "vqvae", "movq", "text_encoder", "text_encoder_2", "text_encoder_3",
    "text_encoder_4", "image_encoder", "safety_checker", "feature_extractor",
    "prior_text_encoder", "prior_image_encoder",
})


def weight_sha256s_of(file_sha256_json: str | None) -> list[str]:
    """Sha256s of the generator's own weight files in `model_metadata.file_sha256`.

    Only the denoiser's weights (and root-level checkpoints or adapters) count. Configs and
    tokenizers are shared by unrelated models, and so are the autoencoder and text encoders:
    a family's fine-tunes ship its unchanged VAE and CLIP (every SD1.5 fine-tune carries
    SD1.5's), which says nothing about how related their denoisers are. A mirror re-uploads
    the denoiser, and that still links it.
    """

    if not file_sha256_json:
        return []
    try:
        mapping = json.loads(file_sha256_json)
    except json.JSONDecodeError as exc:
        raise ValueError(f"file_sha256 is not JSON: {file_sha256_json[:80]!r}") from exc
    if not isinstance(mapping, Mapping):
        raise ValueError(f"file_sha256 must map path -> sha256, got {type(mapping).__name__}")
    return sorted({
        str(sha) for path, sha in mapping.items()
        if sha and is_weight_file(path) and str(path).split("/", 1)[0] not in SHARED_COMPONENTS
    })


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def lineage_groups(models: Sequence[ModelLineage]) -> dict[str, str]:
    """`{model_id: group_key}`: models linked by shared weights or base models share a key.

    Links: a shared weights sha256; the same declared base model; a model declaring another
    model of the set as its base. Duplicate model ids are an error.
    """
    ids = [m.model_id for m in models]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"model ids listed more than once: {dupes}")
    uf = _UnionFind()
    # nodes are namespaced so a sha can never collide with a model id
    for m in models:
        node = f"model:{m.model_id}"
        uf.find(node)
        for base in m.base_models:
            uf.union(node, f"model:{base}")  # the parent, if in the set, is that same node
        for sha in m.weight_sha256s:
            uf.union(node, f"sha:{sha}")
    members: dict[str, list[ModelLineage]] = {}
    for m in models:
        members.setdefault(uf.find(f"model:{m.model_id}"), []).append(m)
    out: dict[str, str] = {}
    for group in members.values():
        first = min(group, key=_creation_order)
        for m in group:
            out[m.model_id] = first.anchor()
    return out


def _creation_order(m: ModelLineage) -> tuple:
    """Earliest first; unknown creation times last; ties by model id."""
    return (m.created_at is None, m.created_at or 0, m.model_id)


def group_members(groups: Mapping[str, str]) -> dict[str, list[str]]:
    """`{group_key: sorted model ids}` from `lineage_groups`' output."""
    out: dict[str, list[str]] = {}
    for model_id, key in groups.items():
        out.setdefault(key, []).append(model_id)
    return {k: sorted(v) for k, v in sorted(out.items())}


def lineage_from_rows(rows: Iterable[Mapping[str, object]]) -> list[ModelLineage]:
    """`ModelLineage` from `model_metadata`-shaped rows (model_id, base_models, file_sha256).

    Rows written before `base_models` existed fall back to `base_model`.
    """
    out = []
    for r in rows:
        bases = r.get("base_models")
        if bases is None:
            bases = r.get("base_model")
        out.append(
            ModelLineage(
                model_id=str(r["model_id"]),
                base_models=tuple(base_models_of(bases)),
                weight_sha256s=tuple(weight_sha256s_of(r.get("file_sha256"))),  # type: ignore[arg-type]
                created_at=r.get("created_at"),
                architecture=r.get("architecture"),  # type: ignore[arg-type]
            )
        )
    return out
