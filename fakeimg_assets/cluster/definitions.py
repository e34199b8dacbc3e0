"""A cluster's code location (`workspace-cluster.yaml`): fakeimg's deployed definitions with
every run executed in one process.

A Celery worker runs each run in one of its pool processes, and those may not start children
(`AssertionError: daemonic processes are not allowed to have children`), which Dagster's
default executor does for each step. The run is the unit a cluster spreads over workers, so
its steps run one after another in that process, as `sample_model`'s always do. The same
rule applies to a detector recipe's `num_workers`: keep it 0 on Celery workers.
"""

from __future__ import annotations

import dagster as dg

from fakeimg_assets.definitions import deployed_definitions

defs = deployed_definitions(executor=dg.in_process_executor)
