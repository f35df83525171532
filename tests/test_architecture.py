"""The shape of the code: no import cycles inside portal/, one owner for every cookie."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PORTAL = Path(__file__).resolve().parent.parent / "portal"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PORTAL.rglob("*.py"):
        name = ".".join(path.relative_to(PORTAL.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Imports anywhere in a module (a late import inside a function still is a dependency), but
    only the top-level ones of a package's __init__ (its init_app wires up its own submodules)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        nodes = tree.body if path.name == "__init__.py" else list(ast.walk(tree))
        for node in nodes:
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    dep = ".".join(parts[:i])
                    if dep in modules and dep != name and not name.startswith(dep + "."):
                        graph[name].add(dep)
    return graph


def _cycles(graph: dict[str, set[str]], nodes: list[str]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_inside_portal():
    modules = _modules()
    assert _cycles(_graph(modules), sorted(modules)) == []


def test_the_detector_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}, ["a", "b", "c"]) == [["a", "b"]]


def test_only_portal_cookies_sets_cookies():
    """set_cookie and delete_cookie appear in one module, which owns names and flags."""
    offenders = [str(p.relative_to(PORTAL)) for p in PORTAL.rglob("*.py")
                 if p.name != "cookies.py" and "set_cookie(" in p.read_text()]
    assert offenders == []
