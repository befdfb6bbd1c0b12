"""The app never writes a stored control character to the terminal (SPEC §5.14): text
typed or synced in with ESC, OSC or BEL shows them visibly (`␛`, `␇`), as the CLI does."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Static

from fieldrm.app import FieldrmApp
from fieldrm.errors import InvalidInput
from fieldrm.screens.virtual_list import VirtualList
from tests.app.conftest import type_text, wait_until

pytestmark = pytest.mark.anyio
SIZE = (160, 40)
ESCAPES = "Teamsafe\x1b[2J\x1b]0;pwned\x07 ok\x9b31m"
CONTROLS = "\x1b\x07\x9b"


def rendered(widget) -> str:
    """What the widget draws, line by line: the text that reaches the terminal."""
    return "\n".join(
        "".join(segment.text for segment in widget.render_line(y))
        for y in range(widget.size.height)
    )


async def test_a_record_with_terminal_escapes_is_shown_visibly(store):
    store.create("observation", {"text": ESCAPES})
    app = FieldrmApp(store, start_mode="search")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        table = app.screen.query_one("#search-results", VirtualList)
        await type_text(pilot, "teamsafe")
        await wait_until(pilot, lambda: table.row_count > 0, "the record is found")
        await wait_until(pilot, lambda: "Teamsafe" in rendered(table), "the row is drawn")
        cells = rendered(table)
        assert "Teamsafe␛[2J␛]0;pwned␇ ok" in cells
        assert not any(ch in cells for ch in CONTROLS)
        detail = app.screen.query_one("#search-detail", Static)
        await wait_until(pilot, lambda: "Teamsafe" in rendered(detail), "the detail is drawn")
        assert "␛[2J" in rendered(detail)
        assert not any(ch in rendered(detail) for ch in CONTROLS)

        app.report_error(InvalidInput(f"no such record: {ESCAPES}"))
        await wait_until(pilot, lambda: bool(app.screen.query("Toast")), "the note shows")
        note = "\n".join(rendered(toast) for toast in app.screen.query("Toast"))
        assert "␛[2J" in note
        assert not any(ch in note for ch in CONTROLS)


def _poison(store, kind: str, **fields) -> str:
    """A record whose unknown field is nested 300 deep, written straight into the file
    (as one stored before validation existed would be)."""
    record_id = store.create(kind, fields).id
    data = store.get_raw(record_id)
    deep: object = "bottom"
    for _ in range(300):
        deep = {"x": deep}
    data["extra"] = deep
    with store.transaction():
        store.conn.execute(
            "UPDATE records SET data = ? WHERE id = ?", [json.dumps(data), record_id]
        )
    return record_id


async def test_a_poison_record_already_stored_shows_in_search_and_lists(store):
    found = _poison(store, "observation", text="Poisonsafe floor note")
    action = _poison(store, "action", text="Poisonsafe action to chase")
    app = FieldrmApp(store, start_mode="search")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        table = app.screen.query_one("#search-results", VirtualList)
        await type_text(pilot, "poisonsafe")
        await wait_until(pilot, lambda: table.row_count == 2, "both records are found")
        detail = app.screen.query_one("#search-detail", Static)
        await wait_until(pilot, lambda: "Poisonsafe" in rendered(detail), "the detail is drawn")
        assert not app.screen.query("Toast"), "no error was reported"

        await app.run_action("app.switch_mode('actions')")
        listed = app.screen.query_one("#record-table", VirtualList)
        await wait_until(pilot, lambda: listed.row_count > 0, "actions are listed")
        await wait_until(
            pilot,
            lambda: action in listed.loaded_keys(),
            "the poisoned action is listed",
        )
        assert not app.screen.query("Toast"), "no error was reported"
    assert store.get(found).text == "Poisonsafe floor note"


def _prompts(options) -> list[str]:
    """The prompt text of every option of an OptionList (or SelectionList)."""
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


def _safe(prompts: list[str]) -> bool:
    text = "\n".join(prompts)
    return "␛[2J" in text and not any(ch in text for ch in CONTROLS)


async def test_pickers_show_stored_control_characters_visibly(store):
    vendor = store.create("vendor", {"name": "Pickvendor"})
    site = store.create(
        "site", {"vendor_id": vendor.id, "name": "Pickersite\x1b[2J", "city": "Pune\x07"}
    )
    store.create(
        "contact", {"name": "Pickerperson\x1b[2J", "site_id": site.id, "role": "team_leader"}
    )
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.screen.query("#site-options"), "the visit dialog opens")
        await type_text(pilot, "pickersite")
        sites = app.screen.query_one("#site-options")
        await wait_until(pilot, lambda: sites.option_count == 1, "the site is offered")
        assert _safe(_prompts(sites)), _prompts(sites)
        await pilot.press("enter")
        attendees = app.screen.query_one("#attendee-list")
        await wait_until(pilot, lambda: attendees.option_count == 1, "its person is offered")
        assert _safe(_prompts(attendees)), _prompts(attendees)
        await pilot.press("escape")

        from fieldrm.screens.choice import ChoiceScreen
        from fieldrm.screens.pick_contact import PickContactScreen

        app.push_screen(PickContactScreen("Owner", "x"))
        await wait_until(pilot, lambda: app.screen.query("#contact-options"), "the picker opens")
        await type_text(pilot, "pickerperson")
        people = app.screen.query_one("#contact-options")
        await wait_until(pilot, lambda: people.option_count == 1, "the contact is offered")
        assert _safe(_prompts(people)), _prompts(people)
        await pilot.press("escape")

        app.push_screen(ChoiceScreen("Which?", [("a", "Visit at Pickersite\x1b[2J")], "picked"))
        await wait_until(pilot, lambda: app.screen.query("#picked"), "the choice opens")
        assert _safe(_prompts(app.screen.query_one("#picked")))
