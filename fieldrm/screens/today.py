"""Today: the open or next visit, open questions, actions overdue or due soon, people not
met for a long time, and the latest observations — the RM's morning glance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from fieldrm.display import ago, short_date, short_time
from fieldrm.models import QuestionStatus, label, local_today, now_utc
from fieldrm.screens.base import FieldrmScreen
from fieldrm.screens.navigation import go_binding, key_of
from fieldrm.screens.widgets import SafeStatic, shown
from fieldrm.store.queries import TodaySummary, today_summary
from fieldrm.store.relationships import RelationshipToday, relationship_today


@dataclass
class TodayLoaded(Message):
    summary: TodaySummary


def _panel(title: str) -> Text:
    text = Text(no_wrap=False)
    text.append(title + "\n", style="bold")
    return text


def _line(text: Text, *parts: tuple[str, str]) -> None:
    for part, style in parts:
        text.append(part, style=style)
    text.append("\n")


def _row(*parts: tuple[str, str]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for part, style in parts:
        text.append(part, style=style)
    return text


def _clip(value: str, width: int = 70) -> str:
    value = " ".join(str(value).split())
    return value if len(value) <= width else value[: width - 1] + "…"


# A panel's rows: (record, the row as it reads); a record of None is a hint, not opened.
Rows = list[tuple[Any, Text]]


def visit_rows(summary: TodaySummary) -> Rows:
    visit = summary.visit
    if visit is None:
        return [
            (
                None,
                _row(("No visit open or planned. ", ""), ("ctrl+n", "bold"), (" starts one.", "")),
            )
        ]
    planned = visit.started_at > now_utc()
    state = "planned" if planned else "open"
    kind = label(visit.visit_type or "visit")
    rows: Rows = [
        (
            visit,
            _row(
                # The when first: at 80 columns the row is cut in the site's name.
                (f"{short_date(visit.started_at)} {short_time(visit.started_at)} ", "bold"),
                (f"{state} {kind} at ", ""),
                (summary.visit_site or "an unknown site", "bold"),
            ),
        )
    ]
    if visit.purpose:
        rows.append((None, _row((_clip(visit.purpose), "italic"))))
    if not planned:
        hint = f"enter or {key_of('floor')} to log"
    elif visit.vendor_id:
        hint = "enter or g opens the agenda"
    else:
        hint = "enter shows it"
    rows.append((None, _row((hint, "dim"), (f" · {len(visit.attendees)} attendee(s)", "dim"))))
    return rows


def question_rows(summary: TodaySummary) -> Rows:
    if not summary.open_questions:
        return [(None, _row(("None waiting for an answer.", "dim")))]
    rows: Rows = []
    for question in summary.open_questions:
        mark = "↗ " if question.status == QuestionStatus.escalated else "? "
        rows.append((question, _row((mark, "bold"), (_clip(question.text, 50), ""))))
    hidden = summary.open_question_count - len(summary.open_questions)
    if hidden > 0:
        rows.append(
            (None, _row((f"and {hidden} more in Questions ({key_of('questions')})", "dim")))
        )
    return rows


def action_rows(summary: TodaySummary) -> Rows:
    if not summary.actions_due:
        return [(None, _row(("Nothing due.", "dim")))]
    now = local_today()
    rows: Rows = []
    for action in summary.actions_due:
        overdue = action.due is not None and action.due < now
        owner = summary.owners.get(action.owner_id or "", "me")
        rows.append(
            (
                action,
                _row(
                    (
                        f"{action.due.isoformat() if action.due else '':<11}",
                        "bold red" if overdue else "",
                    ),
                    (_clip(action.text, 30), ""),
                    (f"  {owner}", "dim"),
                ),
            )
        )
    return rows


def people_rows(summary: TodaySummary) -> Rows:
    if not summary.contacts_not_met:
        return [(None, _row(("Everyone met recently.", "dim")))]
    return [
        (
            contact,
            _row(
                (f"{_clip(contact.name, 20):<21}", ""),
                (f"{_clip(label(contact.role), 18):<19}", "dim"),
                ("never met" if met is None else f"met {ago(met)}", "italic"),
            ),
        )
        for contact, met in summary.contacts_not_met
    ]


class PanelList(OptionList):
    """A Today panel whose rows open what they show (Enter)."""

    def show(self, title: str, rows: Rows) -> dict[str, Any]:
        """Fill the panel; returns the records by option id."""
        highlighted = self.highlighted_option.id if self.highlighted_option else None
        self.border_title = title
        self.clear_options()
        records: dict[str, Any] = {}
        for number, (record, row) in enumerate(rows):
            option_id = record.id if record is not None else f"{self.id}-hint-{number}"
            self.add_option(Option(shown(row), id=option_id, disabled=record is None))
            if record is not None:
                records[option_id] = record
        if highlighted in records:
            self.highlighted = self.get_option_index(highlighted)
        return records


def render_observations(summary: TodaySummary) -> Text:
    text = _panel("Recent observations")
    if not summary.recent_observations:
        _line(text, ("Nothing noted yet.", "dim"))
    for note in summary.recent_observations:
        marks = " ".join(str(v) for v in (note.category, note.severity) if v)
        _line(
            text,
            (f"{short_date(note.created_at)}  ", "dim"),
            (_clip(note.text, 56), ""),
            (f"  {marks}" if marks else "", "italic"),
        )
    return text


# ---------------------------------------------------------------- §11 panels


@dataclass
class RelationshipsLoaded(Message):
    summary: RelationshipToday


@dataclass
class ReviewFound(Message):
    vendor_id: str | None
    program_id: str | None


def render_kpis(summary: RelationshipToday) -> Text:
    text = _panel(f"KPIs off target ({len(summary.kpis_off_target)})")
    if not summary.kpis_off_target:
        _line(text, ("Every KPI on target.", "dim"))
    for item in summary.kpis_off_target:
        latest = item.latest or {}
        style = "bold red" if item.status == "red" else "bold yellow"
        _line(
            text,
            (f"{item.status:<6}", style),
            (f"{_clip(item.kpi.name, 12):<13}", ""),
            (f"{latest.get('value', 0):g} vs {item.kpi.target:g}  ", ""),
            (_clip(item.program, 28), "dim"),
        )
    return text


def render_escalations(summary: RelationshipToday) -> Text:
    text = _panel(f"Escalations overdue ({len(summary.overdue_escalations)})")
    if not summary.overdue_escalations:
        _line(text, ("No escalation past its response time.", "dim"))
    for item in summary.overdue_escalations:
        _line(
            text,
            (f"L{item.level or '-'} ", "bold red"),
            (_clip(item.question.text, 40), ""),
            (f"  {item.to or '-'}", "dim"),
            (f"  next: {item.next}" if item.next else "", "italic"),
        )
    return text


class TodayScreen(FieldrmScreen):
    """The day at a glance."""

    MODE = "today"
    BINDING_GROUP_TITLE = "Today"
    BINDINGS: ClassVar[list[BindingType]] = [
        go_binding(mode, shortcut_on="today") for mode in ("floor", "questions", "actions")
    ] + [
        Binding(
            "g",
            "open_agenda",
            "Agenda",
            tooltip="The agenda of the open or next review meeting.",
            id="today-agenda",
        )
    ]

    def compose(self) -> ComposeResult:
        self.opens_by_id: dict[str, Any] = {}  # what each panel row opens, by option id
        yield from self.compose_frame_top()
        with VerticalScroll(id="today"), Grid(id="today-grid"):
            yield PanelList(id="today-visit", classes="panel")
            yield PanelList(id="today-questions", classes="panel")
            yield PanelList(id="today-actions", classes="panel")
            yield PanelList(id="today-people", classes="panel")
            yield SafeStatic(id="today-kpis", classes="panel")
            yield SafeStatic(id="today-escalations", classes="panel")
            yield SafeStatic(id="today-observations", classes="panel wide")
        yield from self.compose_frame_bottom()

    def reload(self) -> None:
        self._load_summary()
        self._load_relationships()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load-relationships")
    def _load_relationships(self) -> None:
        self.post_message(RelationshipsLoaded(relationship_today(self.store)))

    @on(RelationshipsLoaded)
    def show_relationships(self, message: RelationshipsLoaded) -> None:
        self.query_one("#today-kpis", Static).update(render_kpis(message.summary))
        self.query_one("#today-escalations", Static).update(render_escalations(message.summary))

    def action_open_agenda(self) -> None:
        self._find_review()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load-agenda")
    def _find_review(self) -> None:
        from fieldrm.store.queries import next_visit

        visit = next_visit(self.store)
        vendor = getattr(visit, "vendor_id", None) if visit is not None else None
        self.post_message(ReviewFound(vendor, getattr(visit, "program_id", None)))

    @on(ReviewFound)
    def show_agenda(self, message: ReviewFound) -> None:
        if message.vendor_id is None:
            self.notify("No review meeting open or planned with a vendor.", markup=False)
            return
        from fieldrm.screens.agenda import AgendaScreen

        self.app.push_screen(AgendaScreen(message.vendor_id, message.program_id))

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load_summary(self) -> None:
        self.post_message(TodayLoaded(today_summary(self.store)))

    @on(TodayLoaded)
    def show_summary(self, message: TodayLoaded) -> None:
        summary = message.summary
        self.opens_by_id.clear()
        for name, title, rows in (
            ("visit", "Visit", visit_rows(summary)),
            (
                "questions",
                f"Open questions ({summary.open_question_count})",
                question_rows(summary),
            ),
            ("actions", "Actions overdue or due this week", action_rows(summary)),
            ("people", "Not met for a while", people_rows(summary)),
        ):
            self.opens_by_id.update(self.query_one(f"#today-{name}", PanelList).show(title, rows))
        self.query_one("#today-observations", Static).update(render_observations(summary))

    @on(OptionList.OptionSelected)
    def open_row(self, event: OptionList.OptionSelected) -> None:
        """Enter on a row opens it: a question, action or person in its own screen with the
        cursor on it; the open visit on the floor walk, a planned review its agenda."""
        record = self.opens_by_id.get(event.option.id or "")
        if record is None:
            return
        if record.kind != "visit":
            self.fieldrm.open_record(record)
        elif record.started_at <= now_utc():
            self.app.switch_mode("floor")
        elif record.vendor_id:
            self.post_message(ReviewFound(record.vendor_id, record.program_id))
        else:
            self.fieldrm.open_record(record)
