"""The operator's commands and the workspace switch, end to end: a real `fieldrm server run`
process and devices with their own FIELDRM_HOME, driven through the command line.

`server backup`, `server users`, `server revoke`, the checkpoint on shutdown (SPEC §6), and
`login` refusing to mix two workspaces or two users' queued changes (SPEC §5.13)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from tests.sync import test_e2e
from tests.sync.test_e2e import Device, devices, fieldrm, wait_for

server = test_e2e.server  # the fixture: a real `fieldrm server run` on `server_db_url`

pytestmark = pytest.mark.slow


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


def consistent_state(copy: Path) -> dict[str, int]:
    """What a backup holds, checked whole: gapless change numbers up to the workspace's
    counter, and every record a change names present (no half-copied push)."""
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        [(counter,)] = conn.execute("SELECT seq FROM workspaces WHERE name = 'acme'").fetchall()
        seqs = [row[0] for row in conn.execute("SELECT seq FROM changes ORDER BY seq")]
        changed = {row[0] for row in conn.execute("SELECT DISTINCT record_id FROM changes")}
        records = {row[0] for row in conn.execute("SELECT id FROM records")}
    assert seqs == list(range(1, counter + 1))
    assert changed == records
    return {"changes": counter, "records": len(records)}


@pytest.mark.parametrize("server_db_url", ["sqlite"], indirect=True)
def test_server_backup_while_devices_push_is_a_consistent_copy(server, tmp_path):
    [writer] = devices(tmp_path, server, server.add_user("alice", "acme"), "writer")
    count = 3000
    lines = [json.dumps({"kind": "observation", "text": f"note {n}"}) for n in range(count)]
    (tmp_path / "notes.jsonl").write_text("\n".join(lines) + "\n")
    writer.run("import", str(tmp_path / "notes.jsonl"))
    backups = tmp_path / "backups"
    backups.mkdir()

    def server_holds() -> int:
        with sqlite3.connect(f"file:{server.db_url}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute("SELECT count(*) FROM records").fetchone()[0]

    pushing = threading.Thread(target=writer.sync)
    pushing.start()
    try:
        wait_for(server_holds, "the first batch on the server", every=0.005)
        made = fieldrm(None, "server", "backup", str(backups / "one.db"), "--db", server.db_url)
    finally:
        pushing.join(timeout=120)
    assert "records" in made.stdout and str(backups / "one.db") in made.stdout
    held = consistent_state(backups / "one.db")
    assert 0 < held["records"] <= count
    assert sorted(path.name for path in backups.iterdir()) == ["one.db"]  # no temp left

    # Never over an existing file, unless asked.
    again = fieldrm(
        None, "server", "backup", str(backups / "one.db"), "--db", server.db_url, check=False
    )
    assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1
    assert "--force" in again.stderr
    assert consistent_state(backups / "one.db") == held
    fieldrm(None, "server", "backup", str(backups / "one.db"), "--db", server.db_url, "--force")
    assert consistent_state(backups / "one.db") == {"changes": count, "records": count}


@pytest.mark.parametrize("server_db_url", ["sqlite"], indirect=True)
def test_server_backup_onto_the_database_itself_is_refused(server, tmp_path):
    [laptop] = devices(tmp_path, server, server.add_user("alice", "acme"), "laptop")
    laptop.add("vendor", "--name", "One")
    laptop.sync()
    itself = Path(server.db_url)
    for target in (itself, itself.parent / "." / itself.name):
        done = fieldrm(
            None, "server", "backup", str(target), "--db", server.db_url, "--force", check=False
        )
        assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1
        assert "itself" in done.stderr
    laptop.add("vendor", "--name", "Two")
    laptop.sync()
    server.stop()
    server.start()
    [fresh] = devices(tmp_path, server, server.add_user("bob", "acme"), "fresh")
    fresh.sync()
    assert sorted(v["name"] for v in fresh.json("list", "vendor", "--json")) == ["One", "Two"]


def test_server_backup_of_a_missing_database_says_so_and_makes_nothing(tmp_path):
    missing = tmp_path / "nowhere.db"
    done = fieldrm(
        None, "server", "backup", str(tmp_path / "copy.db"), "--db", str(missing), check=False
    )
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1
    assert "nowhere.db" in done.stderr
    assert not missing.exists() and not (tmp_path / "copy.db").exists()


# ---------------------------------------------------------------- users and revoke


def test_server_users_lists_workspace_created_devices_and_last_push(server, tmp_path):
    alice = server.add_user("alice", "acme")
    server.add_user("bob", "acme")
    server.add_user("carol", "globex")
    laptop, tablet = devices(tmp_path, server, alice, "laptop", "tablet")
    laptop.add("vendor", "--name", "Acme")
    tablet.add("vendor", "--name", "Globex")
    laptop.sync()
    tablet.sync()
    listed = json.loads(fieldrm(None, "server", "users", "--db", server.db_url, "--json").stdout)
    by_name = {(user["user"], user["workspace"]): user for user in listed}
    assert set(by_name) == {("alice", "acme"), ("bob", "acme"), ("carol", "globex")}
    assert by_name[("alice", "acme")]["devices"] == 2
    assert by_name[("alice", "acme")]["last_push"] is not None
    assert by_name[("bob", "acme")]["devices"] == 0
    assert by_name[("bob", "acme")]["last_push"] is None
    assert all(user["created_at"] and user["tokens"] == 1 for user in listed)
    text = fieldrm(None, "server", "users", "--db", server.db_url).stdout.splitlines()
    assert any("alice" in line and "acme" in line for line in text)
    assert any("carol" in line and "globex" in line for line in text)


def test_server_revoke_refuses_ambiguity_and_a_revoked_device_keeps_its_queue(server, tmp_path):
    [laptop] = devices(tmp_path, server, server.add_user("alice", "acme"), "laptop")
    [other] = devices(tmp_path, server, server.add_user("alice", "globex"), "other")

    ambiguous = fieldrm(None, "server", "revoke", "alice", "--db", server.db_url, check=False)
    assert ambiguous.returncode != 0 and len(ambiguous.stderr.strip().splitlines()) == 1
    assert "--workspace" in ambiguous.stderr and "acme" in ambiguous.stderr
    unknown = fieldrm(None, "server", "revoke", "nobody", "--db", server.db_url, check=False)
    assert unknown.returncode != 0 and len(unknown.stderr.strip().splitlines()) == 1
    assert "nobody" in unknown.stderr
    laptop.add("vendor", "--name", "Before")
    assert laptop.sync()["pushed"] == 1  # nothing was revoked by the refusals

    revoked = fieldrm(
        None, "server", "revoke", "alice", "--workspace", "acme", "--db", server.db_url
    )
    assert "alice" in revoked.stdout and "acme" in revoked.stdout
    laptop.add("vendor", "--name", "After")
    refused = laptop.run("sync", check=False)
    assert refused.returncode != 0 and "refused the token" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert laptop.pending() == 1
    other.add("vendor", "--name", "Elsewhere")
    assert other.sync()["pushed"] == 1  # alice of globex is another account
    listed = json.loads(fieldrm(None, "server", "users", "--db", server.db_url, "--json").stdout)
    tokens = {(user["user"], user["workspace"]): user["tokens"] for user in listed}
    assert tokens == {("alice", "acme"): 0, ("alice", "globex"): 1}
    first = {(user["user"], user["workspace"]): user for user in listed}[("alice", "acme")]
    assert first["created_at"] and first["revoked_at"]

    # A new token for the same user: the queue kept while revoked goes through.
    laptop.run("login", "--server", server.url, "--token", server.add_user("alice", "acme"))
    assert laptop.sync()["pushed"] == 1 and laptop.pending() == 0
    listed = json.loads(fieldrm(None, "server", "users", "--db", server.db_url, "--json").stdout)
    again = {(user["user"], user["workspace"]): user for user in listed}[("alice", "acme")]
    assert again["created_at"] == first["created_at"]  # the account's first day, kept
    assert again["tokens"] == 1 and again["revoked_at"] is None


def test_a_revoked_user_who_never_pushed_is_still_listed(server, tmp_path):
    server.add_user("dora", "acme")
    fieldrm(None, "server", "revoke", "dora", "--db", server.db_url)
    listed = json.loads(fieldrm(None, "server", "users", "--db", server.db_url, "--json").stdout)
    [dora] = [user for user in listed if user["user"] == "dora"]
    assert dora["tokens"] == 0 and dora["created_at"] and dora["revoked_at"]
    text = fieldrm(None, "server", "users", "--db", server.db_url).stdout
    assert "dora" in text and "revoked" in text


def test_users_and_revoke_on_a_missing_database_make_none(tmp_path):
    missing = tmp_path / "typo.db"
    for args in (("users",), ("revoke", "alice")):
        done = fieldrm(None, "server", *args, "--db", str(missing), check=False)
        assert done.returncode != 0 and "typo.db" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not missing.exists()


# ---------------------------------------------------------------- the workspace switch


def backups_beside(device: Device) -> list[Path]:
    return sorted(path for path in device.home.iterdir() if path.name.startswith("fieldrm-"))


def held(db_file: Path) -> tuple[set[str], int]:
    """The record names and queued changes a device database file holds."""
    with sqlite3.connect(db_file) as conn:
        names = {row[0] for row in conn.execute("SELECT json_extract(data, '$.name') FROM records")}
        queued = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    return names, queued


def test_login_to_another_workspace_is_refused_and_fresh_keeps_a_backup(server, tmp_path):
    [laptop] = devices(tmp_path, server, server.add_user("alice", "acme"), "laptop")
    [globex] = devices(tmp_path, server, server.add_user("eve", "globex"), "globex")
    globex.add("vendor", "--name", "Globex Supplies")
    globex.sync()
    laptop.add("vendor", "--name", "Acme Secret")
    laptop.sync()
    laptop.add("vendor", "--name", "Acme Queued")
    before = laptop.json("status")
    eve = server.add_user("eve", "globex")

    refused = laptop.run("login", "--server", server.url, "--token", eve, check=False)
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    for word in ("acme", "globex", "--fresh"):
        assert word in refused.stderr
    assert laptop.json("status") == before  # nothing changed: same device, server, queue
    assert held(laptop.home / "fieldrm.db") == ({"Acme Secret", "Acme Queued"}, 1)
    assert backups_beside(laptop) == []

    fresh = laptop.run("login", "--server", server.url, "--token", eve, "--fresh")
    [backup] = backups_beside(laptop)
    assert str(backup) in fresh.stdout and "acme" in backup.name
    assert held(backup) == ({"Acme Secret", "Acme Queued"}, 1)
    after = laptop.json("status")
    assert after["device_id"] != before["device_id"] and after["pending_changes"] == 0
    assert laptop.json("list", "vendor") == []
    assert laptop.sync()["pulled"] == 1
    assert [vendor["name"] for vendor in laptop.json("list", "vendor")] == ["Globex Supplies"]
    # Nothing of acme reached globex, on the server or on its other device.
    assert globex.sync()["pulled"] == 0
    assert [vendor["name"] for vendor in globex.json("list", "vendor")] == ["Globex Supplies"]

    # Logging in again to the same workspace keeps everything.
    laptop.add("vendor", "--name", "Globex Queued")
    kept = laptop.json("status")
    laptop.run("login", "--server", server.url, "--token", eve)
    assert laptop.json("status") == kept and len(backups_beside(laptop)) == 1


def test_login_as_another_user_waits_for_the_queue_then_takes_a_new_device_id(server, tmp_path):
    [laptop] = devices(tmp_path, server, server.add_user("alice", "acme"), "laptop")
    [desk] = devices(tmp_path, server, server.add_user("carol", "acme"), "desk")
    bob = server.add_user("bob", "acme")
    laptop.add("vendor", "--name", "Alice's vendor")
    first = laptop.json("status")

    refused = laptop.run("login", "--server", server.url, "--token", bob, check=False)
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    for word in ("alice", "bob", "fieldrm sync", "--fresh"):
        assert word in refused.stderr
    assert laptop.json("status") == first

    laptop.sync()
    laptop.run("login", "--server", server.url, "--token", bob)
    second = laptop.json("status")
    assert second["device_id"] != first["device_id"] and second["server"] == first["server"]
    assert [vendor["name"] for vendor in laptop.json("list", "vendor")] == ["Alice's vendor"]
    bobs = laptop.add("vendor", "--name", "Bob's vendor")
    assert laptop.sync()["pushed"] == 1
    desk.sync()
    authors = {vendor["name"]: vendor["created_by"] for vendor in desk.json("list", "vendor")}
    assert authors == {"Alice's vendor": "alice", "Bob's vendor": "bob"}
    assert laptop.show(bobs)["created_by"] == "bob"
