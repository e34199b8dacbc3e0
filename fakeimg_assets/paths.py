"""Where fakeimg writes, and how Hub model ids become safe file names.

Everything is resolved when called, never at import time, so a code location loaded
before `FAKEIMG_HOME` is set still writes where the run asks.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

DEFAULT_HOME = "data"

# The Hub's own rule for repo ids: one slash, names of letters, digits, '-', '_', '.';
# no '--' or '..' (which is what lets "org--name" be an unambiguous file name).
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_MODEL_ID_RE = re.compile(rf"^{_NAME}/{_NAME}$")


class InvalidModelIdError(ValueError):
    """A string that is not a Hugging Face model id of the form `org/name`."""


def fakeimg_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The platform's data folder: explicit value, else `$FAKEIMG_HOME`, else `./data`."""
    raw = str(explicit) if explicit else os.environ.get("FAKEIMG_HOME") or DEFAULT_HOME
    return Path(raw).expanduser().resolve()


def validate_model_id(model_id: str) -> str:
    """Return `model_id` unchanged if it is a valid Hub id, else raise naming it."""
    if (
        not isinstance(model_id, str)
        or not _MODEL_ID_RE.match(model_id)
        or "--" in model_id
        or ".." in model_id
    ):
        raise InvalidModelIdError(
            f"invalid Hugging Face model id {model_id!r}: expected 'org/name' with letters, "
            "digits, '-', '_' or '.', no '--' or '..'"
        )
    return model_id


def model_slug(model_id: str) -> str:
    """File-system name of a model id, as the Hub cache spells it (`org--name`)."""
    return validate_model_id(model_id).replace("/", "--")


def slug_to_model_id(slug: str) -> str:
    """Inverse of :func:`model_slug`."""
    return validate_model_id(slug.replace("--", "/", 1))


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (model id, image index...), same on every machine."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes in memory (an encoded PNG before it is written)."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp name beside `path`, then rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
