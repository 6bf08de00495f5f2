"""Tests reach our modules through their public functions, never private state.

A fixture that clears ``module._cache`` breaks silently when the module changes
how it keeps that state; a public reset function (``limits.reset_for_tests``,
``http.reset_dns_cache``, ``crypto.reset_kms_client`` ...) changes with it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

from tests.test_import_graph import our_modules

TESTS = Path(settings.BASE_DIR) / "tests"


def private_uses(path: Path, modules: set[str]) -> list[str]:
    """``module._name`` and ``from module import _name`` for our modules."""
    tree = ast.parse(path.read_text(), str(path))
    bound: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules and alias.asname:
                    bound.add(alias.asname)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in modules:
                    bound.add(alias.asname or alias.name)
                elif node.module in modules and is_private(alias.name):
                    found.append(
                        f"{node.lineno}: from {node.module} import {alias.name}"
                    )
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
            and is_private(node.attr)
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_the_checker_sees_private_attributes_and_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from gateway import limits\n"
        "from providers.http import _dns_cache\n"
        "limits._local.clear()\n"
        "limits.reset_for_tests()\n"
    )
    found = private_uses(sample, set(our_modules()))
    assert found == ["2: from providers.http import _dns_cache", "3: limits._local"]


def test_no_test_touches_private_module_state() -> None:
    modules = set(our_modules())
    offenders = {}
    for path in sorted(TESTS.rglob("*.py")):
        relative = path.relative_to(TESTS.parent).as_posix()
        found = private_uses(path, modules)
        if found:
            offenders[relative] = found
    assert offenders == {}
