"""A review meeting's agenda (SPEC §11), built from the records: actions carried over from
earlier reviews (theirs and ours apart, with their age), open escalations, KPIs off target,
people overdue a meeting and open questions.  Escape closes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from fieldrm.models import label
from fieldrm.screens.widgets import SafeStatic
from fieldrm.store.relationships import agenda


@dataclass
class AgendaLoaded(Message):
    agenda: dict[str, Any]
    vendor: str


def _section(text: Text, title: str, rows: list[tuple[str, str]]) -> None:
    text.append(f"{title} ({len(rows)})\n", style="bold")
    if not rows:
        text.append("  none\n", style="dim")
    for line, style in rows:
        text.append(f"  {line}\n", style=style)
    text.append("\n")


def render_agenda(items: dict[str, Any]) -> Text:
    text = Text()
    carried = items["carried_over"]

    def action(row: dict[str, Any]) -> tuple[str, str]:
        owner = f"{row['owner']}  " if row["owner"] else ""
        style = "bold red" if row["age_days"] > 30 else ""
        return f"{row['text']}  {owner}due {row['due'] or '-'}  {row['age_days']} d old", style

    _section(text, "Carried over: theirs", [action(a) for a in carried if a["owner"]])
    _section(text, "Carried over: ours", [action(a) for a in carried if not a["owner"]])
    _section(
        text,
        "Escalations",
        [
            (
                f"{e['text']}  level {e['level']} to {e['to'] or '-'}"
                + ("  overdue" if e["overdue"] else ""),
                "bold red" if e["overdue"] else "",
            )
            for e in items["escalations"]
        ],
    )
    _section(
        text,
        "KPIs off target",
        [
            (
                f"{k['kpi']} {k['value']:g} in {k['period']} (target {k['target']:g})",
                "bold red" if k["status"] == "red" else "yellow",
            )
            for k in items["kpis_off_target"]
        ],
    )
    _section(
        text,
        "People overdue a meeting",
        [
            (
                f"{p['contact']} ({label(p['role'])}, {p['site'] or '-'})  last met "
                f"{(p['last_met'] or 'never')[:10]}",
                "",
            )
            for p in items["people_overdue"]
        ],
    )
    _section(text, "Open questions", [(q["text"], "") for q in items["open_questions"]])
    return text


class AgendaScreen(Screen[None]):
    """The agenda of a review of one vendor (and program)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="Back to where you were.", id="close-agenda"),
    ]

    def __init__(self, vendor_id: str, program_id: str | None = None) -> None:
        super().__init__()
        self.vendor_id = vendor_id
        self.program_id = program_id
        self.items: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="agenda"):
            yield SafeStatic("Agenda", id="agenda-title", classes="panel")
            yield SafeStatic(id="agenda-body", classes="panel")

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load(self) -> None:
        store = self.app.store  # type: ignore[attr-defined]
        items = agenda(store, vendor_id=self.vendor_id, program_id=self.program_id)
        vendor = (store.get_raw(self.vendor_id) or {}).get("name", "")
        self.post_message(AgendaLoaded(items, vendor))

    @on(AgendaLoaded)
    def show(self, message: AgendaLoaded) -> None:
        self.items = message.agenda
        title = Text(f"Review agenda: {message.vendor}", style="bold")
        self.query_one("#agenda-title", Static).update(title)
        self.query_one("#agenda-body", Static).update(render_agenda(message.agenda))

    def action_close(self) -> None:
        self.dismiss(None)
