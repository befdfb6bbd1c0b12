"""The app against a real sync server process on 127.0.0.1: background sync on start,
after an edit, the status line online with nothing pending, and a second device that
receives what was typed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fieldrm.app import FieldrmApp
from fieldrm.screens.floor_walk import CaptureInput
from fieldrm.screens.widgets import StatusLine
from fieldrm.store import Store
from fieldrm.sync import client as sync_client
from tests.app.conftest import type_text, wait_until

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """`fieldrm server run` as a process, and one user's token."""
    db = str(tmp_path / "server.db")
    port = free_port()
    command = [sys.executable, "-m", "fieldrm", "server"]
    token = subprocess.run(
        [*command, "add-user", "rm-anna", "--workspace", "northwind", "--db", db],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip().split()[-1]  # fmt: skip
    process = subprocess.Popen(
        [*command, "run", "--db", db, "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # poll until the server answers (or the process died)
        assert process.poll() is None, process.stderr.read().decode()
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)  # wait-ok: polls /v1/health until the server answers, with a deadline
    yield url, token
    process.terminate()
    process.wait(timeout=30)


async def test_background_sync_online_status_and_a_second_device(store, server, tmp_path):
    url, token = server
    sync_client.login(store, url, token)
    assert store.pending_count() > 0  # the demo data waits to go up
    app = FieldrmApp(store, start_mode="floor", sync_after_edit=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        status_line = app.screen.query_one(StatusLine)
        await wait_until(pilot, lambda: status_line.has_class("-online"), "the first sync")
        await wait_until(
            pilot, lambda: "0 pending changes" in str(status_line.render()), "it is recounted"
        )
        assert "last sync just now" in str(status_line.render())
        assert any(" up, " in line for line in app.sync_history)

        assert isinstance(app.focused, CaptureInput)
        await type_text(pilot, "Fire exit on level 2 blocked by boxes #facility !critical")
        await pilot.press("enter")
        await wait_until(pilot, lambda: store.pending_count() == 0, "the edit is pushed")
        await wait_until(
            pilot, lambda: "0 pending changes" in str(status_line.render()), "status updated"
        )

    other = Store.open(tmp_path / "laptop-2" / "fieldrm.db")
    try:
        sync_client.login(other, url, token)
        sync_client.sync_once(other)
        texts = [o.text for o in other.list("observation")]
        assert "Fire exit on level 2 blocked by boxes" in texts
    finally:
        other.close()
