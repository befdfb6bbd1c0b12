"""The server's storage logic (SPEC §6), on any database behind `backend.Backend`.

`Storage` holds every piece of server logic that touches the database — accounts, push
(merge and acknowledge in one transaction), pull, snapshot — written once in SQL that
SQLite and PostgreSQL both run.  What differs between databases lives in a backend
(`sqlite.py`, the default, or `postgres.py`; `open_storage` picks one): connecting, how a
transaction starts, the placeholder style and the row-lock clause.

Tables (all keyed by workspace):
- `workspaces(name, seq)`: `seq` is the workspace's change counter; a push locks this row,
  so sequence numbers are gapless and in commit order on both databases;
- `users(token_hash, name, workspace)`: tokens are stored as sha256, never in clear;
- `devices(workspace, device, user_name, last_seq)`: the highest device seq acknowledged;
- `records(workspace, id, kind, vals, info, seq)`: each record's registers (merge.py):
  `vals` is the JSON a device sees and is sent as stored; `info` says who wrote each one;
- `changes(workspace, seq, record_id, origin, body)`: one row per applied op or new
  conflict, `body` the JSON pulled as is;
- `rejected(workspace, device, seq, reason, op)`: refused ops, kept for an administrator;
- `acks(workspace, device, seq, nonce)`: the nonce of every op acknowledged (applied or
  refused), which tells a retry from a restored or cloned copy's other op (SPEC §5.12);
- `change_marks(workspace, seq, mark)`: a hash chained over the workspace's changes
  (`chain_mark`), which tells a device that the server was restored from a backup.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from fieldrm import jsonio
from fieldrm.clock import now_ms, pack, wall_ms, wall_time
from fieldrm.errors import Ambiguous, NotFound, StoreError, describe_validation_error
from fieldrm.models import KINDS, Conflict, chunks, format_timestamp, new_id, parse_timestamp
from fieldrm.sync.merge import (
    DELETED,
    ConflictNote,
    Conflicts,
    RecordState,
    merge_op,
    op_registers,
    record_data,
    stamp_time,
    touched_registers,
    unseen_by_resolver,
)
from fieldrm.sync.protocol import MAX_CLOCK_AHEAD_MS, RESOLUTION_FIELDS, ProtocolError, op_reason
from fieldrm.sync.server.backend import Backend, Tx

SERVER = "server"  # the device and user named on conflict records the server makes

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS workspaces (
        name TEXT PRIMARY KEY,
        seq BIGINT NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS users (
        token_hash TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        workspace TEXT NOT NULL REFERENCES workspaces(name),
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS devices (
        workspace TEXT NOT NULL,
        device TEXT NOT NULL,
        user_name TEXT NOT NULL,
        last_seq BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (workspace, device)
    )""",
    """CREATE TABLE IF NOT EXISTS records (
        workspace TEXT NOT NULL,
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        vals TEXT NOT NULL,
        info TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (workspace, id)
    )""",
    """CREATE TABLE IF NOT EXISTS changes (
        workspace TEXT NOT NULL,
        seq BIGINT NOT NULL,
        record_id TEXT NOT NULL,
        origin TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (workspace, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS rejected (
        workspace TEXT NOT NULL,
        device TEXT NOT NULL,
        seq BIGINT NOT NULL,
        reason TEXT NOT NULL,
        op TEXT NOT NULL,
        PRIMARY KEY (workspace, device, seq)
    )""",
]

# Server schema migrations, on SQLite and PostgreSQL alike: step n brings a database from
# version n to n + 1 (kept in `server_schema`).  Append new steps; never edit a shipped one.
MIGRATIONS: list[list[str]] = [
    SCHEMA,
    [
        """CREATE TABLE IF NOT EXISTS acks (
            workspace TEXT NOT NULL,
            device TEXT NOT NULL,
            seq BIGINT NOT NULL,
            nonce TEXT NOT NULL,
            PRIMARY KEY (workspace, device, seq)
        )""",
        # A table, not a column of `changes`: every statement of a step must be safe to run
        # again (a database from before versioning runs them all), which ADD COLUMN is not.
        """CREATE TABLE IF NOT EXISTS change_marks (
            workspace TEXT NOT NULL,
            seq BIGINT NOT NULL,
            mark TEXT NOT NULL,
            PRIMARY KEY (workspace, seq)
        )""",
    ],
    [
        # Accounts outlive their tokens: `server users` lists a revoked user, with the day
        # the account was first made and when it was revoked.
        """CREATE TABLE IF NOT EXISTS accounts (
            workspace TEXT NOT NULL,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT,
            PRIMARY KEY (workspace, name)
        )""",
        """INSERT INTO accounts(workspace, name, created_at)
            SELECT workspace, name, MIN(created_at) FROM users WHERE true
            GROUP BY workspace, name
            ON CONFLICT (workspace, name) DO NOTHING""",
    ],
]


_MARKED = "FROM changes c LEFT JOIN change_marks m ON m.workspace = c.workspace AND m.seq = c.seq"


def chain_mark(previous: str, body: str) -> str:
    """The mark of a change: 12 hex digits of sha256 over the previous change's mark and
    this change's body, so two histories that differ anywhere before differ here too (48
    bits are plenty to tell two histories apart, and cost few bytes on the wire)."""
    return hashlib.sha256(f"{previous}{body}".encode()).hexdigest()[:12]


def _stored_mark(mark: str | None, body: str) -> str:
    """A change's mark (a change written before marks existed: its body's alone)."""
    return mark or chain_mark("", body)


_dumps = jsonio.dumps


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Account:
    user: str
    workspace: str


@dataclass
class PullPage:
    bodies: list[str]  # change JSON as stored
    next_cursor: int
    has_more: bool
    mark: str = ""  # the mark of the change at next_cursor

    def to_json(self) -> str:
        more = "true" if self.has_more else "false"
        return (
            f'{{"changes":[{",".join(self.bodies)}],'
            f'"next_cursor":{self.next_cursor},"has_more":{more},"mark":"{self.mark}"}}'
        )


@dataclass
class SnapshotPage:
    bodies: list[str]
    seq: int
    next: str | None
    mark: str = ""  # the mark of the change at seq

    def to_json(self) -> str:
        after = "null" if self.next is None else json.dumps(self.next)
        return (
            f'{{"records":[{",".join(self.bodies)}],"seq":{self.seq},"next":{after},'
            f'"mark":"{self.mark}"}}'
        )


# ---------------------------------------------------------------- the logic


class Storage:
    """The server's data, on any `Backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.schema_version = self._migrate()

    def _migrate(self) -> int:
        """Bring the database to the newest schema; refuse one made by a newer server."""
        with self.backend.transaction(write=True) as tx:
            if self.backend.schema_lock:
                tx.execute(self.backend.schema_lock)
            tx.execute("CREATE TABLE IF NOT EXISTS server_schema (version INTEGER NOT NULL)")
            rows = tx.query("SELECT version FROM server_schema")
            version = rows[0][0] if rows else 0
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"the server database has schema version {version}, newer than this "
                    f"server's {len(MIGRATIONS)}: upgrade fieldrm on the server"
                )
            for step in MIGRATIONS[version:]:
                for statement in step:
                    tx.execute(statement)
            if not rows:
                tx.execute("INSERT INTO server_schema(version) VALUES (?)", [len(MIGRATIONS)])
            elif version != len(MIGRATIONS):
                tx.execute("UPDATE server_schema SET version = ?", [len(MIGRATIONS)])
        return len(MIGRATIONS)

    def close(self) -> None:
        self.backend.close()

    def checkpoint(self) -> None:
        """Make the database file whole (see `Backend.checkpoint`); the server stopping."""
        self.backend.checkpoint()

    # ------------------------------------------------------------ accounts

    def add_user(self, name: str, workspace: str) -> str:
        """Create `name` in `workspace` (made when new); returns the token, shown once."""
        name, workspace = name.strip(), workspace.strip()
        if not name or not workspace:
            raise ValueError("a user name and a workspace are required")
        token = secrets.token_urlsafe(32)
        with self.backend.transaction(write=True) as tx:
            tx.execute(
                "INSERT INTO workspaces(name, seq) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
                [workspace],
            )
            now = format_timestamp(wall_time(now_ms()))
            tx.execute(
                "INSERT INTO users(token_hash, name, workspace, created_at) VALUES (?, ?, ?, ?)",
                [hash_token(token), name, workspace, now],
            )
            tx.execute(
                "INSERT INTO accounts(workspace, name, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (workspace, name) DO UPDATE SET revoked_at = NULL",
                [workspace, name, now],
            )
        return token

    def authenticate(self, token: str) -> Account | None:
        with self.backend.transaction(write=False) as tx:
            rows = tx.query(
                "SELECT name, workspace FROM users WHERE token_hash = ?", [hash_token(token)]
            )
        return Account(rows[0][0], rows[0][1]) if rows else None

    # ------------------------------------------------------------ operators

    def users(self) -> list[dict[str, Any]]:
        """Every user (with a token or revoked but known by a device), for `server users`:
        workspace, first token's date, tokens, devices registered, and the last push's
        time (the `updated_at` of the newest change from one of their devices)."""
        with self.backend.transaction(write=False) as tx:
            accounts = tx.query("SELECT workspace, name, created_at, revoked_at FROM accounts")
            tokens = tx.query(
                "SELECT workspace, name, MIN(created_at), COUNT(*) FROM users "
                "GROUP BY workspace, name"
            )
            registered = tx.query(
                "SELECT workspace, user_name, COUNT(*) FROM devices GROUP BY workspace, user_name"
            )
            newest = tx.query(
                "SELECT d.workspace, d.user_name, MAX(c.seq) FROM devices d JOIN changes c "
                "ON c.workspace = d.workspace AND c.origin = d.device "
                "GROUP BY d.workspace, d.user_name"
            )
            bodies = {
                (workspace, name): tx.query(
                    "SELECT body FROM changes WHERE workspace = ? AND seq = ?", [workspace, seq]
                )
                for workspace, name, seq in newest
            }
        found: dict[tuple[str, str], dict[str, Any]] = {}

        def entry(workspace: str, name: str) -> dict[str, Any]:
            return found.setdefault(
                (workspace, name),
                {
                    "user": name,
                    "workspace": workspace,
                    "created_at": None,
                    "revoked_at": None,
                    "tokens": 0,
                    "devices": 0,
                    "last_push": None,
                },
            )

        for workspace, name, created_at, revoked_at in accounts:
            entry(workspace, name).update(created_at=created_at, revoked_at=revoked_at)
        for workspace, name, created_at, count in tokens:
            found_entry = entry(workspace, name)
            found_entry["tokens"] = count
            found_entry["created_at"] = found_entry["created_at"] or created_at
        for workspace, name, count in registered:
            entry(workspace, name)["devices"] = count
        for key, rows in bodies.items():
            registers = jsonio.loads(rows[0][0]).get("r", {}) if rows else {}
            stamp = registers.get("updated_at") or registers.get("created_at")
            entry(*key)["last_push"] = stamp[0] if stamp else None
        return [found[key] for key in sorted(found)]

    def revoke(self, name: str, workspace: str | None = None) -> tuple[str, int]:
        """Remove every token of `name` (in `workspace`); returns the workspace and how many.

        Raises NotFound for no such user, Ambiguous when the name is in several workspaces
        and none was given.  The user's devices stay known: a new token (`add-user`) and a
        new `fieldrm login` let them push their kept queues."""
        with self.backend.transaction(write=True) as tx:
            places = [
                row[0]
                for row in tx.query(
                    "SELECT DISTINCT workspace FROM users WHERE name = ? ORDER BY workspace",
                    [name],
                )
            ]
            if workspace is not None:
                if workspace not in places:
                    raise NotFound(f"no user {name!r} with a token in workspace {workspace!r}")
                places = [workspace]
            if not places:
                raise NotFound(f"no user {name!r} with a token on this server")
            if len(places) > 1:
                raise Ambiguous(
                    f"{name!r} is a user in workspaces {', '.join(places)}: "
                    "say which with --workspace"
                )
            rows = tx.query(
                "SELECT COUNT(*) FROM users WHERE name = ? AND workspace = ?", [name, places[0]]
            )
            tx.execute("DELETE FROM users WHERE name = ? AND workspace = ?", [name, places[0]])
            tx.execute(
                "UPDATE accounts SET revoked_at = ? WHERE workspace = ? AND name = ?",
                [format_timestamp(wall_time(now_ms())), places[0], name],
            )
        return places[0], rows[0][0]

    # ------------------------------------------------------------ push

    def push(
        self,
        account: Account,
        device: str,
        ops: list[tuple[int, dict[str, Any]]],
        *,
        now: int | None = None,
        nonces: list[str | None] | None = None,
        acked: int | None = None,
        top: int | None = None,
        cursor: int | None = None,
        mark: str | None = None,
    ) -> list[dict[str, Any]]:
        """Merge and acknowledge a batch in one transaction; one result per op.

        Raises ProtocolError for a gap in the device's numbering (409), a stamp more than 5
        minutes ahead of this server's clock (422, naming device and offset), a device id
        registered to another user (403), a restored or cloned copy of a device (409
        `forked`: an op numbered like one acknowledged, with another nonce, or a `top`
        below what the server holds) and a server restored from a backup (409 `rewound`:
        `acked` above what it holds, or a pull `cursor` and `mark` it does not hold: a
        device that holds changes the server lost must not build on what is left before it
        has re-sent them); see protocol.py.  `nonces` go with `ops`.
        """
        if nonces is None:
            nonces = [None] * len(ops)
        server_now = now_ms() if now is None else now
        workspace = account.workspace
        with self.backend.transaction(write=True) as tx:
            lock = self.backend.lock_clause
            rows = tx.query(f"SELECT seq FROM workspaces WHERE name = ?{lock}", [workspace])
            if not rows:
                raise ProtocolError(401, "unauthorized", f"workspace {workspace} is gone")
            seq = start_seq = rows[0][0]
            rows = tx.query(
                f"SELECT last_seq, user_name FROM devices WHERE workspace = ? AND device = ?{lock}",
                [workspace, device],
            )
            known_device = bool(rows)
            last_seq = rows[0][0] if rows else 0
            _check_identity(device, account.user, rows[0][1] if rows else None)
            _check_history(device, last_seq, acked, top)
            self._check_position(tx, workspace, start_seq, cursor, mark)
            if last_seq == 0 and ops:
                # A device this server has never seen may start anywhere: its earlier changes
                # went to another server (a new or restored one) before it logged in here.
                last_seq = ops[0][0] - 1
            if ops and ops[0][0] > last_seq + 1:
                raise ProtocolError(
                    409,
                    "seq_gap",
                    f"device {device}: expected change {last_seq + 1}, got {ops[0][0]}",
                    expected=last_seq + 1,
                )
            self._check_replays(tx, workspace, device, ops, nonces, last_seq)
            # After the replay check: a clone refused for its clock would still pull under
            # its original's id, skipping the original's changes as its own.
            _check_clock(device, ops, server_now)
            states = self._load(tx, workspace, {op["id"] for _s, op in ops})
            earlier_rejections = self._rejections(tx, workspace, device, ops, last_seq)
            acks: list[tuple[Any, ...]] = []
            dirty: set[str] = set()
            texts: dict[str, str] = {}  # record id -> its vals as JSON, when already dumped
            changes: list[tuple[Any, ...]] = []
            rejected: list[tuple[Any, ...]] = []
            results: list[dict[str, Any]] = []
            stamp = pack(server_now, 0)
            at = format_timestamp(wall_time(server_now))
            known = self._open_conflicts(tx, workspace, states, server_now)
            # Each conflict's sides before this push rewrote them: a resolution that saw a
            # value there has seen it, whichever side it is on now.
            seen_sides: dict[str, list[tuple[Any, int]]] = {}
            for (device_seq, op), nonce in zip(ops, nonces, strict=True):
                record_id = op["id"]
                state = states.get(record_id)
                if device_seq <= last_seq:
                    result: dict[str, Any] = {"seq": device_seq, "status": "duplicate"}
                    if device_seq in earlier_rejections:
                        result = {
                            "seq": device_seq,
                            "status": "rejected",
                            "reason": earlier_rejections[device_seq],
                        }
                    result["r"] = _registers(state, _touched(op))
                    results.append(result)
                    continue
                last_seq = device_seq
                if nonce is not None:
                    acks.append((workspace, device, device_seq, nonce))
                reason = _precheck(op, state)
                merged = None
                whole = None  # a conflict re-sent whole, taken as its resolution alone
                resent_conflict = state is not None and state.kind == "conflict" and op.get("new")
                if reason is None and resent_conflict:
                    # A conflict re-sent whole (after a server restore) that the server
                    # holds.  Resolved here: it stays as it is (a re-send never reopens or
                    # rewrites one), and the device is told.  Open here and resolved in the
                    # re-send: taken as the resolution op it was.  Otherwise the merge
                    # orders its sides by the lost history (`was`).
                    if not _is_open(state):
                        registers = _registers(state, _touched(op))
                        results.append({"seq": device_seq, "status": "applied", "r": registers})
                        continue
                    resolution = _resolution_of(op)
                    if resolution is not None:
                        whole, op = op, resolution
                elif reason is None and op["kind"] == "conflict" and state is None:
                    reason = self._lost_conflict_reason(tx, workspace, states, op)
                if reason is None:
                    reason = _op_reason(op)
                if reason is None:
                    sent_op, sent = op, op.get("set") or {}
                    op = _authored(op, account.user, state is None)
                    merged = state.copy() if state else RecordState(op["kind"])
                    outcome = merge_op(merged, op, device, seq + 1, known)
                    reason = _validate(record_id, merged)
                if reason is not None or merged is None:
                    rejected.append((workspace, device, device_seq, reason, _op_text(op)))
                    results.append(
                        {
                            "seq": device_seq,
                            "status": "rejected",
                            "reason": reason,
                            "r": _registers(state, _touched(op)),
                        }
                    )
                    continue
                seq += 1
                states[record_id] = merged
                dirty.add(record_id)
                touched = _registers(merged, outcome.touched)
                if state is None and len(touched) == len(merged.vals):
                    # A new record: its registers are dumped once, for the change and the row.
                    texts[record_id] = _dumps(merged.vals)
                    body_text = _change_text(record_id, merged.kind, seq, texts[record_id])
                else:
                    texts.pop(record_id, None)
                    body_text = _change_text(record_id, merged.kind, seq, _dumps(touched))
                changes.append((workspace, seq, record_id, device, body_text))
                # The ack names the version; registers only where the outcome is not what
                # the op wrote (it lost, or merged with others' writes).
                differs = {}
                if state is None:
                    # Authorship is the server's: tell the device where it differs.
                    differs = {
                        name: touched[name]
                        for name in AUTHORSHIP
                        if name in touched and sent.get(name) != touched[name][0]
                    }
                else:
                    # Against the op as sent: where the server put its own authorship (a
                    # resolution's `resolved_by`), the device is told.
                    written = op_registers(sent_op, seq)
                    differs = {
                        name: reg for name, reg in touched.items() if written.get(name) != reg
                    }
                    if merged.kind == "conflict":
                        # A resolution is told the sides it resolved as the server holds
                        # them: a device re-sending one after a server restore may hold
                        # sides from the history the server lost (replica.rebase_on).
                        differs.update(_registers(merged, CONFLICT_SIDES))
                    if whole is not None:
                        # Everything else the re-send wrote that the server holds otherwise.
                        values = whole.get("set") or {}
                        differs.update(
                            (name, reg)
                            for name, reg in _registers(merged, _touched(whole)).items()
                            if name not in values or values[name] != reg[0]
                        )
                result = {"seq": device_seq, "status": "applied", "v": seq}
                if differs:
                    result["r"] = differs
                results.append(result)
                notes = [(merged.kind, record_id, note) for note in outcome.conflicts]
                if merged.kind == "conflict":
                    reopened = self._unseen_by_resolver(
                        tx, workspace, states, state, op, known, seen_sides.get(record_id, [])
                    )
                    if reopened is not None:
                        notes.append(reopened)
                        dirty.add(reopened[1])
                for kind, clashed_id, note in notes:
                    conflict_id = note.conflict_id
                    if note.reused:
                        # A chain's later clash: the open conflict is updated, not repeated.
                        conflict = states[conflict_id]
                        seen_sides.setdefault(conflict_id, []).extend(
                            (reg[0].get("value"), reg[1])
                            for reg in (conflict.vals["current"], conflict.vals["other"])
                            if isinstance(reg[0], dict)
                        )
                        update = {"current": note.current, "other": note.other, "updated_at": at}
                        update = {k: v for k, v in update.items() if conflict.vals[k][0] != v}
                        if set(update) <= {"updated_at"}:
                            continue
                        seq += 1
                        registers = {
                            name: [value, _side_version(conflict.vals[name], value, seq)]
                            for name, value in update.items()
                        }
                        texts.pop(conflict_id, None)
                    else:
                        seq += 1
                        conflict = states[conflict_id] = RecordState("conflict")
                        values = _conflict_values(kind, clashed_id, note, at)
                        registers = {name: [value, seq] for name, value in values.items()}
                    conflict.vals.update(registers)
                    conflict.info.update({name: [SERVER, stamp, SERVER] for name in registers})
                    dirty.add(conflict_id)
                    body = _dumps(registers)
                    if not note.reused:
                        texts[conflict_id] = body
                    body_text = _change_text(conflict_id, "conflict", seq, body)
                    # Origin "" so that every device, the pusher too, pulls the conflict.
                    changes.append((workspace, seq, conflict_id, "", body_text))
            self._save(tx, workspace, states, dirty, seq, texts)
            if changes:
                tx.executemany(
                    "INSERT INTO changes(workspace, seq, record_id, origin, body) "
                    "VALUES (?, ?, ?, ?, ?)",
                    changes,
                )
                mark = self._mark(tx, workspace, start_seq)
                marks = []
                for change in changes:
                    mark = chain_mark(mark, change[4])
                    marks.append((workspace, change[1], mark))
                tx.executemany(
                    "INSERT INTO change_marks(workspace, seq, mark) VALUES (?, ?, ?)", marks
                )
            if acks:
                tx.executemany(
                    "INSERT INTO acks(workspace, device, seq, nonce) VALUES (?, ?, ?, ?)", acks
                )
            if rejected:
                tx.executemany(
                    "INSERT INTO rejected(workspace, device, seq, reason, op) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rejected,
                )
            if known_device:
                tx.execute(
                    "UPDATE devices SET last_seq = ? WHERE workspace = ? AND device = ?",
                    [last_seq, workspace, device],
                )
            else:
                tx.execute(
                    "INSERT INTO devices(workspace, device, user_name, last_seq) "
                    "VALUES (?, ?, ?, ?)",
                    [workspace, device, account.user, last_seq],
                )
            if seq != start_seq:
                tx.execute("UPDATE workspaces SET seq = ? WHERE name = ?", [seq, workspace])
        return results

    def _lost_conflict_reason(
        self, tx: Tx, workspace: str, states: dict[str, RecordState], op: dict[str, Any]
    ) -> str | None:
        """Why a conflict re-sent as lost in a restore cannot be taken: it must be about a
        record this workspace holds, and a field that record's kind has."""
        values = op.get("set") or {}
        record_id = values.get("record_id")
        if not isinstance(record_id, str):
            return None  # the op's own checks say what is wrong
        about = self._held(tx, workspace, states, record_id)
        if about is None:
            return f"record {op['id']}: a conflict about no record ({record_id})"
        field = values.get("field")
        if field != DELETED and field not in KINDS[about.kind].model_fields:
            return f"record {op['id']}: a {about.kind} has no field {field!r}"
        return None

    def _held(
        self, tx: Tx, workspace: str, states: dict[str, RecordState], record_id: str
    ) -> RecordState | None:
        """A record's state: this push's, else the database's (kept in `states`)."""
        if record_id not in states:
            states.update(self._load(tx, workspace, {record_id}))
        return states.get(record_id)

    def _load(self, tx: Tx, workspace: str, ids: set[str]) -> dict[str, RecordState]:
        states: dict[str, RecordState] = {}
        for chunk in chunks(sorted(ids)):
            marks = ",".join("?" * len(chunk))
            for record_id, kind, vals, info in tx.query(
                f"SELECT id, kind, vals, info FROM records WHERE workspace = ? AND id IN ({marks})",
                [workspace, *chunk],
            ):
                registers = jsonio.loads(vals)
                states[record_id] = RecordState(
                    kind, registers, _unpack_info(registers, jsonio.loads(info))
                )
        return states

    def _open_conflicts(
        self, tx: Tx, workspace: str, states: dict[str, RecordState], server_now: int
    ) -> Conflicts:
        """The merge's view of conflict records: this push's states, else the database."""

        def find(conflict_id: str) -> dict[str, Any] | None:
            state = self._held(tx, workspace, states, conflict_id)
            if state is None or state.kind != "conflict" or not _is_open(state):
                return None
            return record_data(conflict_id, "conflict", state.vals)

        return Conflicts(find, lambda: new_id(server_now))

    def _unseen_by_resolver(
        self,
        tx: Tx,
        workspace: str,
        states: dict[str, RecordState],
        before: RecordState | None,
        op: dict[str, Any],
        known: Conflicts,
        earlier_sides: list[tuple[Any, int]],
    ) -> tuple[str, str, ConflictNote] | None:
        """The new conflict a resolution calls for when it had not seen the conflict's latest
        value (`merge.unseen_by_resolver`): (record kind, record id, note), or None."""
        conflict = states[op["id"]]
        target_reg = conflict.vals.get("record_id")
        if target_reg is None:
            return None
        target_id = target_reg[0]
        if target_id not in states:
            states.update(self._load(tx, workspace, {target_id}))
        target = states.get(target_id)
        note = unseen_by_resolver(before, conflict, op, target, known)
        if note is None or target is None:
            return None
        seen = op.get("seen") or 0
        if any(
            value == note.other.get("value") and version <= seen for value, version in earlier_sides
        ):
            return None  # its sides were turned around in this push: the resolver saw it
        return target.kind, target_id, note

    @staticmethod
    def _mark(tx: Tx, workspace: str, seq: int) -> str:
        """The mark of change `seq` ("" for 0, the start of every history)."""
        if seq <= 0:
            return ""
        rows = tx.query(
            f"SELECT m.mark, c.body {_MARKED} WHERE c.workspace = ? AND c.seq = ?",
            [workspace, seq],
        )
        return _stored_mark(*rows[0]) if rows else ""

    def _check_position(
        self, tx: Tx, workspace: str, high: int, cursor: int | None, mark: str | None
    ) -> None:
        """409 `rewound` for a pull position beyond this history or not in it."""
        if cursor is None:
            return
        if cursor > high:
            raise _rewound(f"the pull position {cursor} is beyond its newest change {high}")
        if mark is not None and cursor > 0 and self._mark(tx, workspace, cursor) != mark:
            raise _rewound(f"its change {cursor} is not the one this device pulled")

    @staticmethod
    def _check_replays(
        tx: Tx,
        workspace: str,
        device: str,
        ops: list[tuple[int, dict[str, Any]]],
        nonces: list[str | None],
        last_seq: int,
    ) -> None:
        """Ops numbered like acknowledged ones are retries only with the same nonce."""
        replayed = {
            seq: nonce
            for (seq, _op), nonce in zip(ops, nonces, strict=True)
            if seq <= last_seq and nonce is not None
        }
        if not replayed:
            return
        rows = tx.query(
            "SELECT seq, nonce FROM acks WHERE workspace = ? AND device = ? "
            "AND seq >= ? AND seq <= ?",
            [workspace, device, min(replayed), max(replayed)],
        )
        for seq, nonce in rows:
            if seq in replayed and replayed[seq] != nonce:
                raise _forked(device, last_seq, f"its change {seq} is not the one acknowledged")

    def held(
        self, account: Account, device: str, pairs: list[tuple[int, str]]
    ) -> tuple[list[int], list[dict[str, Any]]]:
        """Which of these (seq, nonce) the server acknowledged from `device` (a restored or
        cloned copy drops those from its queue before it takes a new id), and for those it
        refused, the answer a push gave (reason, and the server's registers the op touched:
        the copy still shows the refused value and must be told, as the original was)."""
        if not pairs:
            return [], []
        low, high = min(s for s, _n in pairs), max(s for s, _n in pairs)
        with self.backend.transaction(write=False) as tx:
            self._check_device(tx, account, device)
            rows = tx.query(
                "SELECT seq, nonce FROM acks WHERE workspace = ? AND device = ? "
                "AND seq >= ? AND seq <= ?",
                [account.workspace, device, low, high],
            )
            stored = dict(rows)
            held = [seq for seq, nonce in pairs if stored.get(seq) == nonce]
            refusals = tx.query(
                "SELECT seq, reason, op FROM rejected WHERE workspace = ? AND device = ? "
                "AND seq >= ? AND seq <= ?",
                [account.workspace, device, low, high],
            )
            refused_ops = {
                seq: (reason, jsonio.loads(op)) for seq, reason, op in refusals if seq in held
            }
            states = self._load(
                tx, account.workspace, {op.get("id") for _r, op in refused_ops.values()}
            )
        refused = [
            {
                "seq": seq,
                "status": "rejected",
                "reason": reason,
                "r": _registers(states.get(op.get("id")), _touched(op)),
            }
            for seq, (reason, op) in sorted(refused_ops.items())
        ]
        return held, refused

    def known_mark(self, account: Account, marks: list[tuple[int, str]]) -> int:
        """The highest of these (cursor, mark) this server's history still holds, or 0."""
        wanted = {cursor: mark for cursor, mark in marks if cursor > 0}
        if not wanted:
            return 0
        found = 0
        with self.backend.transaction(write=False) as tx:
            for chunk in chunks(sorted(wanted)):
                marks_sql = ",".join("?" * len(chunk))
                for seq, mark, body in tx.query(
                    f"SELECT c.seq, m.mark, c.body {_MARKED} WHERE c.workspace = ? "
                    f"AND c.seq IN ({marks_sql})",
                    [account.workspace, *chunk],
                ):
                    if _stored_mark(mark, body) == wanted[seq]:
                        found = max(found, seq)
        return found

    def _check_device(
        self,
        tx: Tx,
        account: Account,
        device: str,
        acked: int | None = None,
        top: int | None = None,
    ) -> None:
        """403 for another user's device id; 409 for a forked device or a rewound server."""
        rows = tx.query(
            "SELECT last_seq, user_name FROM devices WHERE workspace = ? AND device = ?",
            [account.workspace, device],
        )
        _check_identity(device, account.user, rows[0][1] if rows else None)
        _check_history(device, rows[0][0] if rows else 0, acked, top)

    def _rejections(
        self,
        tx: Tx,
        workspace: str,
        device: str,
        ops: list[tuple[int, dict[str, Any]]],
        last_seq: int,
    ) -> dict[int, str]:
        """Reasons given before for ops now replayed (their first answer may have been lost)."""
        replayed = [seq for seq, _op in ops if seq <= last_seq]
        if not replayed:
            return {}
        rows = tx.query(
            "SELECT seq, reason FROM rejected WHERE workspace = ? AND device = ? "
            "AND seq >= ? AND seq <= ?",
            [workspace, device, replayed[0], replayed[-1]],
        )
        return {seq: reason for seq, reason in rows}

    def _save(
        self,
        tx: Tx,
        workspace: str,
        states: dict[str, RecordState],
        dirty: set[str],
        seq: int,
        texts: dict[str, str],
    ) -> None:
        if not dirty:
            return
        tx.executemany(
            "INSERT INTO records(workspace, id, kind, vals, info, seq) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (workspace, id) DO UPDATE SET kind = excluded.kind, "
            "vals = excluded.vals, info = excluded.info, seq = excluded.seq",
            [
                (
                    workspace,
                    record_id,
                    states[record_id].kind,
                    texts.get(record_id) or _dumps(states[record_id].vals),
                    _dumps(_pack_info(states[record_id].info)),
                    seq,
                )
                for record_id in sorted(dirty)
            ],
        )

    # ------------------------------------------------------------ pull and snapshot

    def pull(
        self,
        account: Account,
        device: str,
        cursor: int,
        limit: int,
        *,
        mark: str | None = None,
        acked: int | None = None,
        top: int | None = None,
    ) -> PullPage:
        """Changes after `cursor`, except the device's own (it got those when it pushed).

        409 `rewound` when the cursor is beyond this server's history or its `mark` is not
        this history's (the server was restored from a backup); see `_check_device`.
        """
        workspace = account.workspace
        with self.backend.transaction(write=False) as tx:
            if device:
                self._check_device(tx, account, device, acked, top)
            high = self._high_water(tx, workspace)
            self._check_position(tx, workspace, high, cursor, mark)
            rows = tx.query(
                "SELECT seq, body FROM changes WHERE workspace = ? AND seq > ? AND seq <= ? "
                "AND origin <> ? ORDER BY seq LIMIT ?",
                [workspace, cursor, high, device, limit + 1],
            )
            has_more = len(rows) > limit
            rows = rows[:limit]
            next_cursor = rows[-1][0] if has_more else max(high, cursor)
            next_mark = mark if next_cursor == cursor and mark else None
            if next_mark is None:
                next_mark = self._mark(tx, workspace, next_cursor)
        return PullPage([body for _seq, body in rows], next_cursor, has_more, next_mark)

    def snapshot(
        self, account: Account, after: str | None, seq: int | None, limit: int
    ) -> SnapshotPage:
        """Current records in id order (keyset pages); `seq` is where pulling resumes."""
        with self.backend.transaction(write=False) as tx:
            if seq is None:
                seq = self._high_water(tx, account.workspace)
            rows = tx.query(
                "SELECT id, kind, vals FROM records WHERE workspace = ? AND id > ? "
                "ORDER BY id LIMIT ?",
                [account.workspace, after or "", limit + 1],
            )
            more = len(rows) > limit
            mark = "" if more else self._mark(tx, account.workspace, seq)
        rows = rows[:limit]
        bodies = [
            f'{{"id":{_dumps(record_id)},"kind":{_dumps(kind)},"r":{vals}}}'
            for record_id, kind, vals in rows
        ]
        return SnapshotPage(bodies, seq, rows[-1][0] if more else None, mark)

    def high_water(self, workspace: str) -> int:
        with self.backend.transaction(write=False) as tx:
            return self._high_water(tx, workspace)

    @staticmethod
    def _high_water(tx: Tx, workspace: str) -> int:
        rows = tx.query("SELECT seq FROM workspaces WHERE name = ?", [workspace])
        return rows[0][0] if rows else 0

    def records(self, workspace: str) -> Iterator[dict[str, Any]]:
        """Every record of a workspace as data (for tests and administrators)."""
        with self.backend.transaction(write=False) as tx:
            rows = tx.query(
                "SELECT id, kind, vals FROM records WHERE workspace = ? ORDER BY id", [workspace]
            )
        for record_id, kind, vals in rows:
            yield record_data(record_id, kind, jsonio.loads(vals))


_COMMON = ""  # the key of a record's packed info that holds its most registers' writer


def _pack_info(info: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """A record's writer info as stored: the writer of its first register once (under
    ""), then only the registers another wrote.  A created record is one writer; this
    keeps a quarter of the server's bytes a record out of the database."""
    if not info:
        return info
    common = next(iter(info.values()))
    packed = {_COMMON: common}
    packed.update((reg, writer) for reg, writer in info.items() if writer != common)
    return packed


def _unpack_info(vals: dict[str, list[Any]], stored: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """`_pack_info` undone: each register's own writer list (rows written before packing
    hold every register's already)."""
    common = stored.pop(_COMMON, None)
    if common is None:
        return stored
    return {reg: stored[reg] if reg in stored else list(common) for reg in vals}


@functools.cache
def _new_conflict() -> dict[str, Any]:
    """The fields every new conflict record holds, as the Conflict model writes them.

    Made once from a validated model (a pydantic round per conflict would cost a 1,000-clash
    sync ~25 ms of server time); fields the model leaves empty are not written.
    """
    at = wall_time(0)
    model = Conflict(
        record_id=new_id(0),
        record_kind="",
        field="",
        current={},
        other={},
        created_at=at,
        updated_at=at,
        created_by=SERVER,
    )
    values = model.model_dump(mode="json", exclude={"id", "kind"})
    return {name: value for name, value in values.items() if value is not None}


def _conflict_values(kind: str, record_id: str, note: ConflictNote, at: str) -> dict[str, Any]:
    """The conflict record a clash makes: the model's fields, with this clash in them."""
    values = dict(_new_conflict())
    values.update(
        record_id=record_id,
        record_kind=kind,
        field=note.field,
        current=note.current,
        other=note.other,
        created_at=at,
        updated_at=at,
    )
    return values


def _check_clock(device: str, ops: list[tuple[int, dict[str, Any]]], server_now: int) -> None:
    for _seq, op in ops:
        ahead = wall_ms(op["hlc"]) - server_now
        if ahead > MAX_CLOCK_AHEAD_MS:
            raise ProtocolError(
                422,
                "clock_skew",
                f"device {device} has a clock {_describe_offset(ahead)} ahead of the "
                "server's; set its clock right, then sync again",
                device=device,
                offset_ms=ahead,
            )


def _check_identity(device: str, user: str, owner: str | None) -> None:
    if owner is not None and owner != user:
        raise ProtocolError(
            403,
            "device_owner",
            f"device {device} is registered to user {owner}, not {user}: this copy of "
            "fieldrm cannot sync under that id (a copied installation? see the README)",
            owner=owner,
        )


def _check_history(device: str, last_seq: int, acked: int | None, top: int | None) -> None:
    if acked is not None and acked > last_seq:
        raise _rewound(f"it holds changes of device {device} up to {last_seq}, not {acked}")
    if top is not None and last_seq > top:
        raise _forked(device, last_seq, f"it holds changes up to {last_seq}, the device {top}")


def _forked(device: str, last_seq: int, why: str) -> ProtocolError:
    return ProtocolError(
        409,
        "forked",
        f"device {device} is a restored or cloned copy ({why})",
        last_seq=last_seq,
    )


def _rewound(why: str) -> ProtocolError:
    return ProtocolError(409, "rewound", f"the server was restored from an earlier backup ({why})")


def _change_text(record_id: str, kind: str, seq: int, registers: str) -> str:
    return f'{{"id":{_dumps(record_id)},"kind":{_dumps(kind)},"seq":{seq},"r":{registers}}}'


def _side_version(register: list[Any], value: Any, seq: int) -> int:
    """A conflict side's version moves only when its value does: who and when may be
    rewritten (a chain's later write of the same value), but a resolution made after seeing
    that value has seen the side (`merge.unseen_by_resolver` compares versions)."""
    before = register[0]
    same = isinstance(before, dict) and isinstance(value, dict) and "value" in value
    return register[1] if same and before.get("value") == value["value"] else seq


def _registers(state: RecordState | None, names: Any) -> dict[str, list[Any]]:
    if state is None:
        return {}
    return {name: state.vals[name] for name in names if name in state.vals}


def _is_open(state: RecordState) -> bool:
    status = state.vals.get("status")
    return status is not None and status[0] == "open"


def _resolution_of(op: dict[str, Any]) -> dict[str, Any] | None:
    """The resolution a conflict re-sent whole carries, as a resolution op (None: it
    carries none)."""
    values = op.get("set") or {}
    if values.get("status") != "resolved":
        return None
    resolution = {key: op[key] for key in ("id", "kind", "hlc", "by", "seen") if key in op}
    resolution["set"] = {name: value for name, value in values.items() if name in RESOLUTION_FIELDS}
    return resolution


def _precheck(op: dict[str, Any], state: RecordState | None) -> str | None:
    if op.get("too_large"):
        return (
            f"record {op['id']}: the change is too large to sync ({op['too_large']} bytes; "
            "a push holds at most 1 MiB)"
        )
    kind = op["kind"]
    if kind not in KINDS:
        return f"record {op['id']}: unknown kind {kind!r} (this server is older than the device)"
    if state is not None and state.kind != kind:
        return f"record {op['id']}: is a {state.kind} on the server, not a {kind}"
    if kind == "conflict" and state is None and not ("was" in op and op.get("new") is True):
        # A re-send after a restore (SPEC §5.12) brings back one the server lost.
        return f"record {op['id']}: conflicts are made by the server, not by devices"
    return None


AUTHORSHIP = ("created_by", "created_at")
CONFLICT_SIDES = ("current", "other")


def _op_reason(op: dict[str, Any]) -> str | None:
    reason = op_reason(op)
    return None if reason is None else f"record {op['id']}: {op['kind']}: {reason}"


def _authored(op: dict[str, Any], user: str, new: bool) -> dict[str, Any]:
    """The op with its authorship from the token (SPEC §5.14): who wrote it, and for a new
    record who made it, and a `created_at` no later than the op's stamp (whose wall time the
    server has checked is not ahead of its clock).  An earlier `created_at` stands: records
    captured offline, or restored from a backup, keep the time they were made."""
    authored = {**op, "by": user}
    values = op.get("set")
    if new:
        maker = SERVER if op["kind"] == "conflict" else user  # a re-sent one: the server's
        values = {**(values or {}), "created_by": maker}
        sent = values.get("created_at")
        if sent is None or _epoch_ms(sent) > wall_ms(op["hlc"]):
            values["created_at"] = stamp_time(op["hlc"])
    elif values and op["kind"] == "conflict" and "resolved_by" in values:
        values = {**values, "resolved_by": user}
    if values is not None:
        authored["set"] = values
    return authored


def _touched(op: dict[str, Any]) -> set[str]:
    """The registers an op writes (a create: its authorship too, which the server set);
    none for an op too malformed to say (it was refused)."""
    try:
        touched = touched_registers(op)
    except (AttributeError, TypeError, ValueError):
        return set()
    return touched | set(AUTHORSHIP) if op.get("new") is True else touched


def _epoch_ms(stamp: Any) -> int:
    """A checked timestamp in ms since the epoch; the form devices write costs no parse."""
    if type(stamp) is str and len(stamp) == 24 and stamp[-1] == "Z":
        moment = datetime.fromisoformat(stamp[:-1]).replace(tzinfo=UTC)
    else:
        moment = parse_timestamp(stamp)
    return int(moment.timestamp() * 1000)


def _op_text(op: dict[str, Any]) -> str:
    """The refused op as kept for an administrator (one too deep to write: its id only)."""
    try:
        return _dumps(op)
    except (RecursionError, TypeError, ValueError):
        return _dumps({"id": op.get("id"), "kind": op.get("kind"), "unwritable": True})


@functools.cache
def _required(kind: str) -> tuple[str, ...]:
    return tuple(name for name, spec in KINDS[kind].model_fields.items() if spec.is_required())


@functools.cache
def _has_record_rules(kind: str) -> bool:
    """Whether the kind's model checks fields together (a ladder step needs a contact or a
    role): those rules run on the record as merged, as the device runs them."""
    return bool(KINDS[kind].__pydantic_decorators__.model_validators)


def _validate(record_id: str, state: RecordState) -> str | None:
    """Every value was checked as it came in (`op_reason`); the record as merged must still
    hold its required fields and keep its kind's rules.  Pydantic words the reason when not."""
    vals = state.vals
    complete = all(name in vals or name == "kind" for name in _required(state.kind))
    if complete and not _has_record_rules(state.kind):
        return None
    data = record_data(record_id, state.kind, vals)
    try:
        KINDS[state.kind].model_validate(data)
    except ValidationError as error:
        return f"record {record_id}: {describe_validation_error(error, state.kind)}"
    return None if complete else f"record {record_id}: {state.kind}: a required field is missing"


def _describe_offset(ms: int) -> str:
    seconds = ms / 1000
    if seconds >= 86400 * 0.99:
        text = f"{seconds / 86400:.1f} days"
    elif seconds >= 3600:
        text = f"{seconds / 3600:.1f} hours"
    else:
        text = f"{seconds / 60:.1f} minutes"
    return f"{text} (+{int(seconds)} s)"
