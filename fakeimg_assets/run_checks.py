"""What `fakeimg run` (and `run_platform`, for Python callers) checks before any work: every
`RunOptions` field, the device against this machine, and a pretrained backbone's weights on
the Hub endpoint (or as a local file). A bad value raises `OptionError` naming the field,
the value and what is allowed, before any crawl, download, sampling or Dagster run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakeimg_assets.lib.arg_checks import (
    OptionError,
    check_backbone,
    check_device_available,
    check_folder,
    check_int,
    check_post,
    check_repo_id,
    check_safetensors_file,
)

if TYPE_CHECKING:
    from fakeimg_assets.platform_run import RunOptions
    from resources import HubResource

# RunOptions' integer fields: (minimum, None allowed)
INT_FIELDS: dict[str, tuple[int, bool]] = {
    "limit": (1, True),
    "crawl_limit": (0, False),
    "images_per_model": (1, False),
    "split_seed": (0, False),
    "steps": (1, True),
    "crops_per_photo": (0, False),
    "epochs": (1, True),
    "batch_size": (1, False),
    "family_max_runs": (0, False),
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _field(opts: object, name: str, check, *args, **kwargs):  # noqa: ANN001, ANN202
    value = getattr(opts, name)
    try:
        return check(value, *args, **kwargs)
    except ValueError as exc:
        raise OptionError(name, value, str(exc)) from None


def check_run_options(opts: RunOptions, *, device: bool = True) -> None:
    """Every field of `opts`, the device against this machine unless `device=False`;
    raises `OptionError` (a ValueError) naming the first bad field."""
    for name, (minimum, none_ok) in INT_FIELDS.items():
        _field(opts, name, check_int, minimum, none_ok=none_ok)
    _field(opts, "backbone", check_backbone)
    _field(opts, "post", check_post)
    _field(opts, "real_folder", check_folder)
    _field(opts, "real_dataset", check_repo_id)
    _field(opts, "backbone_weights", check_safetensors_file)
    if opts.real_folder and opts.real_dataset:
        raise OptionError("real_dataset", opts.real_dataset,
                          "give real photos as a folder or as a dataset, not both")
    if str(opts.log_level).upper() not in LOG_LEVELS:
        raise OptionError("log_level", opts.log_level, f"choose one of: {', '.join(LOG_LEVELS)}")
    if device:
        _field(opts, "device", check_device_available)


def check_pretrained_weights(backbone: str, hub: HubResource, local_file: str = "") -> str:
    """Where a pretrained backbone's weights will come from, checked now, before any sampling:
    `local_file` (a readable safetensors file) or the weights file on `hub`'s endpoint (a
    metadata request through the verified client, `HubResource.check_pretrained_weights`).
    Returns a line saying which, '' for a backbone that trains from scratch."""
    from fakeimg_assets.detection.backbones import get_backbone, list_backbones, pretrained_source

    source = pretrained_source(backbone)
    if source is None:
        return ""
    repo, filename = source
    if local_file:
        check_safetensors_file(local_file)
        return f"backbone {backbone}: pretrained weights from {local_file}"
    endpoint = hub.resolved_endpoint()
    scratch = ", ".join(n for n in list_backbones() if not get_backbone(n).pretrained)
    try:
        size = hub.check_pretrained_weights(repo, filename)
    except Exception as exc:  # noqa: BLE001 - any answer but the file is a refusal, named
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OptionError(
            "backbone", backbone,
            f"backbone {backbone!r} starts from pretrained weights {repo}/{filename}, which "
            f"are not reachable at {endpoint} ({type(exc).__name__}: {why[:300]}); serve "
            "them there, give them as a local file with --backbone-weights PATH "
            "(RunOptions.backbone_weights, a .safetensors file), or pick a backbone that "
            f"trains from scratch ({scratch})",
        ) from None
    return f"backbone {backbone}: pretrained weights {repo}/{filename} ({size} bytes) at {endpoint}"


__all__ = ["INT_FIELDS", "check_pretrained_weights", "check_run_options"]
