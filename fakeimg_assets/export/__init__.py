"""The dataset others load and publish: `fakeimg export DIR [--push REPO]` and the
`dataset_export` asset.

Modules, one idea each: `columns` (the exported columns, Community Forensics names first,
and their Parquet/`datasets` types), `licences` (which generators may be published),
`rows` (the latest split's rows from the warehouse, with what is left out and why),
`shards` (Parquet shards with the image bytes, read and sha256-checked), `card` (the
dataset card), `checksums` (SHA256SUMS), `folder` (the target folder: refusals, temp
folder beside it, rename), `export` (the whole export, shared by CLI and asset), `push`
(publishing to a Hub endpoint) and `assets` (the Dagster asset).
"""
