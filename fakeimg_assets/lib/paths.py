"""Where fakeimg writes, and how Hub model ids become safe file names.

Everything is resolved when called, never at import time, so a code location loaded
before `FAKEIMG_HOME` is set still writes where the run asks.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from fakeimg_assets.lib.leftovers import writer_id

DEFAULT_HOME = "data"

# The Hub's own rule for repo ids (huggingface_hub's `validate_repo_id`, which mirrors the
# Hub): `namespace/name`, each 1-96 ASCII letters, digits, '-', '_' or '.', not starting or
# ending with '-' or '.'; no '--' or '..' anywhere (which is what lets "org--name" be an
# unambiguous file name); no name ending in '.git'. fakeimg also wants the namespace to
# start with a letter or digit: file keys start with it, and a leading '_' is reserved there.
MAX_NAME_LENGTH = 96
_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)
_SHOWN_CHARS = 100  # an id quoted in a message: a hostile one may be megabytes


class InvalidModelIdError(ValueError):
    """A string that is not a Hugging Face model id of the form `org/name`."""


def fakeimg_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The platform's data folder: explicit value, else `$FAKEIMG_HOME`, else `./data`."""
    raw = str(explicit) if explicit else os.environ.get("FAKEIMG_HOME") or DEFAULT_HOME
    return Path(raw).expanduser().resolve()


def shown_id(value: object) -> str:
    """`repr` of a (possibly hostile) id, cut to a readable length with its size noted."""
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    size = f"{len(value)} chars" if isinstance(value, str) else f"{len(text)}-char repr"
    return f"{text[:_SHOWN_CHARS]}… ({size})"


def _name_problem(part: str, what: str) -> str | None:
    if not part:
        return f"empty {what}"
    if len(part) > MAX_NAME_LENGTH:
        return f"{what} longer than {MAX_NAME_LENGTH} characters ({len(part)})"
    if not _NAME_CHARS.fullmatch(part):
        bad = next(c for c in part if not _NAME_CHARS.fullmatch(c))
        return f"character {bad!r} in the {what} (allowed: letters, digits, '-', '_', '.')"
    if part[0] in "-." or part[-1] in "-.":
        return f"{what} starts or ends with '-' or '.'"
    return None


def model_id_problem(model_id: object) -> str | None:
    """What makes `model_id` no Hub model id of the form `org/name`, or None if it is one."""
    if not isinstance(model_id, str):
        return f"not a string ({type(model_id).__name__})"
    if model_id.count("/") != 1:
        return f"{model_id.count('/')} '/' where 'org/name' has exactly one"
    org, name = model_id.split("/")
    problem = _name_problem(org, "namespace") or _name_problem(name, "name")
    if problem:
        return problem
    if "--" in model_id or ".." in model_id:
        return "contains '--' or '..'"
    if org[0] == "_":
        return "namespace starts with '_'"
    if name.endswith(".git"):
        return "name ends with '.git'"
    return None


def validate_model_id(model_id: str) -> str:
    """Return `model_id` unchanged if it is a valid Hub id, else raise naming it and why."""
    problem = model_id_problem(model_id)
    if problem is not None:
        raise InvalidModelIdError(
            f"invalid Hugging Face model id {shown_id(model_id)}: {problem}; expected "
            "'org/name' of letters, digits, '-', '_' or '.' (each at most "
            f"{MAX_NAME_LENGTH}, not starting or ending with '-' or '.'), no '--' or '..'"
        )
    return model_id


# A generator of an image collection (images of a generator the platform cannot run) is a
# partition of `hub_models` too, keyed `collection--<collection>/<generator>`: the Hub
# forbids '--' in repo ids, so no Hub model can ever take a collection generator's key.
COLLECTION_PREFIX = "collection--"


def name_problem(part: object, what: str) -> str | None:
    """What makes `part` no safe name segment (the Hub's rules, no '--' or '..'), or None."""
    if not isinstance(part, str):
        return f"{what} is not a string ({type(part).__name__})"
    problem = _name_problem(part, what)
    if problem is None and ("--" in part or ".." in part):
        problem = f"{what} contains '--' or '..'"
    return problem


def collection_key(collection: str, generator: str) -> str:
    """The partition key of a collection's generator; bad names fail naming the part."""
    for part, what in ((collection, "collection name"), (generator, "generator name")):
        problem = name_problem(part, what)
        if problem:
            raise InvalidModelIdError(f"invalid {what} {shown_id(part)}: {problem}")
    return f"{COLLECTION_PREFIX}{collection}/{generator}"


def split_collection_key(key: str) -> tuple[str, str] | None:
    """(collection, generator) of a collection partition key, None for any other key."""
    if not isinstance(key, str) or not key.startswith(COLLECTION_PREFIX) or key.count("/") != 1:
        return None
    collection, generator = key[len(COLLECTION_PREFIX):].split("/")
    if name_problem(collection, "c") or name_problem(generator, "g"):
        return None
    return collection, generator


def partition_key_problem(key: object) -> str | None:
    """What makes `key` neither a Hub model id nor a collection generator's key, or None."""
    if isinstance(key, str) and key.startswith(COLLECTION_PREFIX):
        if split_collection_key(key) is not None:
            return None
        rest = key[len(COLLECTION_PREFIX):]
        if rest.count("/") != 1:
            return f"{rest.count('/')} '/' where 'collection--name/generator' has exactly one"
        collection, generator = rest.split("/")
        return name_problem(collection, "collection name") or name_problem(
            generator, "generator name")
    return model_id_problem(key)


def validate_partition_key(key: str) -> str:
    """A `hub_models` partition key: a Hub model id or `collection--<name>/<generator>`."""
    if isinstance(key, str) and key.startswith(COLLECTION_PREFIX):
        problem = partition_key_problem(key)
        if problem is not None:
            raise InvalidModelIdError(
                f"invalid collection generator key {shown_id(key)}: {problem}"
            )
        return key
    return validate_model_id(key)


def model_slug(model_id: str) -> str:
    """File-system name of a partition key, as the Hub cache spells a model id (`org--name`;
    a collection generator: `collection--name--generator`)."""
    return validate_partition_key(model_id).replace("/", "--")


def slug_to_model_id(slug: str) -> str:
    """Inverse of :func:`model_slug`."""
    if slug.startswith(COLLECTION_PREFIX):
        rest = slug[len(COLLECTION_PREFIX):]
        return validate_partition_key(COLLECTION_PREFIX + rest.replace("--", "/", 1))
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
    tmp = path.with_name(f".{path.name}.{writer_id()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
