"""The apps' import graph: no cycle anywhere, and the layering of DESIGN.md.

The graph is built from the source (AST), so it sees every import of our own
packages: module-level ones and function-level (lazy) ones. A lazy import that
dodges a cycle at run time is still a cycle in the design, so it counts here.
Imports under ``if TYPE_CHECKING:`` do not: they never run, and naming a type
for the checker (a registry that returns ``type[Driver]``) is no dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

BASE = Path(settings.BASE_DIR)
# DESIGN.md, "Apps and the direction of imports": each app may import only from
# the apps before it in this list. config wires the rest; nothing imports it.
LAYERS = [
    "accounts",
    "providers",
    "models_catalog",
    "gateway",
    "bootstrap",
    "portal",
    "api",
    "config",
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(BASE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    modules = {}
    for app in LAYERS:
        for path in (BASE / app).rglob("*.py"):
            if "migrations" not in path.parts:
                modules[module_name(path)] = path
    return modules


def imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement may load, relative ones resolved."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module.split(".")
        package = package if is_package else package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    # ``from a import b`` loads a, and a.b when b is a submodule.
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of the tree except the bodies of ``if TYPE_CHECKING:`` blocks."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                pending.extend(child.orelse)
                continue
            pending.append(child)
    return nodes


def import_graph() -> dict[str, set[str]]:
    modules = our_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in runtime_nodes(tree):
            for target in imported_names(node, name, path.name == "__init__.py"):
                # The deepest of our modules the name denotes (a.b.func -> a.b).
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(start: str) -> None:
        # Iterative, so deep graphs never hit the recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_lazy_imports_and_finds_a_cycle():
    """The checker itself: a function-level import closing a loop is a cycle."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]
    lazy = ast.parse("def f():\n    from . import sibling\n")
    names = [n for node in ast.walk(lazy) for n in imported_names(node, "p.m", False)]
    assert "p.sibling" in names
    typed = ast.parse("if TYPE_CHECKING:\n    import p.other\nimport p.real\n")
    names = [
        n for node in runtime_nodes(typed) for n in imported_names(node, "p.m", False)
    ]
    assert names == ["p.real"]


def test_no_module_of_the_apps_is_in_an_import_cycle():
    assert [sorted(c) for c in cycles(import_graph())] == []


def test_each_app_imports_only_from_the_apps_above_it():
    rank = {app: i for i, app in enumerate(LAYERS)}
    wrong = []
    for module, targets in import_graph().items():
        for target in targets:
            src, dst = module.split(".")[0], target.split(".")[0]
            if rank[dst] > rank[src]:
                wrong.append(f"{module} -> {target}")
    assert sorted(wrong) == []
