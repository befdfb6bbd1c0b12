"""Today's panels open what they show (issue 11): Enter on a question or action opens its
list with the cursor on it, on a person opens Contacts on them, on the visit the floor walk
or the review meeting's agenda; the open-questions panel lists all of them."""

from __future__ import annotations

import pytest
from textual.widgets import OptionList

from fieldrm import notebook
from fieldrm.app import FieldrmApp
from fieldrm.models import OPEN_QUESTION_STATUSES
from fieldrm.screens.agenda import AgendaScreen
from fieldrm.screens.virtual_list import VirtualList
from fieldrm.store.queries import PAGE_SIZE, today_summary
from tests.app.conftest import wait_until

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


def panel(app, name: str) -> OptionList:
    return app.screen.query_one(f"#today-{name}", OptionList)


async def open_row(pilot, app, name: str, record_id: str) -> None:
    """Focus a panel, put its highlight on `record_id` and press Enter."""
    rows = panel(app, name)
    await wait_until(pilot, lambda: rows.option_count > 0, f"the {name} panel is filled")
    rows.focus()
    rows.highlighted = rows.get_option_index(record_id)
    await pilot.press("enter")


def cursor_key(app) -> str | None:
    return app.screen.query_one("#record-table", VirtualList).current_key()


async def test_the_open_questions_panel_lists_all_of_them(store):
    site = store.list("site", limit=1)[0]
    for number in range(3):
        store.create("question", {"text": f"Extra question {number}", "site_id": site.id})
    open_ids = {
        q.id for q in store.list("question", limit=100) if q.status in OPEN_QUESTION_STATUSES
    }
    assert len(open_ids) == 8
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        rows = panel(app, "questions")
        await wait_until(pilot, lambda: rows.option_count == 8, "all eight are listed")
        assert rows.border_title == "Open questions (8)"
        assert {rows.get_option_at_index(i).id for i in range(8)} == open_ids


@pytest.mark.parametrize(
    ("name", "mode", "last"),
    [
        ("questions", "questions", lambda summary: summary.open_questions[-1]),
        ("actions", "actions", lambda summary: summary.actions_due[-1]),
    ],
)
async def test_enter_on_a_question_or_action_opens_its_list_with_the_cursor_on_it(
    store, name, mode, last
):
    record = last(today_summary(store))
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        await open_row(pilot, app, name, record.id)
        await wait_until(
            pilot,
            lambda: app.current_mode == mode and cursor_key(app) == record.id,
            "the cursor is on it",
        )


async def test_enter_on_a_person_opens_contacts_on_them(store):
    person, _met = today_summary(store).contacts_not_met[-1]
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        await open_row(pilot, app, "people", person.id)
        await wait_until(
            pilot,
            lambda: (
                app.current_mode == "contacts"
                and app.screen.query("#contact-card")
                and person.name in str(app.screen.query_one("#contact-card").render())
                and app.screen.query_one("#contact-table").current_key() == person.id
            ),
            "the contact's card is shown",
        )


async def test_enter_on_a_planned_review_opens_its_agenda(store):
    visit = today_summary(store).visit
    assert visit is not None and visit.vendor_id  # the demo plans a review meeting
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        await open_row(pilot, app, "visit", visit.id)
        await wait_until(pilot, lambda: isinstance(app.screen, AgendaScreen), "the agenda")


async def test_enter_on_the_open_visit_opens_the_floor_walk(store):
    site = store.list("site", limit=1)[0]
    visit = notebook.start_visit(store, site.id)
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        await open_row(pilot, app, "visit", visit.id)
        await wait_until(pilot, lambda: app.current_mode == "floor", "the floor walk")


async def test_a_review_meeting_started_in_the_app_opens_its_agenda(store):
    from fieldrm.models import VisitType
    from tests.app.conftest import type_text

    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.screen.query("#site-input"), "the visit dialog")
        dialog = app.screen
        for _ in range(len(VisitType)):
            if dialog.visit_type == VisitType.review_meeting:
                break
            await pilot.press("ctrl+t")
        assert dialog.visit_type == VisitType.review_meeting
        await type_text(pilot, "kolk")
        options = app.screen.query_one("#site-options")
        await wait_until(pilot, lambda: options.option_count == 1, "one site matches")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.query("#attendee-list"), "attendees")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.query("#prompt-input"), "purpose is asked")
        await pilot.press("enter")  # skipped
        await wait_until(pilot, lambda: isinstance(app.screen, AgendaScreen), "the agenda")
        assert app.current_mode == "floor"  # escape leaves the agenda for the floor walk
    visit = store.open_visit()
    assert visit.visit_type == VisitType.review_meeting and visit.vendor_id


async def test_a_record_opened_far_down_a_long_list_gets_the_cursor(store):
    """Search opens what it found even when it sorts past the first window of the list."""
    with store.transaction():
        for number in range(PAGE_SIZE + 50):
            store.create("contact", {"name": f"Bulk person {number:04d}"})
    last = store.create("contact", {"name": "Zz Last Person"})
    far = store.create("action", {"text": "Zz the furthest action", "due": "2099-12-31"})
    with store.transaction():
        for number in range(PAGE_SIZE + 50):
            store.create("action", {"text": f"bulk action {number:04d}", "due": "2030-01-01"})
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        for record, mode, table in ((last, "contacts", "#contact-table"),
                                    (far, "actions", "#record-table")):  # fmt: skip
            app.open_record(record)
            await wait_until(
                pilot,
                lambda record=record, mode=mode, table=table: (
                    app.current_mode == mode
                    and app.screen.query_one(table).current_key() == record.id
                ),
                f"the cursor is on {record.label}",
            )
            assert app.screen.query_one(table).cursor_row >= PAGE_SIZE
