"""The server's PostgreSQL backend (`fieldrm server run --db postgresql://…`), psycopg 3.

Several server processes can share one database: they keep nothing of their own, every
request borrows a connection from this process's pool and all state is in PostgreSQL.

**Why pull cursors never skip a change here.**  A PostgreSQL sequence hands out numbers
when rows are inserted, but rows become visible when their transaction commits, and
transactions commit in any order: a pull that read seq 12 while seq 11 was still in flight
would move its cursor past 11 for good.  So no sequence is used.  A push locks its
workspace's counter row (`SELECT … FOR UPDATE`, `lock_clause` below) before it numbers
anything and writes the new counter just before it commits; the next push of that
workspace waits on the row lock, which PostgreSQL releases only after the commit is
visible.  Numbers are therefore handed out in commit order and the committed changes are
always a gapless prefix `1..seq`: a pull (`seq > cursor AND seq <= counter`) sees every
one of them or stops short, never beyond a hole.  The alternative, a visibility horizon
from `pg_snapshot_xmin`, keeps pushes parallel but needs cursors that are (xid, seq) pairs,
pulls that stall behind any long transaction, and row locks for merges into the same record.
The lock serializes one workspace's pushes, as SQLite's single writer does for the whole
server, and with them the merges into its records, so the merge logic needs no row locks of
its own; other workspaces, pulls and snapshots never wait on it.  Its cost is that a push's
time in the database (merge, writes, and the commit's WAL flush) bounds one workspace's
write throughput, whatever the number of server processes: bench/bench_pg.py measures it.

Read transactions run in autocommit: each statement sees what was committed when it
started (READ COMMITTED), which is all a pull needs given the prefix above, and it saves
the BEGIN/COMMIT round trips on the hot path (every request authenticates).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from fieldrm.errors import StoreError
from fieldrm.safe_copy import write_new_file
from fieldrm.sync.server.backend import Backend, Tx


@functools.lru_cache(maxsize=256)
def to_pyformat(sql: str) -> str:
    """Storage's `?` placeholders as psycopg's `%s` (a literal % doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


# `INSERT … VALUES (?, …, ?) [ON CONFLICT …]`, the shape Storage's batch writes take.
_INSERT_VALUES = re.compile(
    r"^(?P<head>\s*INSERT\s.*?\bVALUES\s*)(?P<row>\(\s*\?(?:\s*,\s*\?)*\s*\))(?P<tail>.*)$",
    re.IGNORECASE | re.DOTALL,
)


def _array_type(column: list[Any]) -> str:
    """The PostgreSQL array type for one column's Python values (None fits any)."""
    for value in column:
        if isinstance(value, bool):
            return "boolean[]"
        if isinstance(value, int):
            return "bigint[]"
        if isinstance(value, float):
            return "double precision[]"
        if value is not None:
            return "text[]"
    return "text[]"


@functools.lru_cache(maxsize=64)
def _unnest_form(sql: str, types: tuple[str, ...]) -> str:
    shape = _INSERT_VALUES.match(sql)
    assert shape is not None
    head, tail = shape.group("head", "tail")
    arrays = ", ".join(f"%b::{name}" for name in types)
    insert = re.sub(r"\bVALUES\s*$", "", head.replace("%", "%%"), flags=re.IGNORECASE)
    return f"{insert}SELECT * FROM unnest({arrays}){to_pyformat(tail)}"


# Any fixed number: `pg_advisory_xact_lock` keys the schema step across server processes.
_SCHEMA_LOCK_KEY = 0x6669656C64726D  # "fieldrm"


class _PostgresTx(Tx):
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(to_pyformat(sql), params).fetchall()  # type: ignore[arg-type]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(to_pyformat(sql), params)  # type: ignore[arg-type]

    def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        shape = _INSERT_VALUES.match(sql)
        if shape is None or len(rows) < 2:
            with self.conn.cursor() as cursor:
                cursor.executemany(to_pyformat(sql), rows)  # type: ignore[arg-type]
            return
        # One INSERT … SELECT FROM unnest(column arrays): a single statement (prepared
        # once) instead of one per row, several times faster for a push's hundreds of rows.
        # It needs that no two rows share an ON CONFLICT key, which holds for every batch
        # Storage writes (records by id, changes by seq, rejected by device seq).
        columns = [list(column) for column in zip(*rows, strict=True)]
        types = tuple(_array_type(column) for column in columns)
        self.conn.execute(_unnest_form(sql, types), columns)  # type: ignore[arg-type]


class PostgresBackend(Backend):
    """A connection pool on one PostgreSQL database; see the module docstring for locking."""

    lock_clause = " FOR UPDATE"
    # `CREATE TABLE IF NOT EXISTS` is not safe against a concurrent twin on PostgreSQL (both
    # pass the check, one fails on the catalog's unique index): server processes starting
    # together on a new database migrate one after the other under this advisory lock.
    schema_lock = f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK_KEY})"

    def __init__(self, url: str, *, max_connections: int = 16, timeout: float = 30.0) -> None:
        self.url = url
        self._check_reachable()
        self.pool = ConnectionPool(
            url,
            # A few ready at once: growing the pool under a burst makes requests wait on
            # new PostgreSQL backends being forked.
            min_size=min(4, max_connections),
            max_size=max_connections,
            timeout=timeout,
            kwargs={"autocommit": True},
            open=False,
            name="fieldrm-server",
        )
        try:
            self.pool.open(wait=True, timeout=timeout)
        except PoolTimeout:
            self.pool.close()
            raise StoreError(f"cannot connect to {redacted_url(url)} (timed out)") from None

    def _check_reachable(self) -> None:
        """Fail at start with the driver's one-line reason (the pool would only time out)."""
        try:
            psycopg.connect(self.url, connect_timeout=10).close()
        except psycopg.Error as error:  # unreachable, refused, or a malformed URL
            reason = " ".join(str(error).split()) or "connection failed"
            where = redacted_url(self.url)
            raise StoreError(f"cannot use the database {where}: {reason}") from None

    @contextmanager
    def transaction(self, write: bool) -> Iterator[Tx]:
        try:
            with self.pool.connection() as conn:
                if write:
                    # Pipeline mode: statements whose results nobody reads (the batch's
                    # inserts and updates, then COMMIT) go out together instead of one round
                    # trip each, which shortens the time the workspace lock is held.
                    with conn.pipeline(), conn.transaction():
                        yield _PostgresTx(conn)
                else:
                    yield _PostgresTx(conn)
        except psycopg.OperationalError:
            # The database restarted or dropped us: every idle connection broke with this
            # one.  Sweep them now (checking each costs a round trip, so only on failure),
            # so the client's retry gets a fresh connection instead of the next broken one.
            self.pool.check()
            raise

    def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL's files are never copied by hand (pg_dump, README)."""

    def close(self) -> None:
        self.pool.close()


def redacted_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://…"
    where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"
    return f"postgresql://{info.get('user', '')}@{where}/{info.get('dbname', '')}"


PG_DUMP_ROUTE = "pg_dump --format=custom --file FILE URL"


def dump_database(url: str, target: Path, *, replace: bool = False) -> int:
    """`fieldrm server backup` on PostgreSQL: pg_dump's custom format (one consistent
    snapshot, restored with pg_restore), written safely; its size.  StoreError when pg_dump
    is not on PATH or fails; FileExistsError as `write_new_file`."""
    program = shutil.which("pg_dump")
    if program is None:
        raise StoreError(
            f"pg_dump is not on PATH: back PostgreSQL up with `{PG_DUMP_ROUTE}` (README: Operators)"
        )

    def dump(temporary: Path) -> None:
        done = subprocess.run(
            [program, "--format=custom", "--file", str(temporary), "--dbname", url],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            reason = " ".join(done.stderr.split()) or f"exit {done.returncode}"
            raise StoreError(f"pg_dump could not back up {redacted_url(url)}: {reason}")

    return write_new_file(target, dump, replace=replace)
