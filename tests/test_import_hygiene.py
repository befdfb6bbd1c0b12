"""Import hygiene (SPEC §9): the core never imports Textual; store/ never loads sync/; every
module sits in a layer and imports only its own layer or those below, with no circles."""

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
    "fieldrm.cli",
    "fieldrm.app",
    "fieldrm.screens",
    "textual",
)
FORBIDDEN = {"store": ("fieldrm.sync", *ABOVE_SYNC), "sync": ABOVE_SYNC}


def module_imports(path: Path, known: set[str] | None = None) -> set[str]:
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
            # `from fieldrm.sync import client` imports the module fieldrm.sync.client;
            # the package itself counts only when a name is taken from it.
            submodules = {f"{base}.{alias.name}" for alias in node.names}
            names.update(submodules)
            if known is None or not submodules <= known:
                names.add(base)
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


# SPEC §9 from the ground up; a module may import its own layer or one below it.
LAYERS = [
    (
        "fieldrm.models",
        "fieldrm.clock",
        "fieldrm.errors",
        "fieldrm.paths",
        "fieldrm.jsonio",
        "fieldrm.safe_copy",
    ),
    ("fieldrm.validation",),
    ("fieldrm.store",),
    ("fieldrm.sync",),
    ("fieldrm.capture", "fieldrm.display", "fieldrm.notebook", "fieldrm.relationships"),
    ("fieldrm.report", "fieldrm.demo", "fieldrm.pdf", "fieldrm.contacts_io", "fieldrm.calendar_io"),
    ("fieldrm.cli", "fieldrm.__main__"),
    ("fieldrm.app", "fieldrm.screens"),
]
# The one edge that looks up: `fieldrm` with no command starts the app.
ENTRY_EDGES = {("fieldrm.cli.hot", "fieldrm.app")}


def package_modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in (ROOT / "fieldrm").rglob("*.py")
    }


def layer_of(name: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if within(name, prefixes):
            return rank
    raise AssertionError(f"{name} is in no layer of SPEC §9: add it to LAYERS")


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    known = set(modules)
    return {name: module_imports(path, known) & known for name, path in modules.items()}


def upward_imports(graph: dict[str, set[str]]) -> set[str]:
    return {
        f"{name} imports {target}"
        for name, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(name) and (name, target) not in ENTRY_EDGES
    }


def modules_in_circles(graph: dict[str, set[str]]) -> set[str]:
    in_circles = set()
    for start in graph:
        reached, todo = set(), list(graph[start])
        while todo:
            name = todo.pop()
            if name not in reached:
                reached.add(name)
                todo.extend(graph.get(name, ()))
        if start in reached:
            in_circles.add(start)
    return in_circles


def test_every_module_is_in_a_layer():
    assert all(layer_of(name) >= 0 for name in package_modules() if name != "fieldrm")


def test_no_module_imports_a_higher_layer():
    graph = import_graph()
    graph.pop("fieldrm", None)
    assert not upward_imports(graph)


def test_no_modules_import_each_other_in_a_circle():
    assert not modules_in_circles(import_graph())


def test_the_layer_and_circle_checks_can_fail():
    graph = {"fieldrm.store.db": {"fieldrm.notebook"}, "fieldrm.notebook": {"fieldrm.store.db"}}
    assert upward_imports(graph) == {"fieldrm.store.db imports fieldrm.notebook"}
    assert modules_in_circles(graph) == set(graph)


def test_the_upward_check_can_fail():
    # A screen imports Textual, lazily or not: the parser sees it.
    imports = module_imports(ROOT / "fieldrm" / "screens" / "base.py")
    assert {name for name in imports if within(name, FORBIDDEN["sync"])}


# ---------------------------------------------------------------- the PDF library (SPEC §12)

# The PDF library and its font, and the other §12 libraries: loaded only by their commands.
PDF_LIBRARIES = ("fpdf", "fontpkg_noto_sans", "PIL", "fontTools", "vobject", "phonenumbers",
                 "rapidfuzz")  # fmt: skip


def loaded_while(script: str, tmp_path: Path) -> set[str]:
    """The top-level packages loaded once `script` has run in a fresh interpreter."""
    code = f"import sys\n{script}\nprint('\\n'.join(sorted(sys.modules)))"
    env = {"FIELDRM_HOME": str(tmp_path), "PATH": "", "TZ": "UTC"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env,
        timeout=120, check=True,
    )  # fmt: skip
    return {name.split(".")[0] for name in result.stdout.split()}


def test_capture_does_not_load_the_pdf_library(tmp_path):
    loaded = loaded_while(
        "from fieldrm.cli import main\n"
        "assert main(['capture', 'Team 4 skip side-by-sides #training']) == 0",
        tmp_path,
    )
    assert "fieldrm" in loaded
    assert not loaded & set(PDF_LIBRARIES)


def test_the_apps_start_does_not_load_the_pdf_library(tmp_path):
    loaded = loaded_while(
        "import asyncio\n"
        "from fieldrm.app import FieldrmApp\n"
        "from fieldrm.store import Store\n"
        "async def start():\n"
        "    app = FieldrmApp(Store.open())\n"
        "    async with app.run_test() as pilot:\n"
        "        await pilot.pause()\n"
        "        await app.workers.wait_for_complete()\n"
        "asyncio.run(start())",
        tmp_path,
    )
    assert "textual" in loaded
    assert not loaded & set(PDF_LIBRARIES)


def test_making_a_pdf_loads_it(tmp_path):
    """The two checks above can fail: a PDF export does load the library."""
    loaded = loaded_while(
        "from fieldrm.cli import main\n"
        "assert main(['demo']) == 0\n"
        "from fieldrm.demo import demo_id\n"
        f"assert main(['export', 'visit', demo_id('visit:kol-floor'), '--format', 'pdf',"
        f" '-o', {str(tmp_path / 'v.pdf')!r}]) == 0",
        tmp_path,
    )
    assert "fpdf" in loaded
    assert (tmp_path / "v.pdf").read_bytes().startswith(b"%PDF-")
