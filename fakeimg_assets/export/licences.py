"""Which generators' images may be published: the licence rule.

A generator is *restricted* (left out unless `--include-restricted`) when any holds:
- its Hub repo is gated (`gated` other than 'false'): access was granted to the user who
  sampled it, not to everyone the dataset reaches;
- its licence is unknown (none declared), or not in `REDISTRIBUTABLE`: licences that let
  anyone share the model's outputs (permissive or OpenRAIL-style). 'other', non-commercial
  (cc-by-nc-*), research-only and vendor licences (flux-1-dev-non-commercial-license,
  deepfloyd-if-license, ...) need a person to read them first.
Real images are not generators: their source's licence is not recorded by the platform, so
they are exported and the card names every real source with that caveat.
"""

from __future__ import annotations

REDISTRIBUTABLE = frozenset({
    "apache-2.0", "mit", "bsd", "bsd-2-clause", "bsd-3-clause", "cc0-1.0", "unlicense",
    "cc-by-4.0", "cc-by-sa-4.0", "cc-by-3.0", "cc-by-sa-3.0", "openrail", "openrail++",
    "creativeml-openrail-m", "bigscience-openrail-m", "openrail-m",
})


def restriction(license_: str | None, gated: str | None) -> str | None:
    """Why a generator with this licence and gating is restricted, or None if it is not."""
    if gated not in (None, "", "false", "False"):
        return f"gated repo ({gated}): access was granted to one account, not to everyone"
    if license_ is None or not str(license_).strip():
        return "no licence declared"
    name = str(license_).strip().lower()
    if name not in REDISTRIBUTABLE:
        return f"licence {name!r} is not in the redistributable allow-list"
    return None
