"""What full-text search indexes for a record, and how a typed query becomes FTS5."""

from __future__ import annotations

import json
import re
from typing import Any

from fieldrm.models import KINDS, kind_info

_TOKEN = re.compile(r"\w+", re.UNICODE)


def search_body(data: str | dict[str, Any]) -> str:
    """The searchable text of a record: its text fields, set elements and vocabulary values."""
    record = json.loads(data) if isinstance(data, str) else data
    kind = record.get("kind")
    if kind not in KINDS:
        return ""
    parts: list[str] = []
    for name, info in kind_info(kind).fields.items():
        if not (info.searchable or info.choices):
            continue
        value = record.get(name)
        if isinstance(value, list):
            parts.extend(str(item) for item in value)
        elif value not in (None, ""):
            parts.append(str(value).replace("_", " "))
    return " ".join(parts)


def fts_query(text: str) -> str | None:
    """Every word must match, the last one as a prefix (search as you type)."""
    tokens = _TOKEN.findall(text)
    if not tokens:
        return None
    quoted = ['"' + token.replace('"', '""') + '"' for token in tokens]
    quoted[-1] += "*"
    return " AND ".join(quoted)
