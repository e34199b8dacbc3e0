"""A Hub dataset repo as a collection source: `hf://datasets/ORG/NAME`.

The repo is fetched exactly as real photos' dataset repos are (`real/hub_dataset.py`:
listing read once at a pinned commit, each file by its exact name through the checked
client and `HF_ENDPOINT`, sizes and listed sha256 verified, the snapshot holding exactly the
plan), taking image files, `.parquet` files, `generators.csv` and caption tables. With any
Parquet file in it the snapshot is read in the Community Forensics layout
(`cf_parquet.py`), else as a folder source (`folder.py`). Snapshot files link into the
repo's cache folder, which is the boundary nothing is read beyond. Names the listing holds
that cannot be fetched safely are reported, never requested. The commit is the
collection's `source_revision`.
"""

from __future__ import annotations

from typing import Any

from fakeimg_assets.collections.cf_parquet import PARQUET_SUFFIX, cf_parquet_source, parquet_files
from fakeimg_assets.collections.folder import folder_source
from fakeimg_assets.collections.generators_csv import GENERATORS_CSV
from fakeimg_assets.collections.source import Source, SourceProblem
from fakeimg_assets.hub_client.verified import unsafe_name_reason
from fakeimg_assets.lib.paths import model_id_problem, shown_id
from fakeimg_assets.real.captions import CAPTION_TABLES
from fakeimg_assets.real.hub_dataset import dataset_snapshot
from fakeimg_assets.real.photo_folder import IMAGE_SUFFIXES

HUB_PREFIX = "hf://datasets/"
FETCHED_SUFFIXES = (*IMAGE_SUFFIXES, PARQUET_SUFFIX)
FETCHED_NAMES = (*CAPTION_TABLES, GENERATORS_CSV)


def hub_repo_id(source: str) -> str:
    """`ORG/NAME` of `hf://datasets/ORG/NAME`, or ValueError naming the source and why."""
    if not isinstance(source, str) or not source.startswith(HUB_PREFIX):
        raise ValueError(f"collection source {shown_id(source)} is not {HUB_PREFIX}ORG/NAME")
    repo_id = source[len(HUB_PREFIX):].rstrip("/")
    problem = model_id_problem(repo_id)
    if problem:
        raise ValueError(
            f"invalid Hub dataset id {shown_id(repo_id)} in collection source "
            f"{shown_id(source)}: {problem}; expected {HUB_PREFIX}ORG/NAME"
        )
    return repo_id


def hub_dataset_source(hub: Any, source: str) -> Source:
    """Fetch the dataset repo (verified) and open its snapshot as a folder or CF source."""
    repo_id = hub_repo_id(source)
    snapshot, revision, refused = dataset_snapshot(
        hub, repo_id, suffixes=FETCHED_SUFFIXES, names=FETCHED_NAMES)
    within = snapshot.parent.parent  # datasets--org--name: the snapshot's links point here
    problems = [SourceProblem(None, name, f"unsafe file name ({unsafe_name_reason(name)}): "
                              "not fetched") for name in refused]
    name = repo_id.split("/")[1]
    files, listed = parquet_files(str(snapshot), within=within)
    if files:
        opened = cf_parquet_source(files, location=source, default_name=name, within=within,
                                   kind="hub_dataset", revision=revision,
                                   problems=problems + listed)
    else:
        opened = folder_source(snapshot, within=within, location=source, kind="hub_dataset",
                               revision=revision, default_name=name)
        opened.problems[:0] = problems
    return opened
