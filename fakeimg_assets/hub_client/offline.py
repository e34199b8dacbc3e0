"""The Hub client switched offline for a block: loading a verified snapshot must never
fetch anything unplanned."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_OFFLINE_LOCK = threading.Lock()


@contextmanager
def hub_offline() -> Iterator[None]:
    """`HF_HUB_OFFLINE` semantics for a block: every Hub HTTP request raises.

    huggingface_hub reads `constants.HF_HUB_OFFLINE` on each request (`is_offline_mode`),
    so flipping it (under a lock, restored afterwards) works after import, unlike the
    environment variable, which is read once at import time.
    """
    from huggingface_hub import constants

    with _OFFLINE_LOCK:
        before = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = before
