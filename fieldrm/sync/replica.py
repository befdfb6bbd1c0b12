"""The device's side of sync: reading the outbox, taking acks, applying server changes.

The store writes records and ops; this module decides what server state the device takes
and hands it to the store's one writer (`Store.write_records`), always in one transaction
per page or push answer:

- `next_batch` reads the oldest outbox entries (≤ 500 ops, ≤ 1 MiB), as stored;
- `apply_push_results` deletes the acknowledged ops, keeps the reasons of refused ones
  (state key `rejected`, shown by `status`) and takes the authoritative register states the
  server returned, in one transaction;
- `apply_changes` applies a pull or snapshot page and stores the cursor with it.

A register (see sync/merge.py) is taken only when its server version is newer than the one
this device holds and no pending outbox op writes it, so a local edit is never overwritten
while it waits to be pushed.  Taking a register also records its version in the record's
`meta`, which becomes the base of the next local edit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fieldrm import jsonio
from fieldrm.models import KINDS, kind_info
from fieldrm.store import Store
from fieldrm.sync.merge import FIRST_WINS, SEP, op_registers, take_register, touched_registers

# The device's sync settings and progress, kept in the store's `state` table.
SERVER = "server"
TOKEN = "token"
USER = "user"
PULL_CURSOR = "pull_cursor"
SNAPSHOT_AFTER = "snapshot_after"
SNAPSHOT_SEQ = "snapshot_seq"
LAST_SYNC = "last_sync"
LAST_ERROR = "last_error"
REJECTED = "rejected"
KEEP_REJECTIONS = 200
_ABSENT = object()


_dumps = jsonio.dumps


def is_configured(store: Store) -> bool:
    """Whether this device has a server and a token (`fieldrm login` was run).

    Here rather than only in the client: asking costs no httpx import (~0.1 s of CPU), which
    a device without a server never needs to spend.
    """
    return bool(store.get_state(SERVER) and store.get_state(TOKEN))


@dataclass
class OutboxEntry:
    seq: int
    record_id: str
    op: str  # the op's JSON exactly as stored


@dataclass
class ApplyStats:
    records: int = 0  # records whose data changed
    new_conflicts: int = 0  # open conflict records this device had not seen before


@dataclass
class PushOutcome:
    pushed: int = 0
    rejections: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- outbox


def next_batch(store: Store, max_ops: int, max_bytes: int, *, after: int = 0) -> list[OutboxEntry]:
    """The oldest pending ops after seq `after`, ≤ `max_ops` and `max_bytes` (at least one)."""
    rows = store.outbox(after, max_ops)
    batch: list[OutboxEntry] = []
    size = 0
    for seq, record_id, op in rows:
        length = len(op.encode())
        if length + 64 > max_bytes:
            # It could never travel: send a stand-in the server refuses with the reason, so
            # it is reported and acknowledged instead of blocking everything behind it.
            op = _too_large(op, length)
            length = len(op)
        size += length + 16
        if batch and size > max_bytes:
            break
        batch.append(OutboxEntry(seq, record_id, op))
    return batch


def _too_large(op_text: str, length: int) -> str:
    op = jsonio.loads(op_text)
    stand_in = {key: op[key] for key in ("id", "kind", "hlc", "by") if key in op}
    stand_in["too_large"] = length
    return _dumps(stand_in)


def push_body(device: str, batch: list[OutboxEntry]) -> bytes:
    """The push request, built around the stored op text (no decode and re-encode)."""
    ops = ",".join(f"[{entry.seq},{entry.op}]" for entry in batch)
    return f'{{"device":{json.dumps(device)},"ops":[{ops}]}}'.encode()


def apply_push_results(
    store: Store, batch: list[OutboxEntry], results: list[dict[str, Any]]
) -> PushOutcome:
    """Acknowledge a pushed batch: drop acked ops, keep refusals, take server states."""
    by_seq = {entry.seq: entry for entry in batch}
    outcome = PushOutcome()
    items: list[Item] = []
    acked: list[int] = []
    # A register a later op of this batch wrote shows that op's value here: the answers to
    # earlier ops must not overwrite it (the later answer speaks for it), so walk backwards.
    later: dict[str, set[str]] = {}
    for result in reversed(results):
        entry = by_seq.get(result.get("seq"))  # type: ignore[arg-type]
        if entry is None:
            continue
        acked.append(entry.seq)
        if result.get("status") == "rejected":
            outcome.rejections.append(str(result.get("reason") or f"record {entry.record_id}"))
        else:
            outcome.pushed += 1
        op = jsonio.loads(entry.op)
        shadowed = later.setdefault(entry.record_id, set())
        answered = result.get("r") or {}
        if "v" in result:
            # Applied: the op's own registers now have version v (this device shows their
            # values already), except those the server names (the op lost, or merged).
            written = op_registers(op, result["v"])
            confirmed = written
            if shadowed or answered:  # the common ack (a create, nothing later) skips this
                confirmed = {
                    name: state
                    for name, state in written.items()
                    if name not in shadowed and name not in answered
                }
            if confirmed:
                items.append((entry.record_id, None, confirmed, True))
            touched: Any = written  # its keys are the op's registers
        else:
            touched = touched_registers(op)
        if answered:
            taken = {name: state for name, state in answered.items() if name not in shadowed}
            if taken:
                items.append((entry.record_id, None, taken, False))
        shadowed.update(touched)
    outcome.rejections.reverse()
    with store.transaction():
        store.drop_ops(acked)
        if outcome.rejections:
            kept = json.loads(store.get_state(REJECTED) or "[]")
            kept = (kept + outcome.rejections)[-KEEP_REJECTIONS:]
            store.set_state(REJECTED, _dumps(kept))
        _apply(store, items)
    return outcome


def rejections(store: Store) -> list[str]:
    """Changes the server refused, newest last, each `record <id>: <reason>`."""
    return json.loads(store.get_state(REJECTED) or "[]")


# ---------------------------------------------------------------- pulled changes


def _fresh(record_id: str, kind: str, registers: dict[str, list[Any]]) -> list[Any]:
    """A record this device has never had (nothing local can be pending on it)."""
    data: dict[str, Any] = {"id": record_id, "kind": kind}
    versions: dict[str, int] = {}
    elements: dict[str, dict[str, int]] = {}
    seen = 0
    for name, (value, version) in registers.items():
        if version > seen:
            seen = version
        if SEP in name:
            field_name, item = name.split(SEP, 1)
            elements.setdefault(field_name, {})[item] = version
            if value is True:
                data.setdefault(field_name, []).append(item)
        else:
            if name not in FIRST_WINS:
                versions[name] = version
            data[name] = value
    for field_name in elements:
        if field_name in data:
            data[field_name].sort()
    meta: dict[str, Any] = {"v": versions, "seen": seen}
    if elements:
        meta["e"] = elements
    return [None, data, meta, None]


def _data(entry: list[Any]) -> dict[str, Any]:
    if entry[1] is None:
        entry[1] = jsonio.loads(entry[3])
    return entry[1]


def apply_changes(
    store: Store, changes: list[dict[str, Any]], state: dict[str, str | None]
) -> ApplyStats:
    """Apply a pull or snapshot page and write `state` (cursor keys) in one transaction."""
    items: list[Item] = [(change["id"], change["kind"], change["r"], False) for change in changes]
    with store.transaction():
        stats = _apply(store, items)
        for key, value in state.items():
            store.set_state(key, value)
    return stats


def _pending_registers(store: Store, record_ids: list[str]) -> dict[str, set[str]]:
    """Registers each record's pending ops write (those are not overwritten)."""
    pending: dict[str, set[str]] = {}
    for record_id, op in store.pending_ops(record_ids):
        pending.setdefault(record_id, set()).update(touched_registers(jsonio.loads(op)))
    return pending


def _load(store: Store, record_ids: list[str]) -> dict[str, list[Any]]:
    """id -> [rowid, data (parsed when needed), meta, data text] for records this device has."""
    return {
        record_id: [rowid, None, jsonio.loads(meta), data]
        for rowid, record_id, data, meta in store.sync_rows(record_ids)
    }


Item = tuple[str, "str | None", dict[str, list[Any]], bool]


def _apply(store: Store, items: list[Item]) -> ApplyStats:
    """Take newer, not locally pending register states into the records (caller's txn).

    An item is (record id, kind, registers, confirmed): `confirmed` registers are known to
    hold this device's own values (an ack), so only their versions are recorded.
    """
    stats = ApplyStats()
    if not items:
        return stats
    record_ids = list(dict.fromkeys(item[0] for item in items))
    local = _load(store, record_ids)
    pending = _pending_registers(store, record_ids)
    fresh: set[str] = set()
    changed: set[str] = set()  # records whose data (not only versions) changed
    touched: set[str] = set()
    for record_id, kind, registers, confirmed in items:
        entry = local.get(record_id)
        if entry is None:
            if kind is None:
                continue  # an ack for a record this device no longer has
            local[record_id] = _fresh(record_id, kind, registers)
            fresh.add(record_id)
            changed.add(record_id)
            touched.add(record_id)
            continue
        meta = entry[2]
        waiting = pending.get(record_id, ())
        versions = meta.setdefault("v", {})
        seen = meta.get("seen", 0)
        for name, (value, version) in registers.items():
            if version > seen:
                seen = version
            if SEP in name:
                field_name, item = name.split(SEP, 1)
                element_versions = meta.setdefault("e", {}).setdefault(field_name, {})
                if not take_register(element_versions.get(item, 0), version, name in waiting):
                    continue
                element_versions[item] = version
                if confirmed:
                    continue
                data = _data(entry)
                members = data.get(field_name) or []
                if (item in members) != (value is True):
                    changed.add(record_id)
                    if value is True:
                        data[field_name] = sorted([*members, item])
                    else:
                        data[field_name] = [member for member in members if member != item]
            elif name in FIRST_WINS:
                # Never changed after the create, never the base of an edit: no version kept
                # (sync metadata stays small); filled in only if missing.
                if not confirmed and _data(entry).get(name) is None:
                    changed.add(record_id)
                    _data(entry)[name] = value
            else:
                if not take_register(versions.get(name, 0), version, name in waiting):
                    continue
                versions[name] = version
                if confirmed:
                    continue
                data = _data(entry)
                if data.get(name, _ABSENT) != value:
                    changed.add(record_id)
                    data[name] = value
        meta["seen"] = seen
        touched.add(record_id)
    new: list[tuple[dict[str, Any], dict[str, Any]]] = []
    updates: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    versions_only: list[tuple[int, dict[str, Any]]] = []
    for record_id in touched:
        rowid, data, meta, _text = local[record_id]
        if record_id not in changed:
            versions_only.append((rowid, meta))
            continue
        data["deleted"] = bool(data.get("deleted", False))
        stats.records += 1
        if record_id in fresh:
            kind = data.get("kind")
            if kind in KINDS:
                for name, info in kind_info(kind).fields.items():
                    data.setdefault(name, [] if info.is_set else None)
            new.append((data, meta))
            if kind == "conflict" and data.get("status") == "open":
                stats.new_conflicts += 1
        else:
            updates.append((rowid, data, meta))
    store.write_records(new=new, changed=updates, versions=versions_only)
    return stats
