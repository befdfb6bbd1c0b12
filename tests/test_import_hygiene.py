"""The core never imports Textual: the store, sync, models and the command line load
without it (fast `fieldrm capture`, a server with no UI dependencies)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CORE_MODULES = [
    "fieldrm.store",
    "fieldrm.sync",
    "fieldrm.sync.client",
    "fieldrm.sync.conflicts",
    "fieldrm.models",
    "fieldrm.cli",
    "fieldrm.cli.commands",
    "fieldrm.cli.sync",
    "fieldrm.sync.merge",
    "fieldrm.sync.server",
    "fieldrm.sync.server.app",
    "fieldrm.sync.server.storage",
    "fieldrm.sync.replica",
    "fieldrm.capture",
    "fieldrm.demo",
    "fieldrm.report",
    "fieldrm.store.queries",
    "fieldrm.display",
    "fieldrm.notebook",
]


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_does_not_import_textual(module):
    loaded = imported_after(module)
    assert module in loaded  # the check itself works: the module was imported


def test_the_check_can_fail():
    assert "textual" in imported_after("fieldrm.app")


def test_store_loads_neither_sync_nor_textual():
    loaded = imported_after("fieldrm.store")
    assert "fieldrm.store" in loaded
    assert not {name for name in loaded if within(name, ("fieldrm.sync", "textual"))}


# What each lower package must never import (SPEC §9: layers only look down).
ABOVE_SYNC = (
    "fieldrm.notebook",
    "fieldrm.capture",
    "fieldrm.report",
    "fieldrm.demo",
    "fieldrm.display",
    "fieldrm.output",
    "fieldrm.cli",
    "fieldrm.cli_commands",
    "fieldrm.cli_sync",
    "fieldrm.app",
    "fieldrm.screens",
    "textual",
)
FORBIDDEN = {"store": ("fieldrm.sync", *ABOVE_SYNC), "sync": ABOVE_SYNC}


def module_imports(path: Path) -> set[str]:
    """Every module a file imports, lazily or not (imports only for type checkers aside)."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            # `from fieldrm.sync import client` imports the module fieldrm.sync.client.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_never_import_upwards(layer):
    files = sorted((ROOT / "fieldrm" / layer).rglob("*.py"))
    assert files
    upward = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in module_imports(path)
        if within(name, FORBIDDEN[layer])
    }
    assert not upward


def test_store_and_sync_modules_import_in_no_circle():
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for layer in ("store", "sync")
        for path in (ROOT / "fieldrm" / layer).rglob("*.py")
    }
    graph = {name: module_imports(path) & set(modules) for name, path in modules.items()}
    in_circles = set()
    for start in graph:
        reached, todo = set(), list(graph[start])
        while todo:
            name = todo.pop()
            if name not in reached:
                reached.add(name)
                todo.extend(graph[name])
        if start in reached:
            in_circles.add(start)
    assert not in_circles


def test_the_upward_check_can_fail():
    # A screen imports Textual, lazily or not: the parser sees it.
    imports = module_imports(ROOT / "fieldrm" / "screens" / "base.py")
    assert {name for name in imports if within(name, FORBIDDEN["sync"])}
