"""The device's side of sync: reading the outbox, taking acks, applying server changes.

The store writes records and ops; this module decides what server state the device takes
and hands it to the store's one writer (`Store.write_records`), always in one transaction
per page or push answer:

- `next_batch` reads the oldest outbox entries (≤ 500 ops, ≤ 1 MiB), as stored;
- `apply_push_results` deletes the acknowledged ops, keeps the reasons of refused ones
  (state key `rejected`, shown by `status`) and takes the authoritative register states the
  server returned, in one transaction;
- `apply_changes` applies a pull or snapshot page and stores the cursor with it;
- recovery (SPEC §5.12, see the section below): re-stamping queued changes a wrong clock
  stamped ahead, a restored or cloned copy taking a new identity, and re-sending from the
  device's own state what a server restored from a backup lost.

A register (see sync/merge.py) is taken only when its server version is newer than the one
this device holds and no pending outbox op writes it, so a local edit is never overwritten
while it waits to be pushed.  Taking a register also records its version in the record's
`meta`, which becomes the base of the next local edit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fieldrm import jsonio
from fieldrm.clock import HybridClock, now_ms, pack, wall_ms, wall_time
from fieldrm.models import KINDS, KindInfo, format_timestamp, kind_info, parse_timestamp
from fieldrm.store import Store
from fieldrm.sync.merge import (
    DELETED,
    FIRST_WINS,
    SEP,
    element_register,
    op_registers,
    take_register,
    touched_registers,
)
from fieldrm.sync.protocol import RESOLUTION_FIELDS

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
ACKED = "acked"  # "<device id>:<seq>": the highest of this device's changes acknowledged
PULL_MARK = "pull_mark"  # the server's mark of the change at the pull cursor
CHECKPOINTS = "checkpoints"  # recent [cursor, mark] pairs, to find where a server rewound to
RECOVERY = "recovery"  # what was detected and healed, newest last (shown by `status`)
KEEP_RECENT_CHECKPOINTS = 8
KEEP_CHECKPOINTS = 48
KEEP_RECOVERIES = 5
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
    nonce: str | None = None  # its identity for the server (SPEC §5.12)


@dataclass
class ApplyStats:
    records: int = 0  # records whose data changed
    new_conflicts: int = 0  # open conflict records this device had not seen before


@dataclass
class PushOutcome:
    pushed: int = 0
    rejections: list[str] = field(default_factory=list)


# A check run first inside the transaction that writes a server's answer; it raises to
# keep the answer out (the device was started afresh while the answer travelled).  One
# transaction, no savepoint: a savepoint per page copies every page it writes at 100k.
Guard = Callable[[Store], None] | None


# ---------------------------------------------------------------- outbox


def next_batch(store: Store, max_ops: int, max_bytes: int, *, after: int = 0) -> list[OutboxEntry]:
    """The oldest pending ops after seq `after`, ≤ `max_ops` and `max_bytes` (at least one)."""
    rows = store.outbox(after, max_ops)
    batch: list[OutboxEntry] = []
    size = 0
    for seq, record_id, op, nonce in rows:
        length = len(op.encode())
        if length + 64 > max_bytes:
            # It could never travel: send a stand-in the server refuses with the reason, so
            # it is reported and acknowledged instead of blocking everything behind it.
            op = _too_large(op, length)
            length = len(op)
        size += length + 16
        if batch and size > max_bytes:
            break
        batch.append(OutboxEntry(seq, record_id, op, nonce))
    return batch


def _too_large(op_text: str, length: int) -> str:
    op = jsonio.loads(op_text)
    stand_in = {key: op[key] for key in ("id", "kind", "hlc", "by") if key in op}
    stand_in["too_large"] = length
    return _dumps(stand_in)


def push_body(device: str, batch: list[OutboxEntry], history: str = "") -> bytes:
    """The push request, built around the stored op text (no decode and re-encode);
    `history` is `push_history`'s fields."""
    ops = ",".join(f"[{entry.seq},{entry.op},{json.dumps(entry.nonce)}]" for entry in batch)
    return f'{{"device":{json.dumps(device)},{history}"ops":[{ops}]}}'.encode()


def push_history(store: Store) -> str:
    """What a push says of the device's history (SPEC §5.12), as JSON fields: its acked
    high-water, its highest number, and its pull position with that change's mark."""
    fields = f'"acked":{acknowledged(store)},"top":{store.top_seq()},'
    cursor, mark = store.get_state(PULL_CURSOR), store.get_state(PULL_MARK)
    if cursor is not None and mark is not None:
        fields += f'"cursor":{int(cursor)},"mark":{json.dumps(mark)},'
    return fields


def acknowledged(store: Store) -> int:
    """The highest of this device id's changes the server acknowledged (0 for a new id)."""
    device, _, seq = (store.get_state(ACKED) or "").partition(":")
    return int(seq) if seq and device == store.device_id else 0


def apply_push_results(
    store: Store, batch: list[OutboxEntry], results: list[dict[str, Any]], guard: Guard = None
) -> PushOutcome:
    """Acknowledge a pushed batch: drop acked ops, keep refusals, take server states
    (`guard`, called first in the transaction, may refuse: see `Guard`)."""
    by_seq = {entry.seq: entry for entry in batch}
    outcome = PushOutcome()
    items: list[Item] = []
    acked: list[int] = []
    creates: dict[str, list[Any]] = {}  # record id -> [op, version]: a create acked as sent
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
        if "v" in result and "r" not in result and op.get("new") and entry.record_id not in later:
            # The common ack: a create, applied as sent, nothing later in this batch on it.
            creates[entry.record_id] = [op, result["v"]]
            later[entry.record_id] = set()
            continue
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
        if guard is not None:
            guard(store)
        if len(acked) == len(batch):
            store.drop_op_range(batch[0].seq, batch[-1].seq)  # the batch is consecutive rows
        else:
            store.drop_ops(acked)
        if creates:
            items += _acknowledge_creates(store, creates)
        if batch:
            store.set_state(ACKED, f"{store.device_id}:{batch[-1].seq}")
        if outcome.rejections:
            kept = json.loads(store.get_state(REJECTED) or "[]")
            kept = (kept + outcome.rejections)[-KEEP_REJECTIONS:]
            store.set_state(REJECTED, _dumps(kept))
        _apply(store, items)
    return outcome


def _acknowledge_creates(store: Store, creates: dict[str, list[Any]]) -> list[Item]:
    """Record the versions of records this device created and the server took as sent:
    their metadata is written straight from the op (caller's transaction).  A record
    with a pending edit, or metadata already (a pull reached it), goes the general way:
    returned as items for `_apply`."""
    record_ids = list(creates)
    waiting = {record_id for record_id, _op in store.pending_ops(record_ids)}
    general: list[Item] = []
    metas: list[tuple[int, dict[str, Any]]] = []
    for rowid, record_id, meta_text in store.sync_metas(record_ids):
        op, version = creates[record_id]
        if record_id in waiting or jsonio.loads(meta_text).get("seen"):
            general.append((record_id, None, op_registers(op, version), True))
            continue
        # The metadata a record pulled with these registers would have.
        metas.append((rowid, _fresh(record_id, op["kind"], op_registers(op, version))[2]))
    store.write_records(versions=metas)
    return general


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
    store: Store, changes: list[dict[str, Any]], state: dict[str, str | None], guard: Guard = None
) -> ApplyStats:
    """Apply a pull or snapshot page and write `state` (cursor keys) in one transaction."""
    items: list[Item] = [(change["id"], change["kind"], change["r"], False) for change in changes]
    with store.transaction():
        if guard is not None:
            guard(store)
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
                # (sync metadata stays small).  The server's word on authorship stands (a
                # record re-sent to a restored server by another user keeps its creator).
                if not confirmed and _data(entry).get(name) != value:
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


# ---------------------------------------------------------------- recovery (SPEC §5.12)


def position_state(store: Store, cursor: int, mark: str) -> dict[str, str | None]:
    """The state keys a pull page moves to: cursor, its mark, and the checkpoints kept to
    find the last point a server restored from a backup still shares with this device
    (the most recent ones, then one per doubling of the distance back)."""
    kept = checkpoints(store)
    if not kept or kept[-1][0] != cursor:
        kept.append([cursor, mark])
    newest = kept[-1][0]
    older, recent = kept[:-KEEP_RECENT_CHECKPOINTS], kept[-KEEP_RECENT_CHECKPOINTS:]
    by_distance: dict[int, list[Any]] = {}
    for point in older:
        by_distance.setdefault((newest - point[0]).bit_length(), point)
    kept = sorted(by_distance.values()) + recent
    return {
        PULL_CURSOR: str(cursor),
        PULL_MARK: mark,
        CHECKPOINTS: _dumps(kept[-KEEP_CHECKPOINTS:]),
    }


def checkpoints(store: Store) -> list[list[Any]]:
    """[cursor, mark] pairs, oldest first, the current pull position last."""
    kept: list[list[Any]] = json.loads(store.get_state(CHECKPOINTS) or "[]")
    cursor, mark = store.get_state(PULL_CURSOR), store.get_state(PULL_MARK)
    if cursor is not None and mark is not None and (not kept or kept[-1][0] != int(cursor)):
        kept.append([int(cursor), mark])
    return kept


def restamp(store: Store, now: int) -> int:
    """Re-stamp, in order, the queued changes a clock that was ahead stamped after `now`
    (the server refused them or they never left: nobody has built on them), shifting the
    `updated_at`/`created_at` they and their records carry by as much; reset the saved
    clock.  Returns how many changed."""
    saved = store.clock().last
    if wall_ms(saved) <= now:
        return 0  # every stamp this device gave is at most its clock's last one
    clock = HybridClock(pack(now, 0))
    rewritten: list[tuple[int, str]] = []
    shifts: dict[str, dict[str, tuple[Any, Any]]] = {}
    after = 0
    while rows := store.outbox(after, 1000):
        after = rows[-1][0]
        for seq, record_id, text, _nonce in rows:
            op = jsonio.loads(text)
            old = op["hlc"]
            if wall_ms(old) <= now:
                continue
            op["hlc"] = clock.tick(now)
            shift_ms = wall_ms(old) - wall_ms(op["hlc"])
            for name in ("updated_at", "created_at"):
                value = (op.get("set") or {}).get(name)
                if isinstance(value, str) and _epoch_ms(value) > now:
                    moved = format_timestamp(wall_time(_epoch_ms(value) - shift_ms))
                    op["set"][name] = moved
                    shifts.setdefault(record_id, {})[name] = (value, moved)
            rewritten.append((seq, _dumps(op)))
    with store.transaction():
        store.rewrite_ops(rewritten)
        changed = []
        for rowid, record_id, data_text, _meta in store.sync_rows(list(shifts)):
            data = jsonio.loads(data_text)
            for name, (value, moved) in shifts[record_id].items():
                if data.get(name) == value:
                    data[name] = moved
            changed.append((rowid, data, None))
        store.write_records(changed=changed)
        store.set_clock(clock.last if rewritten else pack(now, 0))
    return len(rewritten)


def _epoch_ms(stamp: str) -> int:
    return int(parse_timestamp(stamp).timestamp() * 1000)


def forget_held(store: Store, held: list[int]) -> tuple[str, str]:
    """A restored or cloned copy: drop the queued changes the server holds from this id
    (they come back in the pull), take a new device id for the rest; one transaction.
    Returns (old id, new id)."""
    with store.transaction():
        old = store.device_id
        store.drop_ops(held)
        new = store.renew_device_id()
        store.set_state(ACKED, None)
        note_recovery(store, "forked", old, new, dropped=len(held), resent=store.pending_count())
    return old, new


def rebase_on(store: Store, point: int, mark: str) -> tuple[str, str]:
    """A server restored from a backup shares this device's history up to `point` only.

    In one transaction: every register this device holds at a version after `point` is
    queued again with its current value, based on `point` (a record the server cannot
    have, as a create), ahead of the queued changes, whose bases are moved back to
    `point` too, so that the merge rules decide against whatever the restored server has
    since; versions after `point` are forgotten (the server will hand out those numbers
    again), the pull position goes back to `point` and the device takes a new id (the
    server lost what it acknowledged from the old one).  Returns (old id, new id).
    """
    user = store.user
    clock = store.clock()
    front: list[tuple[str, str]] = []
    metas: list[tuple[int, dict[str, Any]]] = []
    rewrite = {}
    queued: dict[str, set[str]] = {}  # record -> the registers its queued changes write
    for seq, record_id, text, _nonce in store.outbox(0, 2**62):
        op = jsonio.loads(text)
        queued.setdefault(record_id, set()).update(touched_registers(op))
        if _rebase(op, point):
            rewrite[seq] = _dumps(op)
    for rowid, record_id, data_text, meta_text in store.all_sync_rows():
        meta = jsonio.loads(meta_text)
        if not _after(meta, point):
            continue
        data = jsonio.loads(data_text)
        op = _restore_op(data, meta, point, user, clock.tick(), queued.get(record_id, set()))
        if op is not None:
            front.append((record_id, _dumps(op)))
        metas.append((rowid, _clamped(meta, point, op)))
    with store.transaction():
        old = store.device_id
        store.requeue(front, rewrite)
        store.write_records(versions=metas)
        store.set_clock(clock.last)
        new = store.renew_device_id()
        kept = [pair for pair in checkpoints(store) if pair[0] <= point]
        store.set_state(ACKED, None)
        store.set_state(PULL_CURSOR, str(point))
        store.set_state(PULL_MARK, mark)
        store.set_state(CHECKPOINTS, _dumps(kept))
        store.set_state(SNAPSHOT_AFTER, None)
        store.set_state(SNAPSHOT_SEQ, None)
        note_recovery(store, "rewound", old, new, resent=len(front), point=point)
    return old, new


def _after(meta: dict[str, Any], point: int) -> bool:
    if meta.get("seen", 0) > point or any(v > point for v in meta.get("v", {}).values()):
        return True
    return any(v > point for items in meta.get("e", {}).values() for v in items.values())


def _restore_op(
    data: dict[str, Any],
    meta: dict[str, Any],
    point: int,
    user: str,
    hlc: str,
    queued: set[str],
) -> dict[str, Any] | None:
    """The op that gives a restored server this record's registers newer than `point`.

    A register a queued change writes is left to that change (the device shows its value,
    not the one the server lost; re-sending it would have it twice, a refused value twice
    refused), but for a required field of a record re-sent whole."""
    kind = data.get("kind")
    if kind not in KINDS:
        return None  # a kind from a newer fieldrm: it cannot be written here
    info = kind_info(kind)
    versions: dict[str, int] = meta.get("v", {})
    elements: dict[str, dict[str, int]] = meta.get("e", {})
    set_fields = set(info.set_fields)
    # Version 0: a register of a lost history, forgotten by an earlier rebase (`_clamped`).
    known = any(0 < v <= point for v in versions.values()) or any(
        0 < v <= point for items in elements.values() for v in items.values()
    )
    op: dict[str, Any] = {"id": data["id"], "kind": kind, "hlc": hlc, "by": user}
    if not known:
        # A conflict the server lost goes back as a re-send too (it takes ids it never had).
        op["new"] = True
        op["set"] = {
            name: value
            for name, value in data.items()
            if name not in ("id", "kind", "deleted") and name not in set_fields
            if value is not None
            if name not in queued or name in (*FIRST_WINS, "updated_at") or _required(info, name)
        }
        op["was"] = _lost_versions(op["set"], versions)
        added = {}
        for name in set_fields:
            items = [
                item for item in data.get(name) or [] if element_register(name, item) not in queued
            ]
            if items:
                added[name] = items
        if added:
            op["add"] = added
        if data.get("deleted") and DELETED not in queued:
            op["del"] = True
        return op
    if point:
        op["seen"] = point
    newer = [
        name
        for name, v in versions.items()
        if v > point and name not in (DELETED, *FIRST_WINS) and name not in queued
    ]
    if kind == "conflict":
        # The server writes a conflict's sides; a device only its resolution, when made.
        resolved = data.get("status") != "open"
        newer = [name for name in newer if resolved and name in RESOLUTION_FIELDS]
    if newer:
        op["set"] = {name: data.get(name) for name in newer}
        op["was"] = _lost_versions(newer, versions)
        if point:
            op["base"] = dict.fromkeys(newer, point)
    added: dict[str, list[str]] = {}
    removed: dict[str, list[list[Any]]] = {}
    for name, items in elements.items():
        members = set(data.get(name) or [])
        for item, version in items.items():
            if version <= point or element_register(name, item) in queued:
                continue
            if item in members:
                added.setdefault(name, []).append(item)
            else:
                removed.setdefault(name, []).append([item, point])
    if added:
        op["add"] = added
    if removed:
        op["rem"] = removed
    if versions.get(DELETED, 0) > point and DELETED not in queued:
        op["del"] = bool(data.get("deleted"))
    if not (newer or added or removed or "del" in op):
        return None
    return op


def _required(info: KindInfo, name: str) -> bool:
    field_info = info.fields.get(name)
    return field_info is not None and field_info.required


def _lost_versions(names: Any, versions: dict[str, int]) -> dict[str, int]:
    """The version each re-sent field had in the lost history: the server keeps the newest
    of a register's re-sends, whoever re-sends first (merge.py)."""
    return {name: versions[name] for name in names if versions.get(name)}


def _clamped(meta: dict[str, Any], point: int, op: dict[str, Any] | None) -> dict[str, Any]:
    """Versions after `point` belong to the history the server lost: back to `point` when
    `op` (the record's re-send) writes them again.  Others go back to 0, whatever the
    server says of them next is taken: those of a record re-sent whole (the server cannot
    have it), and those this device does not send again (a conflict's sides: the server
    writes them)."""
    resent = set() if op is None or op.get("new") else touched_registers(op)

    def back(name: str, version: int) -> int:
        return version if version <= point else point if name in resent else 0

    meta = dict(meta)
    meta["v"] = {name: back(name, v) for name, v in meta.get("v", {}).items()}
    if "e" in meta:
        meta["e"] = {
            name: {item: back(element_register(name, item), v) for item, v in items.items()}
            for name, items in meta["e"].items()
        }
    if "seen" in meta:
        meta["seen"] = min(meta["seen"], point)
    return meta


def _rebase(op: dict[str, Any], point: int) -> bool:
    """Move a queued op's bases after `point` back to it; whether anything changed."""
    changed = False
    if op.get("seen", 0) > point:
        op["seen"] = point
        changed = True
    bases = op.get("base") or {}
    for name, version in bases.items():
        if version > point:
            bases[name] = point
            changed = True
    for pairs in (op.get("rem") or {}).values():
        for pair in pairs:
            if pair[1] > point:
                pair[1] = point
                changed = True
    return changed


def note_recovery(store: Store, what: str, old: str, new: str, **counts: int) -> None:
    """Keep what was detected and healed for `status` (caller's transaction)."""
    kept = recoveries(store)
    at = format_timestamp(wall_time(now_ms()))
    kept.append({"what": what, "at": at, "previous": old, "device": new, "pulled": 0, **counts})
    store.set_state(RECOVERY, _dumps(kept[-KEEP_RECOVERIES:]))


def count_pulled_back(store: Store, pulled: int) -> None:
    """Add what the sync that healed pulled to its recovery note (the device's own changes
    and others' that it lacked)."""
    kept = recoveries(store)
    if kept:
        kept[-1]["pulled"] = kept[-1].get("pulled", 0) + pulled
        store.set_state(RECOVERY, _dumps(kept))


def recoveries(store: Store) -> list[dict[str, Any]]:
    return json.loads(store.get_state(RECOVERY) or "[]")


def describe_recovery(note: dict[str, Any]) -> str:
    """One line for `status`: what was detected, when, and what was done about it."""
    what = {
        "forked": "restored or cloned copy of this device detected",
        "rewound": "server restored from an earlier backup detected",
    }.get(note.get("what", ""), str(note.get("what")))
    return (
        f"{what} {note.get('at')}: now device {note.get('device')}, "
        f"re-sent {note.get('resent', 0)} changes, pulled back {note.get('pulled', 0)}"
    )
