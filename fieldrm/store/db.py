"""The device store: one SQLite file, one connection owner, serialized writes.

Every local write commits the record, its search text and its change-log op in one
transaction (`_commit`); nothing touches the network.  Records, their sync metadata and
their search rows are written in one place, `write_records`, which the device's apply of
pulled changes (sync/replica.py) uses too; sync reads the outbox and the records' sync
metadata through the methods under "sync's view", never through the connection.  The
connection is made with `check_same_thread=False` and guarded by one lock (the Datasette
single-writer pattern), so the terminal app can call the store from thread workers.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fieldrm import jsonio
from fieldrm.clock import HybridClock
from fieldrm.errors import Ambiguous, FieldrmError, InvalidInput, NotFound, StoreError
from fieldrm.errors import describe_validation_error as _describe
from fieldrm.models import KINDS, USER_KINDS, Record, chunks, kind_info, now_utc, set_delta
from fieldrm.store.changelog import build_op
from fieldrm.store.schema import SCHEMA_VERSION
from fieldrm.store.text import fts_query, index_new, reindex
from fieldrm.validation import bounds_reason, values_reason

_SQLITE_HEADER = b"SQLite format 3\x00"
DISK_FULL = "the disk is full: nothing was saved; free some space (your records can still be read)"
_SQLITE_FULL = 13
SEARCH_WINDOW = 1000  # newest matches ranked by Store.search
IMPORT_PROGRESS_EVERY = 500  # records between two calls of import_records' progress

# Compact JSON (orjson, with the standard library for what it cannot write): records and
# their metadata are written as `json.dumps(..., separators=(",", ":"), ensure_ascii=False)`
# would, several times faster on a first sync's thousands of rows.
_dumps = jsonio.dumps


def _like_text(text: str) -> str:
    """`text` lowered, with LIKE's wildcards escaped (the escape character is a backslash)."""
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _disk_is_full(error: sqlite3.Error, directory: Path | None) -> bool:
    """Whether `error` came from a disk with no room left.

    SQLite says "database or disk is full" for a short write, but only "disk I/O error" when
    it cannot grow its shared-memory file or a write fails outright; then a small write
    beside the database tells (ENOSPC, a quota, or a file-size limit)."""
    if getattr(error, "sqlite_errorcode", None) == _SQLITE_FULL or "disk is full" in str(error):
        return True
    if directory is None or "I/O error" not in str(error):
        return False
    import errno
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=directory) as probe:
            probe.write(b"\0" * 65536)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as failure:
        return failure.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    return False


def _read_only_connection(path: Path) -> sqlite3.Connection:
    """A connection that writes nothing at all, not even SQLite's shared-memory file.

    `immutable` reads the database file alone, so it is used only when no write-ahead log
    holds changes not yet in it (fieldrm's log is emptied when its last connection closes)."""
    from urllib.request import pathname2url

    wal = path.with_name(path.name + "-wal")
    has_log = wal.exists() and wal.stat().st_size > 0
    mode = "mode=ro" if has_log else "immutable=1"
    uri = f"file:{pathname2url(str(path.resolve()))}?{mode}"
    return sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)


def _user_default() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "me"


class Store:
    """A device's records.  Use `Store.open(path)`; close with `close()` or `with`."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None) -> None:
        self.path = path
        self.conn = conn
        self.lock = threading.RLock()
        self._clock: HybridClock | None = None
        self._db: Any = None
        self.read_only: str | None = None  # why this store cannot write (a full disk)

    @property
    def db(self) -> Any:
        """The connection as a sqlite-utils Database, made on first use (slow to import)."""
        if self._db is None:
            from sqlite_utils import Database

            self._db = Database(self.conn)
        return self._db

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path | None = None) -> Store:
        """Open (creating or migrating) the device database; refuses foreign or newer files."""
        if path is None:
            from fieldrm.paths import database_path

            path = database_path()
        path = Path(path)
        if path.exists() and path.stat().st_size > 0:
            with path.open("rb") as handle:
                if handle.read(16) != _SQLITE_HEADER:
                    raise StoreError(f"{path.name} is not a fieldrm database (not SQLite)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"cannot open {path}: {error}") from None
        store = cls(conn, path)
        try:
            store._prepare()
        except sqlite3.DatabaseError as error:
            conn.close()
            if _disk_is_full(error, path.parent):
                return cls._open_on_a_full_disk(path)
            raise StoreError(f"{path.name} is not a usable fieldrm database ({error})") from None
        except BaseException:
            conn.close()
            raise
        return store

    @classmethod
    def _open_on_a_full_disk(cls, path: Path) -> Store:
        """The store for reading only: every write says the disk is full (SPEC §8)."""
        try:
            conn = _read_only_connection(path)
            store = cls(conn, path)
            store.read_only = DISK_FULL
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error:
            raise StoreError(DISK_FULL) from None
        if version != SCHEMA_VERSION or store.get_state("device_id") is None:
            conn.close()  # it would need a migration, which is a write
            raise StoreError(DISK_FULL)
        return store

    @classmethod
    def memory(cls) -> Store:
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        store = cls(conn, None)
        store._prepare()
        return store

    def _prepare(self) -> None:
        conn = self.conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"this database was written by a newer fieldrm (schema {version}; "
                f"this version knows up to {SCHEMA_VERSION}): upgrade fieldrm"
            )
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if version == 0 and tables and "records" not in tables:
            raise StoreError("this file is an SQLite database, but not a fieldrm one")
        if self.path is not None:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        if version < SCHEMA_VERSION:
            from fieldrm.store.schema import migrations

            migrations.apply(self.db)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        with self.transaction():
            if self.get_state("device_id") is None:
                self.set_state("device_id", uuid.uuid4().hex)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ transactions and state

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One serialized transaction; nested calls become savepoints."""
        with self.lock:
            if self.read_only is not None:
                raise StoreError(self.read_only)
            try:
                with self._atomic():
                    yield self.conn
            except sqlite3.OperationalError as error:
                if _disk_is_full(error, None if self.path is None else self.path.parent):
                    raise StoreError(DISK_FULL) from None
                if "full" in str(error) or "readonly" in str(error) or "locked" in str(error):
                    raise StoreError(f"could not save: {error}") from None
                raise

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """sqlite-utils' `Database.atomic`, without importing sqlite-utils on every start."""
        conn = self.conn
        if conn.in_transaction:
            savepoint = f"fieldrm_{uuid.uuid4().hex}"
            conn.execute(f"SAVEPOINT {savepoint}")
            try:
                yield
            except BaseException:
                if conn.in_transaction:  # an error may have ended the whole transaction
                    conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                    conn.execute(f"RELEASE SAVEPOINT {savepoint}")
                raise
            conn.execute(f"RELEASE SAVEPOINT {savepoint}")
            return
        conn.execute("BEGIN")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def get_state(self, key: str, default: str | None = None) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM state WHERE key = ?", [key]).fetchone()
        return default if row is None or row[0] is None else row[0]

    def set_state(self, key: str, value: str | None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO state(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, value],
            )

    @property
    def device_id(self) -> str:
        return self.get_state("device_id") or ""

    @property
    def user(self) -> str:
        return self.get_state("user") or _user_default()

    def clock(self) -> HybridClock:
        if self._clock is None:
            self._clock = HybridClock(self.get_state("hlc"))
        return self._clock

    def set_clock(self, stamp: str) -> None:
        """Reset the saved clock to `stamp` (one that was ahead is right again)."""
        with self.transaction():
            self.set_state("hlc", stamp)
            self._clock = HybridClock(stamp)

    def _stamp(self) -> str:
        stamp = self.clock().tick()
        self.conn.execute(
            "INSERT INTO state(key, value) VALUES ('hlc', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [stamp],
        )
        return stamp

    # ------------------------------------------------------------ reading

    def get(self, record_id: str, *, include_deleted: bool = True) -> Record:
        row = self._row(record_id)
        if row is None or (row["deleted"] and not include_deleted):
            raise NotFound(f"no record with id {record_id}")
        return self._model(row["data"])

    def get_raw(self, record_id: str) -> dict[str, Any] | None:
        row = self._row(record_id)
        return None if row is None else json.loads(row["data"])

    def _row(self, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            cursor = self.conn.execute(
                "SELECT rowid, data, meta, deleted FROM records WHERE id = ?", [record_id]
            )
            row = cursor.fetchone()
        if row is None:
            return None
        return {"rowid": row[0], "data": row[1], "meta": row[2], "deleted": row[3]}

    @staticmethod
    def _model(data: str | dict[str, Any]) -> Record:
        record = json.loads(data) if isinstance(data, str) else data
        model = KINDS.get(record.get("kind"))
        record, _hidden = _bounded(record)
        if model is None:
            return Record.model_validate(record)
        # Stored data was valid when written; construct leniently so that a record
        # written by a newer version (a new enum value, say) still shows.
        try:
            return model.model_validate(record)
        except ValidationError:
            return Record.model_construct(**record)

    def list(
        self,
        kind: str,
        *,
        where: dict[str, Any] | None = None,
        include_deleted: bool = False,
        limit: int | None = None,
        offset: int = 0,
        order: str = "updated_at DESC",
    ) -> list[Record]:
        sql, params = self._list_sql(kind, where, include_deleted)
        sql = f"SELECT data FROM records WHERE {sql} ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        with self.lock:
            rows = self.conn.execute(sql, params).fetchall()
        return [self._model(row[0]) for row in rows]

    def count(
        self, kind: str, *, where: dict[str, Any] | None = None, include_deleted: bool = False
    ) -> int:
        sql, params = self._list_sql(kind, where, include_deleted)
        with self.lock:
            return self.conn.execute(
                f"SELECT count(*) FROM records WHERE {sql}", params
            ).fetchone()[0]

    def _list_sql(
        self, kind: str, where: dict[str, Any] | None, include_deleted: bool
    ) -> tuple[str, list[Any]]:
        if kind not in KINDS:
            raise InvalidInput(f"unknown kind {kind!r} (one of {', '.join(USER_KINDS)})")
        clauses = ["kind = ?"]
        params: list[Any] = [kind]
        if not include_deleted:
            clauses.append("deleted = 0")
        info = kind_info(kind)
        for name, value in (where or {}).items():
            field = info.fields.get(name)
            if field is None and name not in ("id", "created_by", "created_at", "updated_at"):
                raise InvalidInput(f"{kind} has no field {name!r}")
            reason = bounds_reason(value)
            if reason is not None:
                raise InvalidInput(f"{kind}.{name}: {reason}")
            path = "$." + name
            if field is not None and field.is_set:
                clauses.append("EXISTS (SELECT 1 FROM json_each(records.data, ?) WHERE value = ?)")
                params += [path, value]
            elif value is None:
                clauses.append("json_extract(data, ?) IS NULL")
                params.append(path)
            else:
                clauses.append("json_extract(data, ?) = ?")
                params += [path, value]
        return " AND ".join(clauses), params

    def search(self, text: str, *, limit: int = 50, kinds: list[str] | None = None) -> list[Record]:
        """Records matching every word (the last as a prefix), best match first, then newest.

        Ranking is over the newest SEARCH_WINDOW matches by creation time (the index is
        keyed by it, `text.search_key`): ranking every match of a common word in 100,000
        records costs ~20 ms, ranking the newest thousand ~5 (SPEC §10).
        """
        query = fts_query(text)
        if query is None:
            return []
        sql = (
            "SELECT search.rowid AS k, search.rank AS score, records.rowid AS hit FROM search "
            "JOIN search_keys ON search_keys.key = search.rowid "
            "JOIN records ON records.rowid = search_keys.record "
            "WHERE search MATCH ? AND records.deleted = 0"
        )
        params: list[Any] = [query]
        if kinds:
            sql += f" AND records.kind IN ({','.join('?' * len(kinds))})"
            params += kinds
        sql = (
            f"SELECT records.data FROM ({sql} ORDER BY search.rowid DESC LIMIT ?) "
            "JOIN records ON records.rowid = hit ORDER BY score, k DESC LIMIT ?"
        )
        params += [SEARCH_WINDOW, limit]
        with self.lock:
            rows = self.conn.execute(sql, params).fetchall()
        return [self._model(row[0]) for row in rows]

    def resolve(self, text: str, kinds: list[str] | tuple[str, ...] | None = None) -> Record:
        """A record named by its id, a unique id prefix, or its exact name (case-insensitive)."""
        text = text.strip()
        if not text:
            raise InvalidInput("a record name or id is required")
        kinds = list(kinds or KINDS)
        marks = ",".join("?" * len(kinds))
        with self.lock:
            rows = self.conn.execute(
                f"SELECT data FROM records WHERE id = ? AND kind IN ({marks})", [text, *kinds]
            ).fetchall()
            if not rows and all(c in "0123456789abcdef-" for c in text.lower()):
                # An id prefix, however short: several matches say "ambiguous", not "none".
                rows = self.conn.execute(
                    f"SELECT data FROM records WHERE id >= ? AND id < ? AND kind IN ({marks}) "
                    "LIMIT 5",
                    [text.lower(), text.lower() + "\uffff", *kinds],
                ).fetchall()
            if not rows:
                rows = self.conn.execute(
                    f"SELECT data FROM records WHERE kind IN ({marks}) AND deleted = 0 "
                    "AND lower(json_extract(data, '$.name')) = lower(?) LIMIT 5",
                    [*kinds, text],
                ).fetchall()
            if not rows:
                # A name's start or one of its words ("Priya", as `@Priya` in capture).
                rows = self.conn.execute(
                    f"SELECT data FROM records WHERE kind IN ({marks}) AND deleted = 0 "
                    "AND (lower(json_extract(data, '$.name')) LIKE ? || '%' ESCAPE '\\' "
                    "OR lower(json_extract(data, '$.name')) LIKE '% ' || ? || '%' ESCAPE '\\') "
                    "LIMIT 5",
                    [*kinds, _like_text(text), _like_text(text)],
                ).fetchall()
        what = " or ".join(kinds) if len(kinds) <= 3 else "record"
        if not rows:
            raise NotFound(f"no {what} named or with id {text!r}{self._did_you_mean(text, kinds)}")
        if len(rows) > 1:
            labels = ", ".join(self._model(row[0]).label for row in rows[:4])
            raise Ambiguous(f"{text!r} matches more than one {what}: {labels}")
        return self._model(rows[0][0])

    def _did_you_mean(self, text: str, kinds: list[str]) -> str:
        """`: did you mean 'Priya Nair'?` for a name close to one typed, else ""."""
        import difflib

        marks = ",".join("?" * len(kinds))
        with self.lock:
            names = [
                row[0]
                for row in self.conn.execute(
                    f"SELECT json_extract(data, '$.name') FROM records WHERE kind IN ({marks}) "
                    "AND deleted = 0 AND json_extract(data, '$.name') IS NOT NULL LIMIT 20000",
                    kinds,
                )
            ]
        by_lower = {name.lower(): name for name in names}
        close = difflib.get_close_matches(text.lower(), list(by_lower), n=1, cutoff=0.75)
        return f": did you mean {by_lower[close[0]]!r}?" if close else ""

    def contacts_matching(self, prefix: str, limit: int = 10) -> list[Record]:
        """Contacts whose name, or a word of it, starts with `prefix` (for `@name`)."""
        if not prefix:
            return []
        pattern = prefix.lower().replace("%", "").replace("_", "")
        # The names are matched in the records_by_name index, which holds each contact's
        # lower-cased name: only matching rows are read (5,000 contacts: ~4 ms, not ~14).
        with self.lock:
            rows = self.conn.execute(
                "SELECT data FROM records WHERE rowid IN ("
                "SELECT rowid FROM records WHERE kind = 'contact' AND ("
                "lower(json_extract(data, '$.name')) LIKE ? || '%' OR "
                "lower(json_extract(data, '$.name')) LIKE '% ' || ? || '%')) AND deleted = 0 "
                "ORDER BY json_extract(data, '$.name'), id LIMIT ?",
                [pattern, pattern, limit],
            ).fetchall()
        return [self._model(row[0]) for row in rows]

    def open_visit(self) -> Record | None:
        """MY open visit (SPEC §7): one started by this device's user.  A colleague's open
        visit, received by sync, is never mine: my captures never land in it and it never
        stops me starting one.  A visit started before `fieldrm login` carries the
        system's login name, which stays mine after logging in."""
        mine = sorted({self.user, _user_default()})
        with self.lock:
            row = self.conn.execute(
                "SELECT data FROM records WHERE kind = 'visit' AND deleted = 0 "
                "AND json_extract(data, '$.ended_at') IS NULL "
                "AND coalesce(json_extract(data, '$.planned'), 0) = 0 "  # §11: planned ≠ open
                "AND json_extract(data, '$.created_by') IN (?, ?) "
                "ORDER BY json_extract(data, '$.started_at') DESC LIMIT 1",
                [mine[0], mine[-1]],
            ).fetchone()
        return None if row is None else self._model(row[0])

    def pending_count(self) -> int:
        with self.lock:
            return self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]

    # ------------------------------------------------------------ writing

    def create(self, kind: str, values: dict[str, Any]) -> Record:
        """Validate and save a new record with its change-log op, in one transaction."""
        if kind not in USER_KINDS:
            raise InvalidInput(f"unknown kind {kind!r} (one of {', '.join(USER_KINDS)})")
        with self.transaction():
            record = self._create(kind, values)
        return record

    def _create(self, kind: str, values: dict[str, Any]) -> Record:
        now = now_utc()
        data = {"created_at": now, "updated_at": now, "created_by": self.user, **values}
        data["kind"] = kind
        data.pop("deleted", None)
        _check_values(kind, values)
        record = self._validate(data)
        if self._row(record.id) is not None:
            raise InvalidInput(f"a record with id {record.id} already exists")
        self._commit(None, record.to_json(), {})
        return record

    def update(
        self,
        record_id: str,
        *,
        set: dict[str, Any] | None = None,  # noqa: A002 - mirrors the CLI's --set
        add: dict[str, list[Any]] | None = None,
        remove: dict[str, list[Any]] | None = None,
        deleted: bool | None = None,
    ) -> Record:
        """Change fields, add or remove set elements, delete or restore; one transaction."""
        with self.transaction():
            return self._update(record_id, set or {}, add or {}, remove or {}, deleted)

    def _update(
        self,
        record_id: str,
        values: dict[str, Any],
        add: dict[str, list[Any]],
        remove: dict[str, list[Any]],
        deleted: bool | None,
    ) -> Record:
        row = self._row(record_id)
        if row is None:
            raise NotFound(f"no record with id {record_id}")
        before = json.loads(row["data"])
        shown, hidden = _bounded(before)
        kind = before["kind"]
        if kind not in KINDS:
            raise InvalidInput(f"records of kind {kind!r} cannot be edited by this version")
        info = kind_info(kind)
        after = dict(shown)
        for name, value in values.items():
            if name in ("id", "kind", "created_at", "created_by", "deleted", "updated_at"):
                raise InvalidInput(f"{name} cannot be changed")
            if name not in info.fields:
                raise InvalidInput(f"{kind} has no field {name!r}")
            after[name] = value
        for name in [*add, *remove]:
            if name not in info.fields or not info.fields[name].is_set:
                raise InvalidInput(f"{kind}.{name} is not a set field (add/remove need one)")
        _check_values(kind, values)
        _check_values(kind, {name: [str(i) for i in items] for name, items in add.items()})
        for name, items in add.items():
            after[name] = sorted(set(after.get(name) or []) | {str(i) for i in items})
        for name, items in remove.items():
            after[name] = sorted(set(after.get(name) or []) - {str(i) for i in items})
        if deleted is not None:
            after["deleted"] = deleted
        after["updated_at"] = now_utc()
        record = self._validate(after)
        # An unknown field too deep to show is written back as it was stored (round trip).
        written = {**record.to_json(), **hidden}
        self._commit(before, written, json.loads(row["meta"]), rowid=row["rowid"])
        return record

    def delete(self, record_id: str) -> Record:
        return self.update(record_id, deleted=True)

    def _validate(self, data: dict[str, Any]) -> Record:
        try:
            return KINDS[data["kind"]].model_validate(data)
        except ValidationError as error:
            raise InvalidInput(_describe(error, data["kind"])) from None

    def _commit(
        self,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        meta: dict[str, Any],
        *,
        rowid: int | None = None,
    ) -> None:
        """Write the record, its search text and its change-log op (caller holds a txn)."""
        op = build_op(before, after, meta, hlc=self._stamp(), user=self.user)
        if op is None:
            return
        if rowid is None:
            self.write_records(new=[(after, {})])
        else:
            self.write_records(changed=[(rowid, after, None)])
        self._append_op(op)

    def _append_op(self, op: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO outbox(record_id, op, nonce) VALUES (?, ?, lower(hex(randomblob(4))))",
            [op["id"], _dumps(op)],
        )

    def write_records(
        self,
        new: Sequence[tuple[dict[str, Any], dict[str, Any]]] = (),
        changed: Sequence[tuple[int, dict[str, Any], dict[str, Any] | None]] = (),
        versions: Sequence[tuple[int, dict[str, Any]]] = (),
    ) -> None:
        """Write records with their sync metadata and search rows (caller's transaction).

        The store's one writer of records, for a local write and for applying pulled
        changes alike.  `new`: (data, meta) of records to insert; `changed`: (rowid, data,
        meta) of records whose data changed (meta None keeps the stored one); `versions`:
        (rowid, meta) of records whose sync metadata alone changed.
        """
        conn = self.conn
        if new:
            # Rowids are given, not looked up afterwards by id: the search keys take them
            # directly (inside this transaction nobody else inserts; max + 1 is what SQLite
            # would pick).  A first sync of 10,000 records saves ~0.2 s.
            top = conn.execute("SELECT coalesce(max(rowid), 0) FROM records").fetchone()[0]
            rows = []
            for rowid, (data, meta) in enumerate(new, top + 1):
                deleted = int(bool(data.get("deleted")))
                updated_at = data.get("updated_at") or ""
                rows.append(
                    (
                        rowid,
                        data["id"],
                        data["kind"],
                        _dumps(data),
                        _dumps(meta),
                        updated_at,
                        deleted,
                    )
                )
            conn.executemany(
                "INSERT INTO records(rowid, id, kind, data, meta, updated_at, deleted) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            index_new(conn, [(row[0], data) for row, (data, _meta) in zip(rows, new, strict=True)])
        if changed:
            with_meta: list[tuple[Any, ...]] = []
            data_only: list[tuple[Any, ...]] = []
            for rowid, data, meta in changed:
                text = _dumps(data)
                updated_at = data.get("updated_at") or ""
                deleted = int(bool(data.get("deleted")))
                if meta is None:
                    data_only.append((text, updated_at, deleted, rowid))
                else:
                    with_meta.append((text, _dumps(meta), updated_at, deleted, rowid))
            if data_only:
                conn.executemany(
                    "UPDATE records SET data = ?, updated_at = ?, deleted = ? WHERE rowid = ?",
                    data_only,
                )
            if with_meta:
                conn.executemany(
                    "UPDATE records SET data = ?, meta = ?, updated_at = ?, deleted = ? "
                    "WHERE rowid = ?",
                    with_meta,
                )
            reindex(conn, [(rowid, data) for rowid, data, _meta in changed])
        if versions:
            conn.executemany(
                "UPDATE records SET meta = ? WHERE rowid = ?",
                [(_dumps(meta), rowid) for rowid, meta in versions],
            )

    # ------------------------------------------------------------ sync's view (sync/replica.py)

    def outbox(self, after: int, limit: int) -> list[tuple[int, str, str, str]]:
        """Pending ops after seq `after`, oldest first: (seq, record id, op JSON as stored,
        nonce)."""
        with self.lock:
            return self.conn.execute(
                "SELECT seq, record_id, op, nonce FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                [after, limit],
            ).fetchall()

    def drop_ops(self, seqs: Sequence[int]) -> None:
        """Forget ops the server acknowledged (in the caller's transaction, with the ack)."""
        with self.lock:
            self.conn.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq in seqs])

    def drop_op_range(self, first: int, last: int) -> None:
        """Forget every op numbered `first` to `last` (a batch acknowledged whole)."""
        with self.lock:
            self.conn.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", [first, last])

    def top_seq(self) -> int:
        """The highest number this device has ever given a change (sent or not)."""
        with self.lock:
            row = self.conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
            ).fetchone()
        return int(row[0]) if row else 0

    def requeue(self, front: Sequence[tuple[str, str]], rewrite: dict[int, str]) -> None:
        """Renumber the queue (caller's transaction): `front` (record id, op JSON) first,
        then every pending op in its order, with the op texts in `rewrite` (by old seq)
        replacing theirs.  Each keeps its nonce; new ops get new ones."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT seq, record_id, op, nonce FROM outbox ORDER BY seq"
            ).fetchall()
            self.conn.execute("DELETE FROM outbox")
            self.conn.executemany(
                "INSERT INTO outbox(record_id, op, nonce) VALUES (?, ?, lower(hex(randomblob(4))))",
                list(front),
            )
            self.conn.executemany(
                "INSERT INTO outbox(record_id, op, nonce) VALUES (?, ?, ?)",
                [(rid, rewrite.get(seq, op), nonce) for seq, rid, op, nonce in rows],
            )

    def rewrite_ops(self, ops: Sequence[tuple[int, str]]) -> None:
        """Replace the text of pending ops, by seq (caller's transaction)."""
        with self.lock:
            self.conn.executemany(
                "UPDATE outbox SET op = ? WHERE seq = ?", [(t, s) for s, t in ops]
            )

    def all_sync_rows(self) -> list[tuple[int, str, str, str]]:
        """(rowid, id, data JSON, meta JSON) of every record on this device."""
        with self.lock:
            return self.conn.execute("SELECT rowid, id, data, meta FROM records").fetchall()

    def pending_ops(self, record_ids: list[str]) -> list[tuple[str, str]]:
        """(record id, op JSON) of every op still waiting to be pushed on these records."""
        return self._select_in("SELECT record_id, op FROM outbox WHERE record_id IN", record_ids)

    def sync_rows(self, record_ids: list[str]) -> list[tuple[int, str, str, str]]:
        """(rowid, id, data JSON, meta JSON) of those of `record_ids` this device has."""
        return self._select_in("SELECT rowid, id, data, meta FROM records WHERE id IN", record_ids)

    def sync_metas(self, record_ids: list[str]) -> list[tuple[int, str, str]]:
        """(rowid, id, meta JSON) of those of `record_ids` this device has."""
        return self._select_in("SELECT rowid, id, meta FROM records WHERE id IN", record_ids)

    def _select_in(self, sql: str, values: list[str]) -> list[Any]:
        """The rows of `sql … IN (values)`, asked in chunks (SQLite bounds the parameters)."""
        found: list[Any] = []
        with self.lock:
            for chunk in chunks(values):
                marks = ",".join("?" * len(chunk))
                found += self.conn.execute(f"{sql} ({marks})", chunk).fetchall()
        return found

    # ------------------------------------------------------------ bulk

    def import_records(
        self,
        records: list[dict[str, Any]],
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[int, int]:
        """Create or update each record through the normal write path; all or nothing.

        Returns (created, updated).  Raises FieldrmError naming the first bad record.
        `progress(done, total)` is called every IMPORT_PROGRESS_EVERY records and at the end.
        """
        created = updated = 0
        with self.transaction():
            for number, data in enumerate(records, start=1):
                try:
                    if not isinstance(data, dict) or data.get("kind") not in USER_KINDS:
                        kind = data.get("kind") if isinstance(data, dict) else None
                        raise InvalidInput(f"unknown kind {kind!r}")
                    existing = self.get_raw(str(data.get("id", "")))
                    if existing is None:
                        record = self._create(data["kind"], data)
                        if data.get("deleted"):
                            # A backup's tombstones stay tombstones (create drops `deleted`).
                            self._update(record.id, {}, {}, {}, True)
                        created += 1
                    else:
                        self._import_update(existing, data)
                        updated += 1
                except FieldrmError as error:
                    raise type(error)(f"record {number}: {error}") from None
                if progress is not None and (
                    number % IMPORT_PROGRESS_EVERY == 0 or number == len(records)
                ):
                    progress(number, len(records))
        return created, updated

    def _import_update(self, existing: dict[str, Any], data: dict[str, Any]) -> None:
        if existing["kind"] != data["kind"]:
            raise InvalidInput(f"id {existing['id']} is a {existing['kind']}, not a {data['kind']}")
        info = kind_info(existing["kind"])
        values: dict[str, Any] = {}
        add: dict[str, list[Any]] = {}
        remove: dict[str, list[Any]] = {}
        for name, value in data.items():
            if name in ("id", "kind", "created_at", "created_by", "updated_at", "deleted"):
                continue
            field = info.fields.get(name)
            if field is not None and field.is_set:
                gained, lost = set_delta(existing.get(name), value)
                if gained:
                    add[name] = gained
                if lost:
                    remove[name] = lost
            elif field is not None and existing.get(name) != value:
                values[name] = value
        deleted = data.get("deleted")
        deleted = None if deleted is None or bool(deleted) == existing["deleted"] else bool(deleted)
        if values or add or remove or deleted is not None:
            self._update(existing["id"], values, add, remove, deleted)

    def export_all(self) -> Iterator[dict[str, Any]]:
        """Every record (deleted ones too) as its JSON dict, oldest first."""
        with self.lock:
            rows = self.conn.execute("SELECT data FROM records ORDER BY rowid").fetchall()
        for row in rows:
            yield json.loads(row[0])

    # ------------------------------------------------------------ identity and a fresh start

    def renew_device_id(self) -> str:
        """Give this database a new random device id and return it."""
        device_id = uuid.uuid4().hex
        self.set_state("device_id", device_id)
        return device_id

    def record_count(self) -> int:
        """Every record this device holds, deleted ones and conflicts too."""
        with self.lock:
            return self.conn.execute("SELECT count(*) FROM records").fetchone()[0]

    def backup_to(self, target: Path) -> int:
        """A consistent copy of this database as the one new file `target`; its size."""
        from fieldrm.safe_copy import copy_sqlite

        with self.lock:
            return copy_sqlite(self.conn, target)

    def start_empty(self) -> str:
        """Forget every record, queued change and setting, as a new database would hold
        none, under a new device id (returned).  Back the database up first."""
        with self.transaction() as conn:
            for table in ("records", "outbox", "search", "search_keys", "state"):
                conn.execute(f"DELETE FROM {table}")
            self._clock = None
            return self.renew_device_id()


def _check_values(kind: str, values: dict[str, Any]) -> None:
    """The check the server runs on every value (SPEC §5.14), before anything is written:
    a value the server would refuse is never queued."""
    reason = values_reason(kind, {name: v for name, v in values.items() if name != "kind"})
    if reason is not None:
        raise InvalidInput(f"{kind}: {reason}")


_BASE_FIELDS = frozenset(Record.model_fields)
_KNOWN = {kind: frozenset(model.model_fields) for kind, model in KINDS.items()}


def _bounded(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A stored record as it can be shown, and the stored values it had to hide.

    A field this version does not know whose value breaks the limits every value keeps
    (nested too deep, say: stored before validation existed, or written into the file by
    hand) shows as a short note naming why; the stored value stays in the file and an
    edit writes it back as it was.
    """
    unknown = record.keys() - _KNOWN.get(record.get("kind"), _BASE_FIELDS)
    reasons = {name: bounds_reason(record[name]) for name in unknown}
    hidden = {name: record[name] for name, reason in reasons.items() if reason is not None}
    if not hidden:
        return record, {}
    shown = {**record, **{name: f"(not shown: {reasons[name]})" for name in hidden}}
    return shown, hidden
