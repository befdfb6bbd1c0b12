"""Today: the open or next visit, open questions, actions overdue or due soon, people not
met for a long time, and the latest observations — the RM's morning glance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from fieldrm.display import ago, short_date, short_time
from fieldrm.models import QuestionStatus, label, local_today, now_utc
from fieldrm.screens.base import FieldrmScreen
from fieldrm.screens.navigation import go_binding, key_of
from fieldrm.screens.widgets import SafeStatic
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


def _clip(value: str, width: int = 70) -> str:
    value = " ".join(str(value).split())
    return value if len(value) <= width else value[: width - 1] + "…"


def render_visit(summary: TodaySummary) -> Text:
    text = _panel("Visit")
    visit = summary.visit
    if visit is None:
        _line(text, ("No visit open or planned. ", ""), ("ctrl+n", "bold"), (" starts one.", ""))
        return text
    state = "planned for" if visit.started_at > now_utc() else "open since"
    kind = label(visit.visit_type or "visit")
    _line(
        text,
        (f"{kind.capitalize()} at ", ""),
        (summary.visit_site or "an unknown site", "bold"),
        (f", {state} {short_date(visit.started_at)} {short_time(visit.started_at)}", ""),
    )
    if visit.purpose:
        _line(text, (_clip(visit.purpose), "italic"))
    _line(
        text,
        (f"{len(visit.attendees)} attendee(s). ", "dim"),
        (key_of("floor"), "bold"),
        (" to log", "dim"),
    )
    return text


def render_questions(summary: TodaySummary) -> Text:
    text = _panel(f"Open questions ({summary.open_question_count})")
    if not summary.open_questions:
        _line(text, ("None waiting for an answer.", "dim"))
    for question in summary.open_questions:
        mark = "↗ " if question.status == QuestionStatus.escalated else "? "
        _line(text, (mark, "bold"), (_clip(question.text, 50), ""))
    return text


def render_actions(summary: TodaySummary) -> Text:
    text = _panel("Actions overdue or due this week")
    if not summary.actions_due:
        _line(text, ("Nothing due.", "dim"))
    now = local_today()
    for action in summary.actions_due:
        overdue = action.due is not None and action.due < now
        owner = summary.owners.get(action.owner_id or "", "me")
        _line(
            text,
            (f"{action.due.isoformat() if action.due else '':<11}", "bold red" if overdue else ""),
            (_clip(action.text, 30), ""),
            (f"  {owner}", "dim"),
        )
    return text


def render_people(summary: TodaySummary) -> Text:
    text = _panel("Not met for a while")
    if not summary.contacts_not_met:
        _line(text, ("Everyone met recently.", "dim"))
    for contact, met in summary.contacts_not_met:
        role = label(contact.role)
        _line(
            text,
            (f"{_clip(contact.name, 20):<21}", ""),
            (f"{_clip(role, 18):<19}", "dim"),
            ("never met" if met is None else f"met {ago(met)}", "italic"),
        )
    return text


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
        yield from self.compose_frame_top()
        with VerticalScroll(id="today"), Grid(id="today-grid"):
            yield SafeStatic(id="today-visit", classes="panel")
            yield SafeStatic(id="today-questions", classes="panel")
            yield SafeStatic(id="today-actions", classes="panel")
            yield SafeStatic(id="today-people", classes="panel")
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
        self.query_one("#today-visit", Static).update(render_visit(summary))
        self.query_one("#today-questions", Static).update(render_questions(summary))
        self.query_one("#today-actions", Static).update(render_actions(summary))
        self.query_one("#today-people", Static).update(render_people(summary))
        self.query_one("#today-observations", Static).update(render_observations(summary))
