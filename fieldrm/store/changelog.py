"""The device's change log: what one local write records for sync (SPEC §5).

Every write appends one *op* to the `outbox` table in the same transaction as the record.
An op is numbered per device (`seq`, the outbox's AUTOINCREMENT key) and is JSON:

    {"id": record id, "kind": "contact", "hlc": "0194a3b2c1d00000", "by": "alice",
     "seen": 42,                          # highest server seq of this record applied here
     "new": true,                         # only on the op that creates the record
     "set": {"title": "Ops lead", ...},   # scalar fields, field level
     "base": {"title": 17},               # server version of each set field it replaced
     "add": {"tags": ["vip"]},            # set elements added
     "rem": {"tags": [["night", 12]]},    # set elements removed, with the version seen
     "del": true,                         # tombstone (false restores)
     "was": {"title": 31}}                # only on a re-send after a server restore: each
                                          # field's version in the history it lost

Bases that are 0 (never synced) are left out. The device id is not repeated per op: a
push names its device once.  `updated_at` travels in `set` and merges as the latest.

A record's `meta` column holds the versions the device has seen, which become the bases
of its next edit: {"v": {field: seq}, "e": {set field: {element: seq}}, "seen": seq}.

Only building the op lives here (a local write needs nothing more); which registers an op
writes and how the server merges it are the merge rules' (sync/merge.py).
"""

from __future__ import annotations

from typing import Any

from fieldrm.models import kind_info, set_delta

IMMUTABLE_FIELDS = ("id", "kind")


def build_op(
    before: dict[str, Any] | None,
    after: dict[str, Any],
    meta: dict[str, Any],
    *,
    hlc: str,
    user: str,
) -> dict[str, Any] | None:
    """The op that turns `before` into `after` (None when nothing changed)."""
    set_fields = set(kind_info(after["kind"]).set_fields)
    versions: dict[str, int] = meta.get("v", {})
    element_versions: dict[str, dict[str, int]] = meta.get("e", {})
    op: dict[str, Any] = {"id": after["id"], "kind": after["kind"], "hlc": hlc, "by": user}
    if meta.get("seen"):
        op["seen"] = meta["seen"]
    if before is None:
        op["new"] = True
        before = {}
    scalar: dict[str, Any] = {}
    bases: dict[str, int] = {}
    added: dict[str, list[str]] = {}
    removed: dict[str, list[list[Any]]] = {}
    for name, value in after.items():
        if name in IMMUTABLE_FIELDS or name == "deleted":
            continue
        if name in set_fields:
            gained, lost = set_delta(before.get(name), value)
            if gained:
                added[name] = gained
            if lost:
                seen = element_versions.get(name, {})
                removed[name] = [[item, seen.get(item, 0)] for item in lost]
            continue
        if name in before and before[name] == value:
            continue
        if name not in before and value is None:
            continue
        scalar[name] = value
        if versions.get(name):
            bases[name] = versions[name]
    if bool(before.get("deleted", False)) != bool(after.get("deleted", False)):
        op["del"] = bool(after.get("deleted"))
    changed = [part for part in (scalar, added, removed) if part]
    meaningful = set(scalar) - {"updated_at"}
    if not (meaningful or added or removed or "del" in op):
        return None
    if changed:
        op["set"] = scalar
    if bases:
        op["base"] = bases
    if added:
        op["add"] = added
    if removed:
        op["rem"] = removed
    return op
