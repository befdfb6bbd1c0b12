"""Contacts narrowed to a site and a role (SPEC §7, issue 11), and a site's org chart
reached from the site's card: Pilot tests asserting on the rows shown and widget state."""

from __future__ import annotations

import pytest
from textual.widgets import OptionList

from fieldrm.app import FieldrmApp
from fieldrm.screens.record_card import RecordCard
from tests.app.conftest import type_text, wait_until

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


def shown_names(table) -> list[str]:
    return [str(table.row_cells(i)[0]) for i in range(table.row_count)]


def people(store, site_id=None, role=None) -> list[str]:
    """What the list should show, read from the store without the screen's query."""
    return sorted(
        (c.name for c in store.list("contact", limit=10_000)
         if (site_id is None or c.site_id == site_id) and (role is None or c.role == role)),
        key=str.lower,
    )  # fmt: skip


async def choose(pilot, options_id: str, key: str) -> None:
    """Highlight the option `key` in the open choice and press Enter."""
    app = pilot.app
    await wait_until(pilot, lambda: bool(app.screen.query(f"#{options_id}")), "the choice opens")
    options = app.screen.query_one(f"#{options_id}", OptionList)
    options.highlighted = options.get_option_index(key)
    await pilot.press("enter")


def chart_names(chart) -> list[str]:
    names, stack = [], list(chart.root.children)
    while stack:
        node = stack.pop()
        names.append(str(node.label).split("  ")[0])
        stack.extend(node.children)
    return sorted(names, key=str.lower)


async def test_contacts_narrow_by_site_and_role_with_the_name_search(store):
    kolkata = store.resolve("Kolkata Salt Lake", ["site"])
    app = FieldrmApp(store, start_mode="contacts")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#contact-table")
        scope = app.screen.query_one("#contact-scope")
        await wait_until(pilot, lambda: table.row_count > 10, "contacts are listed")
        everyone = table.row_count
        assert not scope.display  # nothing narrowed: no filter line

        await pilot.press("s")
        await choose(pilot, "site-choices", kolkata.id)
        at_kolkata = people(store, kolkata.id)
        await wait_until(pilot, lambda: shown_names(table) == at_kolkata, "Kolkata's people")
        assert 1 < len(at_kolkata) < everyone
        assert scope.display and "Kolkata Salt Lake" in str(scope.render())

        await pilot.press("r")
        await choose(pilot, "role-choices", "team_leader")
        leads = people(store, kolkata.id, "team_leader")
        await wait_until(pilot, lambda: shown_names(table) == leads, "Kolkata's team leaders")
        assert len(leads) == 2
        assert "team leader" in str(scope.render())

        # The name search narrows within the site and the role.
        await pilot.press("slash")
        await type_text(pilot, leads[0].split()[0].lower())
        await wait_until(pilot, lambda: shown_names(table) == [leads[0]], "one name left")

        # Choosing "All" clears a filter; the other and the name search stay.
        await pilot.press("enter", "s")
        await choose(pilot, "site-choices", "")
        every_lead = [
            name for name in people(store, role="team_leader")
            if leads[0].split()[0].lower() in name.lower()
        ]  # fmt: skip
        await wait_until(pilot, lambda: shown_names(table) == every_lead, "site filter cleared")
        assert "Kolkata" not in str(scope.render()) and "team leader" in str(scope.render())


async def test_a_site_with_nobody_in_a_role_shows_no_one_left_over(store):
    kolkata = store.resolve("Kolkata Salt Lake", ["site"])
    assert people(store, kolkata.id, "hr_manager") == []
    app = FieldrmApp(store, start_mode="contacts")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#contact-table")
        card = app.screen.query_one("#contact-card")
        await wait_until(pilot, lambda: str(card.render()).strip() != "", "a card shows")
        await pilot.press("s")
        await choose(pilot, "site-choices", kolkata.id)
        await pilot.press("r")
        await choose(pilot, "role-choices", "hr_manager")
        await wait_until(pilot, lambda: "No one" in str(card.render()), "the card says no one")
        assert table.row_count == 0
        assert chart_names(app.screen.query_one("#org-chart")) == []


async def test_a_sites_card_opens_its_org_chart(store):
    kolkata = store.resolve("Kolkata Salt Lake", ["site"])
    app = FieldrmApp(store, start_mode="search")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.is_current, "search is shown")
        app.open_record(kolkata)  # what Enter on the site found by Search does
        await wait_until(pilot, lambda: isinstance(app.screen, RecordCard), "the site's card")
        assert app.screen.check_action("org_chart", ()) is True
        await pilot.press("g")
        await wait_until(pilot, lambda: app.current_mode == "contacts", "Contacts shows")
        screen = app.screen
        chart = screen.query_one("#org-chart")
        at_kolkata = people(store, kolkata.id)
        await wait_until(pilot, lambda: chart_names(chart) == at_kolkata, "Kolkata's org chart")
        assert shown_names(screen.query_one("#contact-table")) == at_kolkata
        assert "Kolkata Salt Lake" in str(screen.query_one("#contact-scope").render())
        await wait_until(pilot, lambda: app.focused is chart, "the chart has the focus")


async def test_a_card_that_is_not_a_site_has_no_org_chart_key(store):
    visit = store.list("visit", limit=1)[0]
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        app.open_record(visit)
        await wait_until(pilot, lambda: isinstance(app.screen, RecordCard), "the visit's card")
        assert app.screen.check_action("org_chart", ()) is False
        assert app.screen.palette_commands() == []
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, RecordCard) and app.current_mode == "today"


async def test_at_80_columns_every_screens_key_bar_ends_with_the_palette_key(store):
    """The Sync screen's bar used to be cut at `^p` (issue 11): the app's own keys give way
    first, the screen's keys, F1 and the palette key always show."""
    from fieldrm.screens.navigation import NAVIGATION

    app = FieldrmApp(store, start_mode="sync", prewarm_delay=None)
    async with app.run_test(size=(80, 24)) as pilot:
        for destination in NAVIGATION:
            app.switch_mode(destination.mode)
            await wait_until(pilot, lambda: app.screen.is_current, destination.title)
            bar = app.screen.query_one("#key-bar")
            await wait_until(pilot, lambda bar=bar: "palette" in str(bar.render()), "the bar")
            text = str(bar.render())
            assert len(text) <= 80 and text.endswith("^p palette"), (destination.mode, text)
            assert "f1 Keys" in text
            screen_keys = [
                app.get_key_display(binding)
                for node, binding, enabled, _ in app.screen.active_bindings.values()
                if binding.show and node is not app
            ]
            assert all(f" {key} " in text for key in screen_keys), (destination.mode, text)
        app.switch_mode("sync")
        await pilot.pause()
        sync_bar = str(app.screen.query_one("#key-bar").render())
        for word in ("current", "Take", "both", "Edit", "Later"):
            assert word in sync_bar


async def test_the_prewarm_builds_no_screen_once_the_app_is_closing(store):
    """Quitting while the other screens were being built in idle time ended the app with
    "dictionary changed size during iteration" (a mode added while Textual closed every
    screen stack; seen in two tests of tests/app under load)."""
    from fieldrm.screens.prewarm import build_screens, is_built

    app = FieldrmApp(store, start_mode="today", prewarm_delay=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.is_current, "Today shows")
        assert not is_built(app, "floor")
    assert not app.is_running  # as it is from the first step of shutting down
    await build_screens(app)
    assert not any(is_built(app, mode) for mode in ("floor", "contacts", "actions"))
