"""The visit report: content and structure in md, json and csv, and its errors."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from fieldrm.demo import demo_id, load_demo
from fieldrm.errors import InvalidInput, NotFound
from fieldrm.models import new_id
from fieldrm.report import CSV_COLUMNS, visit_report
from fieldrm.store import Store

TODAY = date(2026, 11, 23)


@pytest.fixture
def world():
    """One visit in Kolkata with everything a report shows, plus noise from another visit."""
    with Store.memory() as store:
        vendor = store.create("vendor", {"name": "Northwind Contact Solutions"})
        site = store.create(
            "site",
            {"vendor_id": vendor.id, "name": "Salt Lake", "city": "Kolkata",
             "country": "India", "timezone": "Asia/Kolkata"},
        )  # fmt: skip
        program = store.create("program", {"site_id": site.id, "name": "Cards Inbound"})
        priya = store.create(
            "contact", {"name": "Priya Nair", "role": "program_manager", "title": "Program Manager"}
        )
        ravi = store.create("contact", {"name": "Ravi Kumar", "role": "operations_manager"})
        tom = store.create("contact", {"name": "Tom Becker", "title": "Card Policy Owner"})
        visit = store.create(
            "visit",
            {"site_id": site.id, "visit_type": "floor_walk", "purpose": "After the AHT spike",
             "started_at": "2026-11-20T08:30:00Z", "ended_at": "2026-11-20T11:00:00Z",
             "attendees": [priya.id, ravi.id], "summary": "Coaching has lapsed in Team 4."},
        )  # fmt: skip
        other = store.create("visit", {"site_id": site.id, "started_at": "2026-11-01T08:00:00Z"})

        def add(kind, **values):
            return store.create(kind, {"visit_id": visit.id, **values})

        add("observation", text="FCR above target", category="kpi", severity="positive")
        add("observation", text="AHT 412s | target 370s", category="kpi", severity="concern",
            contact_id=ravi.id, program_id=program.id)  # fmt: skip
        add("observation", text="TLs skip side-by-sides", category="training", severity="critical")
        add("observation", text="Desks tidy")  # no category
        store.create("observation", {"visit_id": other.id, "text": "From another visit"})
        escalated = add(
            "question", text="Can we waive the fee?", asked_by="team 7",
            status="escalated", escalated_to=tom.id,
        )  # fmt: skip
        add("question", text="Callbacks after 9 pm?", status="answered", answer="Yes, if asked")
        add("question", text="Overtime bonus?")
        overdue = add("action", text="Re-run calibration", owner_id=priya.id, due="2026-11-18",
                      priority="high", status="in_progress")  # fmt: skip
        add("action", text="Clean-desk check", owner_id=ravi.id, due="2026-11-10", status="done")
        add("action", text="Chase the fee answer", due="2026-11-30")  # owner: the RM
        # Linked only through its source, the escalated question.
        store.create("action", {"text": "Tell team 7 the answer", "source_id": escalated.id})
        store.create("action", {"text": "Unrelated", "visit_id": other.id})
        yield {"store": store, "visit": visit, "overdue": overdue, "tom": tom}


def report(world, fmt):
    return visit_report(world["store"], world["visit"].id, fmt, today=TODAY)


def section(text: str, heading: str) -> str:
    """The body of one `## heading` section."""
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


# ---------------------------------------------------------------- markdown


def test_markdown_title_and_header(world):
    text = report(world, "md")
    assert text.splitlines()[0] == (
        "# Floor walk — Salt Lake (Northwind Contact Solutions), 2026-11-20"
    )
    # Times in the site's time zone: 08:30Z is 14:00 in Kolkata.
    assert "- **When:** Fri 20 Nov 2026, 14:00–16:30 IST (Asia/Kolkata)" in text
    assert "- **Site:** Salt Lake, Kolkata, India · Northwind Contact Solutions" in text
    assert "- **Purpose:** After the AHT spike" in text
    assert "Coaching has lapsed in Team 4." in section(text, "Summary")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Attendees",
        "## Summary",
        "## Observations",
        "## Questions from the floor",
        "## Follow-up actions",
    ]


def test_markdown_attendees_with_role_and_title(world):
    attendees = section(report(world, "md"), "Attendees")
    # The role is not repeated when the title says it ("Program Manager (program manager)").
    assert "- **Priya Nair** — Program Manager\n" in attendees
    assert "- **Ravi Kumar** — Operations manager" in attendees
    assert "Tom Becker" not in attendees  # escalated to, but did not attend


def test_markdown_observations_grouped_by_category_worst_first(world):
    observations = section(report(world, "md"), "Observations")
    assert "From another visit" not in observations
    order = [
        "### KPI",
        "**Concern:** AHT 412s \\| target 370s — *Ravi Kumar, Cards Inbound*",
        "**Positive:** FCR above target",
        "### Training",
        "**Critical:** TLs skip side-by-sides",
        "### Uncategorised",
        "- Desks tidy",
    ]
    positions = [observations.index(item) for item in order]
    assert positions == sorted(positions)


def test_markdown_questions_with_answer_escalation_and_open(world):
    questions = section(report(world, "md"), "Questions from the floor")
    assert "- **Can we waive the fee?** (asked by team 7)\n" in questions
    assert "  - **Escalated to** Tom Becker (Card Policy Owner) — awaiting an answer" in questions
    assert "  - **Answer:** Yes, if asked" in questions
    assert "- **Overtime bonus?**\n  - *Open* — not answered yet" in questions


def test_markdown_actions_with_owner_due_status_and_overdue(world):
    actions = section(report(world, "md"), "Follow-up actions")
    rows = [line for line in actions.splitlines() if line.startswith("| ")]
    assert rows[0] == "| Action | Owner | Due | Priority | Status |"
    assert (
        "| Re-run calibration | Priya Nair | 2026-11-18 **overdue** | high | in progress |" in rows
    )
    # Past due but done: not overdue.
    assert "| Clean-desk check | Ravi Kumar | 2026-11-10 | — | done |" in rows
    assert any(r.startswith("| Chase the fee answer |") and "(RM)" in r for r in rows)
    assert any(r.startswith("| Tell team 7 the answer |") for r in rows)  # via source_id
    assert not any("Unrelated" in r for r in rows)
    assert len(rows) == 1 + 4  # the header and four actions


def test_markdown_empty_visit_and_missing_references():
    with Store.memory() as store:
        # The site and an attendee have not reached this device yet.
        visit = store.create(
            "visit",
            {"site_id": new_id(), "started_at": "2026-11-20T08:30:00Z", "attendees": [new_id()]},
        )
        text = visit_report(store, visit.id, "md", today=TODAY)
    assert text.startswith("# Floor walk — unknown site, 2026-11-20")
    assert "(still open)" in text
    assert "(not on this device yet)" in section(text, "Attendees")
    assert "No observations recorded." in text
    assert "No questions recorded." in text
    assert "No actions agreed." in text


def test_markdown_of_demo_visit_names_the_escalation_contact():
    with Store.memory() as store:
        load_demo(store, today=TODAY)
        text = visit_report(store, demo_id("visit:kol-floor"), "md", today=TODAY)
    assert "Northwind Contact Solutions" in text.splitlines()[0]
    assert "**Escalated to** Tom Becker (Card Policy Owner, Meridian Bank)" in text
    assert "### Compliance" in text


# ---------------------------------------------------------------- json


def test_json_document(world):
    document = json.loads(report(world, "json"))
    assert set(document) >= {"visit", "site", "attendees", "observations", "questions", "actions"}
    assert document["visit"]["id"] == world["visit"].id
    assert document["site"]["name"] == "Salt Lake"
    assert document["vendor"]["name"] == "Northwind Contact Solutions"
    assert sorted(c["name"] for c in document["attendees"]) == ["Priya Nair", "Ravi Kumar"]
    assert len(document["observations"]) == 4
    assert all(o["visit_id"] == world["visit"].id for o in document["observations"])
    escalated = [q for q in document["questions"] if q["status"] == "escalated"]
    assert escalated[0]["escalated_to"] == world["tom"].id
    overdue = [a for a in document["actions"] if a.get("overdue")]
    assert [a["id"] for a in overdue] == [world["overdue"].id]
    assert overdue[0]["due"] == "2026-11-18"
    assert len(document["actions"]) == 4


# ---------------------------------------------------------------- csv


def test_csv_rows(world):
    rows = list(csv.DictReader(io.StringIO(report(world, "csv"))))
    assert list(rows[0]) == CSV_COLUMNS
    assert [r["section"] for r in rows].count("observation") == 4
    assert [r["section"] for r in rows].count("question") == 3
    assert [r["section"] for r in rows].count("action") == 4
    aht = next(r for r in rows if r["text"].startswith("AHT"))
    assert (aht["category"], aht["severity"], aht["contact"]) == ("kpi", "concern", "Ravi Kumar")
    assert aht["text"] == "AHT 412s | target 370s"  # no Markdown escaping in CSV
    fee = next(r for r in rows if r["text"] == "Can we waive the fee?")
    assert (fee["escalated_to"], fee["status"], fee["asked_by"]) == ("Tom Becker", "escalated",
                                                                     "team 7")  # fmt: skip
    calibration = next(r for r in rows if r["text"] == "Re-run calibration")
    assert calibration["owner"] == "Priya Nair"
    assert (calibration["due"], calibration["overdue"]) == ("2026-11-18", "yes")
    assert next(r for r in rows if r["text"] == "Clean-desk check")["overdue"] == ""


# ---------------------------------------------------------------- errors and naming


def test_unknown_visit_is_not_found(world):
    with pytest.raises(NotFound, match="no visit"):
        visit_report(world["store"], new_id(), "md")
    observation = world["store"].list("observation")[0]
    with pytest.raises(NotFound):
        visit_report(world["store"], observation.id, "md")


def test_unknown_format_is_invalid(world):
    with pytest.raises(InvalidInput, match="md, json, csv"):
        visit_report(world["store"], world["visit"].id, "pdf")


def test_visit_by_id_prefix():
    with Store.memory() as store:
        load_demo(store, today=TODAY)
        visit_id = demo_id("visit:lhr-floor")
        document = json.loads(visit_report(store, visit_id[:8], "json", today=TODAY))
        assert document["visit"]["id"] == visit_id


# ---------------------------------------------------------------- a report to send unedited


@pytest.fixture
def captured():
    """A floor walk captured as an RM types it: @names, #, !, ^ marks, some misplaced."""
    from fieldrm import notebook

    with Store.memory() as store:
        store.set_state("user", "asch42")  # the login handle never reaches the client
        store.set_state("display_name", "Anna Schmidt")
        vendor = store.create("vendor", {"name": "Northwind Contact Solutions"})
        site = store.create("site", {"vendor_id": vendor.id, "name": "Bogotá Calle 26",
                                     "timezone": "America/Bogota"})  # fmt: skip
        ravi = store.create("contact", {"name": "Ravi Kumar", "role": "operations_manager"})
        store.create("contact", {"name": "Priya Nair", "role": "program_manager"})
        it = store.create(
            "contact", {"name": "José Muñoz", "role": "it_manager", "title": "IT Manager"}
        )
        visit = notebook.start_visit(store, site.id, attendees=[ravi.id, it.id])
        for line in [
            "Team 4 TLs not doing side-by-sides #training !concern @Ravi",
            "Headsets failing on row 3 @José_Muñoz #technology !critical",
            "Ask @Nobody about the roster #staffing",
            "? can we waive the fee #billing !urgent ^fri (asked_by: team 7)",
            "> send QA calibration deck to @Priya ^2026-12-04 #training",
            "> fix the roster gaps !high",
        ]:
            notebook.capture(store, line, today=TODAY)
        notebook.end_visit(store, summary="Coaching gaps on Team 4")
        yield {"store": store, "visit": visit}


def captured_report(captured, fmt="md"):
    return visit_report(captured["store"], captured["visit"].id, fmt, today=TODAY)


def test_markdown_names_each_person_once_per_entry(captured):
    text = captured_report(captured)
    observations = section(text, "Observations")
    side_by_sides = next(line for line in observations.splitlines() if "side-by-sides" in line)
    assert side_by_sides.count("Ravi") == 1, side_by_sides
    assert "Ravi Kumar" in side_by_sides
    headsets = next(line for line in observations.splitlines() if "Headsets" in line)
    assert headsets.count("José Muñoz") == 1, headsets


def test_markdown_has_no_parser_marks(captured):
    text = captured_report(captured)
    body = text.split("\n", 1)[1]
    for mark in ("@", "#billing", "!urgent", "^fri", "#training", "#staffing", "asked_by"):
        assert mark not in body, mark
    assert "Ask Nobody about the roster" in body  # an unknown name keeps its word


def test_markdown_names_the_rm_by_display_name(captured):
    text = captured_report(captured)
    assert "asch42" not in text
    assert "- **Prepared by:** Anna Schmidt" in text
    rows = section(text, "Follow-up actions").splitlines()
    assert any(r.startswith("| fix the roster gaps | Anna Schmidt (RM) |") for r in rows), rows


def test_markdown_does_not_repeat_a_role_the_title_says(captured):
    attendees = section(captured_report(captured), "Attendees")
    assert "- **José Muñoz** — IT Manager\n" in attendees
    assert "(it manager)" not in attendees.lower()
    assert "- **Ravi Kumar** — Operations manager" in attendees


def test_a_name_inside_the_text_is_written_out_once(captured):
    from fieldrm import notebook

    store = captured["store"]
    store.update(captured["visit"].id, set={"ended_at": None})  # reopen to capture into it
    notebook.capture(store, "@Ravi's team skips huddles #process", today=TODAY)
    observations = section(captured_report(captured), "Observations")
    line = next(line for line in observations.splitlines() if "huddles" in line)
    assert line == "- Ravi Kumar's team skips huddles"


def test_markdown_leaves_no_caret_on_a_date_capture_did_not_read_nor_at_in_asked_by():
    """`^31-12` is no date the grammar reads (it stays in the text), and `(asked_by: @Priya)`
    keeps the name as typed: the client reads neither mark."""
    from fieldrm import notebook

    with Store.memory() as store:
        vendor = store.create("vendor", {"name": "Northwind Contact Solutions"})
        site = store.create("site", {"vendor_id": vendor.id, "name": "Bogotá Calle 26",
                                     "timezone": "UTC"})  # fmt: skip
        store.create("contact", {"name": "Priya Nair", "role": "program_manager"})
        visit = notebook.start_visit(store, site.id)
        notebook.capture(store, "? can we waive the fee (asked_by: @Priya) ^31-12", today=TODAY)
        notebook.capture(store, "> send the deck ^31/12", today=TODAY)
        text = visit_report(store, visit.id, "md", today=TODAY)
    body = text.split("\n", 1)[1]
    for mark in ("^", "@", "asked_by"):
        assert mark not in body, mark
    assert "can we waive the fee 31-12" in body
    assert "send the deck 31/12" in body
