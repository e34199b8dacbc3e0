"""Code that tests share: fixture repos, homes and Hubs, the zoo's picks, small run configs.

Not test modules (pytest collects only `test_*.py`); tests import these by their public
names. Session fixtures (the zoo, the Hub server, the demo home, the small world) live in
`tests/conftest.py`.
"""
