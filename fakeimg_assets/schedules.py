"""Schedules: a daily crawl keeps `hub_models` current."""

from __future__ import annotations

import dagster as dg

from fakeimg_assets.jobs import hub_crawl_job

daily_hub_crawl = dg.ScheduleDefinition(
    name="daily_hub_crawl",
    job=hub_crawl_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    description="Crawl the Hub's text-to-image diffusers models every day at 04:00 UTC.",
)
