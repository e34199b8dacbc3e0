"""Collection partition keys (`collection--<name>/<generator>`) and family groups."""

from __future__ import annotations

import pytest

from fakeimg_assets.lib.family_groups import (
    FAMILY_GROUPS,
    family_group_of,
    of_pipeline,
    parse_family_group,
)
from fakeimg_assets.lib.paths import (
    InvalidModelIdError,
    collection_key,
    model_id_problem,
    model_slug,
    partition_key_problem,
    slug_to_model_id,
    split_collection_key,
    validate_partition_key,
)


def test_a_collection_key_round_trips_and_is_never_a_hub_id() -> None:
    key = collection_key("cf-eval", "midjourney-v5")
    assert key == "collection--cf-eval/midjourney-v5"
    assert split_collection_key(key) == ("cf-eval", "midjourney-v5")
    assert model_slug(key) == "collection--cf-eval--midjourney-v5"
    assert slug_to_model_id(model_slug(key)) == key
    assert model_id_problem(key) is not None  # the Hub forbids '--': no clash possible
    assert validate_partition_key("org/model") == "org/model"
    assert split_collection_key("org/model") is None
    assert slug_to_model_id("org--model") == "org/model"


@pytest.mark.parametrize("key, why", [
    ("collection--a/../b", "'/'"),
    ("collection--a--b/c", "'--'"),
    ("collection--/gen", "empty"),
    ("collection--name/", "empty"),
    ("collection--na me/gen", "character ' '"),
    ("collection--name/gén", "character 'é'"),
    ("collection--name/.hidden", "starts or ends"),
    ("collection--name/g..x", "'..'"),
    ("collection--" + "n" * 97 + "/g", "longer than 96"),
    ("collection--a/b/c", "'/'"),
])
def test_hostile_collection_keys_are_refused_naming_why(key: str, why: str) -> None:
    problem = partition_key_problem(key)
    assert problem is not None and why in problem
    assert split_collection_key(key) is None
    with pytest.raises(InvalidModelIdError, match="collection generator key"):
        validate_partition_key(key)
    with pytest.raises(InvalidModelIdError):
        model_slug(key)


@pytest.mark.parametrize("name, generator", [("a--b", "g"), ("a", "../g"), ("", "g"), ("a", "")])
def test_collection_key_refuses_bad_parts(name: str, generator: str) -> None:
    with pytest.raises(InvalidModelIdError, match="invalid (collection|generator) name"):
        collection_key(name, generator)


def test_every_sampled_pipeline_class_has_a_family_group() -> None:
    from fakeimg_assets.sampling import recipes as R

    classes = {c for n in R.list_recipes() for c in R.get_recipe(n).pipeline_classes}
    groups = {c: of_pipeline(c) for c in classes}
    assert set(groups.values()) <= set(FAMILY_GROUPS)
    assert groups["IFPipeline"] == "pixel_diffusion"
    assert groups["AmusedPipeline"] == "other"
    assert groups["StableDiffusionPipeline"] == groups["FluxPipeline"] == "latent_diffusion"
    assert of_pipeline(None) == of_pipeline("NotAPipelineClass") == "other"


@pytest.mark.parametrize("text, group", [
    ("GAN", "gan"), ("StyleGAN", "gan"), ("pixel diffusion", "pixel_diffusion"),
    ("Pixel-Space Diffusion", "pixel_diffusion"), ("LDM", "latent_diffusion"),
    ("closed source", "commercial"), (" other ", "other"),
])
def test_family_spellings_are_read(text: str, group: str) -> None:
    assert parse_family_group(text) == group


def test_an_unknown_family_is_refused_naming_the_valid_groups() -> None:
    with pytest.raises(ValueError, match="unknown family group 'diffusion-ish'.*latent_diffusion, "
                       "pixel_diffusion, gan, commercial, other"):
        parse_family_group("diffusion-ish")


def test_a_metadata_row_without_a_group_falls_back_to_its_pipeline_class() -> None:
    assert family_group_of({"family_group": "gan", "pipeline_class": "IFPipeline"}) == "gan"
    assert family_group_of({"family_group": None, "pipeline_class": "IFPipeline"}) == \
        "pixel_diffusion"
    assert family_group_of({"pipeline_class": "StableDiffusionXLPipeline"}) == "latent_diffusion"
