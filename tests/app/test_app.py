"""The real app, driven through Pilot: assertions on the store and on widget state."""

from __future__ import annotations

import socket
from datetime import date

import pytest
from textual.widgets import DataTable, Input

from fieldrm.app import FieldrmApp
from fieldrm.screens.floor_walk import CaptureInput
from fieldrm.screens.virtual_list import VirtualList
from fieldrm.screens.widgets import StatusLine
from fieldrm.store.queries import PAGE_SIZE, list_count, list_page
from tests.app.conftest import (
    add_conflict,
    contact_id,
    record_notifications,
    type_text,
    wait_until,
)

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


def records(store, kind):
    return store.list(kind, order="rowid")


async def test_three_captured_lines_make_an_observation_a_question_and_an_action(store):
    before = {kind: store.count(kind) for kind in ("observation", "question", "action")}
    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.focused is not None, "the capture line has focus")
        assert isinstance(app.focused, CaptureInput)
        lines = [
            "Team 4 TLs not doing side-by-sides #training !concern @Ravi",
            "? can we waive the fee for 2 months (asked_by: team 7)",
            "> send QA calibration deck to @Priya ^fri",
        ]
        for line in lines:
            await type_text(pilot, line)
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.focused.value == "", "the line is cleared")
        await wait_until(
            pilot,
            lambda: store.count("action") == before["action"] + 1,
            "three records are saved",
        )
        saved = [records(store, kind)[-1] for kind in ("observation", "question", "action")]
        log = app.screen.query_one("#visit-log", DataTable)
        await wait_until(
            pilot, lambda: all(r.id in log.rows for r in saved), "the log shows the entries"
        )
        assert [log.get_row(r.id)[1] for r in saved] == ["observation", "question", "action"]

    assert {k: store.count(k) - before[k] for k in before} == dict.fromkeys(before, 1)
    observation = records(store, "observation")[-1]
    assert observation.text.startswith("Team 4 TLs not doing side-by-sides")
    assert (observation.category, observation.severity) == ("training", "concern")
    assert observation.contact_id == contact_id(store, "Ravi Kumar")
    question = records(store, "question")[-1]
    assert question.text == "can we waive the fee for 2 months"
    assert question.asked_by == "team 7"
    assert question.status == "open"
    action = records(store, "action")[-1]
    assert action.owner_id == contact_id(store, "Priya Nair")
    assert action.due == date(2026, 11, 27)  # the Friday after the frozen Monday
    assert action.status == "open"


async def test_parsed_kind_category_and_severity_show_while_typing(store):
    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "Headsets broken on row 3 #facility !critical")
        preview = app.screen.query_one("#capture-preview")
        await wait_until(
            pilot, lambda: "critical" in str(preview.render()), "the preview shows the severity"
        )
        shown = str(preview.render())
        assert shown.startswith("observation")
        assert "category facility" in shown and "severity critical" in shown
        await pilot.press("ctrl+u")
        await type_text(pilot, "> call back @Priya ^tomorrow")
        await wait_until(pilot, lambda: "due" in str(preview.render()), "the preview updates")
        assert str(preview.render()).startswith("action")
        assert "due 2026-11-24" in str(preview.render())
        assert "@Priya Nair" in str(preview.render())


async def test_at_completion_picks_the_contact(store):
    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=SIZE) as pilot:
        capture_line = app.screen.query_one(CaptureInput)
        await type_text(pilot, "Queue board outdated, told @Pri")
        await wait_until(pilot, lambda: bool(capture_line.suggestion), "a name is suggested")
        await pilot.press("tab")
        assert capture_line.value == "Queue board outdated, told @Priya_Nair"
        assert app.focused is capture_line  # tab completed; it did not move the focus
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: records(store, "observation")[-1].text.startswith("Queue board"),
            "the observation is saved",
        )
    observation = records(store, "observation")[-1]
    assert observation.contact_id == contact_id(store, "Priya Nair")
    assert "Priya Nair" in observation.text


async def test_arrow_up_edits_the_last_entry_in_place(store):
    app = FieldrmApp(store, start_mode="floor")
    async with app.run_test(size=SIZE) as pilot:
        capture_line = app.screen.query_one(CaptureInput)
        await type_text(pilot, "Wallboard shows wrong AHT #kpi")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.entries != [], "the entry is in the log")
        saved = records(store, "observation")[-1]
        await pilot.press("up")
        assert capture_line.value == "Wallboard shows wrong AHT #kpi"
        assert capture_line.has_class("-editing")
        await pilot.press("backspace", "backspace", "backspace", "backspace")
        await type_text(pilot, "#technology !concern")
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: store.get(saved.id).category == "technology",
            "the same record is updated",
        )
        assert not capture_line.has_class("-editing")
        await type_text(pilot, "half a thought")
        await pilot.press("up")  # never replaces a line being typed
        assert capture_line.value == "half a thought"
        assert not capture_line.has_class("-editing")
    edited = store.get(saved.id)
    assert (edited.text, edited.severity) == ("Wallboard shows wrong AHT", "concern")
    assert records(store, "observation")[-1].id == saved.id  # no second record


async def test_a_line_that_cannot_be_saved_is_given_back_with_the_reason(store):
    count = store.count("observation")
    app = FieldrmApp(store, start_mode="floor")
    noted = record_notifications(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await type_text(pilot, "#training !concern")
        await pilot.press("enter")
        capture_line = app.screen.query_one(CaptureInput)
        await wait_until(pilot, lambda: bool(noted), "a notification appears")
        assert capture_line.value == "#training !concern"
        assert "nothing to save" in noted[-1].message
    assert store.count("observation") == count


async def test_answering_and_escalating_questions(store):
    app = FieldrmApp(store, start_mode="questions")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#record-table", VirtualList)
        await wait_until(pilot, lambda: table.row_count > 1, "questions are listed")
        first, second = app.screen.selected, None
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.focused, Input), "the answer prompt opens")
        await type_text(pilot, "Yes, up to 2 months for hardship cases")
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: store.get(first.id).status == "answered", "the answer is saved"
        )
        answered = store.get(first.id)
        assert answered.answer == "Yes, up to 2 months for hardship cases"
        assert answered.answered_at is not None
        # Answered questions leave the default (open & escalated) list.
        await wait_until(pilot, lambda: first.id not in table.loaded_keys(), "the list reloads")

        second = app.screen.selected
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.focused, Input), "the picker opens")
        await type_text(pilot, "Kavita")
        await wait_until(
            pilot,
            lambda: app.screen.query_one("#contact-options").option_count == 1,
            "the picker narrows to one contact",
        )
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: store.get(second.id).escalated_to == contact_id(store, "Kavita Sharma"),
            "the escalation is saved",
        )
    assert store.get(second.id).status == "escalated"


async def test_closing_an_action_in_one_key(store):
    app = FieldrmApp(store, start_mode="actions")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#record-table", VirtualList)
        await wait_until(pilot, lambda: table.row_count > 0, "actions are listed")
        action = app.screen.selected
        assert action.status in ("open", "in_progress")
        await pilot.press("d")
        await wait_until(pilot, lambda: store.get(action.id).status == "done", "it is closed")
        await wait_until(
            pilot, lambda: action.id not in table.loaded_keys(), "it leaves the open list"
        )
        await pilot.press("f")  # the next status filter: done
        await wait_until(pilot, lambda: action.id in table.loaded_keys(), "it is in the done list")


async def test_resolving_a_conflict_from_the_review_screen(store):
    ravi = contact_id(store, "Ravi Kumar")
    current_title = store.get(ravi).title
    other_title = "Senior Operations Manager, Inbound Servicing"
    conflict_id = add_conflict(store, ravi, "contact", "title", current_title, other_title)
    app = FieldrmApp(store, start_mode="sync")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#conflict-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the conflict is listed")
        status_line = app.screen.query_one(StatusLine)
        await wait_until(
            pilot, lambda: "1 open conflict" in str(status_line.render()), "it is counted"
        )
        assert current_title in str(app.screen.query_one("#conflict-current").render())
        assert other_title in str(app.screen.query_one("#conflict-other").render())
        diff = app.screen.query_one("#conflict-diff").render()
        assert "Senior" in str(diff)
        await pilot.press("t")  # take other
        await wait_until(pilot, lambda: table.row_count == 0, "the conflict leaves the list")
        await wait_until(
            pilot, lambda: "0 open conflicts" in str(status_line.render()), "it is recounted"
        )
    assert store.get(ravi).title == other_title
    resolved = store.get(conflict_id)
    assert resolved.status == "resolved" and resolved.resolution == "other"


async def test_search_results_as_you_type(store):
    app = FieldrmApp(store, start_mode="search")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#search-results", VirtualList)
        await type_text(pilot, "cashb")
        await wait_until(pilot, lambda: table.row_count > 0, "results appear")
        texts = [str(table.row_cells(i)[2]) for i in range(table.row_count)]
        assert any("cashback" in text.lower() for text in texts)
        await type_text(pilot, "ack zzzunknownword")
        await wait_until(pilot, lambda: table.row_count == 0, "the results narrow to none")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_status_line_after_a_failed_sync(store):
    store.set_state("server", f"http://127.0.0.1:{closed_port()}")
    store.set_state("token", "not-a-real-token")
    pending = store.pending_count()
    # Long retry delays: this test looks at the state after one failure.
    app = FieldrmApp(store, start_mode="today", retry_delays=(3600.0,))
    noted = record_notifications(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        status_line = app.screen.query_one(StatusLine)
        await wait_until(pilot, lambda: status_line.has_class("-offline"), "the sync fails")
        text = str(status_line.render())
        assert "offline" in text
        assert f"{pending} pending changes" in text
        assert app.sync_status.error
        notes = [note for note in noted if note.title == "Offline"]
        assert len(notes) == 1, noted  # one notification per outage
        assert "Traceback" not in notes[-1].message
        assert "retrying" in notes[-1].message
    assert store.pending_count() == pending  # nothing was lost or dropped


async def test_no_server_is_said_plainly(store):
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        status_line = app.screen.query_one(StatusLine)
        await wait_until(pilot, lambda: status_line.has_class("-no-server"), "status is read")
        assert "no server" in str(status_line.render())


async def test_start_a_visit_by_typing_the_site_and_picking_attendees(store):
    app = FieldrmApp(store, start_mode="today")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.focused, Input), "the visit dialog opens")
        await type_text(pilot, "kolk")
        options = app.screen.query_one("#site-options")
        await wait_until(pilot, lambda: options.option_count == 1, "one site matches")
        await pilot.press("enter")
        attendees = app.screen.query_one("#attendee-list")
        await wait_until(pilot, lambda: attendees.option_count > 1, "the site's people are listed")
        first_person = attendees.get_option_at_index(0).value
        await pilot.press("space", "enter")
        await wait_until(pilot, lambda: app.screen.query("#prompt-input"), "purpose asked")
        await pilot.press("enter")  # skipped
        await wait_until(pilot, lambda: store.open_visit() is not None, "the visit is saved")
        await wait_until(pilot, lambda: app.current_mode == "floor", "the floor walk opens")
    visit = store.open_visit()
    assert store.get(visit.site_id).name.lower().startswith("kolkata")
    assert visit.attendees == [first_person]
    assert visit.visit_type == "floor_walk"


async def test_export_the_open_visits_report(store, _isolated_home):
    site = store.list("site", limit=1)[0]
    store.create("visit", {"site_id": site.id, "started_at": "2026-11-23T08:00:00Z"})
    app = FieldrmApp(store)  # an open visit: the app opens on the floor walk
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        assert app.current_mode == "floor"
        await type_text(pilot, "Floor quiet after the morning peak #staffing")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.screen.entries) == 1, "the entry is logged")
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: app.screen.query("#visit-options"), "visits listed")
        await pilot.press("enter")  # the open visit, newest first
        await wait_until(
            pilot, lambda: not app.screen.query("#visit-options"), "the format choice opens"
        )
        await pilot.press("enter")  # Markdown
        reports = _isolated_home / "reports"
        await wait_until(pilot, lambda: reports.exists() and any(reports.iterdir()), "written")
    body = next(reports.iterdir()).read_text()
    assert "Floor quiet after the morning peak" in body


async def test_f1_shows_the_screens_keys_and_the_palette_names_actions(store):
    app = FieldrmApp(store, start_mode="actions")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await wait_until(pilot, lambda: bool(app.screen.query("HelpPanel")), "keys are shown")
        await pilot.press("f1")
        await wait_until(pilot, lambda: not app.screen.query("HelpPanel"), "keys are hidden")
        names = [command.title for command in app.get_system_commands(app.screen)]
        assert "action: Close as done" in names and "sync: Sync now" in names
        assert all(": " in name for name in names)


async def test_long_lists_are_paged_not_loaded_whole(store):
    with store.transaction():
        for number in range(PAGE_SIZE * 3 + 10):
            store.create("action", {"text": f"bulk action {number:04d}"})
    app = FieldrmApp(store, start_mode="actions")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#record-table", VirtualList)
        await wait_until(pilot, lambda: table.row_count > 0, "the first window is in")
        # The list knows how many rows there are, but holds only the window it shows.
        assert table.row_count == list_count(store, app.screen.current_filter) > PAGE_SIZE * 3
        assert len(table.loaded_keys()) == PAGE_SIZE
        await pilot.press("end")
        flt = app.screen.current_filter
        last = list_page(store, flt, offset=table.row_count - 1, limit=1)[0]
        await wait_until(pilot, lambda: table.current_key() == last.id, "the last row is in")
        assert table.cursor_row == table.row_count - 1
        assert len(table.loaded_keys()) < table.row_count  # the middle was never needed


async def test_raising_an_action_from_a_question(store):
    app = FieldrmApp(store, start_mode="questions")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#record-table", VirtualList)
        await wait_until(pilot, lambda: table.row_count > 0, "questions are listed")
        question = app.screen.selected
        actions_before = store.count("action")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.focused, Input), "the prompt opens")
        await pilot.press("ctrl+u")
        await type_text(pilot, "Check the waiver policy with @Kavita ^fri")
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: store.count("action") == actions_before + 1, "the action is saved"
        )
    action = store.list("action", order="rowid DESC", limit=1)[0]
    assert action.source_id == question.id
    assert action.owner_id == contact_id(store, "Kavita Sharma")
    assert action.due == date(2026, 11, 27)


async def test_refused_changes_are_listed_with_their_reasons(store):
    store.set_state("rejected", '["record 0190abcd: title is too long (max 200)"]')
    app = FieldrmApp(store, start_mode="sync")
    async with app.run_test(size=SIZE) as pilot:
        refused = app.screen.query_one("#sync-refused")
        await wait_until(
            pilot, lambda: "title is too long" in str(refused.render()), "refusals are shown"
        )
        assert refused.display


async def test_editing_a_set_field_conflict_takes_a_comma_separated_list(store):
    ravi = contact_id(store, "Ravi Kumar")
    current = store.get(ravi).tags
    add_conflict(store, ravi, "contact", "tags", current, [*current, "night-shift"])
    app = FieldrmApp(store, start_mode="sync")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#conflict-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the conflict is listed")
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.focused, Input), "the prompt opens")
        assert app.focused.value == ", ".join(current)
        await pilot.press("ctrl+u")
        await type_text(pilot, "escalations, vip")
        await pilot.press("enter")
        await wait_until(pilot, lambda: table.row_count == 0, "the conflict is resolved")
    assert store.get(ravi).tags == ["escalations", "vip"]


async def test_contacts_search_org_chart_and_timeline(store):
    app = FieldrmApp(store, start_mode="contacts")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#contact-table", VirtualList)
        await wait_until(pilot, lambda: table.row_count > 10, "contacts are listed")
        await pilot.press("slash", *"priya")
        await wait_until(pilot, lambda: table.row_count == 1, "the list narrows as you type")
        await pilot.press("enter")  # back to the list, which highlights Priya
        card = app.screen.query_one("#contact-card")
        await wait_until(
            pilot, lambda: str(card.render()).startswith("Priya Nair"), "her card shows"
        )
        assert "last met" in str(card.render())
        chart = app.screen.query_one("#org-chart")

        def reports_of(name):
            stack = list(chart.root.children)
            while stack:
                node = stack.pop()
                if str(node.label).startswith(name):
                    return [str(child.label).split("  ")[0] for child in node.children]
                stack.extend(node.children)
            return None

        assert "Ravi Kumar" in reports_of("Priya Nair")
        timeline = app.screen.query_one("#contact-timeline", DataTable)
        assert timeline.row_count > 0
        kinds = {str(timeline.get_row_at(i)[1]).split(" ")[0] for i in range(timeline.row_count)}
        assert "visit" in kinds

        # Choosing someone from the same site's chart moves the highlight; the chart's
        # nodes stay (a site's chart is not rebuilt for every person passed).
        def node_of(name):
            stack = list(chart.root.children)
            while stack:
                node = stack.pop()
                if str(node.label).startswith(name):
                    return node
                stack.extend(node.children)
            return None

        priya, ravi = node_of("Priya Nair"), node_of("Ravi Kumar")
        assert "reverse" in str(priya.label.style) and "reverse" not in str(ravi.label.style)
        chart.select_node(ravi)
        await wait_until(pilot, lambda: str(card.render()).startswith("Ravi Kumar"), "his card")
        assert node_of("Ravi Kumar") is ravi and node_of("Priya Nair") is priya
        assert "reverse" in str(ravi.label.style) and "reverse" not in str(priya.label.style)


@pytest.mark.parametrize("delay", [0.05, 0.0])
async def test_the_other_screens_are_built_unseen_after_the_first_frame(store, delay):
    import gc

    from fieldrm.screens.navigation import NAVIGATION
    from fieldrm.screens.prewarm import is_built

    app = FieldrmApp(store, start_mode="today", prewarm_delay=delay)  # 0: no Timer(0) crash
    async with app.run_test(size=SIZE) as pilot:

        def built() -> bool:
            prewarming = any(w.group == "prewarm" and not w.is_finished for w in app.workers)
            return all(is_built(app, mode) for mode, *_ in NAVIGATION) and not prewarming

        await wait_until(pilot, built, "every screen is built")
        assert app.current_mode == "today"  # nothing was shown but Today
        questions = app.get_screen_stack("questions")[0]
        table = questions.query_one("#record-table", VirtualList)
        waiting = [q for q in records(store, "question") if q.status in ("open", "escalated")]
        assert table.row_count == len(waiting) > 0  # its rows loaded while hidden
        assert gc.get_freeze_count() > 0  # the start-up heap is out of the collector's walk
        app.switch_mode("questions")
        await pilot.pause()
        assert app.screen is questions
        assert questions.query_one("#record-table", VirtualList).row_count == table.row_count
    assert gc.get_freeze_count() == 0  # given back when the app ends
