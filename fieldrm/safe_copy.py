"""Backups written safely, and SQLite's consistent copy: the one way the device (a backup
before a fresh start) and `fieldrm server backup` (SQLite, or pg_dump's file) write one.

A backup is written under a temporary name beside the target and only then given its name,
so a crash or a failed dump leaves no half-written file under it, and an existing file is
never overwritten unless asked.  SQLite's online backup API copies the pages in one step,
holding a read transaction for the whole copy: a server pushing meanwhile neither waits nor
tears the copy.  The copy is left in rollback-journal mode, so the one file holds
everything (no -wal beside it to forget).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_new_file(target: Path, write: Callable[[Path], None], *, replace: bool = False) -> int:
    """`write(temporary)`, then name the result `target`; its size in bytes.

    FileExistsError when `target` exists and not `replace`: nothing is written then."""
    target = Path(target)
    if target.exists() and not replace:
        raise FileExistsError(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        if replace:
            os.replace(temporary, target)
        else:
            os.link(temporary, target)  # fails, changing nothing, if a file took the name
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return target.stat().st_size


def copy_sqlite(source: sqlite3.Connection, target: Path, *, replace: bool = False) -> int:
    """A consistent copy of the database behind `source` as the one file `target`; its size."""

    def write(temporary: Path) -> None:
        copy = sqlite3.connect(temporary, isolation_level=None)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()

    return write_new_file(target, write, replace=replace)
