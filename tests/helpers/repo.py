"""The repository checkout the tests run in (README, docs, pyproject, the packages)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
