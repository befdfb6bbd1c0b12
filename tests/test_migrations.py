"""Opening databases from other versions: older ones upgrade, newer and foreign ones refused."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from sqlite_utils import Database

from fieldrm.errors import StoreError
from fieldrm.models import validate_record
from fieldrm.store import Store
from fieldrm.store.schema import SCHEMA_VERSION, STEPS, migrations


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_first_version(path) -> list[dict]:
    """A database as the first schema version left it: records and outbox, no search."""
    db = Database(path)
    migrations.apply(db, stop_before="m002_search")
    records = [
        validate_record({"kind": "vendor", "name": "Acme Contact Solutions"}).to_json(),
        validate_record({"kind": "contact", "name": "Priya Nair", "tags": ["vip"]}).to_json(),
        validate_record(
            {"kind": "observation", "text": "Wallboard frozen since Monday", "deleted": True}
        ).to_json(),
    ]
    for number, record in enumerate(records, start=1):
        db.execute(
            "INSERT INTO records(id, kind, data, updated_at, deleted) VALUES (?, ?, ?, ?, ?)",
            [
                record["id"],
                record["kind"],
                json.dumps(record),
                record["updated_at"],
                int(record["deleted"]),
            ],
        )
        op = {"id": record["id"], "kind": record["kind"], "hlc": f"{number:016x}", "new": True}
        db.execute(
            "INSERT INTO outbox(record_id, op) VALUES (?, ?)", [record["id"], json.dumps(op)]
        )
    db.execute("INSERT INTO state(key, value) VALUES ('device_id', 'old-device')")
    db.execute("PRAGMA user_version=1")
    db.conn.commit()
    tables = set(db.table_names())
    db.close()
    assert "search" not in tables and "records" in tables
    return records


def test_a_first_version_database_is_upgraded_with_its_data(tmp_path):
    path = tmp_path / "fieldrm.db"
    records = write_first_version(path)
    with Store.open(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert list(store.export_all()) == records
        assert store.device_id == "old-device"
        assert store.pending_count() == 3
        # Records written before search existed are searchable now (deleted ones hidden).
        assert [r.id for r in store.search("acme")] == [records[0]["id"]]
        assert [r.id for r in store.search("vip")] == [records[1]["id"]]
        assert store.search("wallboard") == []
        assert store.resolve("priya nair").id == records[1]["id"]
        # New writes continue the device's numbering.
        store.update(records[1]["id"], set={"title": "Program manager"})
        seqs = [row[0] for row in store.conn.execute("SELECT seq FROM outbox ORDER BY seq")]
        assert seqs == [1, 2, 3, 4]
    with Store.open(path) as again:  # opening an up-to-date file migrates nothing
        assert again.get(records[1]["id"]).title == "Program manager"
        applied = [m.name for m in migrations.applied(again.db)]
        assert applied == [step.__name__ for step in STEPS]


def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path):
    path = tmp_path / "fieldrm.db"
    with Store.open(path) as store:
        store.create("vendor", {"name": "Acme"})
        store.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    before = digest(path)
    with pytest.raises(StoreError) as caught:
        Store.open(path)
    message = str(caught.value)
    assert "newer fieldrm" in message and "\n" not in message
    assert digest(path) == before


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path):
    path = tmp_path / "fieldrm.db"
    path.write_text("name,role\nPriya,program_manager\n")
    before = digest(path)
    with pytest.raises(StoreError, match="not a fieldrm database") as caught:
        Store.open(path)
    assert "\n" not in str(caught.value)
    assert digest(path) == before


def test_another_apps_sqlite_database_is_refused_untouched(tmp_path):
    path = tmp_path / "fieldrm.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.execute("INSERT INTO songs VALUES ('Blue Monday')")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match="not a fieldrm one"):
        Store.open(path)
    assert digest(path) == before
    assert "records" not in {
        row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")
    }


def test_a_corrupt_sqlite_file_is_refused_with_one_line(tmp_path):
    path = tmp_path / "fieldrm.db"
    with Store.open(path) as store:
        store.create("vendor", {"name": "Acme"})
    with Store.open(path) as store:  # no WAL left behind, so the damage is in the main file
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[100:] = b"\xde\xad\xbe\xef" * ((len(data) - 100) // 4) + b"\x00" * ((len(data) - 100) % 4)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as caught:
        Store.open(path)
    assert "\n" not in str(caught.value)
