"""What full-text search indexes for a record, and how a typed query becomes FTS5."""

from __future__ import annotations

import json
import re
import sqlite3
import zlib
from collections.abc import Sequence
from typing import Any

from fieldrm.models import KINDS, kind_info, parse_timestamp

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


_KEY_SPREAD = 20  # low bits of a search key: records created in the same millisecond


def search_key(data: dict[str, Any]) -> int:
    """Where a record sits in the search index: its creation time, so that the newest
    matches are found first on every device, whatever order its records arrived in.

    Milliseconds since 1970 shifted left by 20 bits, plus 20 bits from the id (two records
    made in the same millisecond rarely collide; the store moves one up when they do).
    """
    try:
        ms = int(parse_timestamp(data.get("created_at") or 0).timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        ms = 0
    spread = zlib.crc32(str(data.get("id", "")).encode()) & ((1 << _KEY_SPREAD) - 1)
    return (min(max(ms, 0), (1 << 42) - 1) << _KEY_SPREAD) | spread


def index_new(conn: sqlite3.Connection, rows: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Give new records (records.rowid, data) their search keys and index their text."""
    if not rows:
        return
    keyed = [(rowid, search_key(data)) for rowid, data in rows]
    before = conn.total_changes
    conn.executemany("INSERT OR IGNORE INTO search_keys(record, key) VALUES (?, ?)", keyed)
    if conn.total_changes - before < len(keyed):  # a key was taken: claim the next free
        keyed = [(rowid, _claim(conn, rowid, key)) for rowid, key in keyed]
    # In key order: FTS5 writes its pending terms out as a new segment whenever a rowid is
    # not above the one before (a pull's records, several made in one millisecond, arrive
    # in id order, not key order): a first sync of 10,000 records spent 0.5 s on that.
    conn.executemany(
        "INSERT INTO search(rowid, body) VALUES (?, ?)",
        sorted(
            (key, search_body(data)) for (_rowid, key), (_r, data) in zip(keyed, rows, strict=True)
        ),
    )


def _claim(conn: sqlite3.Connection, rowid: int, key: int) -> int:
    held = conn.execute("SELECT key FROM search_keys WHERE record = ?", (rowid,)).fetchone()
    if held is not None:
        return held[0]
    while not conn.execute(
        "INSERT OR IGNORE INTO search_keys(record, key) VALUES (?, ?)", (rowid, key)
    ).rowcount:
        key += 1
    return key


def reindex(conn: sqlite3.Connection, rows: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Index the new text of changed records (records.rowid, data), under their keys."""
    conn.executemany(
        "DELETE FROM search WHERE rowid = (SELECT key FROM search_keys WHERE record = ?)",
        [(rowid,) for rowid, _data in rows],
    )
    conn.executemany(
        "INSERT INTO search(rowid, body) SELECT key, ? FROM search_keys WHERE record = ?",
        [(search_body(data), rowid) for rowid, data in rows],
    )
