"""The docs are checked, not trusted.

- README.md stays short (under 200 lines) and every link in it and inside docs/ resolves,
  anchors included.
- Every ```sql block of docs/queries.md runs against a demo-like home, through the duckdb
  Python module and the `duckdb` CLI users are told to open; where the page shows rows, the
  query returns rows.
- docs/data-contract.md matches the warehouse schemas exactly (relations, columns, types,
  owning assets, union parts), and the public contract's required relations and columns
  exist, but for one explicit set of known-missing ones.
- docs/asset-graph.md's and README.md's automation tables list every sensor and schedule\n  with its default.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pytest

from fakeimg_assets.warehouse.schemas import RELATIONS, SHARED_WRITERS, UNION_VIEWS, schema_of
from tests.helpers.repo import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_MAX_LINES = 200

# ---------------------------------------------------------------------------- markdown


def prose(text: str) -> str:
    """The text outside fenced code blocks (links in code are examples, not links)."""
    return re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.S | re.M)


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def links(text: str) -> list[str]:
    return LINK.findall(prose(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", prose(path.read_text()), flags=re.M)}


def broken_links(page: Path) -> list[str]:
    """Relative links of `page` whose file (or heading anchor) does not exist."""
    broken = []
    for target in links(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target} (no file {dest})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    return broken


def doc_pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def test_readme_is_under_200_lines() -> None:
    n = len(README.read_text().splitlines())
    assert n < README_MAX_LINES, f"README.md has {n} lines; keep it under {README_MAX_LINES}"


def test_readme_links_resolve_and_name_every_docs_page() -> None:
    assert broken_links(README) == []
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in links(README.read_text())}
    unlinked = [p.name for p in doc_pages() if p.resolve() not in linked]
    assert unlinked == [], f"docs pages the README does not list: {unlinked}"


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: p.name)
def test_relative_links_inside_docs_resolve(page: Path) -> None:
    assert broken_links(page) == []


def test_link_checker_sees_a_broken_link_and_a_broken_anchor(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# A heading\n")
    page = tmp_path / "a.md"
    page.write_text("[x](b.md#a-heading) [y](missing.md) [z](b.md#nope) [w](https://e.org)\n"
                    "```\n[in code](ignored.md)\n```\n")
    assert [b.split(" ")[0] for b in broken_links(page)] == ["missing.md", "b.md#nope"]


# ---------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class DocQuery:
    line: int
    sql: str
    shows_rows: bool  # the page shows an output block right after it


def doc_queries(text: str) -> list[DocQuery]:
    """Every ```sql block, and whether an output block (```) follows it directly."""
    out = []
    for m in re.finditer(r"^```sql\n(.*?)^```[ \t]*\n", text, flags=re.S | re.M):
        after = text[m.end():].lstrip("\n")
        out.append(DocQuery(text[: m.start()].count("\n") + 1, m.group(1),
                            after.startswith("```\n")))
    return out


QUERIES = doc_queries((DOCS / "queries.md").read_text())


def test_queries_page_has_its_queries() -> None:
    assert len(QUERIES) >= 12 and sum(q.shows_rows for q in QUERIES) >= 9


def test_query_extraction_reads_blocks_and_outputs() -> None:
    text = "x\n```sql\nSELECT 1;\n```\n```\n│ 1 │\n```\n\n```sql\nSELECT 2\n```\nno rows\n"
    assert doc_queries(text) == [DocQuery(2, "SELECT 1;\n", True), DocQuery(9, "SELECT 2\n", False)]


def duckdb_cli() -> str:
    exe = Path(sys.executable).with_name("duckdb")
    found = str(exe) if exe.exists() else shutil.which("duckdb")
    assert found, "the duckdb CLI is missing: install the test extras (duckdb-cli)"
    return found


@pytest.mark.slow
@pytest.mark.parametrize("query", QUERIES, ids=lambda q: f"queries.md:{q.line}")
def test_doc_query_runs_on_a_demo_home(query: DocQuery, demo_home: tuple) -> None:
    home, report = demo_home
    assert report.ok, report
    database = home / "warehouse.duckdb"
    con = duckdb.connect(str(database), read_only=True)
    try:
        rows = con.sql(query.sql).fetchall()
    finally:
        con.close()
    if query.shows_rows:
        assert rows, f"queries.md line {query.line} shows rows but returned none"
    # the same text through the CLI users open the warehouse with
    cli = subprocess.run(
        [duckdb_cli(), "-readonly", "-csv", str(database), "-c", query.sql],
        capture_output=True, text=True, timeout=120,
    )
    assert cli.returncode == 0 and not cli.stderr.strip(), cli.stderr
    lines = cli.stdout.strip().splitlines()
    assert len(lines) - 1 == len(rows), (cli.stdout, len(rows))  # header + one line a row


# ---------------------------------------------------------------------------- contract

# The public contract's relations and their required columns (the project's CONTRACT.md,
# kept beside the repository; copied here so the tests never depend on that folder).
CONTRACT: dict[str, tuple[str, ...]] = {
    "hub_models": ("model_id", "sha", "created_at", "last_modified", "downloads", "likes",
                   "pipeline_tag", "library_name", "license", "gated", "first_seen_at",
                   "last_seen_at"),
    "hub_census": ("crawl_id", "crawled_at", "kind", "pipeline_class", "base_model",
                   "n_models", "n_eligible", "n_sampled", "n_quarantined", "n_failed",
                   "coverage"),
    "model_metadata": ("model_id", "kind", "collection", "family_group", "base_model",
                       "base_revision", "revision", "pipeline_class", "architecture",
                       "license", "repo_bytes", "downloaded_bytes"),
    "images": ("image_id", "label", "source", "path", "sha256", "width", "height", "format",
               "mode", "post", "prompt", "seed", "steps", "guidance_scale", "scheduler",
               "revision", "pipeline_class"),
    "image_stats": ("image_id", "source"),
    "model_stats": ("model_id", "n_images", "black_fraction", "duplicate_fraction",
                    "quarantined", "quarantine_reason"),
    "model_failures": ("model_id", "asset", "stage", "error_type", "message", "transient",
                       "failed_at"),
    "detector_splits": ("split_id", "image_id", "split", "label", "source"),
    "detector_runs": ("run_id", "purpose", "split_id", "backbone", "train_models",
                      "n_train_models", "n_train_images", "created_at", "checkpoint_path",
                      "timm_dir"),
    "eval_results": ("run_id", "detector", "split_id", "protocol", "eval_set", "train_source",
                     "perturbation", "group_kind", "group_value", "n_real", "n_fake", "ap",
                     "ap_ci_low", "ap_ci_high", "accuracy", "acc_real", "acc_fake", "auc"),
    "scaling_results": ("study_id", "n_train_models", "draw", "control", "n_families",
                        "n_train_images", "ap", "pooled_ap"),
    "diversity_results": ("study_id", "n_train_models", "condition", "draw", "n_families",
                          "n_train_images", "ap", "pooled_ap"),
    "shortcut_audit": ("audit_id", "feature_set", "auc", "auc_ci_low", "auc_ci_high",
                       "n_images", "created_at"),
    "crawl_rejects": ("crawl_id", "raw_id", "reason", "seen_at"),
}

# What the contract names that the platform does not build yet (future issues' work):
# `relation` or `relation.column`. The day one of them is built, this set must lose it, and
# docs/data-contract.md must document it (its "not built yet" list is this set).
KNOWN_MISSING = frozenset({
    "detector_runs.timm_dir",
})


def contract_gaps(contract: dict[str, tuple[str, ...]], known: dict[str, dict]) -> set[str]:
    """What the contract requires that `known` (relation -> columns) lacks."""
    gaps = set()
    for relation, columns in contract.items():
        if relation not in known:
            gaps.add(relation)
            continue
        gaps |= {f"{relation}.{c}" for c in columns if c not in known[relation]}
    return gaps


def warehouse_schemas() -> dict[str, dict]:
    return {r: schema_of(r) for r in [*RELATIONS, *UNION_VIEWS]}


def test_contract_relations_and_columns_exist_but_the_known_missing() -> None:
    assert contract_gaps(CONTRACT, warehouse_schemas()) == KNOWN_MISSING


def test_contract_gaps_sees_a_missing_relation_and_column() -> None:
    known = {"a": {"x": pl.Utf8}}
    assert contract_gaps({"a": ("x", "y"), "b": ("z",)}, known) == {"a.y", "b"}


_DUCKDB_TYPES: dict[str, str] = {}


def duckdb_type(dtype: pl.DataType) -> str:
    """The type DuckDB gives a column of this polars type (what users see in the CLI)."""
    if str(dtype) not in _DUCKDB_TYPES:
        frame = pl.DataFrame(schema={"c": dtype})  # noqa: F841 - read by the SQL below
        _DUCKDB_TYPES[str(dtype)] = duckdb.sql("DESCRIBE SELECT * FROM frame").fetchall()[0][1]
    return _DUCKDB_TYPES[str(dtype)]


@dataclass
class DocRelation:
    name: str
    owner: str | None = None  # asset name; "none" for a shared log
    union_of: tuple[str, ...] = ()
    columns_as: str | None = None
    columns: list[tuple[str, str, str]] = field(default_factory=list)  # name, type, meaning


def parse_contract(text: str) -> tuple[dict[str, DocRelation], list[str]]:
    """Relations (`### \\`name\\`` sections) and the "not built yet" bullet list."""
    relations: dict[str, DocRelation] = {}
    missing: list[str] = []
    sections = re.split(r"^(#{2,3} .*)$", prose(text), flags=re.M)
    for head, body in zip(sections[1::2], sections[2::2], strict=True):
        if head.startswith("## ") and "not built yet" in head:
            missing = re.findall(r"^- `([^`]+)`", body, flags=re.M)
            continue
        m = re.fullmatch(r"### `(\w+)`", head.strip())
        if not m:
            continue
        rel = DocRelation(m.group(1))
        flat = " ".join(body.split())
        if owner := re.search(r"Owner: (?:`(\w+)`|(none))", flat):
            rel.owner = owner.group(1) or owner.group(2)
        if union := re.search(r"Union of: ((?:`\w+`(?:, )?)+)", flat):
            rel.union_of = tuple(re.findall(r"`(\w+)`", union.group(1)))
        if like := re.search(r"Columns: as `(\w+)`", flat):
            rel.columns_as = like.group(1)
        for row in re.findall(r"^\| `(\w+)` \| `([^`]+)` \| (.*?) \|$", body, flags=re.M):
            rel.columns.append(row)
        assert m.group(1) not in relations, f"{m.group(1)} documented twice"
        relations[m.group(1)] = rel
    return relations, missing


CONTRACT_DOC = DOCS / "data-contract.md"


def table_owners() -> dict[str, str]:
    """Storage table -> the asset whose `dagster/table_name` names it."""
    from fakeimg_assets.definitions import build_definitions

    graph = build_definitions(home="/nonexistent-home-unused").resolve_asset_graph()
    owners = {}
    for key in graph.get_all_asset_keys():
        table = graph.get(key).metadata.get("dagster/table_name")
        if table is not None:
            owners[str(table).removeprefix("warehouse.main.")] = key.to_user_string()
    return owners


def contract_problems(text: str, owners: dict[str, str]) -> list[str]:
    """Every way the page and the schemas disagree."""
    documented, missing = parse_contract(text)
    problems = []
    expected = {*RELATIONS, *UNION_VIEWS}
    problems += [f"{r}: not documented" for r in sorted(expected - set(documented))]
    problems += [f"{r}: documented but no such relation" for r in sorted(set(documented) - expected)]
    for name, doc in sorted(documented.items()):
        if name not in expected:
            continue
        if name in UNION_VIEWS:
            if doc.union_of != UNION_VIEWS[name]:
                problems.append(f"{name}: union of {doc.union_of}, schemas say {UNION_VIEWS[name]}")
            if doc.owner is not None:
                problems.append(f"{name}: a union view has no owner, page says {doc.owner}")
        else:
            want = "none" if name in SHARED_WRITERS else owners.get(name)
            if doc.owner != want:
                problems.append(f"{name}: owner {doc.owner!r}, definitions say {want!r}")
        if doc.columns_as is not None:
            if doc.columns:
                problems.append(f"{name}: both a column table and 'Columns: as'")
            other = documented.get(doc.columns_as)
            if other is None or not other.columns:
                problems.append(f"{name}: columns as {doc.columns_as}, which has no table")
            elif schema_of(name) != schema_of(doc.columns_as):
                problems.append(f"{name}: schema differs from {doc.columns_as}")
            continue
        schema = schema_of(name)
        names = [c for c, _, _ in doc.columns]
        if names != list(schema):
            problems.append(f"{name}: columns {names}, schemas say {list(schema)} (same order)")
        for column, typ, meaning in doc.columns:
            if column in schema and typ != duckdb_type(schema[column]):
                problems.append(f"{name}.{column}: type {typ}, warehouse gives "
                                f"{duckdb_type(schema[column])}")
            if not meaning.strip():
                problems.append(f"{name}.{column}: no meaning")
    if sorted(missing) != sorted(KNOWN_MISSING):
        problems.append(f"'not built yet' lists {sorted(missing)}, known missing "
                        f"{sorted(KNOWN_MISSING)}")
    return problems


def test_data_contract_page_matches_the_schemas() -> None:
    assert contract_problems(CONTRACT_DOC.read_text(), table_owners()) == []


def test_data_contract_check_sees_each_kind_of_drift() -> None:
    text = CONTRACT_DOC.read_text()
    owners = table_owners()

    def drift(old: str, new: str) -> list[str]:
        assert text.count(old) == 1, old
        return contract_problems(text.replace(old, new), owners)

    row = "| `likes` | `BIGINT` | the Hub's like count when last listed |\n"
    assert [p for p in drift(row, "") if p.startswith("hub_models")] == [
        p for p in drift(row, "") if p.startswith("hub_models: columns")]
    assert any(p.startswith("hub_models: columns") for p in drift(row, ""))
    assert any("hub_models.likes: type" in p
               for p in drift(row, row.replace("`BIGINT`", "`DOUBLE`")))
    assert any("no such relation" in p
               for p in drift("### `prompts`", "### `prompts`\n\nOwner: `x`.\n\n### `ghost`"))
    assert any("owner" in p for p in drift("Owner: `hub_census`.", "Owner: `hub_catalog`."))
    assert any("union of" in p for p in drift(
        "Union of: `fake_images`, `real_images`, `collection_real_images`.",
        "Union of: `fake_images`."))
    assert any("not built yet" in p for p in drift("- `detector_runs.timm_dir`\n", ""))
    assert any("split_versions: not documented" in p
               for p in drift("### `split_versions`", "### split versions"))


# ---------------------------------------------------------------------------- automation


def automation_rows(text: str) -> set[tuple[str, str, str]]:
    """(kind, name, default) of the rows of a page's automation table (its `## Automation`
    section)."""
    section = text.split("## Automation", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| (sensor|schedule) \| `(\w+)` \| (RUNNING|STOPPED) \|",
                          section, flags=re.M))


@pytest.mark.parametrize("page", [DOCS / "asset-graph.md", README], ids=lambda p: p.name)
def test_automation_table_lists_every_sensor_and_schedule(page: Path) -> None:
    """Both the README's table and asset-graph.md's name every sensor and schedule of the
    definitions, with its default status, and nothing else."""
    from fakeimg_assets.definitions import build_definitions

    # with a cron, so the optional retrain schedule exists too
    defs = build_definitions(home="/nonexistent-home-unused", retrain_cron="0 3 * * *")
    actual = {("sensor", s.name, s.default_status.value) for s in defs.sensors}
    actual |= {("schedule", s.name, s.default_status.value) for s in defs.schedules}
    assert {"record_dead_runs", "fakeimg_automation"} <= {name for _, name, _ in actual}
    assert automation_rows(page.read_text()) == actual
