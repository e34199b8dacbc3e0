"""Crash consistency of what fakeimg writes: partition publishing, leftovers, `verify`, and
damaged Parquet files (readability checks, quarantine, re-run marking)."""
