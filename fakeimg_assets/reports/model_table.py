"""Every model at a glance: one row per model the warehouse knows (metadata, stats or a
failure), with its quality aggregate, quarantine and latest failure, worked out in DuckDB
(only the result leaves it). Quarantined models first, then those whose latest attempt
failed, then those the platform refused by design (`model_failures.refused`; rows written
before that column count as refused when permanent), then the rest."""

from __future__ import annotations

import polars as pl

from fakeimg_assets.warehouse.store import Warehouse

STATUSES = ("quarantined", "failed", "refused", "ok", "no stats")  # the report's order

MODEL_TABLE_SQL = """
WITH ids AS (
    SELECT model_id FROM model_metadata UNION SELECT model_id FROM model_stats
    UNION SELECT model_id FROM model_failures
),
meta AS (
    SELECT model_id, family_group, kind FROM model_metadata
    QUALIFY row_number() OVER (PARTITION BY model_id ORDER BY fetched_at DESC NULLS LAST) = 1
),
stats AS (
    SELECT * FROM model_stats
    QUALIFY row_number() OVER (PARTITION BY model_id ORDER BY computed_at DESC NULLS LAST) = 1
),
fail AS (
    SELECT model_id, asset, stage, error_type, message, transient, failed_at,
           coalesce(refused, NOT coalesce(transient, true)) AS refused,
           count(*) OVER (PARTITION BY model_id) AS n_failures
    FROM model_failures
    QUALIFY row_number() OVER (PARTITION BY model_id ORDER BY failed_at DESC NULLS LAST) = 1
),
joined AS (
    SELECT
        CASE WHEN coalesce(s.quarantined, false) THEN 'quarantined'
             WHEN f.failed_at IS NOT NULL
                  AND (s.computed_at IS NULL OR f.failed_at > s.computed_at)
                  THEN CASE WHEN f.refused THEN 'refused' ELSE 'failed' END
             WHEN s.model_id IS NOT NULL THEN 'ok'
             ELSE 'no stats' END AS status,
        i.model_id, m.family_group, m.kind, s.n_images, s.black_fraction,
        s.duplicate_fraction, s.constant_fraction, s.mean_luma, s.mean_std_luma,
        s.mean_entropy, s.mean_laplacian_var, s.sha256_failures,
        coalesce(s.quarantined, false) AS quarantined, s.quarantine_reason,
        f.asset || '/' || f.stage AS failed_stage, f.error_type, f.message AS latest_failure,
        f.transient AS failure_transient, f.failed_at, coalesce(f.n_failures, 0) AS n_failures,
        s.computed_at AS stats_at
    FROM ids i
    LEFT JOIN meta m USING (model_id)
    LEFT JOIN stats s USING (model_id)
    LEFT JOIN fail f USING (model_id)
)
SELECT * FROM joined
ORDER BY CASE status WHEN 'quarantined' THEN 0 WHEN 'failed' THEN 1 WHEN 'refused' THEN 2
                     WHEN 'ok' THEN 3 ELSE 4 END,
         model_id
"""

COUNTS_SQL = f"""
SELECT count(*) AS models,
       count(*) FILTER (WHERE status = 'quarantined') AS quarantined,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'refused') AS refused,
       count(*) FILTER (WHERE status = 'ok') AS ok,
       count(*) FILTER (WHERE status = 'no stats') AS no_stats
FROM ({MODEL_TABLE_SQL})
"""


def model_table(warehouse: Warehouse, limit: int | None = None) -> pl.DataFrame:
    """The report's rows in order (quarantined, failed, refused, ok, no stats; by model id), the
    first `limit` of them when given."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    sql = MODEL_TABLE_SQL + (f"LIMIT {int(limit)}" if limit is not None else "")
    return warehouse.query(sql)


def model_counts(warehouse: Warehouse) -> dict[str, int]:
    """How many models the report covers, by status."""
    return {k: int(v) for k, v in warehouse.query(COUNTS_SQL).row(0, named=True).items()}
