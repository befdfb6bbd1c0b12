"""Several `fieldrm server run` processes on one PostgreSQL database (issue 5, SPEC §6).

The servers are real processes on 127.0.0.1; devices are in-process clients with their own
stores (and, for the storm, raw protocol clients that record every change they pull).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fieldrm.store import Store
from fieldrm.sync.client import Offline, login, sync_once
from fieldrm.sync.conflicts import open_conflicts, resolve_conflict
from fieldrm.sync.replica import next_batch
from fieldrm.sync.server import open_storage
from tests.support.postgres import PostgresCluster
from tests.support.servers import ServerProcess, add_user

WORKSPACE = "team"


@pytest.fixture
def two_servers(postgres_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    servers = [ServerProcess(postgres_url, tmp_path / f"server-{n}") for n in (1, 2)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def device(tmp_path: Path, name: str, server: ServerProcess, token: str) -> Store:
    store = Store.open(tmp_path / name / "fieldrm.db")
    login(store, server.url, token)
    return store


def test_devices_on_either_server_converge_and_conflicts_cross_over(
    postgres_url, two_servers, tmp_path
):
    one, two = two_servers
    alice = add_user(postgres_url, "alice", WORKSPACE, tmp_path)
    bob = add_user(postgres_url, "bob", WORKSPACE, tmp_path)
    laptop_a = device(tmp_path, "a", one, alice)
    laptop_b = device(tmp_path, "b", two, bob)
    laptop_c = device(tmp_path, "c", two, alice)
    everyone = (laptop_a, laptop_b, laptop_c)

    priya = laptop_a.create("contact", {"name": "Priya Nair", "tags": ["kolkata"]})
    sync_once(laptop_a)
    for laptop in (laptop_b, laptop_c):
        sync_once(laptop)
        assert laptop.get(priya.id).name == "Priya Nair"

    laptop_a.update(priya.id, set={"title": "Ops lead"}, add={"tags": ["vip"]})
    laptop_b.update(priya.id, set={"title": "Site lead", "notes": "met on floor 3"})
    laptop_b.update(priya.id, add={"tags": ["night-shift"]})
    sync_once(laptop_a)  # through server one
    assert sync_once(laptop_b).conflicts == 1  # through server two, concurrent title
    sync_once(laptop_a)
    sync_once(laptop_c)

    states = [laptop.get(priya.id) for laptop in everyone]
    assert len({state.title for state in states}) == 1
    assert {state.notes for state in states} == {"met on floor 3"}
    assert {frozenset(state.tags) for state in states} == {
        frozenset({"kolkata", "vip", "night-shift"})
    }
    conflicts = [open_conflicts(laptop) for laptop in everyone]
    assert [len(found) for found in conflicts] == [1, 1, 1]
    assert len({found[0].id for found in conflicts}) == 1
    conflict = conflicts[0][0]
    losing = {"Ops lead", "Site lead"} - {states[0].title}

    # Resolved on a device of server two; closed on the devices of server one as well.
    resolve_conflict(laptop_b, conflict.id, "other")
    sync_once(laptop_b)
    sync_once(laptop_a)
    sync_once(laptop_c)
    assert [open_conflicts(laptop) for laptop in everyone] == [[], [], []]
    assert {laptop.get(priya.id).title for laptop in everyone} == losing
    assert laptop_a.get(conflict.id).to_json()["status"] != "open"

    storage = open_storage(postgres_url)
    try:
        on_server = {record["id"]: record for record in storage.records(WORKSPACE)}
    finally:
        storage.close()
    assert on_server[priya.id]["title"] == losing.pop()
    for laptop in everyone:
        assert laptop.count("contact") == 1
        laptop.close()


def test_a_server_killed_mid_sync_leaves_nothing_behind_the_other_one_finishes(
    postgres_url, two_servers, tmp_path
):
    """Server processes hold no state: a device whose server dies carries on with another."""
    one, two = two_servers
    alice = add_user(postgres_url, "alice", WORKSPACE, tmp_path)
    laptop = device(tmp_path, "laptop", one, alice)
    other = device(tmp_path, "other", two, alice)
    for number in range(2000):  # four pushes of 500
        laptop.create("observation", {"text": f"floor note {number}"})
    outcome: list[BaseException | None] = []

    def sync() -> None:
        try:
            sync_once(laptop)
            outcome.append(None)
        except BaseException as error:  # the main thread looks at it
            outcome.append(error)

    syncing = threading.Thread(target=sync)
    syncing.start()
    deadline = time.monotonic() + 60
    while laptop.pending_count() == 2000 and time.monotonic() < deadline:
        time.sleep(0.005)  # wait-ok: polls until the first ack, bounded by a deadline
    one.kill()  # SIGKILL, somewhere after the first acknowledged push
    syncing.join()
    # Cut short (the other pushes take far longer than noticing the first ack), queue kept.
    assert isinstance(outcome[0], Offline)
    assert 0 < laptop.pending_count() < 2000
    login(laptop, two.url, alice)
    sync_once(laptop)
    sync_once(other)
    assert laptop.pending_count() == 0
    assert laptop.count("observation") == other.count("observation") == 2000
    storage = open_storage(postgres_url)
    try:
        assert sum(1 for _ in storage.records(WORKSPACE)) == 2000
        assert storage.high_water(WORKSPACE) == 2000  # each change applied exactly once
    finally:
        storage.close()
    laptop.close()
    other.close()


def test_one_batch_pushed_through_both_servers_at_once_is_applied_once(
    postgres_url, two_servers, tmp_path
):
    """A retry that a load balancer sends to the other process while the first still runs."""
    token = add_user(postgres_url, "alice", WORKSPACE, tmp_path)
    body = {"device": "laptop", "ops": made_ops(300, "retry")}
    answers: list[httpx.Response] = []
    start = threading.Barrier(len(two_servers))

    def push(server: ServerProcess) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            start.wait()
            answers.append(http.post("/v1/push", json=body))

    threads = [threading.Thread(target=push, args=(server,)) for server in two_servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200, 200]
    statuses = [Counter(r["status"] for r in a.json()["results"]) for a in answers]
    # One applies the batch; the other waits on the workspace lock and finds duplicates.
    ordered = sorted(statuses, key=lambda counts: counts["applied"])
    assert ordered == [Counter(duplicate=300), Counter(applied=300)]
    storage = open_storage(postgres_url)
    try:
        assert storage.high_water(WORKSPACE) == 300
        assert sum(1 for _ in storage.records(WORKSPACE)) == 300
    finally:
        storage.close()


def test_a_postgresql_restart_costs_a_retry_not_a_failed_sync(tmp_path):
    """Pooled connections all break with a restart; the server replaces them at once."""
    with PostgresCluster() as cluster:
        url = cluster.create_database()
        token = add_user(url, "alice", WORKSPACE, tmp_path)
        with ServerProcess(url, tmp_path / "server") as server:
            laptop = device(tmp_path, "laptop", server, token)
            laptop.create("vendor", {"name": "Teleperformance"})
            sync_once(laptop)
            cluster.restart()
            laptop.create("vendor", {"name": "Concentrix"})
            assert sync_once(laptop).pushed == 1
            assert laptop.pending_count() == 0
            laptop.close()


# ---------------------------------------------------------------- the storm


DEVICES = 20
CHANGES = 1000
PUSH_BATCH = 100
PULLERS = 4


def made_ops(count: int, label: str) -> list[list[Any]]:
    """`count` creates exactly as a device's outbox holds them: [[device seq, op], ...]."""
    with Store.memory() as store:
        for number in range(count):
            store.create("observation", {"text": f"{label} saw {number}", "tags": [label]})
        ops: list[list[Any]] = []
        while len(ops) < count:
            batch = next_batch(store, 500, 1 << 20)
            ops += [[entry.seq, json.loads(entry.op)] for entry in batch]
            with store.transaction() as conn:
                conn.executemany("DELETE FROM outbox WHERE seq = ?", [(e.seq,) for e in batch])
    return ops


class RawDevice:
    """A device speaking the protocol directly, keeping every change it is sent."""

    def __init__(self, name: str, servers: list[ServerProcess], token: str) -> None:
        self.name = name
        # No gzip on loopback: the test pulls ~400,000 changes and compressing them would
        # cost most of its time (gzip itself is covered by the sync suite).
        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
        self.clients = [httpx.Client(base_url=server.url, headers=headers) for server in servers]
        self.turn = 0
        self.cursor = 0
        self.pulled: list[dict[str, Any]] = []
        self.pages = 0
        self.retried = 0

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Round robin, as a load balancer would; a dropped connection is retried once
        (uvicorn closes idle keep-alive connections, which can race a new request)."""
        for attempt in (1, 2):
            self.turn += 1
            client = self.clients[self.turn % len(self.clients)]
            try:
                answer = client.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt == 2:
                    raise
                self.retried += 1
                continue
            answer.raise_for_status()
            return answer
        raise AssertionError("unreachable")

    def push(self, ops: list[list[Any]]) -> None:
        retried = self.retried
        answer = self._request("POST", "/v1/push", json={"device": self.name, "ops": ops})
        statuses = {result["status"] for result in answer.json()["results"]}
        # A retried push may find its first attempt applied: then its ops are duplicates.
        allowed = {"applied"} if retried == self.retried else {"applied", "duplicate"}
        assert statuses <= allowed, answer.text

    def pull_page(self, limit: int = 1000) -> bool:
        """One page; True when the server says there is more."""
        params = {"device": self.name, "cursor": self.cursor, "limit": limit}
        page = self._request("GET", "/v1/pull", params=params).json()
        assert page["next_cursor"] >= self.cursor
        self.pulled += page["changes"]
        self.cursor = page["next_cursor"]
        self.pages += 1
        return bool(page["has_more"])

    def drain(self) -> None:
        while self.pull_page():
            pass

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.mark.slow
def test_twenty_devices_push_at_once_while_others_pull_and_nothing_is_missed(
    postgres_url, two_servers, tmp_path
):
    tokens = [add_user(postgres_url, name, WORKSPACE, tmp_path) for name in ("alice", "bob")]
    ops = {f"pusher-{n:02d}": made_ops(CHANGES, f"d{n}") for n in range(DEVICES)}
    pushers = [RawDevice(name, two_servers, tokens[n % 2]) for n, name in enumerate(ops)]
    pullers = [RawDevice(f"puller-{n}", two_servers, tokens[n % 2]) for n in range(PULLERS)]
    # Two full devices run the real client (store, outbox, cursor) through the storm.
    full = [device(tmp_path, f"full-{n}", two_servers[n], tokens[n]) for n in (0, 1)]
    pushing_done = threading.Event()
    errors: list[BaseException] = []

    def guarded(work: Any) -> Any:
        def run(*args: Any) -> None:
            try:
                work(*args)
            except BaseException as error:  # the main thread reports it
                errors.append(error)

        return run

    def push_all(pusher: RawDevice) -> None:
        mine = ops[pusher.name]
        for start in range(0, CHANGES, PUSH_BATCH):
            pusher.push(mine[start : start + PUSH_BATCH])
            pusher.pull_page()  # devices pull between pushes, as sync does

    def pull_while_pushing(puller: RawDevice) -> None:
        while not pushing_done.is_set():
            puller.pull_page(limit=250)
        puller.drain()

    def sync_while_pushing(store: Store) -> None:
        while not pushing_done.is_set():
            sync_once(store)
        sync_once(store)

    push_threads = [threading.Thread(target=guarded(push_all), args=(p,)) for p in pushers]
    other_threads = [
        threading.Thread(target=guarded(pull_while_pushing), args=(p,)) for p in pullers
    ] + [threading.Thread(target=guarded(sync_while_pushing), args=(s,)) for s in full]
    for thread in other_threads + push_threads:
        thread.start()
    for thread in push_threads:
        thread.join()
    pushing_done.set()
    for thread in other_threads:
        thread.join()
    assert errors == []
    drains = [threading.Thread(target=guarded(pusher.drain)) for pusher in pushers]
    for thread in drains:
        thread.start()
    for thread in drains:
        thread.join()
    assert errors == []

    total = DEVICES * CHANGES
    ids_of = {name: {op["id"] for _seq, op in device_ops} for name, device_ops in ops.items()}
    every_id = set().union(*ids_of.values())
    assert len(every_id) == total
    for puller in pullers:
        seqs = [change["seq"] for change in puller.pulled]
        assert seqs == list(range(1, total + 1)), f"{puller.name} missed or repeated changes"
        assert puller.pages > 2  # it really pulled while the others pushed
        assert {change["id"] for change in puller.pulled} == every_id
    for pusher in pushers:
        seqs = [change["seq"] for change in pusher.pulled]
        assert seqs == sorted(set(seqs))  # never the same change twice, never backwards
        got = Counter(change["id"] for change in pusher.pulled)
        assert set(got) == every_id - ids_of[pusher.name]
        assert set(got.values()) == {1}
    for store in full:
        assert store.count("observation") == total
        assert store.pending_count() == 0
        store.close()
    for raw in pushers + pullers:
        raw.close()
