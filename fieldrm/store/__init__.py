"""The device's own SQLite store: schema, migrations, change log and search.

Imports only the ground floor (models, clock, jsonio, errors, paths): never sync/, the
CLI or Textual (tests/test_import_hygiene.py proves it)."""

from fieldrm.store.db import Store

__all__ = ["Store"]
