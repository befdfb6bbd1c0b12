"""Pull cursors on PostgreSQL never skip a change that commits late (issue 5).

The interleaving that breaks a plain sequence: push A takes its numbers and is slow to
commit; push B takes later numbers and commits first; a device pulls in between and moves
its cursor past A's numbers.  `test_a_plain_sequence_skips_a_late_commit` shows the
interleaving really loses A on this PostgreSQL; the server's storage under the same
interleaving must lose nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from fieldrm.store import Store
from fieldrm.sync.replica import next_batch
from fieldrm.sync.server.backend import Tx
from fieldrm.sync.server.postgres import PostgresBackend
from fieldrm.sync.server.storage import Account, Storage

WAIT_S = 30.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)  # wait-ok: poll interval of a condition wait with a deadline


def sessions_waiting_on_a_lock(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


class PausingBackend(PostgresBackend):
    """Holds the next write transaction open after its work, just before it commits."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.hold_next = False
        self.holding = threading.Event()
        self.release = threading.Event()

    @contextmanager
    def transaction(self, write: bool) -> Iterator[Tx]:
        with super().transaction(write) as tx:
            hold, self.hold_next = (write and self.hold_next), False
            yield tx
            if hold:
                self.holding.set()
                assert self.release.wait(WAIT_S), "the test never released the push"


def device_ops(count: int, label: str) -> list[tuple[int, dict[str, Any]]]:
    """`count` observation creates as a real device numbers and writes them."""
    with Store.memory() as device:
        for number in range(count):
            device.create("observation", {"text": f"{label} {number}"})
        return [(entry.seq, json.loads(entry.op)) for entry in next_batch(device, 500, 1 << 20)]


def pulled_seqs(storage: Storage, account: Account, cursor: int) -> tuple[list[int], int]:
    """Everything a device pulls from `cursor` until the server says no more."""
    seqs: list[int] = []
    while True:
        page = storage.pull(account, "puller", cursor, 1000)
        seqs += [json.loads(body)["seq"] for body in page.bodies]
        cursor = page.next_cursor
        if not page.has_more:
            return seqs, cursor


def test_a_plain_sequence_skips_a_late_commit(postgres_url):
    """The control: with a bigserial cursor the interleaving loses push A's row."""
    with psycopg.connect(postgres_url, autocommit=True) as setup:
        setup.execute("CREATE TABLE log (seq bigserial PRIMARY KEY, body text)")
    with (
        psycopg.connect(postgres_url) as push_a,
        psycopg.connect(postgres_url) as push_b,
        psycopg.connect(postgres_url, autocommit=True) as puller,
    ):
        push_a.execute("INSERT INTO log(body) VALUES ('a')")  # takes seq 1, not committed
        push_b.execute("INSERT INTO log(body) VALUES ('b')")  # takes seq 2
        push_b.commit()
        seen = puller.execute("SELECT seq, body FROM log WHERE seq > 0 ORDER BY seq").fetchall()
        cursor = seen[-1][0]
        push_a.commit()
        seen += puller.execute(
            "SELECT seq, body FROM log WHERE seq > %s ORDER BY seq", [cursor]
        ).fetchall()
    assert [body for _seq, body in seen] == ["b"]  # 'a' committed, yet no pull returns it


@pytest.fixture
def pausing(postgres_url) -> Iterator[tuple[Storage, PausingBackend, Account]]:
    backend = PausingBackend(postgres_url)
    storage = Storage(backend)
    token = storage.add_user("alice", "team")
    account = storage.authenticate(token)
    assert account is not None
    yield storage, backend, account
    storage.close()


def test_a_pull_during_a_late_commit_misses_nothing(pausing, postgres_url):
    storage, backend, account = pausing
    ops_a, ops_b = device_ops(3, "a"), device_ops(2, "b")
    backend.hold_next = True
    push_a = threading.Thread(target=storage.push, args=(account, "device-a", ops_a))
    push_a.start()
    assert backend.holding.wait(WAIT_S)
    push_b = threading.Thread(target=storage.push, args=(account, "device-b", ops_b))
    push_b.start()
    # B must not commit ahead of A: it waits for A's lock (a sequence would let it through).
    wait_for(lambda: sessions_waiting_on_a_lock(postgres_url) == 1, "push B to wait on A")
    seen, cursor = pulled_seqs(storage, account, 0)
    backend.release.set()
    push_a.join(WAIT_S)
    push_b.join(WAIT_S)
    more, cursor = pulled_seqs(storage, account, cursor)
    assert seen == []
    assert more == [1, 2, 3, 4, 5]
    assert cursor == 5


def test_pulls_racing_many_pushes_see_every_change_once(pausing):
    """Eight devices push 40 small batches at once while a device pulls in a loop."""
    storage, _backend, account = pausing
    devices = {f"device-{n}": device_ops(40, f"d{n}") for n in range(8)}
    errors: list[BaseException] = []

    def push_all(device: str, ops: list[tuple[int, dict[str, Any]]]) -> None:
        try:
            for start in range(0, len(ops), 5):
                results = storage.push(account, device, ops[start : start + 5])
                assert {r["status"] for r in results} == {"applied"}
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    pushers = [threading.Thread(target=push_all, args=item) for item in devices.items()]
    for thread in pushers:
        thread.start()
    pulled: list[int] = []
    cursor = 0
    while any(thread.is_alive() for thread in pushers):
        page = storage.pull(account, "puller", cursor, 7)
        pulled += [json.loads(body)["seq"] for body in page.bodies]
        cursor = page.next_cursor
    for thread in pushers:
        thread.join()
    assert errors == []
    rest, cursor = pulled_seqs(storage, account, cursor)
    pulled += rest
    assert pulled == list(range(1, 8 * 40 + 1))
    assert cursor == 8 * 40
