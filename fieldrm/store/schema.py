"""The device database's schema and its forward migrations.

Migrations are sqlite-utils `Migrations`; after they run, `PRAGMA user_version` holds how
many this code knows, so a file from a newer fieldrm (a larger user_version) is refused
before anything touches it.  Add a migration by appending a function: never edit one that
has shipped.

Tables:
- `records`: one row per record; `data` is the record as JSON (§2 fields plus any fields
  from a newer version), `meta` the sync versions this device has seen (see changelog).
- `outbox`: the change log, one row per local change, numbered per device (`seq`), each
  with a random `nonce` (its identity for the server: a restored copy reuses numbers).
- `state`: the device's own settings: device id, clock, user, server, pull cursor.
- `search`: FTS5 over each record's text; its rowid is the record's search key (from its
  creation time, `text.search_key`), so the index lists the newest first on every device.
- `search_keys`: each record's search key (`record` = records.rowid).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database, Migrations

# The steps in order.  The sqlite-utils `Migrations` that applies them is built on first
# use (`migrations` below): importing sqlite-utils costs ~0.1 s, which every
# `fieldrm capture` would pay although an up-to-date database never needs it.
STEPS: list[Callable[[Database], None]] = []


def _step(fn: Callable[[Database], None]) -> Callable[[Database], None]:
    STEPS.append(fn)
    return fn


@_step
def m001_records_and_change_log(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE records (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX records_by_kind ON records(kind, deleted, updated_at);
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            record_id TEXT NOT NULL,
            op TEXT NOT NULL
        );
        CREATE INDEX outbox_by_record ON outbox(record_id);
        CREATE TABLE state (
            key TEXT PRIMARY KEY,
            value TEXT
        );
        """
    )


@_step
def m002_search(db: Database) -> None:
    db.executescript(
        """
        CREATE VIRTUAL TABLE search USING fts5(
            body, tokenize = 'unicode61 remove_diacritics 2'
        );
        CREATE INDEX records_by_name ON records(kind, lower(json_extract(data, '$.name')));
        """
    )
    # Records written before search existed become searchable now.
    from fieldrm.store.text import search_body

    rows = db.execute("SELECT rowid, data FROM records").fetchall()
    db.conn.executemany(
        "INSERT INTO search(rowid, body) VALUES (?, ?)",
        [(rowid, search_body(data)) for rowid, data in rows],
    )


@_step
def m003_reference_indexes(db: Database) -> None:
    # A contact's timeline and a visit's running log look records up by these references;
    # without an index each lookup scans every record (~0.1 s at 100,000 observations).
    db.executescript(
        """
        CREATE INDEX records_by_visit ON records(json_extract(data, '$.visit_id'))
            WHERE json_extract(data, '$.visit_id') IS NOT NULL;
        CREATE INDEX records_by_contact ON records(json_extract(data, '$.contact_id'))
            WHERE json_extract(data, '$.contact_id') IS NOT NULL;
        CREATE INDEX records_by_owner ON records(json_extract(data, '$.owner_id'))
            WHERE json_extract(data, '$.owner_id') IS NOT NULL;
        CREATE INDEX records_by_escalation ON records(json_extract(data, '$.escalated_to'))
            WHERE json_extract(data, '$.escalated_to') IS NOT NULL;
        """
    )


@_step
def m004_kpi_values(db: Database) -> None:
    # §11: a KPI's values are read by KPI (status, trend, agenda); 50 programs x 10 KPIs
    # x 24 months would otherwise be scanned whole for each program's KPIs.
    db.executescript(
        """
        CREATE INDEX records_by_kpi ON records(json_extract(data, '$.kpi_id'))
            WHERE json_extract(data, '$.kpi_id') IS NOT NULL;
        """
    )


@_step
def m005_outbox_nonces(db: Database) -> None:
    # SPEC §5.12: each queued change carries a random nonce, so that the server can tell a
    # retry of a change it acknowledged from a restored or cloned copy's different change
    # under the same number.
    db.executescript(
        """
        ALTER TABLE outbox ADD COLUMN nonce TEXT;
        UPDATE outbox SET nonce = lower(hex(randomblob(4))) WHERE nonce IS NULL;
        """
    )


@_step
def m006_search_by_creation(db: Database) -> None:
    # SPEC §10: search ranks the newest matches by creation time.  Rows keyed by
    # records.rowid followed arrival order, which on a device filled by a snapshot is the
    # server's order; the index is rebuilt keyed by creation time.  Its prefix indexes of
    # one and two letters make the first keys of a search as you type fast (at 100,000
    # records "c" took 30 ms, "co" 8; both ~3 now) for ~130 bytes a record.
    db.executescript(
        """
        CREATE TABLE search_keys (
            record INTEGER PRIMARY KEY,
            key INTEGER NOT NULL UNIQUE
        );
        DROP TABLE search;
        CREATE VIRTUAL TABLE search USING fts5(
            body, tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2'
        );
        """
    )
    from fieldrm.store.text import index_new

    rows = db.execute("SELECT rowid, data FROM records").fetchall()
    index_new(db.conn, [(rowid, json.loads(data)) for rowid, data in rows])


SCHEMA_VERSION = len(STEPS)


def __getattr__(name: str) -> Any:
    """`schema.migrations`: the sqlite-utils Migrations of STEPS, made when first asked for."""
    if name != "migrations":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from sqlite_utils import Migrations

    built: Migrations = Migrations("fieldrm")
    for step in STEPS:
        built()(step)
    globals()["migrations"] = built
    return built
