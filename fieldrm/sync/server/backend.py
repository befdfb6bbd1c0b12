"""The interface between the server's logic (`storage.Storage`) and a database.

`Storage` is written once in SQL that SQLite and PostgreSQL both run; what differs between
databases lives in a `Backend` (`sqlite.py`, `postgres.py`): connecting, how a transaction
starts, the placeholder style and the row-lock clause.  `open_storage` (the package's
`__init__`) picks one from a database URL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any


class Tx(ABC):
    """One open transaction.  SQL uses `?` placeholders; a backend translates if needed."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None: ...


class Backend(ABC):
    """What differs between databases: connecting, transactions, row locks."""

    #: appended to the SELECT that locks a workspace's counter inside a write transaction
    #: (SQLite's BEGIN IMMEDIATE already holds the write lock, PostgreSQL needs FOR UPDATE)
    lock_clause: str = ""
    #: run first in the migration transaction, so that server processes starting together
    #: migrate one at a time (SQLite's BEGIN IMMEDIATE already does; PostgreSQL needs a lock)
    schema_lock: str = ""

    @abstractmethod
    def transaction(self, write: bool) -> AbstractContextManager[Tx]:
        """A transaction; `write=True` takes the write lock at once (serialized pushes)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def checkpoint(self) -> None:
        """Make the database file whole (SQLite merges its write-ahead log); run when the
        server stops, so that a plain copy of the file holds every commit."""
