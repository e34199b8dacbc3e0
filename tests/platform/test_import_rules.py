"""The house's import rules, checked on the source: the test rig stays in its wing, imports
flow one way (no cycles), and no module imports another module's `_private` name.

Imports are read from the syntax tree, module level and inside functions alike (a cycle
hidden in a function-level import is still a cycle); only `if TYPE_CHECKING:` blocks are
left out, since they never run.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.repo import ROOT

PACKAGES = ("fakeimg_assets", "resources", "sensors", "benchmarks", "tests")
PRODUCT = ("fakeimg_assets", "resources", "sensors")
TESTBED = "fakeimg_assets.testbed"
TESTBED_IMPORTERS = ("fakeimg_assets.cli", "benchmarks", "tests")  # and the wing itself


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a project module
    name: str | None  # the name imported from it (`from m import name`), None for `import m`
    line: int


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            out[module_name(path, root)] = path
    return out


def _in_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import of a project module by `name` (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []

    def nearest(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or _in_type_checking(node, parents):
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := nearest(alias.name)) and target != name:
                    out.append(Import(name, target, None, node.lineno))
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in modules:  # `from package import module`
                out.append(Import(name, submodule, None, node.lineno))
            elif (target := nearest(base)) and target != name:
                out.append(Import(name, target, alias.name, node.lineno))
    return out


def all_imports(root: Path = ROOT) -> list[Import]:
    modules = project_modules(root)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def cycles(imports: list[Import], within: tuple[str, ...]) -> list[list[str]]:
    """Strongly connected groups of more than one module among those under `within`."""
    def inside(m: str) -> bool:
        return any(m == p or m.startswith(p + ".") for p in within)

    graph: dict[str, set[str]] = {}
    for imp in imports:
        if inside(imp.importer) and inside(imp.target):
            graph.setdefault(imp.importer, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan, iterative enough for this graph's depth
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def private_imports(imports: list[Import]) -> list[Import]:
    return [i for i in imports
            if i.name and i.name.startswith("_") and not i.name.startswith("__")]


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports()


def test_only_the_cli_benchmarks_and_tests_import_the_testbed(imports: list[Import]) -> None:
    def allowed(importer: str) -> bool:
        return importer.startswith(TESTBED) or any(
            importer == p or importer.startswith(p + ".") for p in TESTBED_IMPORTERS)

    leaks = [f"{i.importer}:{i.line} imports {i.target}" for i in imports
             if i.target.startswith(TESTBED) and not allowed(i.importer)]
    assert not leaks, "the product imports the test rig:\n" + "\n".join(leaks)


def test_no_import_cycles(imports: list[Import]) -> None:
    found = cycles(imports, ("fakeimg_assets", "resources", "sensors"))
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_private_name_is_imported_from_another_module(imports: list[Import]) -> None:
    found = [f"{i.importer}:{i.line} imports {i.name} from {i.target}"
             for i in private_imports(imports)]
    assert not found, f"{len(found)} private imports:\n" + "\n".join(found)


def test_the_rules_see_what_they_must(tmp_path: Path) -> None:
    """The checker on a tree built to break each rule: it must find every breakage."""
    pkg = tmp_path / "fakeimg_assets"
    (pkg / "testbed").mkdir(parents=True)
    for package in PACKAGES[1:]:
        (tmp_path / package).mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "testbed" / "__init__.py").write_text("")
    (pkg / "testbed" / "rig.py").write_text("def _helper():\n    pass\n")
    (pkg / "a.py").write_text("from fakeimg_assets import b\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fakeimg_assets import c\n"
        "def f():\n    from . import a\n    from .testbed.rig import _helper\n")
    (pkg / "c.py").write_text("from fakeimg_assets.b import f\n")
    found = all_imports(tmp_path)
    assert cycles(found, ("fakeimg_assets",)) == [["fakeimg_assets.a", "fakeimg_assets.b"]]
    assert [(i.importer, i.name) for i in private_imports(found)] == [
        ("fakeimg_assets.b", "_helper")]
    assert {i.target for i in found if i.importer == "fakeimg_assets.b"} == {
        "fakeimg_assets.a", "fakeimg_assets.testbed.rig"}  # the TYPE_CHECKING import is not
