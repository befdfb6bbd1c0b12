"""Issue 11's defects, each through the real app and Pilot, asserting on store rows and
widget state: background sync that never dies, a hung server, the cursor after an action,
a half-typed line kept as a draft, the status line's age."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from textual.widgets import DataTable

from fieldrm import notebook
from fieldrm.app import FieldrmApp
from fieldrm.screens.floor_walk import CaptureInput
from fieldrm.screens.virtual_list import VirtualList
from fieldrm.screens.widgets import StatusLine
from fieldrm.sync import client as sync_client
from tests.app.conftest import record_notifications, type_text, wait_until
from tests.support.servers import ServerProcess, add_user

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


async def wait_seconds(pilot, condition, what: str, seconds: float = 20.0) -> None:
    """Poll `condition` while the app runs, for up to `seconds` of real time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        if condition():
            return
    raise AssertionError(f"timed out waiting until {what}")


# ---------------------------------------------------------------- 1. double ctrl+r


async def test_double_ctrl_r_during_a_sync_keeps_background_sync_alive(store, monkeypatch):
    store.set_state("server", "http://127.0.0.1:9")
    store.set_state("token", "t")
    release = threading.Event()
    calls: list[float] = []

    def held_sync(device, *, client=None, progress=None):
        calls.append(time.monotonic())
        if len(calls) == 1:
            release.wait(10)  # the first sync hangs until both ctrl+r are pressed
        return sync_client.SyncResult(0, 0, 0, 0)

    monkeypatch.setattr(sync_client, "sync_once", held_sync)
    app = FieldrmApp(store, start_mode="today", sync_interval=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_seconds(pilot, lambda: len(calls) == 1, "the first sync runs")
        await pilot.press("ctrl+r", "ctrl+r")
        release.set()
        # The sync asked for during the first runs, then the periodic ones go on.
        await wait_seconds(pilot, lambda: len(calls) >= 4, "background sync goes on")
        assert app.sync_status.connection == "online"
        assert app.return_code is None  # no exception ended the app


# ---------------------------------------------------------------- 2. a hung server


@pytest.fixture
def hung_server(tmp_path):
    """A real `fieldrm server run` process, and a token for it."""
    db = f"sqlite:///{tmp_path / 'server.db'}"
    token = add_user(db, "anna", "northwind", tmp_path / "server-home")
    server = ServerProcess(db, tmp_path / "server-home").start()
    yield server, token
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


async def test_after_a_hung_server_resumes_the_app_syncs_without_a_key(store, hung_server):
    server, token = hung_server
    sync_client.login(store, server.url, token)
    app = FieldrmApp(
        store, start_mode="floor", sync_interval=30.0, retry_delays=(0.5,), sync_after_edit=0.1
    )
    deadline = 2.0
    original = sync_client.REQUEST_DEADLINE
    sync_client.REQUEST_DEADLINE = deadline
    try:
        async with app.run_test(size=SIZE) as pilot:
            status_line = app.screen.query_one(StatusLine)
            await wait_seconds(
                pilot, lambda: status_line.has_class("-online"), "the first sync", 60
            )
            os.kill(server.process.pid, signal.SIGSTOP)
            await pilot.press("ctrl+r")
            await wait_seconds(pilot, lambda: app.sync_status.connection == "syncing", "syncing")
            # A line captured while the sync hangs.
            await type_text(pilot, "Printer jammed on level 3 #facility")
            await pilot.press("enter")
            started = time.monotonic()
            await wait_seconds(
                pilot, lambda: app.sync_status.connection == "offline", "the hang is reported"
            )
            assert time.monotonic() - started < deadline * 4
            assert store.pending_count() >= 1  # the line waits on the device
            os.kill(server.process.pid, signal.SIGCONT)
            await wait_seconds(
                pilot,
                lambda: app.sync_status.connection == "online" and store.pending_count() == 0,
                "the app syncs again by itself",
            )
    finally:
        sync_client.REQUEST_DEADLINE = original


def test_a_hung_server_is_reported_within_the_deadline(store, hung_server):
    server, token = hung_server
    sync_client.login(store, server.url, token)
    os.kill(server.process.pid, signal.SIGSTOP)
    original = sync_client.REQUEST_DEADLINE
    sync_client.REQUEST_DEADLINE = 1.5
    started = time.monotonic()
    try:
        with pytest.raises(sync_client.Offline, match="did not answer within"):
            sync_client.sync_once(store)
    finally:
        sync_client.REQUEST_DEADLINE = original
        os.kill(server.process.pid, signal.SIGCONT)
    assert time.monotonic() - started < 3.0
    assert store.pending_count() > 0  # nothing lost


# ---------------------------------------------------------------- 4. the cursor stays put


async def test_done_keeps_the_cursor_on_the_next_row(store):
    app = FieldrmApp(store, start_mode="actions")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#record-table", VirtualList)
        await wait_until(pilot, lambda: table.row_count >= 4, "the actions are listed")
        await pilot.press("down", "down")
        keys = table.loaded_keys()[:4]
        assert table.current_key() == keys[2]
        await pilot.press("d")
        await wait_until(pilot, lambda: store.get(keys[2]).status == "done", "the action is closed")
        await wait_until(
            pilot, lambda: keys[2] not in table.loaded_keys(), "it leaves the open list"
        )
        assert table.cursor_row == 2
        assert table.current_key() == keys[3]


async def test_answer_keeps_the_cursor_on_the_next_row(store):
    app = FieldrmApp(store, start_mode="questions")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#record-table", VirtualList)
        await wait_until(pilot, lambda: table.row_count >= 3, "the questions are listed")
        await pilot.press("down")
        keys = table.loaded_keys()[:3]
        await pilot.press("a")
        await type_text(pilot, "yes, for two months")
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: store.get(keys[1]).status == "answered", "the question is answered"
        )
        await wait_until(
            pilot, lambda: keys[1] not in table.loaded_keys(), "it leaves the open list"
        )
        assert table.current_key() == keys[2]


# ---------------------------------------------------------------- 5. a draft survives


async def test_a_half_typed_line_survives_quitting_as_a_draft(store):
    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "Team 6 queue at 40 calls")
        await pilot.press("ctrl+q")
    assert notebook.draft(store) == "Team 6 queue at 40 calls"

    again = FieldrmApp(store, start_mode="floor")
    async with again.run_test(size=SIZE) as pilot:
        line = again.screen.query_one(CaptureInput)
        await wait_until(pilot, lambda: line.value == "Team 6 queue at 40 calls", "draft back")
        await pilot.press("enter")
        await wait_until(pilot, lambda: notebook.draft(store) is None, "the draft is spent")
    assert any(o.text == "Team 6 queue at 40 calls" for o in store.list("observation"))


async def test_a_draft_survives_a_screen_change(store):
    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "Aisle 2 lights")
        await wait_until(pilot, lambda: notebook.draft(store) == "Aisle 2 lights", "saved")
        await pilot.press("f2")
        await pilot.press("f3")
        line = app.screen.query_one(CaptureInput)
        assert line.value == "Aisle 2 lights"


# ---------------------------------------------------------------- 13. the status line ages


async def test_last_sync_ages_on_the_status_line(store, monkeypatch):
    monkeypatch.setattr(StatusLine, "AGE_EVERY", 0.1)
    store.set_state("last_sync", "2026-11-23T09:30:00Z")
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        status_line = app.screen.query_one(StatusLine)
        await wait_until(
            pilot, lambda: "last sync just now" in str(status_line.render()), "just now"
        )
        monkeypatch.setenv("FIELDRM_NOW", "2026-11-23T09:31:36Z")
        await wait_seconds(
            pilot, lambda: "last sync 1 min ago" in str(status_line.render()), "it ages", 5
        )


# ---------------------------------------------------------------- 13. the exit code


def test_the_app_exits_non_zero_after_a_traceback(store, monkeypatch):
    from functools import partialmethod

    from textual.app import App

    from fieldrm import app as app_module

    def broken(self) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app_module.Store, "open", staticmethod(lambda: store))
    monkeypatch.setattr(app_module.Store, "close", lambda self: None)
    monkeypatch.setattr(FieldrmApp, "run", partialmethod(App.run, headless=True))
    monkeypatch.setattr(FieldrmApp, "on_ready", broken)
    with pytest.raises(SystemExit) as exited:
        app_module.run_app()
    assert exited.value.code == 1


# ---------------------------------------------------------------- 7. visits: start, end


def open_a_visit(store):
    site = store.list("site", limit=1)[0]
    return store.create("visit", {"site_id": site.id, "started_at": "2026-11-23T08:00:00Z"})


async def test_ctrl_n_with_a_visit_open_refuses_and_leaves_it_open(store):
    visit = open_a_visit(store)
    app = FieldrmApp(store, start_mode="today")
    noted = record_notifications(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("ctrl+n")
        await wait_until(
            pilot,
            lambda: any("already open" in n.message for n in noted),
            "the refusal is said",
        )
        assert not app.screen.query("#site-input")  # no dialog to pick a site in
    assert store.get(visit.id).ended_at is None
    held = [v for v in store.list("visit") if not v.planned]  # the demo plans a review
    assert [v.id for v in held if v.ended_at is None] == [visit.id]


async def test_a_visit_asks_its_purpose_when_it_starts(store):
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await type_text(pilot, "kolk")
        options = app.screen.query_one("#site-options")
        await wait_until(pilot, lambda: options.option_count == 1, "one site matches")
        await pilot.press("enter")
        attendees = app.screen.query_one("#attendee-list")
        await wait_until(pilot, lambda: attendees.option_count > 1, "the site's people")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.query("#prompt-input"), "purpose is asked")
        await type_text(pilot, "Monthly QA calibration")
        await pilot.press("enter")
        await wait_until(pilot, lambda: store.open_visit() is not None, "the visit is saved")
    assert store.open_visit().purpose == "Monthly QA calibration"


async def test_ending_a_visit_asks_to_confirm_with_a_summary(store):
    visit = open_a_visit(store)
    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.visit is not None, "the visit shows")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: app.screen.query("#prompt-input"), "it asks first")
        await pilot.press("escape")  # changed my mind
        await pilot.pause()
        assert store.get(visit.id).ended_at is None
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: app.screen.query("#prompt-input"), "it asks again")
        await type_text(pilot, "Staffing fine, QA behind")
        await pilot.press("enter")
        await wait_until(pilot, lambda: store.get(visit.id).ended_at is not None, "ended")
    assert store.get(visit.id).summary == "Staffing fine, QA behind"


async def test_a_past_visit_can_be_exported_from_the_floor_walk(store, _isolated_home):
    app = FieldrmApp(store, start_mode="floor")  # the demo has only past visits
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: app.screen.query("#visit-options"), "visits listed")
        await pilot.press("enter")  # the latest visit
        await wait_until(
            pilot, lambda: not app.screen.query("#visit-options"), "the format choice opens"
        )
        await pilot.press("enter")  # Markdown
        reports = _isolated_home / "reports"
        await wait_until(pilot, lambda: reports.exists() and any(reports.iterdir()), "written")
    body = next(reports.iterdir()).read_text()
    held = [visit for visit in store.list("visit") if not visit.planned]
    latest = max(held, key=lambda v: str(v.started_at))
    assert str(latest.purpose or "") in body


# ---------------------------------------------------------------- 8. another process writes


async def test_screens_follow_a_cli_write_on_the_same_device(store):
    from fieldrm.store import Store

    app = FieldrmApp(store, start_mode="actions")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#record-table", VirtualList)
        await wait_until(pilot, lambda: table.row_count > 0, "the actions are listed")
        other = Store.open()  # what `fieldrm capture` opens: the same file, its own connection
        try:
            record, _ = notebook.capture(other, "> call the vendor about headsets ^tomorrow")
        finally:
            other.close()
        await wait_seconds(pilot, lambda: record.id in table.loaded_keys(), "the list shows it", 5)
        await wait_seconds(
            pilot, lambda: app.sync_status.pending == store.pending_count(), "recounted", 5
        )


# ---------------------------------------------------------------- 10. search opens a result


async def test_search_detail_reads_as_names_and_enter_opens_the_question(store):
    question = next(q for q in store.list("question") if q.escalated_to)
    owner = store.get(question.escalated_to).name
    word = max(question.text.split(), key=len)
    app = FieldrmApp(store, start_mode="search")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#search-results", VirtualList)
        await type_text(pilot, word)
        await wait_until(pilot, lambda: question.id in table.loaded_keys(), "the question is found")
        await pilot.press("down")
        table.move_cursor(row=table.index_of(question.id))
        detail = app.screen.query_one("#search-detail")
        await wait_until(pilot, lambda: owner in str(detail.render()), "names, not ids")
        shown = str(detail.render())
        assert question.escalated_to not in shown and question.id not in shown
        assert "T09:" not in shown and "Z" not in shown.split()  # no raw ISO stamps
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_mode == "questions", "it opens")
        listed = app.screen.query_one("#record-table", VirtualList)
        await wait_until(pilot, lambda: listed.current_key() == question.id, "on the question")


# ---------------------------------------------------------------- 12. 80x24


async def test_at_80_by_24_the_floor_walk_text_and_every_key_fit(store):
    from fieldrm.screens.widgets import KeyBar, NavBar

    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.screen.visit is None, "the floor walk loads")
        log = app.screen.query_one("#visit-log", DataTable)
        text_column = next(c for c in log.columns.values() if c.key.value == "text")
        assert text_column.width >= 38
        key_bar = str(app.screen.query_one(KeyBar).render())
        assert len(key_bar) <= 80
        for key in ("^o", "^g", "^q", "f1", "^r", "^p"):
            assert key in key_bar, key
        nav = str(app.screen.query_one(NavBar).render())
        assert len(nav) <= 80 and "F8" in nav


# ---------------------------------------------------------------- completion


async def test_tab_completes_categories_and_severities(store):
    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=SIZE) as pilot:
        line = app.screen.query_one(CaptureInput)
        await type_text(pilot, "Nesting batch behind #trai")
        await wait_until(pilot, lambda: bool(line.suggestion), "a category is suggested")
        await pilot.press("tab")
        assert line.value == "Nesting batch behind #training"
        await type_text(pilot, " !con")
        await wait_until(pilot, lambda: bool(line.suggestion), "a severity is suggested")
        await pilot.press("tab")
        assert line.value == "Nesting batch behind #training !concern"


async def test_at_offers_the_visits_attendees_first_and_tab_cycles(store):
    site = store.resolve("Manila Ortigas", ["site"])
    rowena = store.resolve("Rowena Bautista", ["contact"]).id
    store.create(
        "visit",
        {"site_id": site.id, "started_at": "2026-11-23T08:00:00Z", "attendees": [rowena]},
    )
    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.visit is not None, "the visit is loaded")
        line = app.screen.query_one(CaptureInput)
        await type_text(pilot, "Spoke with @R")
        await wait_until(pilot, lambda: bool(line.suggestion), "a name is suggested")
        await pilot.press("tab")
        assert line.value == "Spoke with @Rowena_Bautista"  # the attendee, not R… first
        await pilot.press("tab")
        second = line.value
        assert second.startswith("Spoke with @R") and second != "Spoke with @Rowena_Bautista"
        await pilot.press("tab", "tab", "tab")  # four R names: round to the first again
        assert line.value == "Spoke with @Rowena_Bautista"


# ---------------------------------------------------------------- older entries, undo


def _visit_with_three_entries(store):
    open_a_visit(store)
    return [
        notebook.capture(store, line)[0]
        for line in ("Team 4 huddle late #training", "? can agents swap shifts", "> book room ^fri")
    ]


async def test_delete_an_older_entry_then_undo(store):
    observation, question, action = _visit_with_three_entries(store)
    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.screen.entries) == 3, "the log loads")
        await pilot.press("ctrl+up")  # from the last entry to the one before
        await pilot.press("ctrl+delete")
        await wait_until(pilot, lambda: store.get(question.id).deleted, "the question is deleted")
        await wait_until(pilot, lambda: len(app.screen.entries) == 2, "it leaves the log")
        assert not store.get(action.id).deleted and not store.get(observation.id).deleted
        await pilot.press("ctrl+z")
        await wait_until(pilot, lambda: not store.get(question.id).deleted, "undone")
        await wait_until(pilot, lambda: len(app.screen.entries) == 3, "back in the log")


async def test_edit_an_older_entry_then_undo(store):
    observation, _, _ = _visit_with_three_entries(store)
    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.screen.entries) == 3, "the log loads")
        await pilot.press("ctrl+up", "ctrl+up", "up")  # select the first entry, edit it
        line = app.screen.query_one(CaptureInput)
        assert line.value.startswith("Team 4 huddle late")
        await pilot.press("ctrl+u")
        await type_text(pilot, "Team 4 huddle started 20 min late #training !concern")
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: store.get(observation.id).severity == "concern", "edited in place"
        )
        assert store.get(observation.id).text == "Team 4 huddle started 20 min late"
        await pilot.press("ctrl+z")
        await wait_until(
            pilot, lambda: store.get(observation.id).text == "Team 4 huddle late", "undone"
        )
        assert store.get(observation.id).severity is None


# ---------------------------------------------------------------- contacts in the app


async def _fill(pilot, app, values: dict[str, str]) -> None:
    from textual.widgets import Input

    for field_name, text in values.items():
        box = app.screen.query_one(f"#contact-{field_name}", Input)
        box.value = text
    await pilot.pause()


async def test_add_a_contact_in_the_app(store):
    ravi = store.resolve("Ravi Kumar", ["contact"])
    app = FieldrmApp(store, start_mode="contacts")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen.query("#contact-name"), "the form opens")
        await _fill(
            pilot,
            app,
            {
                "name": "Sunita Roy",
                "role": "team_lead",  # a unique prefix of team_leader
                "title": "TL, Team 9",
                "site": "Kolkata Salt Lake",
                "reports_to": "Ravi",
                "phones": "+91 98300 00000",
                "emails": "sunita@example.com",
                "tags": "new, night-shift",
            },
        )
        await pilot.press("ctrl+s")
        await wait_until(
            pilot, lambda: any(c.name == "Sunita Roy" for c in store.list("contact")), "saved"
        )
    sunita = next(c for c in store.list("contact") if c.name == "Sunita Roy")
    assert sunita.role == "team_leader"
    assert sunita.site_id == ravi.site_id
    assert sunita.reports_to == ravi.id
    assert sunita.phones == ["+91 98300 00000"]
    assert sunita.emails == ["sunita@example.com"]
    assert sorted(sunita.tags) == ["new", "night-shift"]


async def test_a_bad_value_in_the_contact_form_keeps_everything_typed(store):
    before = store.count("contact")
    app = FieldrmApp(store, start_mode="contacts")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen.query("#contact-name"), "the form opens")
        await _fill(pilot, app, {"name": "Joel Ong", "site": "Atlantis"})
        await pilot.press("ctrl+s")
        problem = app.screen.query_one("#contact-problem")
        await wait_until(pilot, lambda: "Atlantis" in str(problem.render()), "the reason shows")
        assert app.screen.query_one("#contact-name").value == "Joel Ong"
    assert store.count("contact") == before


async def test_edit_a_contact_in_the_app(store):
    ravi = store.resolve("Ravi Kumar", ["contact"])
    app = FieldrmApp(store, start_mode="contacts")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"ravi", "enter")
        table = app.screen.query_one("#contact-table", VirtualList)
        await wait_until(pilot, lambda: table.current_key() == ravi.id, "Ravi is highlighted")
        await pilot.press("e")
        await wait_until(pilot, lambda: app.screen.query("#contact-name"), "the form opens")
        assert app.screen.query_one("#contact-name").value == "Ravi Kumar"
        await _fill(pilot, app, {"title": "Senior Ops Manager"})
        await pilot.press("ctrl+s")
        await wait_until(
            pilot, lambda: store.get(ravi.id).title == "Senior Ops Manager", "the edit is saved"
        )
    assert store.get(ravi.id).name == "Ravi Kumar"
    assert store.get(ravi.id).role == ravi.role


# ---------------------------------------------------------------- 9. delete versus edit


async def test_a_delete_versus_edit_conflict_reads_plainly_and_restores(store):
    from fieldrm.screens.widgets import KeyBar
    from tests.app.conftest import add_conflict

    observation = store.list("observation", limit=1)[0]
    store.delete(observation.id)
    edit = {"text": "Headsets fixed on row 3", "severity": "positive"}
    add_conflict(store, observation.id, "observation", "deleted", True, edit)
    app = FieldrmApp(store, start_mode="sync")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#conflict-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the conflict is listed")
        current = str(app.screen.query_one("#conflict-current").render())
        other = str(app.screen.query_one("#conflict-other").render())
        assert "deleted" in current.lower() and "true" not in current.lower()
        assert "text: Headsets fixed on row 3" in other and "{" not in other
        row = " ".join(str(cell) for cell in table.get_row_at(0))
        assert "true" not in row.lower() and "{" not in row
        keys = str(app.screen.query_one(KeyBar).render())
        assert "Restore" in keys and "Take other" not in keys
        await pilot.press("r")
        await wait_until(pilot, lambda: not store.get(observation.id).deleted, "restored")


# ---------------------------------------------------------------- log in from the app


async def test_log_in_to_a_server_in_the_app_with_a_display_name(store, hung_server):
    server, token = hung_server
    app = FieldrmApp(store, start_mode="sync")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        await wait_until(pilot, lambda: app.screen.query("#login-server"), "the form opens")
        app.screen.query_one("#login-server").value = server.url
        app.screen.query_one("#login-token").value = token
        app.screen.query_one("#login-display-name").value = "Anna Lindqvist"
        await pilot.press("ctrl+s")
        await wait_seconds(pilot, lambda: store.get_state("user") == "anna", "logged in", 30)
        await wait_seconds(
            pilot, lambda: store.pending_count() == 0, "the first sync pushes the demo", 60
        )
    assert store.get_state("server") == server.url
    assert notebook.display_name(store) == "Anna Lindqvist"


async def test_a_wrong_token_in_the_login_form_is_said_and_nothing_is_kept(store, hung_server):
    server, _ = hung_server
    app = FieldrmApp(store, start_mode="sync")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        await wait_until(pilot, lambda: app.screen.query("#login-server"), "the form opens")
        app.screen.query_one("#login-server").value = server.url
        app.screen.query_one("#login-token").value = "not-a-token"
        await pilot.press("ctrl+s")
        form = app.screen
        problem = form.query_one("#login-problem")

        def answered() -> bool:
            said = str(problem.render()).strip()
            return bool(said) and not said.startswith("Checking")

        # The answer, however long a loaded machine takes (within a request's deadline and
        # the server's start): what is said then stays under the form, it never expires.
        await wait_seconds(
            pilot, answered, "the server's answer", sync_client.REQUEST_DEADLINE + 30
        )
        assert "refused the token" in str(problem.render())
        assert app.screen is form  # the form stays open, with what was typed
        assert form.query_one("#login-server").value == server.url
        assert form.query_one("#login-token").value == "not-a-token"
    assert store.get_state("server") is None
    assert store.get_state("token") is None


def test_reports_name_me_by_my_display_name(store):
    from fieldrm.report import visit_report

    site = store.list("site", limit=1)[0]
    visit = notebook.start_visit(store, site.id)
    notebook.capture(store, "> send the deck ^fri")
    notebook.set_display_name(store, "Anna Lindqvist")
    body = visit_report(store, visit.id, "md")
    assert "Anna Lindqvist" in body
    assert f"{store.user} (RM)" not in body
