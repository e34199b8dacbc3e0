"""The home's sampling settings: what `fakeimg run` sampled with, for every other launch too.

`fakeimg run` writes the settings that change what is drawn (`OUTPUT_FIELDS`: images per
model, steps, guidance, size, post-processing) to `$FAKEIMG_HOME/settings/sampling.json`
(temp file, then rename). A `sampled_images` run whose config leaves such a field empty
(`None`, what the UI's launch dialog and backfills send) takes the home's value, else the
code default (`CODE_DEFAULTS`; `None` there means the recipe's own default). So a partition
backfilled from the UI is drawn like the ones `fakeimg run` drew, unless the user asks for
other settings. A file that is not what this module writes is an error naming the file and
the field; nothing falls back silently.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

from fakeimg_assets.lib.leftovers import writer_id

SETTINGS_FILE = Path("settings") / "sampling.json"
OUTPUT_FIELDS = ("images_per_model", "steps", "guidance_scale", "height", "width", "post")
CODE_DEFAULTS: dict[str, object] = {
    "images_per_model": 16, "steps": None, "guidance_scale": None, "height": None,
    "width": None, "post": "",
}
INFO_FIELDS = ("written_by", "written_at")  # provenance, not settings


class SamplingSettingsError(ValueError):
    """The home's settings file is unreadable or holds a value sampling cannot use."""


def settings_path(home: Path) -> Path:
    return Path(home) / SETTINGS_FILE


def _problem(field: str, value: object) -> str | None:
    """Why `value` is no valid `field`, or None."""
    if field == "post":
        return None if isinstance(value, str) else "expected a string"
    if value is None:
        return "must not be null" if field == "images_per_model" else None
    if field == "guidance_scale":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(
            value) and value >= 0
        return None if ok else "expected a number >= 0 or null"
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return "expected an integer >= 1" + ("" if field == "images_per_model" else " or null")
    if field in ("height", "width") and value % 8:
        return "expected a multiple of 8"
    return None


def validate(settings: Mapping[str, object], where: str) -> dict[str, object]:
    """The output fields of `settings`, checked; `where` names the source in errors."""
    unknown = sorted(set(settings) - set(OUTPUT_FIELDS) - set(INFO_FIELDS))
    if unknown:
        raise SamplingSettingsError(
            f"{where}: unknown field(s) {unknown}; known: {', '.join(OUTPUT_FIELDS)}")
    out = {}
    for field in OUTPUT_FIELDS:
        if field in settings:
            why = _problem(field, settings[field])
            if why:
                raise SamplingSettingsError(
                    f"{where}: field {field!r}: {why}, got {settings[field]!r}")
            out[field] = settings[field]
    return out


def read_home_settings(home: Path) -> dict[str, object]:
    """The home's settings ({} when `fakeimg run` never wrote any); raises
    `SamplingSettingsError` naming the file and the field when the file is bad."""
    path = settings_path(home)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SamplingSettingsError(f"{path}: unreadable: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SamplingSettingsError(f"{path}: not JSON ({exc}); `fakeimg run` rewrites it, "
                                    "or delete it to use the code defaults") from exc
    if not isinstance(data, dict):
        raise SamplingSettingsError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return validate(data, str(path))


def write_home_settings(home: Path, settings: Mapping[str, object], *, written_by: str,
                        written_at: str) -> Path:  # fmt: skip
    """Write the output fields of `settings` (validated) as the home's, atomically."""
    path = settings_path(home)
    values = validate({k: v for k, v in settings.items() if k in OUTPUT_FIELDS}, "settings")
    body = {**{k: values.get(k, CODE_DEFAULTS[k]) for k in OUTPUT_FIELDS},
            "written_by": written_by, "written_at": written_at}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{writer_id()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def resolve(asked: Mapping[str, object], home_settings: Mapping[str, object]) -> dict[str, object]:
    """Each output field: what the run asked for, else the home's setting, else the code
    default."""
    out = {}
    for field in OUTPUT_FIELDS:
        value = asked.get(field)
        if value is None:
            value = home_settings.get(field)
        if value is None:
            value = CODE_DEFAULTS[field]
        out[field] = value
    return out


__all__ = [
    "CODE_DEFAULTS",
    "OUTPUT_FIELDS",
    "SETTINGS_FILE",
    "SamplingSettingsError",
    "read_home_settings",
    "resolve",
    "settings_path",
    "validate",
    "write_home_settings",
]
