"""Fixtures for driving the real terminal app: a device store with the demo data, a frozen
clock, and helpers that wait on conditions (never on fixed sleeps)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from textual.worker import WorkerCancelled

from fieldrm.demo import load_demo
from fieldrm.models import format_timestamp, now_utc, parse_timestamp
from fieldrm.store import Store
from fieldrm.sync import replica

FROZEN_NOW = "2026-11-23T09:30:00Z"  # a Monday


@pytest.fixture
def anyio_backend() -> str:
    """Pilot tests run on asyncio (through anyio's pytest plugin, which httpx brings)."""
    return "asyncio"


@pytest.fixture
def frozen_clock(monkeypatch):
    """FIELDRM_NOW freezes the app's clock; TZ=UTC makes local times the same everywhere."""
    monkeypatch.setenv("FIELDRM_NOW", FROZEN_NOW)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def store(frozen_clock, _isolated_home):
    """The device's own database file under FIELDRM_HOME, with the demo loaded."""
    device = Store.open()
    load_demo(device)
    yield device
    device.close()


def contact_id(store: Store, name: str) -> str:
    return store.resolve(name, ["contact"]).id


async def wait_until(
    pilot, condition: Callable[[], bool], what: str, rounds: int = 400, seconds: float = 20.0
) -> None:
    """Let the app run (workers, messages, refreshes) until `condition()` holds: at least
    `rounds` turns and, on a loaded machine where a thread worker has not even started yet,
    until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    turn = 0
    while turn < rounds or time.monotonic() < deadline:
        turn += 1
        # A newer load may cancel an older one: fine, keep waiting.
        with contextlib.suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
        # Past the quick turns, give other threads the CPU between checks (a deliberate
        # poll interval inside a deadline-bounded wait).
        await pilot.pause(0.01 if turn > rounds // 4 else None)
        if condition():
            return
    raise AssertionError(f"timed out waiting until {what}")


@dataclass(frozen=True)
class Noted:
    message: str
    title: str
    severity: str


def record_notifications(app) -> list[Noted]:
    """Every notification `app` shows, kept for the test.  Textual forgets a notification
    once its timeout passes (5 s), which a loaded machine can spend before the test looks;
    what was said is a fact that does not expire."""
    noted: list[Noted] = []
    show = app.notify

    def notify(message, *, title="", severity="information", timeout=None, markup=True):
        noted.append(Noted(str(message), str(title), str(severity)))
        show(message, title=title, severity=severity, timeout=timeout, markup=markup)

    app.notify = notify
    return noted


async def type_text(pilot, text: str) -> None:
    await pilot.press(*text)


def add_conflict(
    store: Store, record_id: str, record_kind: str, field: str, current: object, other: object
) -> str:
    """A conflict arriving from the server, applied exactly as a pull applies one."""
    from fieldrm.models import new_id

    conflict_id = new_id()
    stamp = format_timestamp(now_utc())
    earlier = format_timestamp(parse_timestamp("2026-11-22T16:05:00Z"))
    registers = {
        "record_id": record_id,
        "record_kind": record_kind,
        "field": field,
        "current": {"value": current, "by": "alice", "device": "d1" * 8, "at": earlier},
        "other": {"value": other, "by": "bob", "device": "d2" * 8, "at": stamp},
        "status": "open",
        "created_at": stamp,
        "updated_at": stamp,
        "created_by": "server",
    }
    change = {
        "id": conflict_id,
        "kind": "conflict",
        "r": {name: [value, 1] for name, value in registers.items()},
    }
    replica.apply_changes(store, [change], {})
    return conflict_id
