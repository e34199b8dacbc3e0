"""The zoo's structure: every catalogued architecture has exactly one registered builder,
the registry refuses ambiguity, and importing the zoo stays cheap (no torch)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fakeimg_assets.testbed.zoo.models import ARCHS, adapter_spec, built_architecture, zoo_models
from fakeimg_assets.testbed.zoo.registry import BUILDERS, builder, register


def test_every_catalogued_architecture_has_exactly_its_builder() -> None:
    built = {built_architecture(m)[1] for m in zoo_models() if adapter_spec(m.model_id) is None}
    assert built <= set(BUILDERS), f"no builder registered for {sorted(built - set(BUILDERS))}"
    assert set(BUILDERS) == set(ARCHS)  # no builder without its card data, and vice versa


def test_an_architecture_is_registered_once_and_a_refusal_changes_nothing() -> None:
    before = dict(BUILDERS)
    with pytest.raises(ValueError, match=r"\['sd1'\] registered twice"):
        register("brand-new-arch", "sd1")(lambda model, seed: None)
    assert BUILDERS == before


def test_an_unknown_architecture_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"no zoo builder for architecture 'nope'; known: .*'sd1'"):
        builder("nope")


def test_importing_the_zoo_and_the_local_hub_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "import fakeimg_assets.testbed.zoo.build, fakeimg_assets.testbed.zoo.hostile\n"
        "import fakeimg_assets.testbed.local_hub.server, fakeimg_assets.testbed.chaos\n"
        "from fakeimg_assets.testbed.zoo.registry import BUILDERS\n"
        "assert len(BUILDERS) > 20, BUILDERS\n"
        "heavy = ('torch', 'diffusers', 'transformers', 'dagster')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_world_cache_key_reads_only_zoo_sources_that_exist() -> None:
    from fakeimg_assets.testbed.world.cache import source_digest

    assert len(source_digest()) == 64  # a renamed zoo function would raise here instead
