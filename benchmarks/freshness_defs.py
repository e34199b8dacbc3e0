"""The code location of the freshness benchmark: fakeimg's own definitions, with the
intervals a benchmark can wait for (the product's are hourly and daily):

- `new_hub_models` every 5 s, asking for an incremental crawl every 10 s;
- `fakeimg_automation` every 5 s;
- `retrain_detector` every 5 s, retraining once 2 sampled models await a split or one has
  waited 30 s (the last model of the burst has no partner), with a small detector (tiny-resnet, 1 epoch; one held-out-family run, no perturbations).
"""

from __future__ import annotations

import dagster as dg

from fakeimg_assets.definitions import build_definitions
from resources import ComputeResource

RETRAIN_EVERY_N_MODELS = 2
RETRAIN_RUN_CONFIG = {
    "ops": {
        "detector": {"config": {"backbone": "tiny-resnet", "epochs": 1}},
        "detector_evaluation": {
            "config": {"family_max_runs": 1, "perturbations": [], "protocol_epochs": 1}
        },
    }
}

defs = build_definitions(
    home=dg.EnvVar("FAKEIMG_HOME"),
    token=dg.EnvVar("HF_TOKEN"),
    retrain_every_n_models=RETRAIN_EVERY_N_MODELS,
    retrain_max_wait_seconds=30.0,
    retrain_run_config=RETRAIN_RUN_CONFIG,
    retrain_interval_seconds=5,
    automation_interval_seconds=5,
    discovery_interval_seconds=5,
    crawl_every_s=10,
    compute=ComputeResource(sampler="warm_worker"),  # as the shipped code location
)
