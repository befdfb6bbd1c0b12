"""`fieldrm merge` across two synced devices with a real server process: the merge reaches
the other device, and that device's concurrent edit of the merged contact is kept as a
conflict, never lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.test_e2e import Server, devices, sync_all

pytestmark = pytest.mark.slow


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    running = Server(str(tmp_path / "server.db"), tmp_path / "server.log")
    running.start()
    yield running
    running.stop()


def test_a_merge_syncs_and_a_concurrent_edit_is_kept(sqlite_server, tmp_path):
    alice = sqlite_server.add_user("alice", "acme")
    bob = sqlite_server.add_user("bob", "acme")
    [laptop] = devices(tmp_path, sqlite_server, alice, "laptop")
    [desk] = devices(tmp_path, sqlite_server, bob, "desk")
    site = laptop.add("site", "--vendor", laptop.add("vendor", "--name", "Northwind"),
                      "--name", "Kolkata")  # fmt: skip
    priya = laptop.add("contact", "--name", "Priya Nair", "--title", "Program Manager")
    dup = laptop.add("contact", "--name", "P. Nair", "--phones", "+919830012345")
    arjun = laptop.add("contact", "--name", "Arjun Das", "--reports-to", dup)
    visit = laptop.run("visit", "start", "--site", site, "--attendee", dup).stdout.strip()
    observation = laptop.run("capture", "Coaching lapsed @P._Nair").stdout.strip()
    action = laptop.run("capture", "> send the deck @P._Nair").stdout.strip()
    laptop.run("visit", "end")
    laptop.sync()
    desk.sync()
    assert dup in desk.contacts()

    # At the same time: the desk edits the duplicate, the laptop merges it into Priya.
    desk.run("edit", dup, "--set", "notes=Prefers WhatsApp")
    assert laptop.run("merge", "P. Nair", "Priya Nair").stdout.strip() == priya
    sync_all((laptop, desk))

    for device in (laptop, desk):
        contacts = device.contacts()  # `list` leaves deleted records out
        assert dup not in contacts and priya in contacts
        assert contacts[priya]["phones"] == ["+919830012345"]
        assert contacts[arjun]["reports_to"] == priya
        assert device.show(visit)["attendees"] == [priya]
        assert device.show(observation)["contact_id"] == priya
        assert device.show(action)["owner_id"] == priya
        conflicts = device.json("conflicts")
        kept = [c for c in conflicts if c["record_id"] == dup]
        assert kept, conflicts  # the desk's note on the merged contact is not lost
        assert "Prefers WhatsApp" in str(kept)
