"""End to end: a real `fieldrm server run` process on 127.0.0.1 and devices, each with its own
FIELDRM_HOME, driven through the command line exactly as a person would."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, what: str, timeout: float = 30.0, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)  # wait-ok: poll interval inside a deadline-bounded wait
    raise AssertionError(f"timed out waiting for {what}")


def fieldrm(home: Path | None, *args: str, env: dict[str, str] | None = None, check=True):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("FIELDRM_HOME", None)
    if home is not None:
        environment["FIELDRM_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-m", "fieldrm", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"fieldrm {' '.join(args)} failed: {done.stderr}")
    return done


class Server:
    """A `fieldrm server run` process that can be killed and started again on its database."""

    def __init__(self, db_url: str, log: Path) -> None:
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}
        environment.pop("FIELDRM_CLOCK_OFFSET", None)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fieldrm", "server", "run", "--db", self.db_url]
                + ["--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=log,
            )
        wait_for(self._healthy, f"the server on {self.url} ({self.log.read_text()[-500:]})")

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def add_user(self, name: str, workspace: str) -> str:
        done = fieldrm(
            None, "server", "add-user", name, "--workspace", workspace, "--db", self.db_url
        )
        return done.stdout.strip()


@pytest.fixture
def server(server_db_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(server_db_url, tmp_path / "server.log")
    running.start()
    yield running
    running.stop()


class Device:
    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = env or {}
        home.mkdir(parents=True, exist_ok=True)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return fieldrm(self.home, *args, env=self.env, check=check)

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def add(self, kind: str, *args: str) -> str:
        return self.run("add", kind, *args).stdout.strip()

    def sync(self) -> dict[str, int]:
        return self.json("sync")

    def show(self, record_id: str) -> dict[str, Any]:
        return self.json("show", record_id)

    def contacts(self) -> dict[str, dict[str, Any]]:
        return {record["id"]: record for record in self.json("list", "contact")}

    def pending(self) -> int:
        return self.json("status")["pending_changes"]


def sync_all(team: tuple[Device, ...]) -> None:
    """Everyone syncs, then all but the last again: each then has what the others pushed."""
    for device in team + team[:-1]:
        device.sync()


def devices(tmp_path: Path, server: Server, token: str, *names: str) -> list[Device]:
    made = []
    for name in names:
        device = Device(tmp_path / name)
        device.run("login", "--server", server.url, "--token", token)
        made.append(device)
    return made


def test_three_devices_merge_fields_sets_conflicts_and_deletes(server, tmp_path):
    alice = server.add_user("alice", "acme")
    bob = server.add_user("bob", "acme")
    laptop, tablet = devices(tmp_path, server, alice, "laptop", "tablet")
    [desk] = devices(tmp_path, server, bob, "desk")
    team = (laptop, tablet, desk)
    priya = laptop.add("contact", "--name", "Priya Nair", "--tags", "vip")
    ravi = laptop.add("contact", "--name", "Ravi Kumar")
    assert laptop.sync()["pushed"] == 2
    for device in (tablet, desk):
        assert device.sync()["pulled"] == 2

    # Different fields of one record: both survive, no conflict.
    laptop.run("edit", priya, "--set", "title=Program manager")
    tablet.run("edit", priya, "--set", "notes=Prefers mornings")
    # Tags added on two devices: both survive.
    laptop.run("edit", priya, "--add", "tags=night-shift")
    desk.run("edit", priya, "--add", "tags=escalation")
    # A device's own chain of offline edits: no conflict.
    for title in ("Team leader", "Senior team leader", "Supervisor"):
        desk.run("edit", ravi, "--set", f"title={title}")
    sync_all(team)
    for device in team:
        records = device.contacts()
        assert records[priya]["title"] == "Program manager"
        assert records[priya]["notes"] == "Prefers mornings"
        assert records[priya]["tags"] == ["escalation", "night-shift", "vip"]
        assert records[ravi]["title"] == "Supervisor"
        assert device.json("conflicts") == []

    # The same field on two devices: one value everywhere, one conflict shown on both.
    laptop.run("edit", priya, "--set", "title=Ops lead")
    desk.run("edit", priya, "--set", "title=Site director")
    sync_all(team)
    titles = {device.contacts()[priya]["title"] for device in team}
    assert len(titles) == 1
    shown = [device.json("conflicts") for device in team]
    assert shown[0] == shown[1] == shown[2] and len(shown[0]) == 1
    conflict = shown[0][0]
    assert conflict["field"] == "title"
    assert {conflict["current"]["by"], conflict["other"]["by"]} == {"alice", "bob"}
    assert {conflict["current"]["value"], conflict["other"]["value"]} == {
        "Ops lead",
        "Site director",
    }
    assert laptop.json("status")["open_conflicts"] == 1
    # Resolved on one device, closed on all.
    desk.run("resolve", conflict["id"], "--keep", "both")
    sync_all(team)
    joined = f"{conflict['current']['value']} / {conflict['other']['value']}"
    for device in team:
        assert device.json("conflicts") == []
        assert device.contacts()[priya]["title"] == joined
    closed = laptop.show(conflict["id"])
    assert (closed["status"], closed["resolution"], closed["resolved_by"]) == (
        "resolved",
        "both",
        "bob",
    )

    # Delete against an edit: deleted everywhere, with a conflict to restore from.
    tablet.run("delete", ravi)
    desk.run("edit", ravi, "--set", "notes=Moved to QA")
    sync_all(team)
    for device in team:
        assert ravi not in device.contacts()
        [gone] = device.json("conflicts")
        assert gone["field"] == "deleted" and gone["other"]["value"] == {"notes": "Moved to QA"}
    assert laptop.show(ravi)["deleted"] is True
    laptop.run("resolve", gone["id"], "--keep", "other")
    for device in team:
        device.sync()
    for device in team:
        record = device.contacts()[ravi]
        assert record["deleted"] is False and record["notes"] == "Moved to QA"
        assert device.pending() == 0


def test_a_second_workspace_sees_nothing_of_the_first(server, tmp_path):
    [ours] = devices(tmp_path, server, server.add_user("alice", "acme"), "ours")
    [theirs] = devices(tmp_path, server, server.add_user("eve", "globex"), "theirs")
    ours.add("vendor", "--name", "Acme Contact Solutions")
    ours.sync()
    assert theirs.sync() == {"pushed": 0, "pulled": 0, "conflicts": 0, "rejected": 0}
    assert theirs.json("list", "vendor") == []


def test_a_wrong_token_is_a_clear_error_and_the_queue_is_kept(server, tmp_path):
    device = Device(tmp_path / "device")
    refused = device.run("login", "--server", server.url, "--token", "wrong", check=False)
    assert refused.returncode != 0
    assert refused.stderr.strip().startswith("fieldrm: the server refused the token")
    assert len(refused.stderr.strip().splitlines()) == 1
    device.run("login", "--server", server.url, "--token", server.add_user("alice", "acme"))
    device.add("vendor", "--name", "Acme")
    # The token is revoked (here: replaced by a wrong one) while changes wait.
    with sqlite3.connect(device.home / "fieldrm.db") as conn:
        conn.execute("UPDATE state SET value = 'revoked' WHERE key = 'token'")
    failed = device.run("sync", check=False)
    assert failed.returncode != 0
    assert "refused the token" in failed.stderr and len(failed.stderr.splitlines()) == 1
    assert device.pending() == 1


def test_server_killed_mid_sync_then_the_next_sync_completes_exactly_once(server, tmp_path):
    token = server.add_user("alice", "acme")
    writer, reader = devices(tmp_path, server, token, "writer", "reader")
    count = 6000
    lines = [
        json.dumps({"kind": "observation", "text": f"observation {n} on the floor"})
        for n in range(count)
    ]
    (tmp_path / "notes.jsonl").write_text("\n".join(lines) + "\n")
    writer.run("import", str(tmp_path / "notes.jsonl"))
    assert writer.pending() == count

    def outbox() -> int:
        with sqlite3.connect(writer.home / "fieldrm.db", timeout=30) as conn:
            return conn.execute("SELECT count(*) FROM outbox").fetchone()[0]

    environment = {**os.environ, "PYTHONPATH": str(ROOT), "FIELDRM_HOME": str(writer.home)}
    syncing = subprocess.Popen(
        [sys.executable, "-m", "fieldrm", "sync"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: outbox() < count, "the first acknowledged batch", every=0.005)
    server.kill()
    _out, err = syncing.communicate(timeout=60)
    assert syncing.returncode != 0, "the sync finished before the server was killed"
    assert "cannot reach the server" in err
    left = outbox()
    assert 0 < left < count

    server.start()
    writer.sync()
    assert writer.pending() == 0
    reader.sync()
    texts = [record["text"] for record in reader.json("list", "observation")]
    assert len(texts) == count and len(set(texts)) == count


def test_a_device_whose_clock_is_a_day_ahead_is_refused_and_others_carry_on(server, tmp_path):
    token = server.add_user("alice", "acme")
    good, other = devices(tmp_path, server, token, "good", "other")
    ahead = Device(tmp_path / "ahead", env={"FIELDRM_CLOCK_OFFSET": str(24 * 3600)})
    ahead.run("login", "--server", server.url, "--token", token)
    device_id = ahead.json("status")["device_id"]
    ahead.add("vendor", "--name", "From the future")
    refused = ahead.run("sync", check=False)
    assert refused.returncode != 0
    message = refused.stderr.strip()
    assert len(message.splitlines()) == 1
    assert device_id in message and "1.0 days" in message
    assert ahead.pending() == 1

    good.add("vendor", "--name", "Acme")
    assert good.sync()["pushed"] == 1
    assert other.sync()["pulled"] == 1
    assert [v["name"] for v in other.json("list", "vendor")] == ["Acme"]
