"""Workers and the UI thread: a worker that fails reaches the one error path (the App's
report_error) and leaves its list usable; workers post messages, handlers own UI state."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from fieldrm.app import FieldrmApp
from fieldrm.screens import record_list
from fieldrm.screens.virtual_list import VirtualList
from fieldrm.store.queries import PAGE_SIZE
from tests.app.conftest import wait_until

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


async def test_a_failing_page_is_reported_once_and_the_next_attempt_loads_it(store, monkeypatch):
    with store.transaction():
        for number in range(PAGE_SIZE * 2 + 10):
            store.create("action", {"text": f"bulk action {number:04d}"})
    real_page = record_list.list_page
    failures = {"left": 1}

    def flaky_page(store, flt, *, offset=0, limit=PAGE_SIZE):
        if offset > 0 and failures["left"]:
            failures["left"] -= 1
            raise OSError("disk I/O error")
        return real_page(store, flt, offset=offset, limit=limit)

    monkeypatch.setattr(record_list, "list_page", flaky_page)
    app = FieldrmApp(store, start_mode="actions", prewarm_delay=None)
    reported: list[BaseException] = []
    report_error = app.report_error

    def record_report(error: BaseException, title: str | None = None) -> None:
        reported.append(error)
        report_error(error, title)

    app.report_error = record_report  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#record-table", VirtualList)
        loaded = table.loaded_keys
        await wait_until(pilot, lambda: len(loaded()) == PAGE_SIZE, "the first window is in")
        first = loaded()
        await pilot.press("end")
        await wait_until(pilot, lambda: bool(reported), "the failure is reported")
        assert [str(error) for error in reported] == ["disk I/O error"]  # once, not twice
        assert loaded()[:PAGE_SIZE] == first  # what was loaded stays
        # The list stays usable: moving again fetches the window that failed.
        await pilot.press("up")
        await wait_until(pilot, lambda: len(loaded()) == table.row_count, "every window is in")
        assert table.row_count > PAGE_SIZE * 2
        assert table.current_key() == loaded()[-2]
    assert len(reported) == 1


async def test_a_failed_sync_is_logged_once_and_the_sync_screen_shows_that_log(store):
    from tests.app.test_app import closed_port

    store.set_state("server", f"http://127.0.0.1:{closed_port()}")
    store.set_state("token", "not-a-real-token")
    app = FieldrmApp(store, start_mode="sync", retry_delays=(3600.0,), prewarm_delay=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.sync_status.connection == "offline", "it fails")
        assert app.sync_history is app.sync_status.history  # the one history
        assert len(app.sync_history) == 1 and "offline" in app.sync_history[0]
        log = app.screen.query_one("#sync-log")
        await wait_until(pilot, lambda: "offline" in str(log.render()), "the log shows it")


async def test_no_sql_runs_on_the_ui_thread(store):
    """Start-up (choosing the first screen), every screen's first visit, typing a capture
    line and saving it: every statement runs in a worker thread, none on the UI thread."""
    import threading

    from fieldrm.screens.navigation import NAVIGATION

    on_ui_thread: list[str] = []

    def trace(statement: str) -> None:
        if threading.current_thread() is threading.main_thread():
            on_ui_thread.append(statement)

    app = FieldrmApp(store, prewarm_delay=None)  # no start mode: it reads the open visit
    store.conn.set_trace_callback(trace)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.current_mode == "today", "the first screen")
            for row in NAVIGATION:
                await pilot.press(row.key)
                await wait_until(pilot, lambda row=row: app.current_mode == row.mode, row.title)
            await pilot.press("f3", *"Queue board outdated @Pri", "tab", "enter")
            log = app.screen.query_one("#visit-log", DataTable)

            def logged() -> bool:
                return any("Queue board" in str(log.get_row(key)[3]) for key in log.rows)

            await wait_until(pilot, logged, "the observation is saved and logged")
    finally:
        store.conn.set_trace_callback(None)
    assert on_ui_thread == []
