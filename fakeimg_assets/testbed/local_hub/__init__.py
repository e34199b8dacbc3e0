"""Hugging Face Hub access, and a local Hub look-alike for tests and the offline demo."""

from typing import Any

__all__ = ["HubServer", "FaultPlan", "serve_forever"]


def __getattr__(name: str) -> Any:
    """Lazy, so ``python -m fakeimg_assets.testbed.local_hub.server`` does not import the module twice."""
    if name in __all__:
        from fakeimg_assets.testbed.local_hub import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
