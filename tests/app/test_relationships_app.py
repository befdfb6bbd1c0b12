"""§11 in the app, through Pilot on the demo data: the KPI screen, Today's KPI and
escalation panels and the review agenda, escalating a question up the ladder from the
Questions screen, and a site's missing roles on Contacts.  Assertions on store rows and
widget state."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from fieldrm.app import FieldrmApp
from fieldrm.demo import demo_id
from fieldrm.screens.virtual_list import VirtualList
from fieldrm.store.relationships import kpi_statuses, kpis_off_target
from tests.app.conftest import type_text, wait_until

pytestmark = pytest.mark.anyio
SIZE = (140, 50)


def shown(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_kpi_screen_lists_every_kpi_with_status_and_trend_and_filters(store):
    statuses = kpi_statuses(store)
    app = FieldrmApp(store, start_mode="kpis")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#kpi-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == len(statuses), "every KPI is listed")
        red = next(item for item in statuses if item.status == "red")
        row = table.get_row(red.kpi.id)
        assert (row[0], row[1], str(row[2])) == (red.program, red.kpi.name, "red")
        assert row[2].style == "bold red"
        assert len(row[6]) == 6  # a sparkline of six periods
        await pilot.press("slash")
        await type_text(pilot, "mortgages")
        wanted = [s for s in statuses if "mortgages" in s.program.lower()]
        await wait_until(pilot, lambda: table.row_count == len(wanted), "the filter narrows")
        assert {str(table.get_row_at(n)[0]) for n in range(table.row_count)} == {
            "Meridian Mortgages Care"
        }


async def test_today_shows_kpis_off_target_and_overdue_escalations_and_opens_the_agenda(store):
    off = kpis_off_target(store)
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: f"KPIs off target ({min(len(off), 6)})" in shown(app, "#today-kpis"),
            "the KPI panel fills",
        )
        assert off[0].kpi.name in shown(app, "#today-kpis")
        escalations = shown(app, "#today-escalations")
        assert "Escalations overdue (3)" in escalations
        assert "Can we waive the card replacement fee" in escalations
        # The demo's next meeting is the planned Kolkata review: its agenda, built.
        await pilot.press("g")
        await wait_until(
            pilot,
            lambda: app.screen.query("#agenda-body") and app.screen.items is not None,
            "the agenda opens",
        )
        agenda = app.screen.items
        body = shown(app, "#agenda-body")
        carried = {row["text"] for row in agenda["carried_over"]}
        assert "Attrition report by tenure band" in carried
        assert "Carried over: theirs" in body and "Attrition report by tenure band" in body
        assert "Carried over: ours" in body and "Share the Q4 volume forecast" in body
        assert agenda["kpis_off_target"] and agenda["escalations"]
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen.query("#today-kpis"), "back on Today")


async def test_escalating_a_question_moves_it_up_the_ladder(store):
    question_id = demo_id("question:q-fee")
    before = store.get(question_id)
    assert before.escalation_level == 1
    app = FieldrmApp(store, start_mode="questions")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#record-table", VirtualList)
        await wait_until(
            pilot, lambda: question_id in table.loaded_keys(), "the question is listed"
        )
        table.move_cursor(row=table.index_of(question_id))
        await wait_until(pilot, lambda: app.screen.selected.id == question_id, "it is selected")
        await pilot.press("u")
        await wait_until(
            pilot,
            lambda: store.get(question_id).escalation_level == 2,
            "the escalation moves to level 2",
        )
    after = store.get(question_id)
    assert after.escalated_to == demo_id("contact:kavita")  # the client services manager
    assert after.escalated_at > before.escalated_at


async def test_contacts_show_the_roles_a_site_is_missing(store):
    app = FieldrmApp(store, start_mode="contacts")
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "")
        await pilot.press("slash")
        await type_text(pilot, "Andrés")
        await wait_until(
            pilot,
            lambda: "site has no" in shown(app, "#site-missing-roles"),
            "the missing roles show",
        )
        assert "quality manager" in shown(app, "#site-missing-roles")
