"""The offline test rig, apart from the product; imported only by `fakeimg_assets/cli.py`,
`benchmarks/` and `tests/` (`tests/platform/test_import_rules.py` fails on any other importer).

- `local_hub/`: a local server speaking the Hugging Face Hub's HTTP API over a folder of
  repos (`fakeimg hub serve`), with fault injection and a request log;
- `zoo/`: the tiny random-weight model zoo, healthy, broken and hostile repos of many
  diffusers architectures (`fakeimg zoo build`);
- `world/`: a miniature world of trained generators and the science run on it
  (`fakeimg world build`, `fakeimg science`);
- `chaos.py` (+ `chaos_report.py`, what a run found): the worst-day rehearsal, zoo and
  hostile repos behind a faulty Hub (`fakeimg chaos`);
- `demo_photos.py`: the demo photo dataset repo.
"""
