"""Post-processing as a dataset option applied to both classes alike, recorded per image.

A spec is '' (none) or steps joined by '+': `resize:F` (scale by F with bicubic, 0 < F <= 1)
and `jpeg:LO-HI` (JPEG at a quality drawn per image, seeded by the image's key, from
[LO, HI]). Reals and fakes go through the same function with the same spec, so neither
class carries a resampling or compression history the other lacks.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from fakeimg_assets.lib.paths import derive_seed
from fakeimg_assets.lib.png import encode_png


@dataclass(frozen=True)
class PostStep:
    kind: str  # 'resize' or 'jpeg'
    low: float
    high: float


@dataclass(frozen=True)
class PostResult:
    data: bytes
    format: str
    width: int
    height: int
    post: str | None  # what was applied, e.g. 'resize:0.5+jpeg:q=83'; None when nothing


def parse_post(spec: str) -> list[PostStep]:
    """Steps of a spec; a bad spec fails naming the bad part."""
    steps: list[PostStep] = []
    for part in [p.strip() for p in (spec or "").split("+") if p.strip()]:
        kind, _, arg = part.partition(":")
        try:
            if kind == "resize":
                f = float(arg)
                if not 0.0 < f <= 1.0:
                    raise ValueError
                steps.append(PostStep("resize", f, f))
            elif kind == "jpeg":
                lo, _, hi = arg.partition("-")
                q_lo, q_hi = int(lo), int(hi or lo)
                if not 1 <= q_lo <= q_hi <= 100:
                    raise ValueError
                steps.append(PostStep("jpeg", q_lo, q_hi))
            else:
                raise KeyError(kind)
        except KeyError:
            raise ValueError(
                f"unknown post-processing step {part!r} in {spec!r}; known: resize:F, jpeg:LO-HI"
            ) from None
        except ValueError:
            raise ValueError(
                f"bad post-processing step {part!r} in {spec!r}: resize:F needs 0 < F <= 1, "
                "jpeg:LO-HI needs 1 <= LO <= HI <= 100"
            ) from None
    if sum(s.kind == "jpeg" for s in steps) > 1 or (steps and steps[-1].kind != "jpeg"
                                                     and any(s.kind == "jpeg" for s in steps)):
        raise ValueError(f"post-processing {spec!r}: at most one jpeg step, and it comes last")
    return steps


def apply_post(image: Any, spec: str, key: str, *, seed: int = 0) -> PostResult:
    """Encode a PIL image with the spec's steps (PNG, RGB, no metadata when none)."""
    from PIL import Image


    im = image.convert("RGB") if image.mode != "RGB" else image
    labels: list[str] = []
    for step in parse_post(spec):
        if step.kind == "resize":
            w, h = max(1, round(im.width * step.low)), max(1, round(im.height * step.low))
            im = im.resize((w, h), Image.Resampling.BICUBIC)
            labels.append(f"resize:{step.low:g}")
        else:
            rng = np.random.default_rng(derive_seed("post-jpeg", seed, key))
            q = int(rng.integers(int(step.low), int(step.high) + 1))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=q)
            labels.append(f"jpeg:q={q}")
            return PostResult(buf.getvalue(), "JPEG", im.width, im.height, "+".join(labels))
    return PostResult(encode_png(im), "PNG", im.width, im.height, "+".join(labels) or None)


def post_process(img: Any, spec: str, key: str) -> PostResult:
    """A sampled image (`.png`, `.width`, `.height`) through `spec`; untouched when empty."""
    if not (spec or "").strip():
        return PostResult(img.png, "PNG", img.width, img.height, None)
    from PIL import Image

    with Image.open(io.BytesIO(img.png)) as im:
        return apply_post(im.convert("RGB"), spec, key)


def replay_spec(post: str | None) -> str:
    """The spec that reproduces a recorded `post` label exactly ('jpeg:q=83' -> 'jpeg:83-83')."""
    parts = []
    for part in (post or "").split("+"):
        if part.startswith("jpeg:q="):
            q = part.split("=", 1)[1]
            parts.append(f"jpeg:{q}-{q}")
        elif part:
            parts.append(part)
    return "+".join(parts)


def resize_factor(spec: str) -> float:
    """The product of a spec's resize steps (1.0 without any): crops are cut at size / factor
    so that, resized like the fakes were, they land at the fakes' recorded size."""
    factor = 1.0
    for step in parse_post(spec):
        if step.kind == "resize":
            factor *= step.low
    return factor
