"""End to end, the everyday recovery paths of SPEC §5.12 (issue 9): a real `fieldrm server
run` process on SQLite and on PostgreSQL (`server_db_url`), devices driven through the
command line, each with its own FIELDRM_HOME.

A restored laptop or a cloned image is a copy of a device's home; a server backup is a
copy of its database (SQLite's backup API, or a PostgreSQL database made from it as a
template) put back in place of the live one.  Nothing anyone typed may be lost, and no
device may be left stuck: after the recovery every device and a fresh one hold everything.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.test_e2e import Device, Server, devices
from tests.sync.test_e2e import server as server  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


class Backups:
    """Take a backup of the server's database and restore it later (server stopped)."""

    def __init__(self, server: Server, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.server = server
        self.request = request
        self.tmp_path = tmp_path
        self.taken: list[str] = []

    @property
    def postgres(self) -> bool:
        return self.server.db_url.startswith("postgresql://")

    def take(self) -> str:
        if not self.postgres:
            # A consistent copy while the server runs: SQLite's online backup API.
            target = str(self.tmp_path / f"backup-{len(self.taken)}.db")
            with sqlite3.connect(self.server.db_url) as live, sqlite3.connect(target) as copy:
                live.backup(copy)
            self.taken.append(target)
            return target
        cluster = self.request.getfixturevalue("postgres_cluster")
        live = self.server.db_url.rsplit("/", 1)[1]
        name = f"{live}_backup{len(self.taken)}"
        self.server.stop()  # CREATE DATABASE … TEMPLATE needs the database idle
        cluster.execute(f'CREATE DATABASE "{name}" TEMPLATE "{live}"')
        self.request.addfinalizer(lambda: cluster.execute(f'DROP DATABASE IF EXISTS "{name}"'))
        self.server.start()
        self.taken.append(name)
        return name

    def restore(self, backup: str) -> None:
        self.server.stop()
        if not self.postgres:
            for suffix in ("", "-wal", "-shm"):
                Path(self.server.db_url + suffix).unlink(missing_ok=True)
            shutil.copyfile(backup, self.server.db_url)
        else:
            cluster = self.request.getfixturevalue("postgres_cluster")
            live = self.server.db_url.rsplit("/", 1)[1]
            cluster.execute(f'DROP DATABASE "{live}" WITH (FORCE)')
            cluster.execute(f'CREATE DATABASE "{live}" TEMPLATE "{backup}"')
        self.server.start()


@pytest.fixture
def backups(server: Server, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backups]:
    yield Backups(server, request, tmp_path)


def copy_home(device: Device, home: Path, env: dict[str, str] | None = None) -> Device:
    """A disk image of a device (the CLI has exited: its SQLite log is merged)."""
    shutil.copytree(device.home, home)
    return Device(home, env)


def restore_home(device: Device, image: Device) -> None:
    shutil.rmtree(device.home)
    shutil.copytree(image.home, device.home)


def names(device: Device, kind: str = "vendor") -> list[str]:
    return sorted(record["name"] for record in device.json("list", kind))


def status_lines(device: Device) -> str:
    return device.run("status").stdout


def test_a_restored_laptop_keeps_every_change_and_gets_its_own_back(server, tmp_path):
    token = server.add_user("alice", "acme")
    [laptop] = devices(tmp_path, server, token, "laptop")
    old_id = laptop.json("status")["device_id"]
    laptop.add("vendor", "--name", "Before the image")
    laptop.sync()
    image = copy_home(laptop, tmp_path / "image")
    for name in ("After the image 1", "After the image 2", "After the image 3"):
        laptop.add("vendor", "--name", name)
    assert laptop.sync()["pushed"] == 3

    restore_home(laptop, image)  # the disk died; last week's image goes back on
    laptop.add("vendor", "--name", "Typed after the restore")
    outcome = laptop.sync()
    assert outcome["pushed"] == 1
    assert laptop.pending() == 0
    everything = sorted(
        ["Before the image", "After the image 1", "After the image 2", "After the image 3"]
        + ["Typed after the restore"]
    )
    assert names(laptop) == everything  # its own pre-restore changes came back
    [fresh] = devices(tmp_path, server, token, "fresh")
    fresh.sync()
    assert names(fresh) == everything
    # A later edit is not taken for a duplicate either.
    laptop.add("vendor", "--name", "Next day")
    assert laptop.sync()["pushed"] == 1
    fresh.sync()
    assert names(fresh) == sorted([*everything, "Next day"])
    shown = status_lines(laptop)
    assert "restored or cloned copy of this device detected" in shown
    assert laptop.json("status")["device_id"] != old_id
    assert "pulled back 3" in shown


def test_two_laptops_cloned_from_one_image_both_keep_their_changes(server, tmp_path):
    token = server.add_user("alice", "acme")
    [master] = devices(tmp_path, server, token, "master")
    master.add("vendor", "--name", "In the image, synced")
    master.sync()
    master.add("vendor", "--name", "In the image, queued")
    one = copy_home(master, tmp_path / "one")
    two = copy_home(master, tmp_path / "two")
    one.add("vendor", "--name", "Typed on clone one")
    two.add("vendor", "--name", "Typed on clone two")
    two.add("vendor", "--name", "Typed on clone two again")
    assert one.sync()["pushed"] == 2
    second = two.sync()
    assert second["pushed"] == 2  # the image's queued change was already on the server
    one.sync()
    everything = [
        "In the image, queued",
        "In the image, synced",
        "Typed on clone one",
        "Typed on clone two",
        "Typed on clone two again",
    ]
    [fresh] = devices(tmp_path, server, token, "fresh")
    fresh.sync()
    for device in (one, two, fresh):
        assert names(device) == everything, device.home.name
        assert device.pending() == 0
    assert one.json("status")["device_id"] != two.json("status")["device_id"]


def test_a_teammate_pushing_under_my_device_id_is_refused_and_mine_are_kept(server, tmp_path):
    alice = server.add_user("alice", "acme")
    bob = server.add_user("bob", "acme")
    [mine] = devices(tmp_path, server, alice, "mine")
    mine.add("vendor", "--name", "Alice's first")
    mine.sync()
    theirs = copy_home(mine, tmp_path / "theirs")  # bob was handed a copy of my laptop
    with sqlite3.connect(theirs.home / "fieldrm.db") as db:  # and put his token in it by hand
        db.execute("UPDATE state SET value = ? WHERE key = 'token'", [bob])
    theirs.add("vendor", "--name", "Bob's")
    refused = theirs.run("sync", check=False)
    assert refused.returncode != 0
    message = refused.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "registered to user alice" in message
    assert theirs.pending() == 1  # nothing bob typed is lost

    mine.add("vendor", "--name", "Alice's second")
    assert mine.sync()["pushed"] == 1
    [fresh] = devices(tmp_path, server, alice, "fresh")
    fresh.sync()
    assert names(fresh) == ["Alice's first", "Alice's second"]


def test_a_server_restored_from_an_older_backup_loses_nothing_and_sticks_no_one(
    server, backups, tmp_path
):
    token = server.add_user("alice", "acme")
    bob = server.add_user("bob", "acme")
    laptop, tablet = devices(tmp_path, server, token, "laptop", "tablet")
    [desk] = devices(tmp_path, server, bob, "desk")
    laptop.add("vendor", "--name", "Before the backup")
    laptop.sync()
    desk.sync()
    backup = backups.take()
    laptop.add("vendor", "--name", "After the backup, laptop")
    laptop.sync()
    tablet.sync()  # its pull position is now ahead of the backup
    tablet.add("vendor", "--name", "After the backup, tablet")
    tablet.sync()
    desk.sync()

    backups.restore(backup)  # the operator puts back last night's backup
    desk.add("vendor", "--name", "After the restore, desk")
    desk.sync()
    laptop.add("vendor", "--name", "After the restore, laptop")
    assert laptop.sync()["pushed"] >= 1  # no 409 on every sync
    tablet.sync()
    desk.sync()
    laptop.sync()
    everything = [
        "After the backup, laptop",
        "After the backup, tablet",
        "After the restore, desk",
        "After the restore, laptop",
        "Before the backup",
    ]
    [fresh] = devices(tmp_path, server, token, "fresh")
    fresh.sync()
    for device in (laptop, tablet, desk, fresh):
        assert names(device) == everything, device.home.name
        assert device.pending() == 0
    assert "server restored from an earlier backup detected" in status_lines(laptop)
    # Afterwards syncs are ordinary again.
    tablet.add("vendor", "--name", "Later")
    assert tablet.sync()["pushed"] == 1
    assert "Later" in names(fresh) or fresh.sync()["pulled"] == 1


def test_an_edit_on_the_restored_server_clashes_with_a_lost_one_and_both_are_kept(
    server, backups, tmp_path
):
    alice = server.add_user("alice", "acme")
    bob = server.add_user("bob", "acme")
    [laptop] = devices(tmp_path, server, alice, "laptop")
    [desk] = devices(tmp_path, server, bob, "desk")
    vendor = laptop.add("vendor", "--name", "Acme")
    laptop.sync()
    desk.sync()
    backup = backups.take()
    laptop.run("edit", vendor, "--set", "notes=Lost with the server")
    laptop.sync()
    backups.restore(backup)
    desk.run("edit", vendor, "--set", "notes=Typed after the restore")
    desk.sync()
    laptop.sync()
    desk.sync()
    notes = {laptop.show(vendor)["notes"], desk.show(vendor)["notes"]}
    assert len(notes) == 1
    [conflict] = desk.json("conflicts")
    values = {conflict["current"]["value"], conflict["other"]["value"]}
    assert values == {"Lost with the server", "Typed after the restore"}


def test_a_clock_once_a_day_fast_heals_and_a_refused_push_still_pulls(server, tmp_path):
    token = server.add_user("alice", "acme")
    good, reader = devices(tmp_path, server, token, "good", "reader")
    day_ahead = {"FIELDRM_CLOCK_OFFSET": str(24 * 3600)}
    fast = Device(tmp_path / "fast", env=day_ahead)
    fast.run("login", "--server", server.url, "--token", token)
    fast.add("vendor", "--name", "Stamped a day ahead")
    good.add("vendor", "--name", "From a good clock")
    good.sync()

    refused = fast.run("sync", check=False)
    assert refused.returncode != 0
    assert "1.0 days" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert fast.pending() == 1
    # The push was refused, the pull still done.
    assert "From a good clock" in names(fast)

    fast.env = {}  # the clock is set right again, the same day
    fast.add("vendor", "--name", "Stamped after the fix")
    outcome = fast.sync()
    assert outcome["pushed"] == 2 and fast.pending() == 0
    reader.sync()
    assert names(reader) == ["From a good clock", "Stamped a day ahead", "Stamped after the fix"]
    shown = reader.json("list", "vendor")
    assert all(record["updated_at"] < "9" for record in shown)


def _backed_up_contact(server, backups, tmp_path):
    """alice's laptop and bob's desk share a contact titled T0; then the backup is taken."""
    alice = server.add_user("alice", "acme")
    bob = server.add_user("bob", "acme")
    [laptop] = devices(tmp_path, server, alice, "laptop")
    [desk] = devices(tmp_path, server, bob, "desk")
    contact = laptop.add("contact", "--name", "Priya Nair", "--title", "T0")
    laptop.sync()
    desk.sync()
    return alice, bob, laptop, desk, contact, backups.take()


def _lost_history_title(server, backups, tmp_path):
    """alice edits a title twice after a backup; bob pulled only the first edit; restore."""
    alice, _bob, laptop, desk, contact, backup = _backed_up_contact(server, backups, tmp_path)
    laptop.run("edit", contact, "--set", "title=T1")
    laptop.sync()
    desk.sync()  # the desk holds T1
    laptop.run("edit", contact, "--set", "title=T2")
    laptop.sync()  # the desk never pulls T2
    backups.restore(backup)
    return alice, laptop, desk, contact


@pytest.mark.parametrize("first", ["laptop", "desk"])
def test_after_a_restore_the_newest_value_of_the_lost_history_wins_whoever_resends_first(
    server, backups, tmp_path, first
):
    alice, laptop, desk, contact = _lost_history_title(server, backups, tmp_path)
    order = (laptop, desk) if first == "laptop" else (desk, laptop)
    for device in (*order, *order):
        device.sync()
    [fresh] = devices(tmp_path, server, alice, "fresh")
    fresh.sync()
    for device in (laptop, desk, fresh):
        assert device.show(contact)["title"] == "T2", device.home.name
        assert device.json("conflicts") == [], device.home.name
        assert device.pending() == 0


def test_after_a_restore_a_resent_value_still_clashes_with_an_edit_made_since(
    server, backups, tmp_path
):
    alice, laptop, desk, contact = _lost_history_title(server, backups, tmp_path)
    [fresh] = devices(tmp_path, server, alice, "fresh")
    fresh.sync()  # the restored server's T0
    fresh.run("edit", contact, "--set", "title=Typed after the restore")
    fresh.sync()
    desk.sync()  # re-sends its stale T1: it clashes with the edit made since
    laptop.sync()  # re-sends T2, newer in the lost history: it replaces T1
    desk.sync()
    fresh.sync()
    for device in (laptop, desk, fresh):
        assert device.show(contact)["title"] == "T2", device.home.name
        [conflict] = device.json("conflicts")
        values = {conflict["current"]["value"], conflict["other"]["value"]}
        assert values == {"T2", "Typed after the restore"}, device.home.name


def test_a_conflict_made_after_the_backup_is_kept_and_closes_everywhere(server, backups, tmp_path):
    _alice, bob, laptop, desk, contact, backup = _backed_up_contact(server, backups, tmp_path)
    laptop.run("edit", contact, "--set", "title=alice typed")
    desk.run("edit", contact, "--set", "title=bob typed")
    laptop.sync()
    desk.sync()
    laptop.sync()
    [before] = laptop.json("conflicts")
    backups.restore(backup)
    for device in (laptop, desk, laptop, desk):
        device.sync()
    [fresh] = devices(tmp_path, server, bob, "fresh")
    fresh.sync()
    title = laptop.show(contact)["title"]
    for device in (laptop, desk, fresh):
        assert device.show(contact)["title"] == title, device.home.name
        [conflict] = device.json("conflicts")
        assert conflict["id"] == before["id"], device.home.name
        values = {conflict["current"]["value"], conflict["other"]["value"]}
        assert values == {"alice typed", "bob typed"}
    resolved = laptop.run("resolve", before["id"], "--keep", "other")
    assert resolved.returncode == 0
    outcome = laptop.json("sync")
    assert outcome.get("rejected", 0) == 0
    desk.sync()
    fresh.sync()
    titles = set()
    for device in (laptop, desk, fresh):
        assert device.json("conflicts") == [], device.home.name
        assert device.pending() == 0
        titles.add(device.show(contact)["title"])
    assert len(titles) == 1 and titles != {title}
