"""A few pictures of the main screens, with a frozen clock and the demo data.

Run `pytest tests/app/test_snapshots.py --snapshot-update` after an intended change and
review the SVGs in `__snapshots__`; Pilot tests (test_app.py) check the state behind them.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from fieldrm.app import FieldrmApp
from fieldrm.notebook import capture
from tests.app.conftest import add_conflict, contact_id, wait_until

SIZE = (120, 36)


def settled(condition=lambda app: True, what="the screen is loaded"):
    """A run_before that waits for the screen's data, then stops cursor blinking."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_until(pilot, lambda: condition(app), what)
        for field in app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    return run_before


def test_today(store, snap_compare):
    app = FieldrmApp(store, start_mode="today")
    assert snap_compare(app, terminal_size=SIZE, run_before=settled())


def open_visit_with_entries(store) -> None:
    """An open visit at Kolkata with Ravi and Priya, and one entry of each kind."""
    site = store.resolve("Kolkata Salt Lake", ["site"])
    attendees = [contact_id(store, "Ravi Kumar"), contact_id(store, "Priya Nair")]
    store.create(
        "visit",
        {"site_id": site.id, "started_at": "2026-11-23T09:00:00Z", "attendees": attendees},
    )
    capture(store, "Team 4 TLs not doing side-by-sides #training !concern @Ravi")
    capture(store, "? can we waive the fee for 2 months (asked_by: team 7)")
    capture(store, "> send QA calibration deck to @Priya ^fri")


def test_floor_walk_with_an_open_visit(store, snap_compare):
    open_visit_with_entries(store)
    app = FieldrmApp(store)

    async def run_before(pilot) -> None:
        await pilot.press(*"Headsets crackling on row 3 #facility !critical")
        preview = pilot.app.screen.query_one("#capture-preview")
        await settled(lambda app: "critical" in str(preview.render()))(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_questions(store, snap_compare):
    app = FieldrmApp(store, start_mode="questions")
    assert snap_compare(
        app,
        terminal_size=SIZE,
        run_before=settled(lambda app: app.screen.query_one("#record-table").row_count > 0),
    )


def test_contacts_with_org_chart_and_timeline(store, snap_compare):
    app = FieldrmApp(store, start_mode="contacts")

    async def run_before(pilot) -> None:
        await pilot.press("slash", *"ravi", "enter")

        def loaded(app) -> bool:
            card = str(app.screen.query_one("#contact-card").render())
            timeline = app.screen.query_one("#contact-timeline")
            return card.startswith("Ravi Kumar") and timeline.row_count > 0

        await settled(loaded, "Ravi's card and timeline show")(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("field", ["title"])
def test_conflict_review(store, snap_compare, field):
    ravi = contact_id(store, "Ravi Kumar")
    add_conflict(
        store,
        ravi,
        "contact",
        field,
        store.get(ravi).title,
        "Senior Operations Manager, Inbound Servicing",
    )
    app = FieldrmApp(store, start_mode="sync")
    assert snap_compare(
        app,
        terminal_size=SIZE,
        run_before=settled(lambda app: app.screen.query_one("#conflict-table").row_count == 1),
    )
