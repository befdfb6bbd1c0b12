"""A long sync shows its progress in the app's status line (SPEC §10)."""

from __future__ import annotations

import threading

import pytest

from fieldrm.app import FieldrmApp
from fieldrm.screens import sync_scheduler
from fieldrm.screens.widgets import status_text
from fieldrm.sync import client as sync_client
from tests.app.test_field_ready import SIZE, wait_seconds

pytestmark = pytest.mark.anyio


async def test_a_long_sync_shows_its_progress_then_clears_it(store, monkeypatch):
    store.set_state("server", "http://127.0.0.1:9")
    store.set_state("token", "t")
    release = threading.Event()

    def long_sync(device, *, client=None, progress=None):
        progress("push", 500, 2000)
        progress("pull", 1500, None)
        release.wait(10)
        return sync_client.SyncResult(2000, 1500, 0, 0)

    monkeypatch.setattr(sync_client, "sync_once", long_sync)
    monkeypatch.setattr(sync_scheduler, "PROGRESS_AFTER", 0.0)
    app = FieldrmApp(store, start_mode="today", sync_interval=30)
    async with app.run_test(size=SIZE) as pilot:
        await wait_seconds(
            pilot, lambda: app.sync_status.progress == "pulled 1,500", "the pull's progress"
        )
        assert "pulled 1,500" in status_text(app.sync_status).plain
        release.set()
        await wait_seconds(pilot, lambda: app.sync_status.connection == "online", "sync ends")
        assert app.sync_status.progress is None
        assert "pulled 1,500" not in status_text(app.sync_status).plain
