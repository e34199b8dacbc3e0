"""Safe ids from the names a source gives (generator folder names, `model_name` values,
dataset and file names): what becomes a partition key's part and a folder name.

`safe_id` keeps letters, digits, '.', '_' and '-', turns every other character into '-',
folds runs of '-' or '.' into one, strips '-' and '.' from both ends and cuts to 96
characters, so the result always passes `lib.paths.name_problem`; a name with nothing usable
left (say, all non-ASCII) becomes `g-<first 10 hex of its sha256>`, stable across runs.
"""

from __future__ import annotations

import hashlib
import re

from fakeimg_assets.lib.paths import MAX_NAME_LENGTH, name_problem

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]", re.ASCII)


def safe_id(name: str) -> str:
    """A name_problem-clean id for a source's name (same name, same id)."""
    text = _UNSAFE.sub("-", str(name))
    text = re.sub(r"-{2,}", "-", text)
    text = re.sub(r"\.{2,}", ".", text)
    text = text.strip("-.")[:MAX_NAME_LENGTH].strip("-.")
    if not text or name_problem(text, "id") is not None:
        text = "g-" + hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return text
