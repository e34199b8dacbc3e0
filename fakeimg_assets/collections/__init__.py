"""Image collections: images of generators the platform cannot run (GANs, pixel-space
diffusion, commercial services...), read from a folder, a Hub dataset repo or Parquet files in
the Community Forensics layout, and staged under `$FAKEIMG_HOME/collections/<name>/` with a
`manifest.json` that the collection assets read (`stage.py` is the entry point)."""
