"""One table of navigation: the App's modes and keys, the navigation bar and Today's
shortcuts all come from `screens/navigation.py`."""

from __future__ import annotations

import pytest

from fieldrm.app import FieldrmApp
from fieldrm.screens.navigation import NAVIGATION, key_of
from fieldrm.screens.today import TodayScreen
from fieldrm.screens.widgets import NavBar
from tests.app.conftest import wait_until

pytestmark = pytest.mark.anyio


def test_the_app_has_a_mode_and_a_key_for_every_row():
    assert list(FieldrmApp.MODES) == [row.mode for row in NAVIGATION]
    keys = {binding.key: binding.action for binding in FieldrmApp.BINDINGS}
    for row in NAVIGATION:
        assert keys[row.key] == f"switch_mode('{row.mode}')"
    assert key_of("sync") == "F7"


def test_todays_shortcuts_are_rows_of_the_table():
    by_mode = {row.mode: row for row in NAVIGATION}
    switches = [b for b in TodayScreen.BINDINGS if b.action.startswith("app.switch_mode(")]
    assert len(switches) == 3  # Today's other keys (the agenda) open no mode
    for binding in switches:
        mode = binding.action.removeprefix("app.switch_mode('").removesuffix("')")
        assert (binding.key, binding.description) == (by_mode[mode].key, by_mode[mode].title)


async def test_every_row_opens_its_screen_and_the_bar_names_it(store):
    app = FieldrmApp(store, start_mode="today", prewarm_delay=None)
    async with app.run_test(size=(120, 40)) as pilot:
        for row in NAVIGATION:
            await pilot.press(row.key)
            await wait_until(pilot, lambda row=row: app.current_mode == row.mode, row.title)
            bar = str(app.screen.query_one(NavBar).render())
            assert all(f"{r.key.upper()} {r.title}" in bar for r in NAVIGATION)
