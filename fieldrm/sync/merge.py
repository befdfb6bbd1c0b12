"""The merge rules of SPEC §5 in one place: pure functions over a record's registers.

A record's sync state is a set of *registers*: each scalar field, each set element
(`field\\x00element`, value True = present, False = removed) and `deleted`.  Each register
holds `[value, seq]` (what devices see; `seq` is the server's version of that register) in
`vals`, and `[device, hlc, user]` (who wrote it, only the server needs this; set elements add the
devices whose adds keep them) in `info`.

`merge_op` applies one device op (format: `fieldrm/store/changelog.py`) to that state:

- concurrency is decided from what the writer had seen: a write with base `b` to a register
  last written at `seq` by device `d` is concurrent when `seq > b and d != device` (a
  device's ops arrive in its own order, so its own chain never conflicts with itself);
- not concurrent: the write applies (an informed overwrite);
- concurrent, different values: the higher `(hlc, device)` wins everywhere and the loser
  is kept as a conflict (conflict records themselves merge silently, last writer wins);
  concurrent, same value: no conflict, but the higher stamp is kept, so that the outcome
  does not depend on the order in which the server received the writes;
- set elements: add wins; a removal removes only what the remover had seen.  An element
  register remembers which devices' adds keep it present (`info[reg][3]`, device -> the
  version of its add), like an observed-remove set: a removal takes away the remover's own
  add and the adds up to the version it had seen, and the element goes when none is left;
- `updated_at` merges as the latest, `created_*` keep the first write;
- delete against a concurrent edit (either arrival order): the record stays deleted and a
  conflict with `field="deleted"` keeps the edit's values;
- a chain of one device's edits counts as one edit (SPEC §5.14): a scalar register (and
  `deleted`) remembers, in `info[reg][3]`, the open conflict kept for each device whose
  value lost there (device -> conflict id).  A later clash of that device on the register
  updates that conflict (its `other` side: the chain's newer value) instead of making
  another; when the chain's later value wins, its conflict is turned around to keep the
  value that now lost; when the register's value changes, the other open conflicts on it
  show the new `current`.  Whether a conflict is still open is the caller's to say
  (`Conflicts.find`): one resolved in between leaves the next clash a new conflict;
- re-sends after a server restore (SPEC §5.12): an op with `was` (field -> the version the
  value had in the history the server lost) is a device's re-send.  A scalar register
  remembers, in `info[reg][4]` = [lost version, whether its value is that re-send], the
  newest lost version it holds or has replaced.  A re-send no newer than that is dropped
  (the lost history's newer value, or what replaced it, stays); a newer one replaces a
  re-sent value as an informed write; against a value written since the restore the
  ordinary rules decide.

The device applies server register states with `take_register` (newer version wins) so
both sides share one notion of a register.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fieldrm.clock import wall_ms, wall_time
from fieldrm.models import format_timestamp, new_id

SEP = "\x00"
DELETED = "deleted"
LATEST_WINS = ("updated_at",)
FIRST_WINS = ("created_at", "created_by")
NOT_EDITS = frozenset((DELETED, *LATEST_WINS, *FIRST_WINS))


@dataclass
class RecordState:
    """The server's registers of one record (see the module docstring)."""

    kind: str
    vals: dict[str, list[Any]] = field(default_factory=dict)
    info: dict[str, list[Any]] = field(default_factory=dict)

    def copy(self) -> RecordState:
        # Registers are replaced, never mutated, so shallow copies are enough to roll back.
        return RecordState(self.kind, dict(self.vals), dict(self.info))

    @property
    def deleted(self) -> bool:
        reg = self.vals.get(DELETED)
        return bool(reg and reg[0])


@dataclass
class ConflictNote:
    """A clash the merge kept: `current` won, `other` lost; each `{value, by, device, at}`.

    `conflict_id` names the conflict record; `reused` says it is an open one to update
    (its sides are then what it should now hold), not a new one to make.
    """

    field: str
    current: dict[str, Any]
    other: dict[str, Any]
    conflict_id: str = ""
    reused: bool = False


@dataclass(frozen=True)
class Conflicts:
    """What the merge asks of the conflict records it remembers on registers.

    `find(conflict_id)` gives an open conflict's data (`record_data`), None once it is
    resolved or unknown; `new_id()` names a new conflict record.
    """

    find: Callable[[str], dict[str, Any] | None]
    new_id: Callable[[], str] = new_id


NO_CONFLICTS = Conflicts(lambda _conflict_id: None)


@dataclass
class MergeOutcome:
    touched: list[str]
    conflicts: list[ConflictNote]


def stamp_time(hlc: str) -> str:
    """The wall-clock part of an HLC stamp as ISO 8601 UTC (what people read as `at`)."""
    return format_timestamp(wall_time(wall_ms(hlc)))


def side(value: Any, device: str, hlc: str, user: str) -> dict[str, Any]:
    return {"value": value, "by": user, "device": device, "at": stamp_time(hlc)}


def element_register(field_name: str, item: Any) -> str:
    return f"{field_name}{SEP}{item}"


def merge_op(
    state: RecordState,
    op: dict[str, Any],
    device: str,
    seq: int,
    known: Conflicts = NO_CONFLICTS,
) -> MergeOutcome:
    """Apply `op` from `device`, numbered `seq` by the server, to `state` (in place).

    `known` answers for the open conflicts remembered on the registers (see the module
    docstring); without it every clash makes a new conflict.
    """
    hlc: str = op["hlc"]
    user: str = op.get("by") or ""
    seen: int = op.get("seen") or 0
    bases: dict[str, int] = op.get("base") or {}
    resent: dict[str, int] = op.get("was") or {}
    silent = state.kind == "conflict"  # no conflicts about conflicts
    vals, info = state.vals, state.info
    if not vals:
        return _first_write(state, op, device, seq)
    touched: list[str] = []
    conflicts: list[ConflictNote] = []
    edited: dict[str, Any] = {}  # what this op edits, for a delete-versus-edit conflict
    was_deleted_reg = vals.get(DELETED)
    was_deleted_info = info.get(DELETED)

    def write(reg: str, value: Any, kept: str = "", lost: int | None = None) -> None:
        """Write the register; its open conflicts (but `kept`, just made) follow the value;
        the newest lost version it held stays remembered (`lost`: this write re-sends one)."""
        before, was = info.get(reg), vals.get(reg)
        marker = _lost_marker(before)
        vals[reg] = [value, seq]
        info[reg] = [device, hlc, user]
        if before is not None and len(before) > 3 and was is not None:
            info[reg].append(before[3])  # the open conflicts remembered here stay
            if reg != DELETED and not silent:
                now = side(value, device, hlc, user)
                replaced = side(was[0], *before[:2], before[2])
                conflicts.extend(_follow(info, reg, now, replaced, known, kept))
        if lost is not None or marker is not None:
            newest = max(lost or 0, marker[0] if marker else 0)
            _mark_lost(info, reg, newest, lost is not None)

    def concurrent(reg: str, base: int) -> bool:
        return vals[reg][1] > base and info[reg][0] != device

    def incoming_wins(reg: str) -> bool:
        writer, stamp, _user = info[reg][:3]
        return (hlc, device) > (stamp, writer)

    for name, value in (op.get("set") or {}).items():
        touched.append(name)
        current = vals.get(name)
        lost = resent.get(name)
        if lost is not None and current is not None and name not in NOT_EDITS:
            marker = _lost_marker(info.get(name))
            if marker is None and silent and op.get("new"):
                continue  # a re-sent conflict meets one the server made: that one stays
            if marker is not None and lost <= marker[0]:
                continue  # the lost history's newer value, or what replaced it, stays
            if marker is not None and marker[1]:
                write(name, value, lost=lost)  # a newer value of the lost history
                continue
        if name not in NOT_EDITS:
            edited[name] = value
        if current is None:
            write(name, value, lost=lost)
        elif name in LATEST_WINS:
            if value is not None and (current[0] is None or value > current[0]):
                write(name, value)
        elif name in FIRST_WINS:
            continue
        elif not concurrent(name, bases.get(name, 0)):
            write(name, value, lost=lost)
        elif current[0] == value:
            if incoming_wins(name):
                write(name, value, lost=lost)  # the same value: keep the later stamp
        else:
            wins = incoming_wins(name)
            if not silent:
                mine = side(value, device, hlc, user)
                theirs = side(current[0], *info[name][:2], info[name][2])
                winner, loser = (mine, theirs) if wins else (theirs, mine)
                note = _keep(info, ConflictNote(name, winner, loser), known)
                conflicts.append(note)
                if wins:
                    write(name, value, note.conflict_id, lost)
                elif lost is not None:
                    _raise_lost(info, name, lost)  # its value is kept in the conflict
            elif wins:
                write(name, value, lost=lost)

    for name, items in (op.get("add") or {}).items():
        for item in items:
            reg = element_register(name, item)
            touched.append(reg)
            edited.setdefault(name, []).append(item)
            adders = dict(_adders(vals, info, reg))
            adders[device] = seq
            vals[reg] = [True, seq]
            info[reg] = [device, hlc, user, adders]

    for name, pairs in (op.get("rem") or {}).items():
        for item, base in pairs:
            reg = element_register(name, item)
            touched.append(reg)
            adders = _adders(vals, info, reg)
            # The remover saw its own add and every add up to the version it had seen.
            left = {adder: at for adder, at in adders.items() if adder != device and at > base}
            if left == adders:
                continue  # nothing it had seen is there: adds it had not seen win
            if left:
                info[reg] = [*info[reg][:3], left]
            else:
                vals[reg] = [False, seq]
                info[reg] = [device, hlc, user, {}]

    if "del" in op:
        touched.append(DELETED)
        wanted = bool(op["del"])
        current = vals.get(DELETED)
        if current is None or not concurrent(DELETED, seen):
            write(DELETED, wanted)
        elif incoming_wins(DELETED):
            write(DELETED, wanted)  # delete against restore: the later stamp decides
        if wanted and not silent and not (was_deleted_reg and was_deleted_reg[0]):
            # Edits from other devices this deleter had not seen are kept in a conflict.
            unseen = _unseen_edits(state, seen, device)
            if unseen is not None and vals[DELETED][0]:
                values, editor = unseen
                note = ConflictNote(
                    DELETED,
                    side(True, device, hlc, user),
                    side(values, editor[0], editor[1], editor[2]),
                )
                conflicts.append(_keep(info, note, known))
    elif edited and not silent and was_deleted_reg and was_deleted_reg[0]:
        assert was_deleted_info is not None
        if was_deleted_reg[1] > seen and was_deleted_info[0] != device:
            note = ConflictNote(
                DELETED,
                side(True, *was_deleted_info[:2], was_deleted_info[2]),
                side(edited, device, hlc, user),
            )
            conflicts.append(_keep(info, note, known))
    return MergeOutcome(touched, conflicts)


def unseen_by_resolver(
    before: RecordState | None,
    conflict: RecordState,
    op: dict[str, Any],
    target: RecordState | None,
    known: Conflicts,
) -> ConflictNote | None:
    """A resolution made before its device saw the conflict's latest `other` (a chain's
    later value that lost, kept there by the server meanwhile): that value, unless the
    record holds it now, stays open in a new conflict on the record (`target`)."""
    if before is None or target is None or (op.get("set") or {}).get("status") != "resolved":
        return None
    status, other = before.vals.get("status"), conflict.vals.get("other")
    if status is None or status[0] != "open" or other is None or other[1] <= (op.get("seen") or 0):
        return None
    if conflict.vals["status"][0] != "resolved":
        return None  # the resolution did not apply (a re-send the server's values outlived)
    field_name = conflict.vals["field"][0]
    current = target.vals.get(field_name)
    if current is None:
        return None
    if field_name == DELETED:
        if not current[0]:
            return None  # restored: the edits are the record's values again
    elif current[0] == other[0]["value"]:
        return None
    writer = target.info[field_name]
    note = ConflictNote(field_name, side(current[0], *writer[:3]), other[0])
    return _keep(target.info, note, known)


def _remembered(info: dict[str, list[Any]], reg: str) -> dict[str, str]:
    """The open conflicts remembered on a register: losing device -> conflict id."""
    writer = info.get(reg)
    return dict(writer[3]) if writer is not None and len(writer) > 3 else {}


def _remember(info: dict[str, list[Any]], reg: str, kept: dict[str, str]) -> None:
    tail = info[reg][4:]  # the lost version remembered here stays
    info[reg] = [*info[reg][:3], kept, *tail] if kept or tail else info[reg][:3]


def _lost_marker(writer: list[Any] | None) -> list[Any] | None:
    """[newest lost version, whether the value is that re-send] of a scalar register."""
    return writer[4] if writer is not None and len(writer) > 4 else None


def _mark_lost(info: dict[str, list[Any]], reg: str, lost: int, resent: bool) -> None:
    entry = info[reg][:4]
    if len(entry) < 4:
        entry.append({})
    info[reg] = [*entry, [lost, resent]]


def _raise_lost(info: dict[str, list[Any]], reg: str, lost: int) -> None:
    """A re-send lost a clash here (its value is in a conflict): older re-sends are stale."""
    marker = _lost_marker(info[reg])
    if marker is None or marker[0] < lost:
        _mark_lost(info, reg, lost, bool(marker and marker[1]))


def _keep(info: dict[str, list[Any]], note: ConflictNote, known: Conflicts) -> ConflictNote:
    """The conflict a clash keeps: the losing device's open one on this register, updated
    (a chain counts as one edit), else the winner's own (its chain's earlier value lost
    there, and now its later value wins: the conflict turns around), else a new one."""
    reg = note.field
    loser, winner = note.other["device"], note.current["device"]
    kept = _remembered(info, reg)
    found = {}
    for device in (loser, winner) if kept else ():
        conflict_id = kept.pop(device, None)  # back below only while it is open
        data = known.find(conflict_id) if conflict_id else None
        if data is not None:
            found[device] = (conflict_id, data)
            kept[device] = conflict_id
    mine = found.get(loser)
    if mine is None and reg != DELETED and winner in found:
        mine = found[winner]
        del kept[winner]
    if mine is None:
        note.conflict_id = known.new_id()
    else:
        note.conflict_id, data = mine
        note.reused = True
        if reg == DELETED:
            note.other = {**note.other, "value": _chained(data["other"]["value"], note.other)}
    kept[loser] = note.conflict_id
    _remember(info, reg, kept)
    return note


def _chained(earlier: Any, later: dict[str, Any]) -> dict[str, Any]:
    """The edits a delete conflict keeps after a chain's later edits: the latest value of
    each field, set elements added by any of them."""
    values = dict(earlier) if isinstance(earlier, dict) else {}
    for name, value in later["value"].items():
        before = values.get(name)
        if isinstance(value, list) and isinstance(before, list):
            value = sorted(set(before) | set(value))
        values[name] = value
    return values


def _follow(
    info: dict[str, list[Any]],
    reg: str,
    current: dict[str, Any],
    replaced: dict[str, Any],
    known: Conflicts,
    made: str,
) -> list[ConflictNote]:
    """The register's value changed: its open conflicts (but `made` by this clash) show it
    as `current`.  The writer's own one (its value had lost here) turns around, as when its
    chain later wins a clash: it keeps the value this write replaced."""
    kept = _remembered(info, reg)
    found = {}
    for loser, conflict_id in list(kept.items()):
        data = None if conflict_id == made else known.find(conflict_id)
        if data is not None:
            found[loser] = (conflict_id, data)
        elif conflict_id != made:
            del kept[loser]
    notes = []
    writer, was = current["device"], replaced["device"]
    for loser, (conflict_id, data) in found.items():
        if loser != writer:
            # A write of the value that lost there takes that side (a resolution keeping
            # "other" writes it first): the conflict keeps both values as they were.
            taken = data["other"].get("value") == current["value"]
            if data["current"] != current and not taken:
                notes.append(ConflictNote(reg, current, data["other"], conflict_id, reused=True))
        elif was != writer and was not in kept and replaced["value"] != current["value"]:
            notes.append(ConflictNote(reg, current, replaced, conflict_id, reused=True))
            del kept[writer]
            kept[was] = conflict_id
    _remember(info, reg, kept)
    return notes


def _first_write(state: RecordState, op: dict[str, Any], device: str, seq: int) -> MergeOutcome:
    """A record the server has never seen: everything applies, nothing can clash.

    The common case (creates from many devices), so it skips the register-by-register rules.
    """
    writer = [device, op["hlc"], op.get("by") or ""]
    registers = op_registers(op, seq)
    state.vals.update(registers)
    resent: dict[str, int] = op.get("was") or {}
    for name, (value, _version) in registers.items():
        if SEP in name and value is True:
            state.info[name] = [*writer, {device: seq}]
        elif name in resent and name not in NOT_EDITS:
            state.info[name] = [*writer, {}, [resent[name], True]]
        else:
            state.info[name] = writer
    return MergeOutcome(list(registers), [])


def _adders(vals: dict[str, list[Any]], info: dict[str, list[Any]], reg: str) -> dict[str, int]:
    """Which devices' adds keep a set element present, each with the version of its add."""
    current = vals.get(reg)
    if current is None or current[0] is not True:
        return {}
    writer = info[reg]
    return writer[3] if len(writer) > 3 else {writer[0]: current[1]}


def _unseen_edits(
    state: RecordState, seen: int, device: str
) -> tuple[dict[str, Any], list[Any]] | None:
    """Field values written by other devices after `seen`, and the latest such writer."""
    values: dict[str, Any] = {}
    latest: tuple[int, list[Any]] | None = None
    for reg, (value, reg_seq) in state.vals.items():
        if reg_seq <= seen or reg in NOT_EDITS:
            continue
        writer = state.info[reg]
        if writer[0] == device:
            continue
        if SEP in reg:
            if value is not True:
                continue
            name, item = reg.split(SEP, 1)
            values.setdefault(name, []).append(item)
        else:
            values[reg] = value
        if latest is None or reg_seq > latest[0]:
            latest = (reg_seq, writer)
    if latest is None:
        return None
    return values, latest[1]


def record_data(record_id: str, kind: str, vals: dict[str, list[Any]]) -> dict[str, Any]:
    """The record a set of registers describes (set fields as sorted lists)."""
    data: dict[str, Any] = {"id": record_id, "kind": kind}
    sets: dict[str, list[Any]] = {}
    for reg, (value, _seq) in vals.items():
        if SEP in reg:
            name, item = reg.split(SEP, 1)
            members = sets.setdefault(name, [])
            if value is True:
                members.append(item)
        else:
            data[reg] = value
    for name, members in sets.items():
        data[name] = sorted(members)
    data[DELETED] = bool(data.get(DELETED, False))
    return data


def op_registers(op: dict[str, Any], version: int) -> dict[str, list[Any]]:
    """The register states `op` writes, each `[value, version]` (what an ack confirms)."""
    registers = {name: [value, version] for name, value in (op.get("set") or {}).items()}
    for name, items in (op.get("add") or {}).items():
        for item in items:
            registers[element_register(name, item)] = [True, version]
    for name, pairs in (op.get("rem") or {}).items():
        for item, _base in pairs:
            registers[element_register(name, item)] = [False, version]
    if "del" in op:
        registers[DELETED] = [bool(op["del"]), version]
    return registers


def touched_registers(op: dict[str, Any]) -> set[str]:
    """The names of the registers `op` writes (whatever their outcome)."""
    return set(op_registers(op, 0))


def take_register(local_version: int, incoming_version: int, pending: bool) -> bool:
    """A device takes a server register state unless it holds a newer one or is editing it.

    An equal version is taken too: a register the server left as it was (an older
    `updated_at` than the one it holds, say) answers an ack with its unchanged version,
    while the device's own write had changed its local value.
    """
    return incoming_version >= local_version and not pending
