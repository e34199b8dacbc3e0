"""`fakeimg export DIR [--push REPO] [--include-restricted]`: arguments, progress bar, push.

Every argument is checked before any work (the repo id and `HF_TOKEN` for `--push`, the
shard bounds, DIR itself); a tqdm bar follows the images, and the per-shard rate and ETA
go to stderr with `--verbose`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fakeimg_assets.export.export import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, ExportOptions


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="folder to write (missing, empty, or a previous export)")
    p.add_argument("--push", default="", metavar="REPO",
                   help="then publish to this Hub dataset repo (org/name) at $HF_ENDPOINT, "
                   "with the token in $HF_TOKEN")
    p.add_argument("--include-restricted", action="store_true",
                   help="also export generators with gated repos or licences outside the "
                   "redistributable allow-list (they are flagged in the card)")
    p.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS,
                   help=f"images per shard at most (default {DEFAULT_MAX_ROWS})")
    p.add_argument("--max-mb", type=float, default=DEFAULT_MAX_BYTES / 1e6,
                   help=f"image MB per shard at most (default {DEFAULT_MAX_BYTES / 1e6:.0f})")
    p.add_argument("--verbose", action="store_true", help="print each shard's rate and ETA")


def export_command(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fakeimg_assets.export.export import export_dataset
    from fakeimg_assets.export.push import push_dataset, push_target
    from fakeimg_assets.lib.paths import fakeimg_home

    if not (args.max_mb > 0):
        raise ValueError(f"--max-mb must be > 0, got {args.max_mb}")
    options = ExportOptions(include_restricted=args.include_restricted,
                            max_rows=args.max_rows, max_bytes=max(1, int(args.max_mb * 1e6)))
    target = push_target(args.push) if args.push else None  # checked before any work
    home = fakeimg_home()
    if not (home / "parquet").exists():
        raise FileNotFoundError(f"no fakeimg warehouse at {home}: set FAKEIMG_HOME or run "
                                "`fakeimg run` first")
    bars: list = []  # the bar starts once the rows are known (not before a refusal)

    def start(total: int) -> None:
        bars.append(tqdm(total=total, unit="img", desc="export", file=sys.stderr))

    def say(message: str) -> None:
        if args.verbose:
            (bars[0].write if bars else print)(message, file=sys.stderr)

    try:
        report = export_dataset(home, Path(args.dir), options, log=say, on_start=start,
                                on_row=lambda: bars[0].update(1))
    except LookupError as exc:  # no split yet, or it names no image
        raise ValueError(str(exc.args[0] if exc.args else exc)) from exc
    finally:
        for bar in bars:
            bar.close()
    print("\n".join(report.lines()))
    if target is not None:
        from huggingface_hub.errors import HfHubHTTPError

        try:
            pushed = push_dataset(report.folder, target, log=lambda m: print(m, file=sys.stderr))
        except (HfHubHTTPError, OSError, RuntimeError) as exc:
            print(f"fakeimg: error: push to {target.endpoint} dataset {target.repo_id} failed "
                  f"(the export in {report.folder} is complete): {exc}", file=sys.stderr)
            return 1
        print(f"pushed to {pushed.endpoint}/datasets/{pushed.repo_id} ({pushed.transfer}, "
              f"{pushed.files} files, {pushed.bytes / 1e6:.1f} MB, {pushed.seconds:.1f} s)")
    return 0 if report.ok else 1
