"""The long-list widget (VirtualList): only the rows on screen are fetched and drawn, by
window; the cursor, keys, Enter and reloads behave as the screens expect."""

from __future__ import annotations

import threading

import pytest
from textual.app import App, ComposeResult

from fieldrm.screens.virtual_list import VirtualList
from tests.app.conftest import wait_until

pytestmark = pytest.mark.anyio

ROWS = 100_000
WINDOW = 50


class ListApp(App[None]):
    """A VirtualList over a synthetic 100,000-row source that records what was asked."""

    def __init__(self, rows: int = ROWS) -> None:
        super().__init__()
        self.rows = rows
        self.asked: list[int] = []
        self.lock = threading.Lock()
        self.highlighted: list[str] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield VirtualList((("Row", 10), ("Text", None)), window=WINDOW, id="list")

    def fetch(self, offset: int, limit: int) -> list:
        with self.lock:
            self.asked.append(offset)
        end = min(offset + limit, self.rows)
        return [(f"k{n}", (str(n), f"text {n}"), {"n": n}) for n in range(offset, end)]

    def on_mount(self) -> None:
        self.query_one(VirtualList).focus()
        self.query_one(VirtualList).load(self.fetch, lambda: self.rows)

    def on_virtual_list_highlighted(self, message: VirtualList.Highlighted) -> None:
        self.highlighted.append(message.key)

    def on_virtual_list_selected(self, message: VirtualList.Selected) -> None:
        self.selected.append(message.key)


def drawn(widget: VirtualList) -> list[str]:
    return [
        "".join(segment.text for segment in widget.render_line(y)).strip()
        for y in range(widget.size.height)
    ]


async def test_a_huge_list_fetches_and_draws_only_what_is_shown():
    app = ListApp()
    async with app.run_test(size=(60, 12)) as pilot:
        listed = app.query_one(VirtualList)
        await wait_until(pilot, lambda: listed.current_key() == "k0", "the first window")
        assert listed.row_count == ROWS
        assert app.asked == [0]  # one window, not 100,000 rows
        lines = drawn(listed)
        assert lines[0].split() == ["Row", "Text"]
        assert lines[1].split() == ["0", "text", "0"]
        await pilot.press("end")
        await wait_until(pilot, lambda: listed.current_key() == f"k{ROWS - 1}", "the last row")
        assert listed.cursor_row == ROWS - 1
        assert drawn(listed)[-1].split() == [str(ROWS - 1), "text", str(ROWS - 1)]
        # Only the windows on screen were fetched: the first and the one(s) at the end.
        assert set(app.asked) <= {0, ROWS - WINDOW, ROWS - 2 * WINDOW}
        assert len(listed.loaded_keys()) <= 3 * WINDOW
        assert app.highlighted[-1] == f"k{ROWS - 1}"


async def test_keys_move_the_cursor_and_enter_selects_its_row():
    app = ListApp()
    async with app.run_test(size=(60, 12)) as pilot:
        listed = app.query_one(VirtualList)
        await wait_until(pilot, lambda: listed.current_key() == "k0", "the first window")
        await pilot.press("down", "down")
        assert listed.cursor_row == 2 and listed.current_key() == "k2"
        await pilot.press("pagedown")
        page = listed.cursor_row - 2
        assert 5 <= page <= 12  # a screenful (the header line excluded)
        # The cursor is on screen: its row is drawn.
        assert any(line.split()[:1] == [str(listed.cursor_row)] for line in drawn(listed)[1:])
        await pilot.press("up", "enter")
        assert app.selected == [f"k{page + 1}"]
        assert app.highlighted[-1] == f"k{page + 1}"
        await pilot.press("home")
        assert listed.cursor_row == 0


async def test_a_reload_keeps_the_cursor_on_its_row_or_takes_the_next():
    app = ListApp(rows=200)
    async with app.run_test(size=(60, 12)) as pilot:
        listed = app.query_one(VirtualList)
        await wait_until(pilot, lambda: listed.current_key() == "k0", "the first window")
        listed.move_cursor(row=120)
        await wait_until(pilot, lambda: listed.current_key() == "k120", "row 120 fetched")
        listed.load(app.fetch, lambda: app.rows)  # the same rows again: the cursor stays
        await wait_until(pilot, lambda: app.asked.count(0) == 2, "reloaded")
        await wait_until(pilot, lambda: listed.current_key() == "k120", "still on k120")

        def without_120(offset: int, limit: int) -> list:
            return [row for row in app.fetch(offset, limit + 1) if row[0] != "k120"][:limit]

        app.rows = 199
        listed.load(without_120, lambda: app.rows)  # k120 left the list: the next row
        await wait_until(pilot, lambda: listed.current_key() == "k121", "on the next row")
        assert listed.cursor_row == 120
        listed.show([])  # an empty list: no key, nothing drawn but the header
        assert listed.current_key() is None and listed.row_count == 0
        assert [line for line in drawn(listed)[1:] if line] == []


async def test_new_rows_shown_put_the_cursor_on_the_first():
    """Search's results as you type: each new result list starts at its first row."""
    app = ListApp(rows=0)
    async with app.run_test(size=(60, 12)) as pilot:
        listed = app.query_one(VirtualList)
        listed.show([(f"a{n}", (str(n), "a"), None) for n in range(30)])
        listed.move_cursor(row=20)
        assert listed.current_key() == "a20"
        listed.show([(f"b{n}", (str(n), "b"), None) for n in range(25)])
        await pilot.pause()
        assert listed.cursor_row == 0 and listed.current_key() == "b0"
        assert drawn(listed)[1].split() == ["0", "b"]


async def test_a_failed_first_load_is_reported_and_loaded_whole_on_the_next_key():
    app = ListApp(rows=0)
    reported: list[BaseException] = []
    app.report_error = reported.append  # type: ignore[attr-defined]
    async with app.run_test(size=(60, 12)) as pilot:
        listed = app.query_one(VirtualList)
        await wait_until(pilot, lambda: app.asked == [0], "the empty list loaded")
        failing = {"left": 1}

        def count() -> int:
            if failing["left"]:
                failing["left"] -= 1
                raise OSError("disk I/O error")
            return 300

        app.rows = 300
        listed.load(app.fetch, count)
        await wait_until(pilot, lambda: bool(reported), "the failure is reported")
        assert [str(error) for error in reported] == ["disk I/O error"]
        assert listed.row_count == 0  # nothing half-loaded
        await pilot.press("down")  # the next key asks again: count and rows together
        await wait_until(pilot, lambda: listed.row_count == 300, "the list is loaded")
        assert listed.current_key() is not None
        assert len(reported) == 1
