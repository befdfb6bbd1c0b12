"""The operator's commands and the workspace switch, end to end: a real `fieldrm server run`
process and devices with their own FIELDRM_HOME, driven through the command line.

`server backup`, `server users`, `server revoke`, the checkpoint on shutdown (SPEC §6), and
`login` refusing to mix two workspaces or two users' queued changes (SPEC §5.13)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.sync import test_e2e
from tests.sync.test_e2e import Server, devices

server = test_e2e.server  # the fixture: a real `fieldrm server run` on `server_db_url`

pytestmark = pytest.mark.slow


def sqlite_only(server: Server) -> None:
    if server.db_url.startswith("postgresql"):
        pytest.skip("a SQLite file's behaviour (PostgreSQL: pg_dump, see README)")


def records_in_copy(db_file: Path, tmp_path: Path) -> list[tuple[str, str]]:
    """The records a lone copy of `db_file` holds (no -wal or -shm file beside it)."""
    alone = tmp_path / "alone"
    alone.mkdir(exist_ok=True)
    copy = alone / "copy.db"
    shutil.copyfile(db_file, copy)
    with sqlite3.connect(copy) as conn:
        return conn.execute("SELECT workspace, id FROM records ORDER BY id").fetchall()


# ---------------------------------------------------------------- shutdown and backup


@pytest.mark.parametrize("server_db_url", ["sqlite"], indirect=True)
def test_a_server_stopped_with_sigterm_leaves_everything_in_the_database_file(server, tmp_path):
    [laptop] = devices(tmp_path, server, server.add_user("alice", "acme"), "laptop")
    made = {laptop.add("vendor", "--name", f"Vendor {n}") for n in range(5)}
    assert laptop.sync()["pushed"] == 5
    server.stop()
    held = records_in_copy(Path(server.db_url), tmp_path)
    assert {record_id for _workspace, record_id in held} == made
