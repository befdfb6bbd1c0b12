"""Merge and import from the Contacts screen (SPEC §12), driven through Pilot: assertions
on the store and on the preview's widgets."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from fieldrm.app import FieldrmApp
from fieldrm.screens.contact_tools import ImportPreviewScreen
from fieldrm.screens.virtual_list import VirtualList
from tests.app.conftest import contact_id, record_notifications, type_text, wait_until

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


async def show_only(pilot, app, name: str) -> None:
    table = app.screen.query_one("#contact-table", VirtualList)
    await wait_until(pilot, lambda: table.row_count > 10, "contacts are listed")
    await pilot.press("slash", *name)
    await wait_until(pilot, lambda: table.row_count == 1, f"only {name} is listed")
    await pilot.press("enter")


async def test_merge_a_contact_into_another(store):
    sneha, priya = contact_id(store, "Sneha Banerjee"), contact_id(store, "Priya Nair")
    visits = [v.id for v in store.list("visit", where={"attendees": sneha})]
    assert visits
    app = FieldrmApp(store, start_mode="contacts")
    async with app.run_test(size=SIZE) as pilot:
        await show_only(pilot, app, "Sneha")
        await pilot.press("m")
        await wait_until(pilot, lambda: app.screen.query("#contact-input"), "the contact picker")
        await type_text(pilot, "Priya")
        await pilot.press("enter")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ChoiceScreen", "confirm")
        await pilot.press("enter")  # "Merge" is the first choice
        await wait_until(pilot, lambda: store.get(sneha).deleted, "the merge is written")
    for visit_id in visits:
        attendees = store.get(visit_id).attendees
        assert priya in attendees and sneha not in attendees


async def test_import_previews_before_writing(store, tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "name,role,vendor,email\n"
        "Zara Sheikh,team_leader,Indus Customer Care,zara@indus.example\n"
        "Priya Nair,,,priya.nair@northwind-cs.example\n",
        encoding="utf-8",
    )
    before = store.count("contact")
    app = FieldrmApp(store, start_mode="contacts")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#contact-table", VirtualList)
        await wait_until(pilot, lambda: table.row_count > 10, "contacts are listed")
        for answer, expected in (("escape", before), ("enter", before + 1)):
            await pilot.press("i")
            await wait_until(pilot, lambda: app.screen.query("#prompt-input"), "the file prompt")
            await type_text(pilot, str(sheet))
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ImportPreviewScreen),
                             "the preview")  # fmt: skip
            counts = app.screen.query_one("#import-counts", Static)
            assert str(counts.render()).startswith("1 new, 1 matched")
            assert store.count("contact") == before  # the preview wrote nothing
            await pilot.press(answer)
            await wait_until(pilot, lambda n=expected: store.count("contact") == n,
                             f"{expected} contacts after {answer}")  # fmt: skip
            await wait_until(pilot, lambda: not isinstance(app.screen, ImportPreviewScreen),
                             "the preview closed")  # fmt: skip


async def test_a_bad_file_is_one_notification_and_writes_nothing(store, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,role\nA,chief wizard\n", encoding="utf-8")
    before = store.pending_count()
    app = FieldrmApp(store, start_mode="contacts")
    noted = record_notifications(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("i")
        await wait_until(pilot, lambda: app.screen.query("#prompt-input"), "the file prompt")
        await type_text(pilot, str(bad))
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("unknown role" in n.message for n in noted),
                         "the error")  # fmt: skip
        assert not isinstance(app.screen, ImportPreviewScreen)
    assert store.pending_count() == before
