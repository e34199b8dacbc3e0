"""Reports across partitions: every model at a glance."""
