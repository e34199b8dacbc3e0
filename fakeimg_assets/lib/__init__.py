"""Shared code below every domain: paths and model ids, the error taxonomy, retries, times.
Imports nothing of the platform above it."""
