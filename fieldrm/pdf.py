"""PDF documents (SPEC §12): a visit's report and a vendor's client pack, made offline.

fpdf2 (pure Python, no system libraries) draws them, with Noto Sans from the
`fontpkg-noto-sans` package embedded (subset), so accented and non-Latin names render.
fpdf2 takes a noticeable part of a second to import, so only the commands that make a
PDF import this module: `capture` and the app's start never load it
(tests/test_import_hygiene.py proves it).

A document is a list of sections, each a function that draws onto the page.  The visit
report is one visit's sections; the client pack is a cover and each visit's sections, and
is built as a list so that the KPI table and the carried-over actions (SPEC §11) join it as
two more sections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from fieldrm.models import label, local_today
from fieldrm.report import VisitDocument, clean_text, rm_name, visit_document
from fieldrm.store.queries import vendor_visits

if TYPE_CHECKING:
    from fieldrm.models import Record
    from fieldrm.store import Store

__all__ = ["Section", "pack_pdf", "pack_sections", "visit_pdf"]

FONT = "Noto"
INK = (33, 37, 41)
MUTED = (108, 117, 125)
RULE = (206, 212, 218)
OVERDUE = (176, 32, 32)
SEVERITY_COLOURS = {
    "critical": (176, 32, 32),
    "concern": (184, 110, 0),
    "info": (73, 80, 87),
    "positive": (35, 125, 60),
}


@dataclass(frozen=True)
class Section:
    """One part of a document: what it is (for tests and the outline) and how to draw it."""

    title: str
    draw: Callable[[_Page], None]


class _Page(FPDF):
    """A4 with the embedded font, a running footer and a few drawing helpers."""

    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        import fontpkg_noto_sans

        files = fontpkg_noto_sans.ROOT / "files"
        # The variable font's default instance (regular); instancing a bold weight costs
        # seconds, so emphasis is size and colour, and "B" maps to the same face.
        for style, name in (("", "NotoSans[wdth,wght].ttf"), ("B", "NotoSans[wdth,wght].ttf"),
                            ("I", "NotoSans-Italic[wdth,wght].ttf")):  # fmt: skip
            self.add_font(FONT, style, str(files / name))
        self.document_title = title
        self.set_title(title)
        self.set_creator("fieldrm")
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(True, margin=18)
        self.set_font(FONT, size=10)
        self.set_text_color(*INK)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, self.document_title, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"{self.page_no()}/{{nb}}", align="R")
        self.set_text_color(*INK)

    # ------------------------------------------------------------ helpers

    def heading(self, text: str, level: int = 1) -> None:
        size = {0: 17, 1: 13, 2: 11}[level]
        if self.get_y() > self.h - 40:  # never a heading alone at the foot of a page
            self.add_page()
        self.ln(2 if level else 0)
        self.set_font(FONT, size=size)
        self.set_text_color(*(INK if level < 2 else MUTED))
        self.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if level == 1:
            self.set_draw_color(*RULE)
            self.line(self.l_margin, self.get_y() + 0.5, self.w - self.r_margin, self.get_y() + 0.5)
            self.ln(2)
        self.set_font(FONT, size=10)
        self.set_text_color(*INK)

    def text_line(self, text: str, *, colour: tuple[int, int, int] = INK, size: float = 10) -> None:
        self.set_font(FONT, size=size)
        self.set_text_color(*colour)
        self.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(*INK)
        self.set_font(FONT, size=10)

    def fields(self, pairs: list[tuple[str, str]]) -> None:
        """A title block: `Client  Meridian Bank` rows."""
        for name, value in pairs:
            if not value:
                continue
            self.set_text_color(*MUTED)
            self.cell(32, 5.5, name)
            self.set_text_color(*INK)
            self.multi_cell(0, 5.5, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def item(
        self, lead: str, text: str, *, colour: tuple[int, int, int] = INK, note: str = ""
    ) -> None:
        """A bullet: a coloured lead word (`Critical`), the text, a muted note after it."""
        indent = self.l_margin
        self.set_x(indent)
        self.cell(4, 5.5, "•")
        self.set_left_margin(indent + 4)
        if lead:
            self.set_text_color(*colour)
            self.write(5.5, lead + "  ")
            self.set_text_color(*INK)
        self.write(5.5, text)
        if note:
            self.set_text_color(*MUTED)
            self.write(5.5, "  — " + note)
            self.set_text_color(*INK)
        self.ln(6)
        self.set_left_margin(indent)
        self.set_x(indent)


# ---------------------------------------------------------------- one visit


def _title_block(page: _Page, report: VisitDocument) -> None:
    page.heading(report.title(), 0)
    page.ln(1)
    attendees = [
        f"{contact.name} — {report.person_detail(contact)}".rstrip(" —")
        if contact is not None
        else report.contact_name(contact_id)
        for contact_id, contact in report.attendees_in_order()
    ]
    page.fields([
        ("Client", ", ".join(report.clients())),
        ("Vendor", str(getattr(report.vendor, "name", "") or "")),
        ("Site", report.place()),
        ("When", report.when()),
        ("Purpose", _clean(getattr(report.visit, "purpose", None))),
        ("Prepared by", report.rm_name()),
        ("Attendees", "\n".join(attendees) or "none recorded"),
    ])  # fmt: skip
    summary = getattr(report.visit, "summary", None)
    if summary:
        page.heading("Summary")
        page.text_line(_clean(summary))


def _observations(page: _Page, report: VisitDocument) -> None:
    page.heading("Observations")
    if not report.observations:
        page.text_line("No observations recorded.", colour=MUTED)
    for category, records in report.observations_by_category():
        page.heading(category, 2)
        for record in records:
            text, about = report.observation_parts(record)
            severity = str(getattr(record, "severity", None) or "")
            page.item(
                severity.capitalize(),
                text,
                colour=SEVERITY_COLOURS.get(severity, INK),
                note=", ".join(part for part in about if part),
            )


def _questions(page: _Page, report: VisitDocument) -> None:
    page.heading("Questions from the floor")
    if not report.questions:
        page.text_line("No questions recorded.", colour=MUTED)
    for record in report.questions:
        asked = getattr(record, "asked_by", None)
        text = report.entry_text(record, getattr(record, "escalated_to", None))
        page.item("", text, note=f"asked by {asked}" if asked else "")
        head, rest = report.question_outcome_parts(record)
        colour = {"Open": OVERDUE, "Escalated to": SEVERITY_COLOURS["concern"]}.get(head, MUTED)
        page.set_left_margin(page.l_margin + 4)
        page.item(head, rest, colour=colour)
        page.set_left_margin(page.l_margin - 4)


def _actions(page: _Page, report: VisitDocument) -> None:
    page.heading("Follow-up actions")
    if not report.actions:
        page.text_line("No actions agreed.", colour=MUTED)
        return
    _action_table(page, report, report.actions)


def _action_table(page: _Page, report: VisitDocument, actions: list[Record]) -> None:
    """Action, owner, due, status; an overdue action's due date in red."""
    heading = FontFace(fill_color=(236, 239, 242), color=INK)
    with page.table(
        col_widths=(76, 38, 28, 32),
        headings_style=heading,
        line_height=5.5,
        text_align=("LEFT", "LEFT", "LEFT", "LEFT"),
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        table.row(["Action", "Owner", "Due", "Status"])
        for record in actions:
            due = getattr(record, "due", None)
            overdue = report.overdue(record)
            row = table.row()
            row.cell(report.entry_text(record, getattr(record, "owner_id", None)))
            row.cell(report.owner_name(record))
            due_text = (due.isoformat() if due else "—") + (" overdue" if overdue else "")
            row.cell(due_text, style=FontFace(color=OVERDUE) if overdue else None)
            priority = getattr(record, "priority", None)
            row.cell(label(record.status) + (f", {priority}" if priority == "high" else ""))


def visit_sections(report: VisitDocument) -> list[Section]:
    """A visit's report, in the order the client reads it."""
    return [
        Section("Title", lambda page: _title_block(page, report)),
        Section("Observations", lambda page: _observations(page, report)),
        Section("Questions from the floor", lambda page: _questions(page, report)),
        Section("Follow-up actions", lambda page: _actions(page, report)),
    ]


def _render(title: str, sections: list[Section], *, page_per_section: set[int]) -> bytes:
    page = _Page(title)
    page.add_page()
    for index, section in enumerate(sections):
        if index in page_per_section and index:
            page.add_page()
        section.draw(page)
    return bytes(page.output())


def visit_pdf(store: Store, visit_id: str, *, today: date | None = None) -> bytes:
    """One visit's report as a PDF (`fieldrm export visit ID --format pdf`)."""
    report = visit_document(store, visit_id, today=today)
    return _render(report.title(), visit_sections(report), page_per_section=set())


# ---------------------------------------------------------------- the client pack


def _period(start: date | None, end: date | None) -> str:
    def day(value: date) -> str:
        return f"{value.day} {value:%b %Y}"

    if start and end:
        return f"{day(start)} – {day(end)}"
    if start:
        return f"from {day(start)}"
    if end:
        return f"until {day(end)}"
    return "all visits"


def pack_sections(
    store: Store,
    vendor: Record,
    *,
    start: date | None = None,
    end: date | None = None,
    today: date | None = None,
) -> list[Section]:
    """The client pack: a cover with the period's visits, then each visit's report.

    The KPI table (status and trend) and the carried-over actions of SPEC §11 are two more
    sections for this list once KPIs exist on this branch's base."""
    today = today or local_today()
    visits = vendor_visits(store, vendor.id, start, end)
    reports = [visit_document(store, visit.id, today=today) for visit in visits]

    def cover(page: _Page) -> None:
        page.heading(f"Client pack — {vendor.name}", 0)
        page.ln(1)
        clients = sorted({name for report in reports for name in report.clients()})
        rm = rm_name(store)
        page.fields([
            ("Client", ", ".join(clients)),
            ("Vendor", str(vendor.name)),
            ("Period", _period(start, end)),
            ("Prepared by", rm),
            ("Date", f"{today.day} {today:%b %Y}"),
        ])  # fmt: skip
        page.heading("Visits in this period")
        if not reports:
            page.text_line("No visits in this period.", colour=MUTED)
        for report in reports:
            kind = label(getattr(report.visit, "visit_type", "visit"))
            counts = (
                f"{len(report.observations)} observations, {len(report.questions)} "
                f"questions, {len(report.actions)} actions"
            )
            page.item("", f"{report.when()} · {report.place()}", note=f"{kind}; {counts}")

    sections = [Section("Cover", cover)]
    for report in reports:
        sections.extend(visit_sections(report))
    return sections


def pack_pdf(
    store: Store,
    vendor_id: str,
    *,
    start: date | None = None,
    end: date | None = None,
    today: date | None = None,
) -> bytes:
    """A vendor's client pack as a PDF (`fieldrm export pack --vendor V`)."""
    vendor = store.resolve(vendor_id, ["vendor"])
    sections = pack_sections(store, vendor, start=start, end=end, today=today)
    # Each visit starts a page (its title section); the cover has the first.
    new_pages = {index for index, section in enumerate(sections) if section.title == "Title"}
    return _render(f"Client pack — {vendor.name}", sections, page_per_section=new_pages)


def _clean(text: object) -> str:
    return clean_text(str(text)) if text else ""
