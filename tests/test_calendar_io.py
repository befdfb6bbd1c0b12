"""`fieldrm export ics` (SPEC §12): parsed back with icalendar; every visit its own event,
open actions with due dates, UIDs stable across exports and edits."""

from __future__ import annotations

from datetime import UTC, date, datetime

import icalendar
import pytest

from fieldrm.calendar_io import calendar_ics, uid
from fieldrm.store import Store


def events(text: str) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(text)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


@pytest.fixture
def world():
    with Store.memory() as store:
        vendor = store.create("vendor", {"name": "Northwind Contact Solutions"})
        site = store.create("site", {"vendor_id": vendor.id, "name": "Bogotá Calle 26",
                                     "city": "Bogotá"})  # fmt: skip
        jose = store.create("contact", {"name": "José Muñoz"})
        held = store.create("visit", {
            "site_id": site.id, "visit_type": "floor_walk", "attendees": [jose.id],
            "purpose": "Night shift; headsets, roster", "started_at": "2026-11-20T14:00:00Z",
            "ended_at": "2026-11-20T16:30:00Z"})  # fmt: skip
        # A monthly review series is its visits, planned ahead.
        series = [store.create("visit", {"site_id": site.id, "visit_type": "review_meeting",
                                         "started_at": f"2026-{month:02d}-07T15:00:00Z"})
                  for month in (12,)] + [store.create("visit", {
                      "site_id": site.id, "visit_type": "review_meeting",
                      "started_at": "2027-01-07T15:00:00Z"})]  # fmt: skip
        due = store.create("action", {"text": "Send the QA deck #training", "owner_id": jose.id,
                                      "due": "2026-12-04"})  # fmt: skip
        store.create("action", {"text": "Done already", "due": "2026-11-01", "status": "done"})
        store.create("action", {"text": "No date"})
        yield {"store": store, "held": held, "series": series, "due": due}


def test_visits_and_open_actions_are_events(world):
    found = events(calendar_ics(world["store"]))
    assert set(found) == {uid(world["held"].id), uid(world["due"].id),
                          *(uid(v.id) for v in world["series"])}  # fmt: skip
    held = found[uid(world["held"].id)]
    assert held.decoded("DTSTART") == datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    assert held.decoded("DTEND") == datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
    assert str(held["SUMMARY"]) == "Floor walk — Bogotá Calle 26"
    assert "Night shift; headsets, roster" in str(held["DESCRIPTION"])
    assert "José Muñoz" in str(held["DESCRIPTION"])
    assert str(held["LOCATION"]) == "Bogotá Calle 26, Bogotá, Northwind Contact Solutions"
    action = found[uid(world["due"].id)]
    assert action.decoded("DTSTART") == date(2026, 12, 4)
    assert str(action["SUMMARY"]) == "Due: Send the QA deck training (José Muñoz)"


def test_uids_are_stable_across_exports_and_edits(world, monkeypatch):
    store = world["store"]
    first = calendar_ics(store)
    assert calendar_ics(store) == first  # the same data, the same file
    monkeypatch.setenv("FIELDRM_NOW", "2030-01-01T00:00:00Z")  # the edit comes later
    store.update(world["held"].id, set={"purpose": "A much longer purpose " * 8})
    second = events(calendar_ics(store))
    before = events(first)
    assert set(second) == set(before)
    held = uid(world["held"].id)
    assert int(second[held]["SEQUENCE"]) > int(before[held]["SEQUENCE"])  # the newer wins
    assert "A much longer purpose" in str(second[held]["DESCRIPTION"])  # folded, read back
    store.delete(world["series"][0].id)
    assert uid(world["series"][0].id) not in events(calendar_ics(store))


def test_lines_are_folded_and_end_in_crlf(world):
    store = world["store"]
    store.update(world["held"].id, set={"purpose": "ñ" * 200})
    text = calendar_ics(store)
    assert text.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert "ñ" * 200 in str(events(text)[uid(world["held"].id)]["DESCRIPTION"])
