"""The server's SQLite backend (the default): one file, WAL, one connection, serialized.

A write transaction starts with `BEGIN IMMEDIATE`, so pushes run one at a time and the
workspace counters they advance are gapless and in commit order.  One connection shared by
uvicorn's worker threads behind a lock (the Datasette single-writer pattern) is plenty for
a team's server; PostgreSQL is there for more.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from fieldrm.errors import StoreError
from fieldrm.safe_copy import copy_sqlite
from fieldrm.sync.server.backend import Backend, Tx


def sqlite_path(url: str) -> str:
    """`sqlite:///abs/path`, `sqlite:///:memory:` or a plain path -> what sqlite3 opens."""
    for prefix in ("sqlite:///", "sqlite://"):
        if url.startswith(prefix):
            return url[len(prefix) :] or ":memory:"
    return url


class _SqliteTx(Tx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


class SqliteBackend(Backend):
    lock_clause = ""

    def __init__(self, url: str) -> None:
        path = sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (only a power cut may lose the last
        # commits), which is the failure a server process meets.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=10000")

    @contextmanager
    def transaction(self, write: bool) -> Iterator[Tx]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield _SqliteTx(self.conn)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def checkpoint(self) -> None:
        # TRUNCATE: every commit into the main file and the log emptied, so the .db file
        # alone (what an operator copies) holds everything.
        with self.lock:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def backup_database(url: str, target: Path, *, replace: bool = False) -> tuple[int, int]:
    """`fieldrm server backup`: a consistent copy of a server's SQLite database as one file,
    while the server runs or not; returns (records, bytes).  FileExistsError as
    `copy_sqlite`; StoreError for a missing file or one that is not a server database."""
    from urllib.request import pathname2url

    path = sqlite_path(url)
    if path == ":memory:" or not Path(path).is_file():
        raise StoreError(f"no server database at {path}")
    if target.exists() and target.samefile(path):
        # Over itself the copy would replace what the server is serving, dropping every
        # change it acknowledged since: a backup must be another file.
        raise StoreError(f"{target} is the server's database itself: back it up to another file")
    # Read-only: the backup must never create, migrate or lock the operator's database.
    uri = f"file:{pathname2url(str(Path(path).resolve()))}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as source:
        source.execute("PRAGMA busy_timeout=10000")
        try:
            source.execute("SELECT version FROM server_schema").fetchall()
        except sqlite3.DatabaseError:
            raise StoreError(f"{path} is not a fieldrm server database") from None
        size = copy_sqlite(source, target, replace=replace)
    with closing(sqlite3.connect(target)) as copy:
        records = copy.execute("SELECT count(*) FROM records").fetchone()[0]
    return records, size
