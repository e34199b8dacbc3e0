"""The offline test rig, apart from the product: a local server speaking the Hub's HTTP API
(`local_hub`), the tiny random-weight model zoo (`zoo`), the miniature world of trained
generators (`world`), the chaos rehearsal (`chaos`) and the demo photo dataset
(`demo_photos`). Imported only by `fakeimg_assets/cli.py`, `benchmarks/` and `tests/`
(`tests/test_testbed_boundary.py` fails on any other importer)."""
