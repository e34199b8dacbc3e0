"""Which kind of outside detector a `fakeimg evaluate --detector SPEC` names, and its name.

The rule, in order (the first that applies decides):

1. `cmd:PROGRAM ARGS...` -> a command (split with `shlex.split`, run without a shell);
2. `hf-hub:ORG/NAME` -> a timm model repo on the Hub `HF_ENDPOINT` names, fetched through
   the platform's verified client (its `config.json` and `model.safetensors` only);
3. `local-dir:PATH`, or an existing folder -> a timm folder (`config.json` +
   `model.safetensors`; a platform checkpoint folder is accepted too);
4. text holding whitespace -> a command (`python my_detector.py --fast`);
5. anything else is refused, naming the three kinds. A plain timm architecture name
   (`resnet50.a1_in1k`) is refused too: timm's own weights are ImageNet classifiers, not
   fake-image detectors, so there is nothing to score; publish the detector as a timm
   folder or Hub repo instead.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.detection.timm_folder import TIMM_DIR, is_checkpoint_folder, is_timm_folder

KINDS = ("timm_folder", "hub", "command")
KINDS_TEXT = ("a timm folder (an existing folder holding config.json and model.safetensors, "
              "or local-dir:PATH), a timm Hub repo (hf-hub:ORG/NAME), or a command that reads "
              "image paths on stdin and prints one score per line (cmd:PROGRAM ARGS..., or "
              "any text with a space)")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
MAX_NAME = 100


@dataclass(frozen=True)
class OutsideSpec:
    """A parsed SPEC: `kind` in KINDS; `target` the folder, repo id or argv."""

    kind: str
    target: str | tuple[str, ...]
    default_name: str


def parse_spec(spec: str) -> OutsideSpec:
    """The kind a SPEC names (module docstring); ValueError naming the kinds otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"empty detector SPEC; give {KINDS_TEXT}")
    text = spec.strip()
    if text.startswith("cmd:"):
        return _command(text[4:], spec)
    if text.startswith("hf-hub:"):
        repo = text[len("hf-hub:"):]
        if not _REPO.match(repo) or ".." in repo:
            raise ValueError(f"detector SPEC {spec!r}: {repo!r} is no Hub repo id ORG/NAME")
        return OutsideSpec("hub", repo, repo)
    if text.startswith("local-dir:") or Path(text).is_dir():
        folder = Path(text.removeprefix("local-dir:")).expanduser()
        if not folder.is_dir():
            raise ValueError(f"detector SPEC {spec!r}: no such folder {folder}")
        if not (is_timm_folder(folder) or is_checkpoint_folder(folder)):
            raise ValueError(f"detector SPEC {spec!r}: {folder} is no timm folder (it needs "
                             "config.json and model.safetensors) nor a platform checkpoint")
        folder = folder.resolve()
        name = folder.parent.name if folder.name == TIMM_DIR else folder.name
        return OutsideSpec("timm_folder", str(folder), name)
    if any(c.isspace() for c in text):
        return _command(text, spec)
    hint = ""
    if Path(text).is_file():
        hint = f" (to run the program {text}, write cmd:{text})"
    elif ":" not in text:
        hint = (" (a plain timm architecture name has no fake-detector weights: publish the "
                "detector as a timm folder or hf-hub repo)")
    raise ValueError(f"detector SPEC {spec!r} is none of the three kinds{hint}; give {KINDS_TEXT}")


def _command(text: str, spec: str) -> OutsideSpec:
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:
        raise ValueError(f"detector SPEC {spec!r}: cannot split the command ({exc})") from None
    if not argv:
        raise ValueError(f"detector SPEC {spec!r}: the command is empty")
    name = " ".join(Path(a).name if "/" in a else a for a in argv)[:MAX_NAME]
    return OutsideSpec("command", argv, name)


def check_name(name: str) -> str:
    """A detector name for `eval_results.detector`: printable, one line, 1-100 characters."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("detector name must be a non-empty string")
    if len(name) > MAX_NAME or not name.isprintable():
        raise ValueError(f"detector name {name[:120]!r}: at most {MAX_NAME} printable "
                         "characters on one line")
    return name.strip()


def result_key(name: str, split_id: str) -> str:
    """The Parquet file key of one detector's rows on one split: readable, collision-free
    (the name's hash), safe as a file name whatever the name holds."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:40] or "detector"
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    split = re.sub(r"[^A-Za-z0-9._-]+", "-", split_id)[:40]
    return f"{slug}-{digest}--{split}"
