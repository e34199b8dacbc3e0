"""Hostile repos beside the tiny zoo: one healthy-looking SD1 repo per attack on the loader.

Each repo is built by the zoo's own builders (so it lists on the Hub as a text-to-image
diffusers model, with `.hub.json` and a model card) and then altered to carry one attack the
platform must refuse before loading anything: glob characters in file names, a nested
pipeline that would fall back to pickle, a resolution bomb, an oversized JSON, a control
character in a file name. `fakeimg zoo build DIR --hostile` adds them; the default zoo is
unchanged.

Every pickle in these repos (`.bin`, `.ckpt`) is a CANARY: unpickling it creates a marker
file under `ROOT/.canary/`, and every `.py` file creates one when imported. A run that
leaves `.canary/` empty provably never unpickled or imported anything from them. This module
writes the canaries with `pickle.dumps` and never loads them.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.zoo.build import repo_dir, write_repo
from fakeimg_assets.testbed.zoo.models import ZOO_MANIFEST, ZooModel

HOSTILE_MANIFEST = "hostile.json"
CANARY_DIR = ".canary"  # a leading dot: the Hub server never lists it as an org
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl", ".pickle")
FORBIDDEN_SUFFIXES = (*PICKLE_SUFFIXES, ".py")  # files no safe run may ever request
JSON_CAP_BYTES = 16 * 1024 * 1024  # the cap the oversized JSON is built to exceed
OVERSIZED_JSON_BYTES = 17 * 1024 * 1024
BOMB_SAMPLE_SIZE = 4096  # unet latent size: 4096 * 8 = 32768 px images

GLOB = "glob-names"
NESTED = "nested-pickle-pipeline"
BOMB = "resolution-bomb"
BIG_JSON = "oversized-json"
CONTROL = "control-char-name"
ATTACKS = (GLOB, NESTED, BOMB, BIG_JSON, CONTROL)

GLOB_NAMES = ("unet/*", "tokenizer/special[1].json")
CONTROL_NAME = "tokenizer/vocab\x1b]0;pwned\x07\r.json"  # ESC, BEL, CR: a terminal escape


@dataclass(frozen=True)
class HostileRepo:
    """One attack: the repo that carries it and what a safe platform must make of it."""

    attack: str  # one of ATTACKS
    model: ZooModel  # expect == "failure", reason says why
    refusal: str  # regex a refusal message should match (lower-cased), e.g. "glob|pattern"
    planted: tuple[str, ...]  # repo-relative paths the attack added or altered


_REASONS = {
    GLOB: (
        "glob characters in file names: unet/* and tokenizer/special[1].json would be "
        "fnmatch patterns, pulling in unet/diffusion_pytorch_model.bin (a pickle) and "
        "unet/pipeline.py; names with *?[] must be refused",
        r"glob|pattern|\*|\[|name",
    ),
    NESTED: (
        "nested pipeline: model_index.json declares unet as ['diffusers', "
        "'DiffusionPipeline'] and unet/ holds only a .bin pickle; that class is not an "
        "allowed component and would load without use_safetensors",
        r"diffusionpipeline|allow|nested|not .*accept|safetensors|pickle",
    ),
    BOMB: (
        f"resolution bomb: unet/config.json sample_size {BOMB_SAMPLE_SIZE} means "
        f"{BOMB_SAMPLE_SIZE * 8} px images (tens of GB of activations)",
        r"resolution|sample_size|px|pixel|limit",
    ),
    BIG_JSON: (
        f"oversized JSON: unet/config.json is {OVERSIZED_JSON_BYTES >> 20} MiB, over the "
        f"{JSON_CAP_BYTES >> 20} MiB cap on config/tokenizer files",
        r"size|mib|bytes|cap|limit|large",
    ),
    CONTROL: (
        "control characters in a file name: tokenizer/vocab<ESC>]0;pwned<BEL><CR>.json "
        "(a terminal escape) must be refused, never fetched or logged raw",
        r"control|character|name",
    ),
}
_PLANTED = {
    GLOB: (*GLOB_NAMES, "unet/diffusion_pytorch_model.bin", "unet/pipeline.py"),
    NESTED: ("model_index.json", "unet/diffusion_pytorch_model.bin"),
    BOMB: ("unet/config.json",),
    BIG_JSON: ("unet/config.json",),
    CONTROL: (CONTROL_NAME,),
}


def hostile_repos() -> list[HostileRepo]:
    """The catalogue of attacks (nothing is built): all SD1 underneath, all to be refused."""
    out = []
    for i, attack in enumerate(ATTACKS):
        reason, refusal = _REASONS[attack]
        model = ZooModel(
            model_id=f"hostile-zoo/{attack}",
            architecture="sd1",
            pipeline_class="StableDiffusionPipeline",
            scheduler="PNDMScheduler",
            seed=701 + i,
            created_at=f"2025-10-{i + 1:02d}T12:00:00.000Z",
            expect="failure",
            reason=reason,
        )
        out.append(HostileRepo(attack, model, refusal, _PLANTED[attack]))
    return out


# ---------------------------------------------------------------------------- canaries


class _Canary:
    """Pickles to `open(marker, "w")`: whoever unpickles it leaves a marker file behind."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.marker, "w"))


def canary_dir(root: Path) -> Path:
    """Where canaries leave their markers: `ROOT/.canary/`."""
    return Path(root) / CANARY_DIR


def marker_path(root: Path, model_id: str, rel: str) -> Path:
    """The marker the canary at `model_id`/`rel` creates (absolute, inside the zoo root)."""
    slug = f"{model_id}/{rel}".replace("/", "--")
    return canary_dir(root).resolve() / slug


def canary_pickle(marker: Path) -> bytes:
    """A working pickle whose loading creates `marker`. Never loaded here."""
    return pickle.dumps(_Canary(str(marker)), protocol=2)


def canary_code(marker: Path) -> str:
    """Python source whose import creates `marker` (stands in for hostile remote code)."""
    return (
        '"""fakeimg hostile zoo: remote code that must never be imported."""\n\n'
        f"open({str(marker)!r}, 'w').close()\n"
    )


def fired_canaries(root: Path) -> list[Path]:
    """Markers left by canaries that were unpickled or imported (empty: nothing was)."""
    folder = canary_dir(root)
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _plant_canaries(root: Path, model_id: str, repo: Path) -> None:
    """Replace every pickle (and code file) in the repo with a canary of the same name."""
    for path in sorted(repo.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(repo).as_posix()
        if path.name.endswith(PICKLE_SUFFIXES):
            path.write_bytes(canary_pickle(marker_path(root, model_id, rel)))
        elif path.name.endswith(".py"):
            path.write_text(canary_code(marker_path(root, model_id, rel)))


# ---------------------------------------------------------------------------- attacks


def _rewrite_json(path: Path, change: dict[str, Any]) -> None:
    data = json.loads(path.read_text())
    data.update(change)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _attack_glob(repo: Path) -> None:
    (repo / "unet" / "*").write_text("a file literally named '*': as a glob it matches all\n")
    (repo / "tokenizer" / "special[1].json").write_text('{"special": true}\n')
    (repo / "unet" / "pipeline.py").write_text("")  # becomes a code canary


def _attack_nested(repo: Path) -> None:
    _rewrite_json(repo / "model_index.json", {"unet": ["diffusers", "DiffusionPipeline"]})
    for path in sorted((repo / "unet").iterdir()):
        if path.name != "diffusion_pytorch_model.bin":
            path.unlink()


def _attack_bomb(repo: Path) -> None:
    _rewrite_json(repo / "unet" / "config.json", {"sample_size": BOMB_SAMPLE_SIZE})


def _attack_big_json(repo: Path) -> None:
    """Still valid JSON (a `_`-key diffusers ignores), padded past the cap."""
    path = repo / "unet" / "config.json"
    data = json.loads(path.read_text())
    base = len(json.dumps({**data, "_padding": ""}, indent=2, sort_keys=True)) + 1
    data["_padding"] = "0" * (OVERSIZED_JSON_BYTES - base)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _attack_control(repo: Path) -> None:
    (repo / CONTROL_NAME).write_text('{"note": "control characters in this name"}\n')


_ATTACKERS = {
    GLOB: _attack_glob,
    NESTED: _attack_nested,
    BOMB: _attack_bomb,
    BIG_JSON: _attack_big_json,
    CONTROL: _attack_control,
}


# ---------------------------------------------------------------------------- public API


def write_hostile_repo(root: Path, hostile: HostileRepo) -> Path:
    """Build the healthy SD1 repo, apply the attack, turn every pickle into a canary."""
    root = Path(root)
    canary_dir(root).mkdir(parents=True, exist_ok=True)
    repo = write_repo(root, hostile.model)
    _ATTACKERS[hostile.attack](repo)
    _plant_canaries(root, hostile.model.model_id, repo)
    return repo


def build_hostile(root: Path, *, only: Sequence[str] | None = None) -> list[HostileRepo]:
    """Write the hostile repos (or the listed attacks) and record them in the manifests.

    `zoo.json` gets a `ZooModel` row per repo (expect "failure"), so `load_manifest` sees
    them; `hostile.json` adds the attack, the refusal pattern and the planted files.
    """
    catalogue = hostile_repos()
    if only is not None:
        unknown = sorted(set(only) - set(ATTACKS))
        if unknown:
            raise KeyError(f"unknown hostile attacks {unknown}; known: {list(ATTACKS)}")
    chosen = [h for h in catalogue if only is None or h.attack in only]
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for hostile in chosen:
        write_hostile_repo(root, hostile)

    zoo_path = root / ZOO_MANIFEST
    rows = json.loads(zoo_path.read_text())["models"] if zoo_path.exists() else []
    ids = {h.model.model_id for h in chosen}
    rows = [r for r in rows if r["model_id"] not in ids] + [asdict(h.model) for h in chosen]
    zoo_path.write_text(json.dumps({"models": rows}, indent=2) + "\n")

    host_path = root / HOSTILE_MANIFEST
    known = json.loads(host_path.read_text())["repos"] if host_path.exists() else []
    known = [r for r in known if r["model_id"] not in ids]
    for h in chosen:
        known.append(
            {
                "model_id": h.model.model_id,
                "attack": h.attack,
                "reason": h.model.reason,
                "refusal": h.refusal,
                "planted": list(h.planted),
            }
        )
    host_path.write_text(json.dumps({"repos": known}, indent=2) + "\n")
    return chosen


def load_hostile_manifest(root: Path) -> list[dict[str, Any]]:
    """The hostile repos recorded under `root` (empty if none were built)."""
    path = Path(root) / HOSTILE_MANIFEST
    return json.loads(path.read_text())["repos"] if path.exists() else []


def hostile_repo_dir(root: Path, attack: str) -> Path:
    """The folder of one attack's repo under the zoo root."""
    return repo_dir(root, f"hostile-zoo/{attack}")
