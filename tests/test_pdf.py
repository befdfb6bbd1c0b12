"""The PDF visit report and client pack (SPEC §12): their text as pypdf extracts it holds
every entry, the people's accented and non-Latin names, and no capture marks."""

from __future__ import annotations

from datetime import date
from io import BytesIO

import pytest
from pypdf import PdfReader

from fieldrm import notebook
from fieldrm.pdf import pack_pdf, pack_sections, visit_pdf
from fieldrm.relationships import record_kpi_value
from fieldrm.store import Store

TODAY = date(2026, 11, 23)


def pdf_text(data: bytes) -> str:
    """The document's text, whitespace collapsed (wrapped lines join with one space)."""
    assert data.startswith(b"%PDF-")
    reader = PdfReader(BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


LINES = [
    "Team 4 TLs not doing side-by-sides #training !concern @Ravi",
    "Headsets failing on row 3 @José #technology !critical",
    "Ask @Nobody about the roster #staffing",
    "Agents greet in Spanish and English #quality !positive",
    "? can we waive the fee #billing !urgent ^fri (asked_by: team 7)",
    "> send QA calibration deck to @Дмитрий ^2026-11-20 #training",
    "> fix the roster gaps !high",
]


def visit_at(store: Store, site_id: str, started: str, lines: list[str], attendees=()) -> str:
    visit = store.create("visit", {"site_id": site_id, "started_at": started,
                                   "attendees": list(attendees)})  # fmt: skip
    for line in lines:
        parsed = notebook._parse(store, line, TODAY, visit.id)
        store.create(parsed.kind, parsed.values)
    store.update(visit.id, set={"ended_at": started.replace("T14", "T16")})
    return visit.id


@pytest.fixture
def world():
    with Store.memory() as store:
        store.set_state("user", "asch42")
        store.set_state("display_name", "Anna Schmidt")
        vendor = store.create("vendor", {"name": "Northwind Contact Solutions"})
        other_vendor = store.create("vendor", {"name": "Bayanihan CX"})
        site = store.create("site", {"vendor_id": vendor.id, "name": "Bogotá Calle 26",
                                     "city": "Bogotá", "timezone": "America/Bogota"})  # fmt: skip
        manila = store.create("site", {"vendor_id": other_vendor.id, "name": "Manila Ortigas"})
        store.create("program", {"site_id": site.id, "name": "Cards Spanish",
                                 "client": "Meridian Bank"})  # fmt: skip
        ravi = store.create("contact", {"name": "Ravi Kumar", "role": "operations_manager"})
        jose = store.create("contact", {"name": "José Muñoz", "role": "it_manager",
                                        "title": "IT Manager"})  # fmt: skip
        store.create("contact", {"name": "Дмитрий Иванов", "role": "quality_manager"})
        store.create("contact", {"name": "प्रिया नायर", "role": "program_manager"})
        main = visit_at(store, site.id, "2026-11-20T14:00:00Z", LINES, [ravi.id, jose.id])
        later = visit_at(store, site.id, "2026-11-21T14:00:00Z", [
            "Night shift at 82% of forecast #staffing !concern",
            "Met प्रिया about the QBR deck #process",
        ])  # fmt: skip
        old = visit_at(store, site.id, "2026-08-01T14:00:00Z", ["Old news from August"])
        elsewhere = visit_at(store, manila.id, "2026-11-20T14:00:00Z", ["Manila only"])
        yield {"store": store, "vendor": vendor, "visits": (main, later, old, elsewhere)}


def test_visit_pdf_holds_every_entry_clean(world):
    store = world["store"]
    text = pdf_text(visit_pdf(store, world["visits"][0], today=TODAY))
    for expected in [
        "Team 4 TLs not doing side-by-sides",
        "Headsets failing on row 3",
        "Ask Nobody about the roster",
        "Agents greet in Spanish and English",
        "can we waive the fee billing urgent fri",
        "send QA calibration deck to Дмитрий",
        "fix the roster gaps",
    ]:
        assert expected in text, expected
    # People by name and role, the RM by display name, local time with its zone.
    assert "José Muñoz — IT Manager" in text
    assert "(it manager)" not in text
    assert "Ravi Kumar — Operations manager" in text
    assert "Anna Schmidt" in text and "asch42" not in text
    assert "Bogotá Calle 26" in text and "Meridian Bank" in text
    assert "09:00–11:00 -05 (America/Bogota)" in text
    # Severity, grouping, escalation and the overdue action.
    assert "Critical Headsets failing on row 3 — José Muñoz" in text
    assert "Open not answered yet" in text
    assert "2026-11-20 overdue" in text
    for mark in ("@", "#", "^", "!", "asked_by"):
        assert mark not in text, mark


def test_names_are_not_doubled_in_the_pdf(world):
    text = pdf_text(visit_pdf(world["store"], world["visits"][0], today=TODAY))
    assert text.count("Ravi") == 2  # once as an attendee, once after the observation
    assert "side-by-sides — Ravi Kumar" in text


def test_pack_holds_the_vendors_visits_in_the_period(world):
    store = world["store"]
    data = pack_pdf(store, world["vendor"].id, start=date(2026, 11, 1),
                    end=date(2026, 11, 30), today=TODAY)  # fmt: skip
    text = pdf_text(data)
    assert "Client pack — Northwind Contact Solutions" in text
    assert "1 Nov 2026 – 30 Nov 2026" in text
    assert "Team 4 TLs not doing side-by-sides" in text
    assert "Night shift at 82% of forecast" in text
    assert "Met प्रिया about the QBR deck" in text
    assert "Old news from August" not in text  # before the period
    assert "Manila only" not in text  # another vendor
    assert len(PdfReader(BytesIO(data)).pages) >= 3  # a cover, then a page per visit


def test_pack_is_a_list_of_sections(world):
    sections = pack_sections(world["store"], world["vendor"], today=TODAY)
    titles = [section.title for section in sections]
    assert titles[0] == "Cover"
    assert titles.count("Title") == 3  # every visit of the vendor, no period given
    assert titles[3:7] == ["Title", "Observations", "Questions from the floor",
                           "Follow-up actions"]  # fmt: skip


def test_an_empty_period_still_makes_a_pack(world):
    text = pdf_text(pack_pdf(world["store"], world["vendor"].id, start=date(2025, 1, 1),
                             end=date(2025, 1, 31), today=TODAY))  # fmt: skip
    assert "No visits in this period." in text


# ---------------------------------------------------------------- §11 in the documents


@pytest.fixture
def reviewed(world, monkeypatch):
    """The world with two KPIs of its program and a review whose actions stay open."""
    store, vendor = world["store"], world["vendor"]
    (program,) = store.list("program")
    aht = store.create("kpi", {"program_id": program.id, "name": "Average handle time",
                               "unit": "seconds", "direction": "lower_better",
                               "target": 300, "red": 340})  # fmt: skip
    fcr = store.create("kpi", {"program_id": program.id, "name": "First contact resolution",
                               "unit": "percent", "direction": "higher_better",
                               "target": 80})  # fmt: skip
    for month, value in zip(range(3, 11), [300, 305, 310, 320, 330, 335, 345, 351], strict=True):
        record_kpi_value(store, aht.id, f"2026-{month:02}", value)
    record_kpi_value(store, fcr.id, "2026-10", 82)
    (jose,) = [c for c in store.list("contact") if c.name == "José Muñoz"]
    monkeypatch.setenv("FIELDRM_NOW", "2026-10-15T15:00:00Z")
    site_id = store.get(world["visits"][0]).site_id
    review = store.create("visit", {"site_id": site_id, "started_at": "2026-10-15T14:00:00Z",
                                    "visit_type": "review_meeting", "review": "qbr",
                                    "vendor_id": vendor.id})  # fmt: skip
    store.create("action", {"text": "Replace the row 3 headsets", "owner_id": jose.id,
                            "visit_id": review.id, "due": "2026-11-01"})  # fmt: skip
    store.create("action", {"text": "Share the Q1 forecast", "visit_id": review.id})
    store.create("action", {"text": "Already sorted", "visit_id": review.id, "status": "done"})
    monkeypatch.setenv("FIELDRM_NOW", "2026-11-23T15:00:00Z")
    later = store.create("visit", {"site_id": site_id, "started_at": "2026-11-22T14:00:00Z",
                                   "visit_type": "review_meeting", "review": "qbr",
                                   "vendor_id": vendor.id})  # fmt: skip
    return {**world, "review": review.id, "later_review": later.id}


def test_the_pack_has_the_kpi_table_and_the_carried_over_actions(reviewed):
    store = reviewed["store"]
    titles = [s.title for s in pack_sections(store, reviewed["vendor"], today=TODAY)]
    assert titles[:3] == ["Cover", "KPIs", "Carried over"]
    text = pdf_text(pack_pdf(store, reviewed["vendor"].id, start=date(2026, 10, 1),
                             end=date(2026, 11, 30), today=TODAY))  # fmt: skip
    kpis = text.split("Key performance indicators", 1)[1].split("Carried over", 1)[0]
    # Latest is the latest period; the trend the last six periods, oldest first.
    assert "Average handle time" in kpis and "Cards Spanish" in kpis
    assert "351 s 2026-10" in kpis and "at most 300 s" in kpis and "Red" in kpis
    assert "Trend 2026-05 – 2026-10: 310, 320, 330, 335, 345, 351" in kpis
    assert "First contact resolution" in kpis and "82% 2026-10" in kpis and "Green" in kpis
    assert "at least 80%" in kpis
    carried = text.split("Carried over", 1)[1]
    theirs, ours = carried.split("Theirs", 1)[1].split("Ours", 1)
    assert "Replace the row 3 headsets" in theirs and "José Muñoz" in theirs
    assert "2026-11-01 overdue" in theirs and "39 days" in theirs
    assert "Share the Q1 forecast" in ours and "Anna Schmidt (RM)" in ours
    ours = ours.split("Client pack —", 1)[0]  # up to the cover page's footer
    assert "Already sorted" not in theirs + ours  # done is not carried over


def test_a_pack_with_no_kpis_says_so(world):
    text = pdf_text(pack_pdf(world["store"], world["vendor"].id, today=TODAY))
    assert "No KPIs recorded for this vendor's programs." in text
    assert "Nothing carried over from earlier reviews." in text


def test_a_review_meetings_pdf_shows_carried_over_as_its_markdown_does(reviewed):
    store = reviewed["store"]
    text = pdf_text(visit_pdf(store, reviewed["later_review"], today=TODAY))
    carried = text.split("Carried over", 1)[1]
    assert "Replace the row 3 headsets" in carried and "Share the Q1 forecast" in carried
    assert "Already sorted" not in carried
    first = pdf_text(visit_pdf(store, reviewed["review"], today=TODAY))
    assert "Nothing carried over from earlier reviews." in first
    plain = pdf_text(visit_pdf(store, reviewed["visits"][0], today=TODAY))
    assert "Carried over" not in plain  # not a review meeting
