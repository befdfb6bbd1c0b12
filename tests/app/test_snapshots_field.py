"""Pictures of issue 11's screens and of the 80x24 layout, with a frozen clock and the demo
data.  `pytest tests/app/test_snapshots_field.py --snapshot-update` after an intended
change, then review the SVGs; the Pilot tests (test_field_ready.py) check the state."""

from __future__ import annotations

from fieldrm.app import FieldrmApp
from tests.app.test_snapshots import open_visit_with_entries, settled

NARROW = (80, 24)


def test_floor_walk_at_80_by_24(store, snap_compare):
    open_visit_with_entries(store)
    app = FieldrmApp(store)
    assert snap_compare(
        app, terminal_size=NARROW, run_before=settled(lambda app: len(app.screen.entries) == 3)
    )


def test_today_at_80_by_24(store, snap_compare):
    app = FieldrmApp(store, start_mode="today")
    assert snap_compare(app, terminal_size=NARROW, run_before=settled())


def test_ending_a_visit_asks_for_a_summary(store, snap_compare):
    open_visit_with_entries(store)
    app = FieldrmApp(store)

    async def run_before(pilot) -> None:
        await settled(lambda app: len(app.screen.entries) == 3)(pilot)
        await pilot.press("ctrl+g")
        await settled(lambda app: bool(app.screen.query("#prompt-input")))(pilot)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


def test_search_result_detail_reads_as_names(store, snap_compare):
    app = FieldrmApp(store, start_mode="search")

    async def run_before(pilot) -> None:
        await pilot.press(*"fee waiver")
        await settled(lambda app: app.screen.shown_query == "fee waiver")(pilot)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


def test_contact_form_editing_a_contact(store, snap_compare):
    app = FieldrmApp(store, start_mode="contacts")

    async def run_before(pilot) -> None:
        await pilot.press("slash", *"ravi", "enter")
        await settled(lambda app: app.screen.query_one("#contact-table").current_key())(pilot)
        await pilot.press("e")
        await settled(
            lambda app: (
                bool(app.screen.query("#contact-name"))
                and app.screen.query_one("#contact-name").value == "Ravi Kumar"
            )
        )(pilot)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


def test_login_form(store, snap_compare):
    app = FieldrmApp(store, start_mode="sync")

    async def run_before(pilot) -> None:
        await pilot.press("i")
        await settled(lambda app: bool(app.screen.query("#login-server")))(pilot)

    assert snap_compare(app, terminal_size=NARROW, run_before=run_before)


def test_sync_at_80_by_24(store, snap_compare):
    """Every conflict key, F1 and `^p palette` on the bar (it was cut at `^p`)."""
    app = FieldrmApp(store, start_mode="sync")
    assert snap_compare(app, terminal_size=NARROW, run_before=settled())


def test_contacts_narrowed_to_a_site_and_a_role(store, snap_compare):
    app = FieldrmApp(store, start_mode="contacts")
    kolkata = store.resolve("Kolkata Salt Lake", ["site"])

    async def run_before(pilot) -> None:
        screen = pilot.app.screen
        await settled(lambda app: screen.query_one("#contact-table").row_count > 10)(pilot)
        screen.set_scope(kolkata.id, kolkata.name, "team_leader")
        await settled(
            lambda app: (
                screen.query_one("#contact-table").row_count == 2
                and str(screen.query_one("#contact-card").render()).startswith("Arjun Das")
            )
        )(pilot)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)
