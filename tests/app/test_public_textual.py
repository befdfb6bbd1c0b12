"""fieldrm uses only Textual's public API: no private Textual attribute in `fieldrm/`.

Private attributes change without notice between Textual releases; the app is pinned to
one, but an upgrade must not break it silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import textual

import fieldrm

SOURCES = sorted(Path(fieldrm.__file__).parent.rglob("*.py"))
TEXTUAL_SOURCES = sorted(Path(textual.__file__).parent.rglob("*.py"))

# Private Textual internals the app once used (issue 8); named so a grep finds this test.
ONCE_USED = (
    "_screen_stacks",
    "_init_mode",
    "_css_update_count",
    "_refresh_layout",
    "_layout_required",
    "_compositor",
    "_suggestion",
)

# `os._exit` is the standard library's (Ctrl+C on sync ends at once), not Textual's `_exit`.
ACCESSED = re.compile(r"(?<!\bos)\.(_[a-z]\w*)\b")
DEFINED = re.compile(r"(?:def\s+|self\.|^\s+)(_[a-z]\w*)\s*(?:\(|=|:)", re.MULTILINE)


def _defined_in(paths: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        names.update(DEFINED.findall(path.read_text(encoding="utf-8")))
    return names


def test_the_private_names_once_used_never_appear():
    found = [
        f"{path.name}: {name}"
        for path in SOURCES
        for name in ONCE_USED
        if re.search(rf"\b{name}\b", path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_no_private_attribute_of_textual_is_reached_for():
    """Every `._name` in fieldrm is one fieldrm defines itself, or none Textual defines."""
    ours = _defined_in(SOURCES)
    theirs = _defined_in(TEXTUAL_SOURCES)
    assert "_screen_stacks" in theirs and "_compositor" in theirs  # the scan sees Textual's
    reached = {
        f"{path.name}: {name}"
        for path in SOURCES
        for name in ACCESSED.findall(path.read_text(encoding="utf-8"))
        if name in theirs and name not in ours
    }
    assert reached == set()
