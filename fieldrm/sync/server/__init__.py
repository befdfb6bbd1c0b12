"""The central sync server (SPEC §6): the FastAPI app and the storage it runs on.

- `app.py`: the HTTP API (`create_app`) and `run`, what `fieldrm server run` starts;
- `storage.py`: every piece of server logic that touches the database (accounts, push,
  pull, snapshot), written once over the `backend.py` interface;
- `sqlite.py` (the default) and `postgres.py`: the two backends;
- `open_storage` below: the storage a `--db` URL names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fieldrm.sync.server.storage import Storage


def open_storage(url: str) -> Storage:
    """Storage for `--db URL`: `postgresql://…` or a SQLite path / `sqlite:///path`."""
    from fieldrm.sync.server.storage import Storage

    if url.startswith(("postgresql://", "postgres://")):
        # Imported only here: psycopg is an optional dependency of the server.
        from fieldrm.sync.server.postgres import PostgresBackend

        return Storage(PostgresBackend(url))
    from fieldrm.sync.server.sqlite import SqliteBackend

    return Storage(SqliteBackend(url))
