"""Model card and Hub metadata of a world generator, reusing the zoo's writers.

The zoo's card claims random weights and a real-Hub base model; a world generator instead
says it was trained, on what, and (for a community fine-tune) declares its world base as
`base_model`, which the platform's lineage grouping reads exactly as on the real Hub.
"""

from __future__ import annotations

from typing import Any

from fakeimg_assets.testbed.world.spec import GeneratorSpec
from fakeimg_assets.testbed.zoo import card as zoo_card
from fakeimg_assets.testbed.zoo.models import ARCHS, ZooModel

LICENSE = "creativeml-openrail-m"


def as_zoo_model(spec: GeneratorSpec) -> ZooModel:
    """The zoo's record for this generator, so the zoo's metadata writers apply unchanged."""
    return ZooModel(
        model_id=spec.model_id, architecture=spec.arch,
        pipeline_class=ARCHS[spec.arch].pipeline_class, scheduler=spec.scheduler,
        seed=spec.seed, created_at=spec.created_at, expect="ok", license=LICENSE,
    )


def readme(spec: GeneratorSpec, *, steps: int, image_size: int) -> str:
    """Card with YAML front matter; `base_model` only for fine-tunes."""
    model = as_zoo_model(spec)
    front = [
        "---", f"license: {LICENSE}", "library_name: diffusers", "pipeline_tag: text-to-image",
        "tags:", zoo_card.yaml_list(zoo_card.repo_tags(model, spec.arch)),
    ]
    if spec.base is not None:
        front.append(f"base_model: {spec.base}")
    front.append("---")
    kind = f"A community fine-tune of `{spec.base}`" if spec.base else "A base model"
    body = [
        "", f"# {spec.model_id.split('/', 1)[1]}", "",
        f"{kind} from the fakeimg world: a tiny {model.pipeline_class} trained for {steps} "
        f"steps on {image_size}x{image_size} crops of the left halves of these scikit-image "
        f"photographs, conditioned on their captions: {', '.join(spec.photos)}.",
        "", f"Seed {spec.seed}, {spec.prediction_type} prediction, scheduler {spec.scheduler}.",
        "",
    ]
    return "\n".join(front + body)


def hub_metadata(spec: GeneratorSpec) -> dict[str, Any]:
    """`.hub.json` as the zoo writes it (dates, counts and tags derived from the id)."""
    return zoo_card.hub_metadata(as_zoo_model(spec), spec.arch)
