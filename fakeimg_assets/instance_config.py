"""The Dagster instance config fakeimg ships, written once by `fakeimg run` and `make dev`.

- run retries: a run whose worker crashed (OOM kill, reboot) is re-executed up to twice.
  Step failures are not run-retried (`retry_on_asset_or_op_failure: false`): transient
  step errors are already retried inside the run (`RetryRequested`), and permanent ones
  (hostile repo, limits) must not be tried again.
- run monitoring: runs stuck starting or whose worker vanished are marked failed, so the
  run retries above and the sensor's re-requests can pick them up.
- pools: every pool, `gpu` included (sampling and training), runs one step at a time;
  Dagster 1.13 spells only a default limit in dagster.yaml (`dagster instance concurrency
  set gpu N` overrides it per pool).
- runs: at most 2 at once: on 2 CPU cores 10 parallel runs took 14x longer (NOTES).

An existing dagster.yaml is never overwritten: users own it after the first write.
"""

from __future__ import annotations

import sys
from pathlib import Path

DAGSTER_YAML = """\
# Dagster instance of fakeimg (written once by `fakeimg run` / `make dev`; edit freely,
# it is never overwritten). Reference: https://docs.dagster.io/deployment/oss/dagster-yaml
telemetry:
  enabled: false
run_retries:
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false  # steps retry transient errors themselves
run_monitoring:
  enabled: true
  start_timeout_seconds: 300
  poll_interval_seconds: 60
concurrency:
  pools:
    default_limit: 1  # the `gpu` pool: one sampling / training step at a time
    granularity: run
  runs:
    max_concurrent_runs: 2
"""


def write_instance_config(dagster_home: Path | str) -> Path:
    """Write `dagster.yaml` into `dagster_home` unless one exists; returns its path."""
    home = Path(dagster_home)
    if home.exists() and not home.is_dir():
        raise NotADirectoryError(f"DAGSTER_HOME {home} exists and is not a directory")
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    if not path.exists():
        tmp = path.with_name(".dagster.yaml.tmp")
        tmp.write_text(DAGSTER_YAML)
        tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m fakeimg_assets.instance_config DAGSTER_HOME` (used by `make dev`)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m fakeimg_assets.instance_config DAGSTER_HOME", file=sys.stderr)
        return 2
    try:
        print(write_instance_config(args[0]))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
