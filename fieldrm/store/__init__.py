"""The device's own SQLite store: schema, migrations, change log and search."""

from fieldrm.store.db import Store

__all__ = ["Store"]
