"""The summary `fakeimg run` prints, read back from the warehouse's Parquet files."""

from __future__ import annotations

import warnings
from pathlib import Path

from fakeimg_assets.integrity.parquet_health import DamagedParquetWarning
from fakeimg_assets.warehouse.store import Warehouse


def _table(con, sql: str) -> tuple[list[str], list[tuple]]:  # noqa: ANN001
    rel = con.sql(sql)
    return list(rel.columns), rel.fetchall()


def format_table(columns: list[str], rows: list[tuple]) -> str:
    cells = [[("" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)) for v in r] for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)


def summarize(home: Path) -> str:
    """Models crawled/sampled, images per model, quarantine, failures, detector scores.

    Reads this home's Parquet through an in-memory DuckDB: no database lock is needed
    (a user may hold `warehouse.duckdb` open), and a moved or copied home reads its own
    files. The views in `warehouse.duckdb` are refreshed on the way if they are stale.
    A damaged Parquet file is left out, and the summary starts with a warning naming it
    and the command that fixes it.
    """
    import duckdb


    store = Warehouse(home)
    if not store.database_path.exists() and not store.parquet_root.exists():
        raise FileNotFoundError(f"no warehouse at {home}: run `fakeimg run` first")
    with warnings.catch_warnings(record=True) as caught:  # shown in the summary itself
        warnings.simplefilter("always", DamagedParquetWarning)
        store.ensure_views()  # False (skipped) while another process holds the file
        while True:
            con = store.connect_memory()
            try:
                text = _summary_text(con)
                break
            except duckdb.Error as exc:  # a file whose pages do not decode: leave it out
                if not store.skip_undecodable_files(exc):
                    raise
            finally:
                con.close()
    damaged = dict.fromkeys(str(w.message) for w in caught
                            if issubclass(w.category, DamagedParquetWarning))
    for w in caught:  # anything else is not ours to swallow
        if not issubclass(w.category, DamagedParquetWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return "\n".join([*(f"warning: {t}" for t in damaged), text])


def _summary_text(con) -> str:  # noqa: ANN001
    """The summary's tables, read through `con` (an in-memory DuckDB over the home)."""
    parts = []
    (crawled,) = con.execute("SELECT count(*) FROM hub_models").fetchall()[0]
    (sampled,) = con.execute("SELECT count(*) FROM model_stats").fetchall()[0]
    (n_fake, n_real) = con.execute(
        "SELECT count(*) FILTER (label = 'fake'), count(*) FILTER (label = 'real') FROM images"
    ).fetchall()[0]
    parts.append(
        f"models crawled: {crawled}   models sampled: {sampled}   "
        f"fake images: {n_fake}   real images: {n_real}"
    )
    parts.append("\nimages per model:")
    parts.append(format_table(*_table(con, """
        SELECT s.model_id, m.architecture, s.n_images, round(s.black_fraction, 2) AS black,
               s.quarantined, left(coalesce(s.quarantine_reason, ''), 60) AS reason
        FROM model_stats s LEFT JOIN model_metadata m USING (model_id)
        ORDER BY s.model_id""")))
    (n_q,) = con.execute("SELECT count(*) FROM model_stats WHERE quarantined").fetchall()[0]
    parts.append(f"\nquarantined models: {n_q}")
    # each model's latest state: a failure or refusal counts unless the model was sampled
    # after it; a row from before the `refused` column: permanent = refused (as run_plan)
    latest_rows = """
        WITH latest AS (
            SELECT * FROM model_failures QUALIFY row_number() OVER (
                PARTITION BY model_id ORDER BY failed_at DESC) = 1),
        sampled AS (
            SELECT source AS model_id, max(created_at) AS sampled_at
            FROM images WHERE label = 'fake' GROUP BY source)
        SELECT {columns} FROM latest l LEFT JOIN sampled s USING (model_id)
        WHERE (s.sampled_at IS NULL OR s.sampled_at < l.failed_at)
          AND coalesce(l.refused, NOT l.transient, false) = {refused}
        ORDER BY l.model_id"""
    failures = _table(con, latest_rows.format(
        columns="l.model_id, l.asset, l.stage, l.error_type, l.transient, "
                "left(l.message, 90) AS message", refused="false"))
    n_transient = sum(1 for r in failures[1] if r[4])
    parts.append(f"failed models: {len(failures[1])} ({n_transient} transient)")
    if failures[1]:
        parts.append(format_table(*failures))
    refusals = _table(con, latest_rows.format(
        columns="l.model_id, l.asset, l.stage, l.error_type, left(l.message, 90) AS message",
        refused="true"))
    parts.append(f"refused models: {len(refusals[1])} (by design: not tried again until the "
                 "repo changes)")
    if refusals[1]:
        parts.append(format_table(*refusals))
    # the latest main run's own rows: balanced per generator, headline = mean over models
    latest = con.execute("""
        SELECT e.run_id FROM eval_results e JOIN detector_runs r USING (run_id)
        WHERE r.purpose = 'main' AND e.protocol = 'held_out_models'
        ORDER BY r.created_at DESC LIMIT 1""").fetchall()
    if latest:
        run_id = latest[0][0]
        metrics = """round(ap, 3) AS ap, round(ap_ci_low, 3) AS ap_lo,
            round(ap_ci_high, 3) AS ap_hi, round(acc_real, 3) AS acc_real,
            round(acc_fake, 3) AS acc_fake"""
        parts.append(f"\ndetector {run_id} on held-out generators (AP with 95% interval):")
        parts.append(format_table(*_table(con, f"""
            SELECT group_kind, group_value, n_real, n_fake, {metrics}
            FROM eval_results WHERE run_id = '{run_id}' AND perturbation IS NULL
              AND group_kind IN ('mean_over_models', 'overall', 'model')
            ORDER BY group_kind = 'model', group_kind DESC, group_value""")))
        parts.append("\nprotocols and robustness (mean AP over held-out generators):")
        parts.append(format_table(*_table(con, f"""
            SELECT protocol, coalesce(eval_set, '-') AS eval_set,
                   coalesce(perturbation, '-') AS perturbation, run_id,
                   n_real, n_fake, {metrics}
            FROM detector_eval_results
            WHERE (run_id = '{run_id}' OR starts_with(run_id, '{run_id}:'))
              AND group_kind = 'mean_over_models'
            ORDER BY protocol, eval_set NULLS FIRST, perturbation NULLS FIRST, run_id""")))
        families = _table(con, f"""
            SELECT protocol, coalesce(eval_set, '-') AS eval_set, group_value AS family_group,
                   n_real, n_fake, round(ap, 3) AS ap, round(ap_ci_low, 3) AS ap_lo,
                   round(ap_ci_high, 3) AS ap_hi
            FROM detector_eval_results
            WHERE run_id = '{run_id}' AND group_kind = 'family_group' AND perturbation IS NULL
            ORDER BY protocol, eval_set NULLS FIRST, family_group""")
        if families[1]:
            parts.append("\nAP per family group of the held-out generators (and outside sets):")
            parts.append(format_table(*families))
    scaling = _table(con, """
        SELECT control, n_train_models AS k, n_train_fake AS fakes, count(*) AS draws,
               round(avg(ap), 3) AS mean_ap, round(stddev_samp(ap), 3) AS std_ap,
               round(min(ap), 3) AS min_ap, round(max(ap), 3) AS max_ap,
               round(avg(n_families), 1) AS families
        FROM scaling_results
        WHERE study_id = (SELECT max(study_id) FROM scaling_results)
        GROUP BY ALL ORDER BY control, k, fakes""")
    if scaling[1]:
        parts.append("\nscaling study (held-out mean AP over draws vs training generators, "
                     "fake images fixed; control = same generators, more images):")
        parts.append(format_table(*scaling))
    collections = _table(con, """
        SELECT collection, any_value(role) AS role, count(*) AS generators,
               sum(n_images) AS images, any_value(n_real) AS reals,
               string_agg(DISTINCT family_group, ', ' ORDER BY family_group) AS family_groups
        FROM collections GROUP BY collection ORDER BY collection""")
    if collections[1]:
        parts.append("\nimage collections (generators outside the Hub):")
        parts.append(format_table(*collections))
    diversity = _table(con, """
        SELECT condition, n_train_models AS k, count(*) AS draws,
               round(avg(n_families), 1) AS families, round(avg(ap), 3) AS mean_ap,
               round(min(ap), 3) AS min_ap, round(max(ap), 3) AS max_ap
        FROM diversity_results
        WHERE study_id = (SELECT max(study_id) FROM diversity_results)
        GROUP BY ALL ORDER BY condition""")
    if diversity[1]:
        parts.append("\ndiversity study (held-out mean AP, k generators and images fixed):")
        parts.append(format_table(*diversity))
    # the latest study's rows: run ids start with its fixed-width id 'cross-dataset-<time>-<run>'
    cross = _table(con, """
        SELECT train_source, eval_set, n_real, n_fake, round(ap, 3) AS ap,
               round(ap_ci_low, 3) AS ap_lo, round(ap_ci_high, 3) AS ap_hi
        FROM cross_dataset_results
        WHERE group_kind = 'mean_over_models' AND perturbation IS NULL AND starts_with(
            run_id, (SELECT max(left(run_id, 38)) FROM cross_dataset_results))
        ORDER BY train_source, eval_set""")
    if cross[1]:
        parts.append("\ncross-dataset comparison (mean AP over each set's generators):")
        parts.append(format_table(*cross))
    return "\n".join(parts)
