"""Writing the zoo: tiny random-weight diffusers repos laid out like Hugging Face Hub repos.

The platform is exercised end to end against these instead of the real Hub: healthy models of
many architectures, one whose images are all black (quality quarantine) and deliberately
broken repos (remote code, pickle-only weights, a corrupt file, no `model_index.json`) that
a careful loader must refuse. Each repo also carries the redundant files real repos do (fp16
variant, `.bin` copy, single-file checkpoint) so a minimal downloader has something to skip.

Building is deterministic: the same `ZooModel` always gives byte-identical files.
Heavy libraries are imported inside functions, so importing this module is cheap.

The zoo, bottom to top: `models` (the catalogue, as data), `tokenizers` and `components`
(tiny shared parts), `registry` (architecture -> builder), the families `arch_*` (imported by
the package `__init__`, they register their builders), then the writers: `variants`
(redundant copies), `card` (card and Hub metadata), `damage`, `adapters` and this module,
which writes whole repos and the manifest `zoo.json`. `hostile` and `verify` sit on top.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fakeimg_assets.lib.paths import validate_model_id
from fakeimg_assets.testbed.zoo.adapters import write_adapter_repo
from fakeimg_assets.testbed.zoo.card import GITATTRIBUTES, hub_metadata, readme
from fakeimg_assets.testbed.zoo.damage import damage_repo
from fakeimg_assets.testbed.zoo.models import (
    HUB_METADATA,
    ZOO_MANIFEST,
    ZooModel,
    adapter_spec,
    built_architecture,
    zoo_models,
)
from fakeimg_assets.testbed.zoo.registry import build_pipeline
from fakeimg_assets.testbed.zoo.variants import (
    write_bin_copy,
    write_fp16_variant,
    write_legacy_tokenizer_files,
    write_single_file,
)


@contextmanager
def quiet_saving() -> Iterator[None]:
    """Silence save-time progress bars and cast warnings that mean nothing for a tiny zoo."""
    import diffusers
    import transformers

    d_level = diffusers.utils.logging.get_verbosity()
    t_level = transformers.utils.logging.get_verbosity()
    t_bars = transformers.utils.logging.is_progress_bar_enabled()
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        diffusers.utils.logging.set_verbosity(d_level)
        transformers.utils.logging.set_verbosity(t_level)
        if t_bars:
            transformers.utils.logging.enable_progress_bar()


def repo_dir(root: Path, model_id: str) -> Path:
    """Where a model's repo lives under the zoo root: `root/org/name`."""
    org, name = validate_model_id(model_id).split("/", 1)
    return Path(root) / org / name


def write_repo(root: Path, model: ZooModel) -> Path:
    """Build one repo at `root/org/name` from scratch and return its folder.

    Deterministic: the same `ZooModel` always writes byte-identical files.
    """
    validate_model_id(model.model_id)
    repo = repo_dir(root, model.model_id)
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    if adapter_spec(model.model_id) is not None:  # LoRA / single-file repos: zoo/adapters.py
        return write_adapter_repo(repo, model)
    kind, arch = built_architecture(model)

    with quiet_saving():
        pipe = build_pipeline(model)
        pipe.save_pretrained(repo, safe_serialization=True)
        write_legacy_tokenizer_files(pipe, repo)
        denoiser = next(d for d in ("unet", "transformer", "decoder") if hasattr(pipe, d))
        write_bin_copy(pipe, repo, denoiser)
        write_single_file(pipe, repo, model, ckpt=arch in ("sd1", "sdxl"))
        write_fp16_variant(pipe, repo)

    (repo / "README.md").write_text(readme(model, arch))
    (repo / ".gitattributes").write_text(GITATTRIBUTES)
    damage_repo(repo, model, kind, denoiser)
    meta = hub_metadata(model, arch)
    (repo / HUB_METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return repo


def build_zoo(root: Path, *, only: Sequence[str] | None = None) -> list[ZooModel]:
    """Build every catalogue model (or the listed ids) and merge them into `root/zoo.json`."""
    catalogue = zoo_models()
    by_id = {m.model_id: m for m in catalogue}
    if only is not None:
        unknown = [m for m in only if m not in by_id]
        if unknown:
            raise KeyError(f"not in the zoo catalogue: {unknown}; known: {sorted(by_id)}")
        wanted = set(only)
        models = [m for m in catalogue if m.model_id in wanted]
    else:
        models = catalogue
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for model in models:
        write_repo(root, model)

    manifest_path = root / ZOO_MANIFEST
    merged: dict[str, dict[str, Any]] = {}
    if manifest_path.exists():
        for row in json.loads(manifest_path.read_text()).get("models", []):
            merged[row["model_id"]] = row
    for model in models:
        merged[model.model_id] = asdict(model)
    order = {m.model_id: i for i, m in enumerate(catalogue)}
    rows = sorted(merged.values(), key=lambda r: (order.get(r["model_id"], 1 << 30), r["model_id"]))
    manifest_path.write_text(json.dumps({"models": rows}, indent=2) + "\n")
    return models


def load_manifest(root: Path) -> list[ZooModel]:
    """The models recorded in `root/zoo.json`."""
    rows = json.loads((Path(root) / ZOO_MANIFEST).read_text())["models"]
    return [ZooModel(**row) for row in rows]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m fakeimg_assets.testbed.zoo.build ROOT [MODEL_ID ...]`."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("model_ids", nargs="*")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    built = build_zoo(args.root, only=args.model_ids or None)
    for m in built:
        size = sum(f.stat().st_size for f in repo_dir(args.root, m.model_id).rglob("*"))
        print(f"{m.model_id:45s} {m.architecture:8s} {m.expect:10s} {size / 1e6:6.2f} MB")
    print(f"built {len(built)} repos in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
