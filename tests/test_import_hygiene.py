"""The core never imports Textual: the store, sync, models and the command line load
without it (fast `fieldrm capture`, a server with no UI dependencies)."""

from __future__ import annotations

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
    "fieldrm.sync.storage",
    "fieldrm.store.replica",
    "fieldrm.capture",
    "fieldrm.demo",
    "fieldrm.report",
    "fieldrm.services",
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
    assert not {name for name in loaded if name == "textual" or name.startswith("textual.")}


def test_the_check_can_fail():
    assert "textual" in imported_after("fieldrm.app")
