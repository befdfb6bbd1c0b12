"""The §12 commands as a user runs them: `python -m fieldrm …` in its own FIELDRM_HOME."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader

from fieldrm.demo import demo_id, load_demo
from fieldrm.store import Store
from tests.test_cli import everything, fieldrm, ok, refused


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "device"
    path.mkdir()
    with Store.open(path / "fieldrm.db") as store:
        load_demo(store)
    return path


def pdf_text(path: Path) -> str:
    reader = PdfReader(BytesIO(path.read_bytes()))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_export_visit_as_pdf_with_the_rms_display_name(home):
    ok(home, "me", "--name", "Anna Schmidt")
    assert json.loads(ok(home, "me", "--json"))["display_name"] == "Anna Schmidt"
    visit = demo_id("visit:kol-floor")
    ok(home, "export", "visit", visit[:8], "--format", "pdf", "-o", "visit.pdf")
    text = pdf_text(home / "visit.pdf")
    assert "Prepared by Anna Schmidt" in text
    assert "Kolkata Salt Lake" in text


def test_export_pack_for_a_period(home):
    ok(home, "export", "pack", "--vendor", "Northwind Contact Solutions", "-o", "pack.pdf")
    text = pdf_text(home / "pack.pdf")
    assert "Client pack — Northwind Contact Solutions" in text
    assert "Kolkata Salt Lake" in text and "Review meeting" in text
    before = everything(home)
    ok(home, "export", "pack", "--vendor", "Northwind Contact Solutions",
       "--from", "2020-01-01", "--to", "2020-01-31", "-o", "empty.pdf")  # fmt: skip
    assert "No visits in this period." in pdf_text(home / "empty.pdf")
    assert everything(home) == before  # exporting writes nothing


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["export", "pack", "--vendor", "Nobody Inc", "-o", "x.pdf"], "no vendor"),
        (
            [
                "export",
                "pack",
                "--vendor",
                "Northwind Contact Solutions",
                "--from",
                "2026-13-01",
                "-o",
                "x.pdf",
            ],
            "not a date",
        ),  # fmt: skip
        (
            [
                "export",
                "pack",
                "--vendor",
                "Northwind Contact Solutions",
                "--from",
                "2026-12-01",
                "--to",
                "2026-11-01",
                "-o",
                "x.pdf",
            ],
            "is after",
        ),  # fmt: skip
        (["export", "visit", "nope", "--format", "pdf", "-o", "x.pdf"], "visit"),
        (["export", "visit", "nope", "--format", "docx"], "md, json, csv or pdf"),
        (["me", "--name", "  "], "needs a name"),
    ],
)
def test_bad_document_requests_are_refused(home, args, reason):
    assert reason in refused(fieldrm(home, *args))
    assert not (home / "x.pdf").exists()


# ---------------------------------------------------------------- contacts in and out


def test_import_contacts_dry_run_then_apply_then_again(home):
    (home / "sheet.csv").write_text(
        "name,role,vendor,email,phones\n"
        "Zara Sheikh,team_leader,Indus Customer Care,zara@indus.example,+92 42 3555 0101\n"
        "Priya Nair,,,priya.nair@northwind-cs.example,\n",  # the demo's Priya, by email
        encoding="utf-8",
    )
    before = everything(home)
    dry = json.loads(ok(home, "import", "contacts", "sheet.csv", "--dry-run", "--json"))
    assert {k: dry[k] for k in ("new", "matched", "updated", "skipped")} == {
        "new": 1, "matched": 1, "updated": 0, "skipped": []}  # fmt: skip
    assert everything(home) == before
    assert "imported: 1 new, 1 matched, 0 updated, 0 skipped" in ok(
        home, "import", "contacts", "sheet.csv"
    )
    again = json.loads(ok(home, "import", "contacts", "sheet.csv", "--json"))
    assert (again["new"], again["matched"], again["updated"]) == (0, 2, 0)
    names = json.loads(ok(home, "list", "contact", "--json", "--where", "name=Zara Sheikh"))
    assert names[0]["phones"] == ["+924235550101"]


def test_export_contacts_round_trips(home):
    ok(home, "export", "contacts", "--format", "vcf", "-o", "all.vcf")
    ok(home, "export", "contacts", "--format", "csv", "-o", "all.csv")
    before = everything(home)
    for name in ("all.vcf", "all.csv"):
        summary = json.loads(ok(home, "import", "contacts", name, "--json"))
        assert (summary["new"], summary["updated"]) == (0, 0), summary
    assert everything(home) == before


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("cards.vcf", b"BEGIN:VCARD\nVERSION:3.0\nTEL:+1 555\nEND:VCARD\n",
         "line 1: a vCard with no name"),
        ("sheet.csv", b"name,role\nA,chief wizard\n", "line 2: unknown role"),
        ("sheet.csv", b"name,email\nA,a@@b\n", "line 2: not an email"),
        ("sheet.csv", b"name\nJos\xe9\n", "line 2: not UTF-8"),
        ("sheet.txt", b"name\nA\n", ".vcf or .csv"),
        ("missing.csv", None, "cannot read missing.csv"),
    ],
)  # fmt: skip
def test_bad_contact_files_are_refused_whole(home, name, data, reason):
    if data is not None:
        (home / name).write_bytes(data)
    before = everything(home)
    assert reason in refused(fieldrm(home, "import", "contacts", name))
    assert everything(home) == before


def test_export_ics_has_stable_uids(home):
    import icalendar

    def uids(name: str) -> list[str]:
        ok(home, "export", "ics", "-o", name)
        calendar = icalendar.Calendar.from_ical((home / name).read_bytes())
        return sorted(str(event["UID"]) for event in calendar.walk("VEVENT"))

    first = uids("one.ics")
    visits = json.loads(ok(home, "list", "visit", "--json"))
    assert {f"{v['id']}@fieldrm" for v in visits} <= set(first)
    ok(home, "edit", visits[0]["id"], "--set", "purpose=Changed")
    assert uids("two.ics") == first
