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
