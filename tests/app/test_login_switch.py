"""The app's login form refuses to mix workspaces (SPEC §5.13), the same decision as
`fieldrm login` (sync/workspace.py): the refusal shows in the form with what was typed kept,
and the form's fresh start backs the device up and empties it.  Real server process."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Input

from fieldrm.app import FieldrmApp
from fieldrm.sync import client as sync_client
from tests.app.test_field_ready import SIZE, wait_seconds
from tests.support.servers import ServerProcess, add_user

pytestmark = pytest.mark.anyio


@pytest.fixture
def two_workspaces(tmp_path):
    db = f"sqlite:///{tmp_path / 'server.db'}"
    home = tmp_path / "server-home"
    tokens = (add_user(db, "anna", "northwind", home), add_user(db, "eve", "globex", home))
    server = ServerProcess(db, home).start()
    yield server, tokens
    server.stop()


async def test_the_login_form_refuses_another_workspace_then_starts_fresh(store, two_workspaces):
    server, (anna, eve) = two_workspaces
    sync_client.login(store, server.url, anna)
    held = store.record_count()
    assert held > 0 and store.pending_count() > 0  # the demo data, not yet synced
    device = store.device_id
    app = FieldrmApp(store, start_mode="sync", sync_interval=3600.0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        await wait_seconds(pilot, lambda: app.screen.query("#login-server"), "the form opens")
        app.screen.query_one("#login-server", Input).value = server.url
        app.screen.query_one("#login-token", Input).value = eve
        await pilot.press("ctrl+s")
        problem = app.screen.query_one("#login-problem")
        await wait_seconds(pilot, lambda: "globex" in str(problem.render()), "the refusal")
        shown = str(problem.render())
        assert "northwind" in shown and "--fresh" in shown
        assert app.screen.query_one("#login-token", Input).value == eve  # typed, kept
        assert store.get_state("workspace") == "northwind" and store.device_id == device
        assert store.record_count() == held

        app.screen.query_one("#login-fresh", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_seconds(
            pilot, lambda: store.get_state("workspace") == "globex", "the fresh start", 30
        )
    assert store.device_id != device
    assert store.list("contact") == [] and store.pending_count() == 0
    [backup] = [path for path in store.path.parent.iterdir() if "northwind" in path.name]
    assert backup.stat().st_size > 0
