"""Server schema migrations, on SQLite and PostgreSQL alike (issue 5)."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from fieldrm.errors import StoreError
from fieldrm.sync.server import open_storage
from fieldrm.sync.server import storage as storage_module
from fieldrm.sync.server.storage import MIGRATIONS, Storage
from tests.support.servers import fieldrm_command


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "server.db")
    return request.getfixturevalue("postgres_url")


def schema_version(storage: Storage) -> list[tuple[int, ...]]:
    with storage.backend.transaction(write=False) as tx:
        return tx.query("SELECT version FROM server_schema")


def test_a_new_database_gets_the_newest_schema(db_url):
    storage = open_storage(db_url)
    try:
        assert schema_version(storage) == [(len(MIGRATIONS),)]
        token = storage.add_user("alice", "team")
        assert storage.authenticate(token) is not None
    finally:
        storage.close()


def test_an_added_step_runs_once_and_keeps_the_data(db_url, monkeypatch):
    storage = open_storage(db_url)
    token = storage.add_user("alice", "team")
    storage.close()
    step = ["ALTER TABLE users ADD COLUMN note TEXT"]  # fails if it ever runs twice
    monkeypatch.setattr(storage_module, "MIGRATIONS", [*MIGRATIONS, step])
    for _ in range(2):
        storage = open_storage(db_url)
        try:
            assert schema_version(storage) == [(len(MIGRATIONS) + 1,)]
            assert storage.authenticate(token) is not None
            with storage.backend.transaction(write=False) as tx:
                assert tx.query("SELECT note FROM users") == [(None,)]
        finally:
            storage.close()


def test_a_database_from_before_versioning_is_adopted(db_url):
    storage = open_storage(db_url)
    token = storage.add_user("alice", "team")
    with storage.backend.transaction(write=True) as tx:
        tx.execute("DROP TABLE server_schema")
    storage.close()
    storage = open_storage(db_url)
    try:
        assert schema_version(storage) == [(len(MIGRATIONS),)]
        assert storage.authenticate(token) is not None
    finally:
        storage.close()


def test_a_database_from_a_newer_server_is_refused(db_url, tmp_path):
    storage = open_storage(db_url)
    with storage.backend.transaction(write=True) as tx:
        tx.execute("UPDATE server_schema SET version = 99")
    storage.close()
    with pytest.raises(StoreError, match="schema version 99, newer than this server's"):
        open_storage(db_url)
    done = subprocess.run(
        fieldrm_command("server", "add-user", "bob", "--workspace", "team", "--db", db_url),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode != 0
    assert "schema version 99" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_servers_starting_together_on_a_new_postgresql_database_all_start(postgres_url):
    opened: list[Storage] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait()
        try:
            opened.append(open_storage(postgres_url))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for storage in opened:
        storage.close()
    assert errors == []
    assert len(opened) == 4


def test_an_unreachable_database_is_one_clear_line(postgres_cluster):
    url = f"postgresql://fieldrm@127.0.0.1:{postgres_cluster.port}/no_such_database"
    with pytest.raises(StoreError, match="cannot use the database .*no_such_database"):
        open_storage(url)


def test_a_malformed_url_is_refused_without_showing_its_password():
    with pytest.raises(StoreError, match="invalid URI query parameter") as refused:
        open_storage("postgresql://alice:s3cret@127.0.0.1:1/x?bogus=1")
    assert "s3cret" not in str(refused.value)
