"""The RM's operations (fieldrm.notebook) against a real in-memory store: what each
writes, and the rules the CLI and the app share through them."""

from __future__ import annotations

from datetime import date

import pytest

from fieldrm import notebook
from fieldrm.errors import InvalidInput, NotFound
from fieldrm.models import ActionStatus, QuestionStatus
from fieldrm.store import Store

TODAY = date(2026, 11, 23)  # a Monday


@pytest.fixture
def store():
    with Store.memory() as memory:
        yield memory


@pytest.fixture
def site(store):
    vendor = store.create("vendor", {"name": "Northwind"})
    return store.create("site", {"vendor_id": vendor.id, "name": "Kolkata"})


@pytest.fixture
def priya(store):
    return store.create("contact", {"name": "Priya Nair"})


# ---------------------------------------------------------------- visits


def test_start_visit_opens_one_with_its_plan(store, site, priya):
    visit = notebook.start_visit(
        store, site.id, visit_type="audit", purpose="QA", attendees=[priya.id]
    )
    assert store.open_visit().id == visit.id
    assert (visit.site_id, visit.visit_type, visit.purpose) == (site.id, "audit", "QA")
    assert visit.attendees == [priya.id]
    assert visit.started_at is not None and visit.ended_at is None


def test_a_visit_already_open_is_refused_and_left_open(store, site):
    first = notebook.start_visit(store, site.id)
    pending = store.pending_count()
    with pytest.raises(InvalidInput, match="a visit is already open: floor_walk at Kolkata"):
        notebook.start_visit(store, site.id, visit_type="audit")
    assert store.open_visit().id == first.id  # not ended behind the RM's back
    assert store.count("visit") == 1
    assert store.pending_count() == pending


def test_end_visit_ends_the_open_one_then_refuses(store, site):
    visit = notebook.start_visit(store, site.id)
    ended = notebook.end_visit(store, summary="went well")
    assert ended.id == visit.id and ended.ended_at is not None
    assert ended.summary == "went well"
    assert store.open_visit() is None
    with pytest.raises(InvalidInput, match="no visit is open"):
        notebook.end_visit(store)
    assert notebook.start_visit(store, site.id).id != visit.id  # a new one may start


# ---------------------------------------------------------------- capture and edits


def test_capture_files_the_line_under_the_open_visit(store, site, priya):
    visit = notebook.start_visit(store, site.id)
    record, parsed = notebook.capture(store, "> send deck to @Priya ^fri", today=TODAY)
    assert (record.kind, record.owner_id, record.visit_id) == ("action", priya.id, visit.id)
    assert str(record.due) == "2026-11-27"
    assert parsed.warnings == []


def test_recapture_changes_the_entry_in_place_and_clears_dropped_markup(store, priya):
    entry, _ = notebook.capture(store, "queue long @Priya #kpi #vip #night !concern")
    edited, _ = notebook.recapture(store, entry, "queue very long #vip #aht")
    assert edited.id == entry.id
    assert edited.text == "queue very long"
    assert (edited.contact_id, edited.category, edited.severity) == (None, None, None)
    assert edited.tags == ["aht", "vip"]


def test_recapture_to_another_kind_replaces_the_entry(store, site):
    visit = notebook.start_visit(store, site.id)
    entry, _ = notebook.capture(store, "call the vendor")
    notebook.end_visit(store)
    replaced, parsed = notebook.recapture(store, entry, "> call the vendor ^tomorrow", today=TODAY)
    assert parsed.kind == "action" and replaced.id != entry.id
    assert replaced.visit_id == visit.id  # the entry's visit, though it has ended
    assert store.get(entry.id).deleted
    assert str(replaced.due) == "2026-11-24"


def test_recapture_of_a_bad_line_writes_nothing(store):
    entry, _ = notebook.capture(store, "queue long")
    pending = store.pending_count()
    with pytest.raises(InvalidInput):
        notebook.recapture(store, entry, "#kpi")
    assert store.pending_count() == pending
    assert store.get(entry.id).text == "queue long"


def test_delete_entry_leaves_a_tombstone(store):
    entry, _ = notebook.capture(store, "queue long")
    assert notebook.delete_entry(store, entry.id).deleted
    with pytest.raises(NotFound):
        notebook.delete_entry(store, "0190aaaa-0000-7000-8000-000000000000")


# ---------------------------------------------------------------- questions and actions


def test_answer_and_escalate_a_question(store, priya):
    question, _ = notebook.capture(store, "? can we waive the fee")
    escalated = notebook.escalate_question(store, question.id, priya.id)
    assert (escalated.status, escalated.escalated_to) == (QuestionStatus.escalated, priya.id)
    answered = notebook.answer_question(store, question.id, "yes, two months")
    assert answered.status == QuestionStatus.answered and answered.answer == "yes, two months"
    assert answered.answered_at is not None
    assert notebook.set_status(store, question.id, QuestionStatus.open).status == "open"


def test_raise_action_from_a_question_takes_its_visit_and_escalation_contact(store, site, priya):
    visit = notebook.start_visit(store, site.id)
    question, _ = notebook.capture(store, "? can we waive the fee @Priya")
    action, _ = notebook.raise_action(store, question, "get an answer ^fri !high", today=TODAY)
    assert (action.kind, action.source_id, action.visit_id) == ("action", question.id, visit.id)
    assert (action.owner_id, action.priority, str(action.due)) == (priya.id, "high", "2026-11-27")
    observation, _ = notebook.capture(store, "badge readers down")
    other, _ = notebook.raise_action(store, observation, "> fix the readers")
    assert (other.source_id, other.owner_id, other.text) == (
        observation.id,
        None,
        "fix the readers",
    )


def test_action_status_owner_and_due(store, priya):
    action, _ = notebook.capture(store, "> send the deck")
    assert notebook.set_status(store, action.id, ActionStatus.done).status == "done"
    assert notebook.set_owner(store, action.id, priya.id).owner_id == priya.id
    assert notebook.set_due(store, action.id, TODAY).due == TODAY
    with pytest.raises(InvalidInput):
        notebook.set_status(store, action.id, "answered")  # a question's status
