"""The layers, as drawn from the code: the import graph of ``synesthete`` has no cycle, nothing below the
Python API imports it, and SQL lives only in the catalog (issue 15, "One owner for each thing").

The graph counts every import, also those inside functions and under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "synesthete"
ABOVE_API = ("synesthete.cli", "synesthete.server", "synesthete.api")  # the API and the layers over it
CATALOG = (  # the catalog's implementations: the only modules with SQL
    "synesthete.library.catalog",
    "synesthete.library.migrations",
    "synesthete.library.postgres",
)


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, ast.Module]:
    return {_module(p): ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in PACKAGE.rglob("*.py")}


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The synesthete modules ``name`` imports anywhere (inside functions and TYPE_CHECKING blocks too)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{name}:{node.lineno}: a relative import (the code imports absolutely)"
            targets = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `from x import name`: the module x
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {name: _imports(name, tree, known) for name, tree in sources.items()}


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The import cycles: each set of modules that all reach one another (Tarjan's strongly connected
    components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = {stack.pop()}
            while node not in members:
                members.add(stack.pop())
            if len(members) > 1:
                found.append(frozenset(members))

    for start in sorted(graph):
        if start not in index:
            visit(start)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    graph = _graph()
    graph.pop("synesthete", None)  # the package root re-exports Library: it sits above everything
    cycles = [sorted(c) for c in _cycles(graph)]
    assert cycles == [], f"modules that import one another: {cycles}"


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": {"a"}}
    assert sorted(map(sorted, _cycles(graph))) == [["a", "b", "c"], ["d", "e"]]
    assert _cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_nothing_below_the_api_imports_it() -> None:
    offenders = sorted(
        name
        for name, imports in _graph().items()
        if "synesthete.api" in imports and name != "synesthete" and not name.startswith(ABOVE_API)
    )
    assert offenders == [], f"modules below api.py that import it: {offenders}"


def test_sql_only_in_the_catalog() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module(path)
        if name.startswith(CATALOG):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            uses_sqlite = isinstance(node, ast.Import | ast.ImportFrom) and any(
                "sqlite3" in (a.name if isinstance(node, ast.Import) else (node.module or ""))
                for a in node.names
            )
            executes = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("execute", "executemany", "executescript")
            )
            if uses_sqlite or executes:
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == [], f"SQL outside the catalog: {offenders}"
