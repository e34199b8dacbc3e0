"""Which files of a repo a pipeline needs: minimal downloads, never pickle, never code.

Pure functions over `model_index.json` and the repo's file list, so the policy is tested
without a network and a hostile repo is refused before a single weight is fetched. The
Hub side of planning (pinning a revision, reading the index, bases of derived repos) is
`remote_plan.py`.
"""

from __future__ import annotations

from collections.abc import Mapping

from fakeimg_assets.hub_client.verified import RepoFile, unsafe_name_reason
from fakeimg_assets.sampling.recipes import SamplingRecipe, component_refusal, recipe_for_pipeline
from fakeimg_assets.sampling.types import DownloadPlan, UnsafeRepoError

WEIGHT_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".ckpt",
    ".pt",
    ".pth",
    ".msgpack",
    ".h5",
    ".onnx",
    ".gguf",
    ".pb",
    ".pkl",
    ".pickle",
)


CODE_SUFFIXES = (".py", ".pyc", ".so", ".sh")


# "kolors" names diffusers' own pipeline module (diffusers.pipelines.kolors: ChatGLM), not repo code
TRUSTED_LIBRARIES = ("diffusers", "transformers", "kolors")


KNOWN_VARIANTS = ("fp16", "bf16", "fp32", "non_ema", "ema")


def _variant_of(filename: str) -> str | None:
    """`model.fp16.safetensors` -> 'fp16'; sharded `model.fp16-00001-of-00002...` too."""
    stem = filename.rsplit("/", 1)[-1]
    parts = stem.split(".")
    for part in parts[1:-1]:
        base = part.split("-")[0]
        if base in KNOWN_VARIANTS:
            return base
    return None


def is_weight_file(path: str) -> bool:
    """Weights (any format) or a shard index: the big files, never fetched unless planned."""
    return path.endswith(WEIGHT_SUFFIXES) or path.endswith(".safetensors.index.json")


def _component_weights(
    files: list[str], variant: str | None
) -> list[str]:
    """Safetensors weights (plus shard index) of one component for one variant."""
    chosen = []
    for f in files:
        if _variant_of(f) != variant:
            continue
        if f.endswith(".safetensors") or f.endswith(".safetensors.index.json"):
            chosen.append(f)
    return chosen


def plan_download(
    model_index: Mapping[str, object],
    sizes: Mapping[str, int],
    *,
    model_id: str = "?",
    sha256s: Mapping[str, str] | None = None,
) -> DownloadPlan:
    """Select the files `from_pretrained(use_safetensors=True)` needs for this pipeline.

    `sizes` maps every repo file to its size in bytes. Raises `UnsafeRepoError` for a
    custom pipeline, a component from a library other than diffusers/transformers, a component
    (class or slot) outside the recipe's allow-list, a nested pipeline, a component whose
    weights exist only as pickle, or a planned file name that is not a plain exact name.
    `sha256s` maps LFS files to the listing's sha256, which downloads are verified against.
    """
    if "model_index.json" not in sizes:
        raise UnsafeRepoError(f"{model_id}: no model_index.json; not a diffusers pipeline repo")
    class_name = model_index.get("_class_name")
    try:
        recipe: SamplingRecipe = recipe_for_pipeline(class_name)
    except KeyError as exc:
        raise UnsafeRepoError(f"{model_id}: {exc}") from None

    files = ["model_index.json"]
    components: dict[str, list[str]] = {}
    weighted: dict[str, list[str]] = {}
    absent: list[str] = []
    for name, spec in model_index.items():
        if name.startswith("_") or not (spec is None or isinstance(spec, list | tuple)):
            continue  # private keys and pipeline config values such as requires_safety_checker
        if name in recipe.skip_components:
            continue
        if spec is None or (isinstance(spec, list) and all(s is None for s in spec)):
            if name in recipe.components and name not in recipe.optional_components:
                raise UnsafeRepoError(f"{model_id}: required component {name!r} is null")
            if name in recipe.components:
                absent.append(name)
            continue
        if not (isinstance(spec, list) and len(spec) == 2 and all(isinstance(s, str) for s in spec)):
            raise UnsafeRepoError(f"{model_id}: component {name!r} has malformed spec {spec!r}")
        library, cls = spec
        if library not in TRUSTED_LIBRARIES:
            raise UnsafeRepoError(
                f"{model_id}: component {name!r} comes from {library!r} ({cls}); only "
                f"{' and '.join(TRUSTED_LIBRARIES)} components are loaded (no remote code)"
            )
        refusal = component_refusal(recipe, name, spec)
        if refusal:
            raise UnsafeRepoError(f"{model_id}: {refusal}")
        components[name] = spec
        prefix = f"{name}/"
        comp_files = sorted(p for p in sizes if p.startswith(prefix))
        if not comp_files:
            raise UnsafeRepoError(f"{model_id}: component {name!r} has no files in the repo")
        for path in comp_files:
            if path.endswith(CODE_SUFFIXES):
                continue
            if is_weight_file(path):
                weighted.setdefault(name, []).append(path)
            else:
                files.append(path)

    missing = sorted(
        n for n in recipe.components
        if n not in components and n not in absent and n not in recipe.optional_components
    )
    if missing:
        raise UnsafeRepoError(f"{model_id}: model_index.json lacks required component(s) {missing}")

    # one variant for the whole pipeline, as diffusers' `variant=` applies to every component
    variant: str | None = None
    candidates: list[str | None] = [None, "fp16", "bf16", "fp32"]
    for candidate in candidates:
        if all(_component_weights(ws, candidate) for ws in weighted.values()):
            variant = candidate
            break
    else:
        bad = sorted(
            name for name, ws in weighted.items() if not any(w.endswith(".safetensors") for w in ws)
        )
        if bad:
            found = ", ".join(weighted[bad[0]])
            raise UnsafeRepoError(
                f"{model_id}: component {bad[0]!r} has no safetensors weights (only {found}); "
                "fakeimg never unpickles .bin/.ckpt files"
            )
        raise UnsafeRepoError(
            f"{model_id}: no single weights variant covers every component "
            f"({ {n: sorted(ws) for n, ws in weighted.items()} })"
        )
    for ws in weighted.values():
        files.extend(_component_weights(ws, variant))

    chosen = set(files)
    for path in sorted(chosen):
        reason = unsafe_name_reason(path)
        if reason:
            raise UnsafeRepoError(
                f"{model_id}: planned file {path!r} refused: {reason} (files are fetched by "
                "exact name only)"
            )
    sha = sha256s or {}
    skipped = tuple(sorted(p for p in sizes if p not in chosen))
    return DownloadPlan(
        pipeline_class=str(class_name),
        recipe=recipe.name,
        architecture=recipe.architecture,
        files=tuple(sorted(chosen)),
        components={k: list(v) for k, v in components.items()},
        variant=variant,
        downloaded_bytes=sum(int(sizes[p] or 0) for p in chosen),
        repo_bytes=sum(int(s or 0) for s in sizes.values()),
        n_repo_files=len(sizes),
        skipped=skipped,
        absent_components=tuple(absent),
        expected=tuple(RepoFile(p, int(sizes[p] or 0), sha.get(p)) for p in sorted(chosen)),
    )
