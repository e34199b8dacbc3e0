"""The dataset card `README.md`: a YAML header the Hub and `datasets` read, then prose.

The header declares the licence, task, size category, one config (`default`) whose
`data_files` list every shard per split, and the features (`image_data` as `image`), so
`datasets.load_dataset(DIR)` works offline and decodes images. The body gives counts per
split, architecture and family group, the licence of every generator, what was left out
and why, how it was made, and how to load it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import yaml

from fakeimg_assets.export.columns import CF_COLUMNS, COLUMNS, card_features
from fakeimg_assets.export.licences import REDISTRIBUTABLE

SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                   (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"))


@dataclass
class CardFacts:
    """Everything the card states."""

    split_id: str
    files: Mapping[str, list[str]]  # split -> shard paths
    rows: pl.DataFrame  # the exported rows (no bytes)
    licences: Mapping[str, str | None]  # every generator of the split -> licence
    quarantined: Mapping[str, str]
    restricted: Mapping[str, str]
    include_restricted: bool
    problems: list[str]
    made: Mapping[str, Any] = field(default_factory=dict)  # version, commit, split settings


def size_category(n: int) -> str:
    return next((name for limit, name in SIZE_CATEGORIES if n < limit), "n>10M")


def card_header(facts: CardFacts) -> dict[str, Any]:
    licences = {lic for lic in facts.rows.filter(pl.col("label") == 1)["license"].to_list()}
    one = next(iter(licences)) if len(licences) == 1 else None
    header: dict[str, Any] = {
        "license": one if one in REDISTRIBUTABLE else "other",
        "pretty_name": "fakeimg synthetic image detection dataset",
        "task_categories": ["image-classification"],
        "tags": ["synthetic-image-detection", "ai-generated-images", "fakeimg"],
        "size_categories": [size_category(facts.rows.height)],
        "configs": [{"config_name": "default", "data_files": [
            {"split": split, "path": paths} for split, paths in facts.files.items()]}],
        "dataset_info": {"features": card_features()},
    }
    if header["license"] == "other":
        header["license_name"] = "per-generator"
        header["license_details"] = "Each generator's licence is in the card's licence table " \
                                    "and the `license` column."
    return header


def _table(df: pl.DataFrame) -> str:
    cols = df.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |"
              for row in df.iter_rows()]
    return "\n".join(lines)


def render_card(facts: CardFacts) -> str:
    rows = facts.rows
    header = yaml.safe_dump(card_header(facts), sort_keys=False, allow_unicode=True)
    by_split = (rows.group_by("split").agg(
        (pl.col("label") == 1).sum().alias("fake"), (pl.col("label") == 0).sum().alias("real"),
        pl.len().alias("images"), pl.col("model_name").drop_nulls().n_unique().alias("generators"))
        .sort("split"))
    fakes = rows.filter(pl.col("label") == 1)
    by_arch = (fakes.group_by("split", "architecture").len("images")
               .sort("split", "architecture", nulls_last=True))
    by_family = (fakes.group_by("split", "family_group").len("images")
                 .sort("split", "family_group", nulls_last=True))
    exported = set(fakes["model_name"].to_list())
    lic = pl.DataFrame([{"generator": g, "license": facts.licences.get(g) or "(none declared)",
                         "exported": "yes" if g in exported else "no",
                         "restricted": facts.restricted.get(g, "")}
                        for g in sorted(facts.licences)],
                       schema={"generator": pl.Utf8, "license": pl.Utf8, "exported": pl.Utf8,
                               "restricted": pl.Utf8})
    reals = (rows.filter(pl.col("label") == 0).group_by("real_source").len("images")
             .sort("real_source"))
    left = [f"- `{m}`: quarantined ({why})" for m, why in sorted(facts.quarantined.items())]
    if not facts.include_restricted:
        left += [f"- `{m}`: restricted, {why}" for m, why in sorted(facts.restricted.items())]
    left += [f"- image {p}" for p in facts.problems]
    made = "\n".join(f"- {k}: {v}" for k, v in facts.made.items())
    columns = "\n".join(f"| `{n}` | {'CF' if n in CF_COLUMNS else 'fakeimg'} | {str(t)} | {d} |"
                        for n, (t, d) in COLUMNS.items())
    first = next(iter(facts.files.values()))[0] if facts.files else "data/train-*.parquet"
    data_files = ", ".join(f'"{s}": "data/{s}-*.parquet"' for s in facts.files)
    return f"""---
{header}---

# fakeimg synthetic image detection dataset

Generated and real images exported by fakeimg (`fakeimg export`) from its warehouse:
every image of the platform's detector split `{facts.split_id}` (train/test follow that
split: whole lineage groups of generators and whole source photos sit on one side), with
the image bytes in `image_data` and every field of its row. Labels: `label` 1 = fake, 0 = real.
Column names follow the Community Forensics release where the meaning is the same.

## Counts

{_table(by_split)}

Fake images per architecture:

{_table(by_arch)}

Fake images per family group:

{_table(by_family)}

Real images per source (the platform records no licence for real sources: check each
source's terms before republishing):

{_table(reals)}

## Licences

A generator is restricted when its Hub repo is gated, it declares no licence, or its
licence is not one of: {", ".join(sorted(REDISTRIBUTABLE))}. Restricted generators are
{"**included** (exported with --include-restricted; see the `restricted` column)"
 if facts.include_restricted else "left out"}.

{_table(lic)}

## Left out

{chr(10).join(left) if left else "Nothing."}

## How it was made

{made}

## Columns

| column | name from | type | meaning |
|---|---|---|---|
{columns}

## How to load

```python
from datasets import load_dataset
ds = load_dataset("path/to/this/folder")  # reads this card: image_data decodes to PIL
ds = load_dataset("parquet", data_files={{{data_files}}})  # image_data as bytes
```

```python
import polars as pl
df = pl.read_parquet("data/*.parquet")
```

```sql
-- duckdb
SELECT split, label, count(*) FROM read_parquet('data/*.parquet') GROUP BY ALL;
```

Check the files with `sha256sum -c SHA256SUMS`. First shard: `{first}`.
"""
