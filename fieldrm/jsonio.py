"""Compact JSON for the hot paths (orjson), with the standard library as the fallback.

The device store and both ends of sync spend much of their time turning records,
registers, ops and pages into JSON and back; orjson does it several times faster than
`json`.  Output is the same compact text (`separators=(",", ":")`, `ensure_ascii=False`).
What orjson refuses to write — integers beyond 64 bits — goes through `json` instead, so
nothing that used to sync stops syncing.
Reading accepts bytes or str; errors are `ValueError` (orjson's `JSONDecodeError` is one).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# One encoder, made once: json.dumps with options builds a new one on every call.
_fallback = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

loads = orjson.loads


def dumps(value: Any) -> str:
    """`value` as compact JSON text."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _fallback(value)


def dumps_bytes(value: Any) -> bytes:
    """`value` as compact JSON, UTF-8 encoded (for response bodies)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return _fallback(value).encode()
