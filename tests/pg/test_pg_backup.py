"""`fieldrm server backup` on PostgreSQL, end to end: a real server process on a database of
the throwaway cluster, a device that pushed, then the backup (pg_dump's custom format)
restored with pg_restore into a new database, which a server opens with every record."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fieldrm.sync.server import open_storage
from tests.support.postgres import postgres_bin_dir
from tests.sync.test_e2e import Server, devices, fieldrm

pytestmark = pytest.mark.slow


def test_server_backup_on_postgresql_restores_into_a_database_with_every_record(
    postgres_cluster, tmp_path: Path
):
    source = postgres_cluster.create_database()
    target = postgres_cluster.create_database()
    server = Server(source, tmp_path / "server.log")
    server.start()
    try:
        [laptop] = devices(tmp_path, server, server.add_user("alice", "acme"), "laptop")
        made = {laptop.add("vendor", "--name", f"Vendor {number}") for number in range(5)}
        laptop.sync()
        tools = {"PATH": f"{postgres_bin_dir()}{os.pathsep}{os.environ['PATH']}"}
        copy = tmp_path / "acme.dump"
        done = fieldrm(None, "server", "backup", str(copy), "--db", source, env=tools)
        assert "pg_dump" in done.stdout and copy.stat().st_size > 0
        again = fieldrm(None, "server", "backup", str(copy), "--db", source, env=tools, check=False)
        assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1
        subprocess.run(
            [str(postgres_bin_dir() / "pg_restore"), "--no-owner", "--dbname", target, str(copy)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        restored = open_storage(target)
        try:
            ids = {record["id"] for record in restored.records("acme")}
        finally:
            restored.close()
        assert made <= ids
    finally:
        server.stop()
        postgres_cluster.drop_database(source)
        postgres_cluster.drop_database(target)
