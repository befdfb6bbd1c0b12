"""A chain of one device's offline edits counts as one edit (SPEC §5.14), end to end: a real
`fieldrm server run` process (SQLite and PostgreSQL) and two devices driven by the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.test_e2e import Device, Server, devices

pytestmark = pytest.mark.slow


@pytest.fixture
def server(server_db_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(server_db_url, tmp_path / "server.log")
    running.start()
    yield running
    running.stop()


def two_devices_and_a_contact(server: Server, tmp_path: Path) -> tuple[Device, Device, str]:
    """Alice's laptop and Bob's desk, both holding one contact the laptop made."""
    [laptop] = devices(tmp_path, server, server.add_user("alice", "acme"), "laptop")
    [desk] = devices(tmp_path, server, server.add_user("bob", "acme"), "desk")
    priya = laptop.add("contact", "--name", "Priya Nair", "--title", "Team leader")
    laptop.sync()
    desk.sync()
    return laptop, desk, priya


def test_six_offline_edits_against_one_concurrent_edit_make_one_conflict(server, tmp_path):
    laptop, desk, priya = two_devices_and_a_contact(server, tmp_path)
    # The laptop is offline for a day of edits; the desk's one edit comes later and wins.
    chain = [f"Title {n}" for n in range(1, 7)]
    for title in chain:
        laptop.run("edit", priya, "--set", f"title={title}")
    desk.run("edit", priya, "--set", "title=Site director")
    desk.sync()
    laptop.sync()
    desk.sync()
    for device in (laptop, desk):
        assert device.contacts()[priya]["title"] == "Site director"
        [conflict] = device.json("conflicts")
        assert conflict["field"] == "title"
        assert (conflict["current"]["value"], conflict["current"]["by"]) == ("Site director", "bob")
        assert (conflict["other"]["value"], conflict["other"]["by"]) == ("Title 6", "alice")
        assert device.json("status")["open_conflicts"] == 1
    # Taking the chain's value closes it everywhere.
    desk.run("resolve", conflict["id"], "--keep", "other")
    desk.sync()
    laptop.sync()
    for device in (laptop, desk):
        assert device.json("conflicts") == []
        assert device.contacts()[priya]["title"] == "Title 6"


def test_a_chain_synced_in_two_parts_updates_the_conflict_a_device_already_shows(server, tmp_path):
    laptop, desk, priya = two_devices_and_a_contact(server, tmp_path)
    for title in ("Title 1", "Title 2", "Title 3"):
        laptop.run("edit", priya, "--set", f"title={title}")
    desk.run("edit", priya, "--set", "title=Site director")
    desk.sync()
    laptop.sync()
    desk.sync()
    [first] = desk.json("conflicts")
    assert first["other"]["value"] == "Title 3"
    # The laptop, which now shows the desk's title, edits on (the conflict still open): its
    # chain now wins, and the conflict it shows keeps the value its edits replaced.
    for title in ("Title 4", "Title 5", "Title 6"):
        laptop.run("edit", priya, "--set", f"title={title}")
    laptop.sync()
    desk.sync()
    for device in (laptop, desk):
        assert device.contacts()[priya]["title"] == "Title 6"
        [conflict] = device.json("conflicts")
        assert conflict["id"] == first["id"]
        assert (conflict["current"]["value"], conflict["other"]["value"]) == (
            "Title 6",
            "Site director",
        )
