"""Which side of a split a key falls on: a pure function of the key alone.

A model (or lineage group, or source photo) is on the test side when its salted hash,
read as a number in [0, 1), is below the test fraction. Adding or removing other keys
never moves it, so splits are stable as the Hub grows, and the real-photo side used to
keep test photos out of the prompt pool is the same one the detector's split uses.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Side = Literal["train", "test"]
MODEL_SALT = "fakeimg-model-side-v1"
PHOTO_SALT = "fakeimg-photo-side-v1"
DEFAULT_TEST_FRACTION = 0.34


def hash_unit(salt: str, key: str, seed: int = 0) -> float:
    """`key`'s position in [0, 1): the first 8 bytes of sha256(salt, seed, key)."""
    digest = hashlib.sha256(f"{salt}\x1f{seed}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def side_of(key: str, test_fraction: float, *, salt: str, seed: int = 0) -> Side:
    """'test' when `hash_unit(salt, key, seed) < test_fraction`, else 'train'."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"split key must be a non-empty string, got {key!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test fraction must be in (0, 1), got {test_fraction}")
    return "test" if hash_unit(salt, key, seed) < test_fraction else "train"


def photo_side(photo_id: str, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0) -> Side:
    """Side of one real source photo (all its crops follow it)."""
    return side_of(photo_id, test_fraction, salt=PHOTO_SALT, seed=seed)


def model_side(group_key: str, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0) -> Side:
    """Side of a generator's lineage group (a lone model is its own group)."""
    return side_of(group_key, test_fraction, salt=MODEL_SALT, seed=seed)
