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
from typing import TYPE_CHECKING, Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from fieldrm.models import label, local_today
from fieldrm.report import VisitDocument, clean_text, rm_name, visit_document
from fieldrm.store.queries import carried_over_actions, names_for, vendor_visits
from fieldrm.store.relationships import KpiStatus, kpi_statuses, program_ids_of_vendor

if TYPE_CHECKING:
    from fieldrm.models import Record
    from fieldrm.store import Store

__all__ = ["Section", "pack_pdf", "pack_sections", "visit_pdf"]

FONT = "Noto"
INK = (33, 37, 41)
MUTED = (108, 117, 125)
RULE = (206, 212, 218)
OVERDUE = (176, 32, 32)
STATUS_COLOURS = {"green": (35, 125, 60), "amber": (184, 110, 0), "red": (176, 32, 32)}
UNITS = {"percent": "%", "seconds": " s"}
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


def _table(page: _Page, widths: tuple[int, ...]) -> Any:
    """A table in the documents' style: a shaded heading row, rules between rows."""
    return page.table(
        col_widths=widths,
        headings_style=FontFace(fill_color=(236, 239, 242), color=INK),
        line_height=5.5,
        text_align=("LEFT",) * len(widths),
        borders_layout="HORIZONTAL_LINES",
    )


def _action_table(page: _Page, report: VisitDocument, actions: list[Record]) -> None:
    """Action, owner, due, status; an overdue action's due date in red."""
    with _table(page, (76, 38, 28, 32)) as table:
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
    """A visit's report, in the order the client reads it; a review meeting's ends with
    the actions carried over from earlier reviews, as its markdown does."""
    sections = [
        Section("Title", lambda page: _title_block(page, report)),
        Section("Observations", lambda page: _observations(page, report)),
        Section("Questions from the floor", lambda page: _questions(page, report)),
        Section("Follow-up actions", lambda page: _actions(page, report)),
    ]
    if getattr(report.visit, "visit_type", None) == "review_meeting":
        carried = report.carried_over()
        rows = [
            _carried_row(action, report.owner_name(action), report.today, report.overdue(action))
            for action in carried
        ]
        sections.append(Section("Carried over", lambda page: _carried_over(page, rows)))
    return sections


# ---------------------------------------------------------------- §11: KPIs, carried over


def _amount(value: float | None, unit: str | None) -> str:
    return "—" if value is None else f"{value:g}{UNITS.get(unit or '', '')}"


def _sparkline(page: _Page, x: float, y: float, w: float, h: float, values: list[float]) -> None:
    """The trend as a small line, oldest on the left; the latest point marked."""
    if len(values) < 2:
        return
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = w / (len(values) - 1)
    points = [(x + i * step, y + h - (v - low) / span * h) for i, v in enumerate(values)]
    with page.local_context(draw_color=MUTED, fill_color=INK, line_width=0.3):
        page.polyline(points)
        page.ellipse(points[-1][0] - 0.6, points[-1][1] - 0.6, 1.2, 1.2, style="F")


def _kpi_table(page: _Page, statuses: list[KpiStatus]) -> None:
    """KPI, program, latest value and period, target, status in its colour, a drawn
    6-period trend with the values beneath (the store's status and trend, not restated)."""
    page.heading("Key performance indicators")
    if not statuses:
        page.text_line("No KPIs recorded for this vendor's programs.", colour=MUTED)
        return
    widths = (50, 36, 28, 22, 16, 22)
    page.set_font(FONT, size=9)
    page.set_text_color(*MUTED)
    for width, name in zip(widths, ["KPI", "Program", "Latest", "Target", "Status", "Trend"],
                           strict=True):  # fmt: skip
        page.cell(width, 6, name)
    page.ln(6)
    for item in statuses:
        kpi = item.kpi
        if page.get_y() + 12 > page.page_break_trigger:
            page.add_page()
        top = page.get_y()
        page.set_draw_color(*RULE)
        page.line(page.l_margin, top, page.w - page.r_margin, top)
        page.set_font(FONT, size=9)
        page.set_text_color(*INK)
        latest = item.latest or {}
        sign = "at most" if kpi.direction == "lower_better" else "at least"
        cells = [
            _fit(page, str(kpi.name), widths[0]),
            _fit(page, item.program, widths[1]),
            f"{_amount(latest.get('value'), kpi.unit)} {latest.get('period', '')}".strip(),
            f"{sign} {_amount(kpi.target, kpi.unit)}",
        ]
        for width, text in zip(widths, cells, strict=False):
            page.cell(width, 6, text)
        status = item.status or "no data"
        page.set_text_color(*STATUS_COLOURS.get(status, MUTED))
        page.cell(widths[4], 6, status.capitalize())
        page.set_text_color(*INK)
        values = [point["value"] for point in item.trend]
        _sparkline(page, page.get_x() + 1, top + 1.5, widths[5] - 4, 7, values)
        page.ln(5.5)
        if item.trend:
            first, last = item.trend[0]["period"], item.trend[-1]["period"]
            page.set_font(FONT, size=7.5)
            page.set_text_color(*MUTED)
            page.cell(sum(widths[:5]), 4.5, f"Trend {first} – {last}: "
                      + ", ".join(f"{value:g}" for value in values))  # fmt: skip
        page.ln(5)
    page.set_font(FONT, size=10)
    page.set_text_color(*INK)


def _fit(page: _Page, text: str, width: float) -> str:
    """Text shortened with an ellipsis to fit one table cell."""
    if page.get_string_width(text) <= width - 2:
        return text
    while text and page.get_string_width(text + "…") > width - 2:
        text = text[:-1]
    return text + "…"


@dataclass(frozen=True)
class _CarriedRow:
    text: str
    owner: str
    theirs: bool
    due: str
    overdue: bool
    age_days: int


def _carried_row(action: Record, owner: str, today: date, overdue: bool) -> _CarriedRow:
    due = getattr(action, "due", None)
    raised = action.created_at.astimezone().date()
    return _CarriedRow(
        clean_text(str(action.text)),
        owner,
        bool(getattr(action, "owner_id", None)),  # an owner is theirs; no owner is ours
        due.isoformat() if due else "—",
        overdue,
        (today - raised).days,
    )


def _carried_over(page: _Page, rows: list[_CarriedRow]) -> None:
    """Open actions raised at earlier reviews, theirs and ours apart, each with its age."""
    page.heading("Carried over")
    if not rows:
        page.text_line("Nothing carried over from earlier reviews.", colour=MUTED)
        return
    for title, theirs in (("Theirs", True), ("Ours", False)):
        group = [row for row in rows if row.theirs is theirs]
        page.heading(f"{title} ({len(group)})", 2)
        if not group:
            page.text_line("None.", colour=MUTED)
            continue
        with _table(page, (76, 38, 38, 22)) as table:
            table.row(["Action", "Owner", "Due", "Age"])
            for row in group:
                cells = table.row()
                cells.cell(row.text)
                cells.cell(row.owner)
                due = row.due + (" overdue" if row.overdue else "")
                cells.cell(due, style=FontFace(color=OVERDUE) if row.overdue else None)
                cells.cell(f"{row.age_days} days")


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
    """The client pack: a cover with the period's visits, the KPI table (status and trend)
    and the open actions carried over from reviews (SPEC §11), then each visit's report."""
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

    statuses = kpi_statuses(store, program_ids_of_vendor(store, vendor.id))
    carried = carried_over_actions(store, vendor.id)
    names = names_for(store, [action.owner_id for action in carried])

    def owner(action: Record) -> str:
        if action.owner_id:
            return names.get(action.owner_id) or str(action.owner_id)
        return f"{rm_name(store, action.created_by)} (RM)"

    rows = [
        _carried_row(action, owner(action), today, bool(action.due and action.due < today))
        for action in carried
    ]
    sections = [
        Section("Cover", cover),
        Section("KPIs", lambda page: _kpi_table(page, statuses)),
        Section("Carried over", lambda page: _carried_over(page, rows)),
    ]
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
