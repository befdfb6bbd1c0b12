"""Floor walk: the open visit's running log and the quick-capture line (SPEC §3).

The capture input keeps the focus.  Enter saves the line as an observation, question or
action; arrow-up brings the last entry back to edit; `@` plus a few letters suggests a
contact (Tab or → accepts); what the line will become is shown as you type.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester, SuggestionReady
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from fieldrm import notebook
from fieldrm.capture import Capture, format_capture, mention, parse_capture
from fieldrm.display import short_date, short_time
from fieldrm.errors import FieldrmError
from fieldrm.models import Category, Priority, Record, Severity, label, local_today, now_utc
from fieldrm.paths import data_dir
from fieldrm.screens.base import FieldrmScreen
from fieldrm.screens.choice import ChoiceScreen
from fieldrm.screens.messages import RecordSaved
from fieldrm.screens.widgets import SafeStatic, SafeTable
from fieldrm.store import Store
from fieldrm.store.queries import names_for, recent_visits, visit_log


def line_for(record: Record, names: dict[str, str]) -> str:
    """A capture line that would make `record` (to edit an entry from an earlier session)."""
    return format_capture(record, names)


def describe(parsed: Capture) -> Text:
    """What a line will become, e.g. `observation · training · concern · @Ravi Kumar`."""
    values = parsed.values
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(parsed.kind, style="bold")
    for name in ("category", "severity", "priority", "asked_by"):
        if values.get(name):
            text.append(f" · {label(name)} {values[name]}")
    if values.get("due"):
        text.append(f" · due {values['due']}")
    for tag in values.get("tags") or []:
        text.append(f" · #{tag}", style="italic")
    for person in parsed.contacts:
        text.append(f" · @{person.name}", style="bold")
    for warning in parsed.warnings:
        text.append(f"  ⚠ {warning}", style="italic")
    return text


@dataclass
class LogLoaded(Message):
    visit: Record | None
    site: str | None
    attendees: list[str]
    entries: list[Record]
    names: dict[str, str]
    draft: str | None = None


@dataclass
class CapturePreviewed(Message):
    line: str
    parsed: Capture | None
    problem: str | None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CapturePreviewed)


@dataclass
class CaptureFailed(Message):
    line: str
    reason: str


@dataclass
class ReportExported(Message):
    path: str


@dataclass
class EntryChanged(Message):
    """What the last change can be undone to: (the record before, or None, and its id)."""

    undo: list[tuple[Record | None, str]]


@dataclass
class VisitsListed(Message):
    visits: list[tuple[Record, str]]


def visit_choice(visit: Record, site: str) -> str:
    """`2026-11-20 Kolkata · site visit · QBR prep (open)`: a visit by site, date and
    purpose, never by id."""
    text = f"{short_date(visit.started_at)} {site} · {label(visit.visit_type or 'visit')}"
    if visit.purpose:
        text += f" · {' '.join(visit.purpose.split())[:50]}"
    if visit.ended_at is None:
        text += "  (open)"
    return text


class ContactSuggester(Suggester):
    """Completes the word being typed at the end of the line: `@name` to a contact's full
    name (the visit's attendees first, then the site's people), `#cat` to a category,
    `!con` to a severity (a priority on an action line).  `matches` keeps every candidate
    line, so Tab can cycle through them."""

    def __init__(self, store: Store) -> None:
        # No cache: contacts change while the app runs.  Case-sensitive, because accepting
        # a suggestion replaces the typed value with it.
        super().__init__(use_cache=False, case_sensitive=True)
        self.store = store
        self.visit: Record | None = None  # set by the screen: whose people come first
        self.matches: dict[str, list[str]] = {}

    async def get_suggestion(self, value: str) -> str | None:
        head, _, word = value.rpartition(" ")
        if len(word) < 2 or word[0] not in "@#!":
            return None
        start = head + " " if head else ""
        if word[0] == "@":
            names = await self._contacts(word[1:])
            lines = [start + mention(name) for name in names]
        else:
            choices = _vocabulary(word[0], value)
            lines = [start + word[0] + c for c in choices if c.startswith(word[1:].lower())]
        lines = [line for line in lines if line != value]
        self.matches = {value: lines}  # only the newest value is asked about
        return lines[0] if lines else None

    async def _contacts(self, typed: str) -> list[str]:
        prefix = typed.replace("_", " ").replace(".", " ")
        # The lookup is SQL: run it off the event loop.
        found = await asyncio.to_thread(self.store.contacts_matching, prefix, 20)
        visit = self.visit
        attendees = list(visit.attendees) if visit is not None else []
        site_id = visit.site_id if visit is not None else None

        def rank(contact: Record) -> int:
            if contact.id in attendees:
                return 0
            return 1 if site_id and getattr(contact, "site_id", None) == site_id else 2

        starting = [c for c in found if c.name.lower().startswith(prefix.lower())]
        return [c.name for c in sorted(starting, key=rank)]


def _vocabulary(sigil: str, line: str) -> list[str]:
    """What `#` or `!` completes to on this line: categories; severities, or priorities on
    an action line."""
    if sigil == "#":
        return [member.value for member in Category]
    if line.lstrip().startswith(">"):
        return [member.value for member in Priority]
    return [member.value for member in Severity]


class CaptureInput(Input):
    """The quick-capture line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # On the line itself: an Input inherits "up" (scroll) from Widget, which would
        # hide a screen binding for the same key from the key bar.
        Binding(
            "up",
            "screen.edit_last",
            "Edit last",
            tooltip="Bring the last entry back into the line to correct it.",
            id="edit-last-entry",
        ),
        Binding(
            "ctrl+up",
            "screen.select_entry(-1)",
            "Older entry",
            tooltip="Select an older entry in the log (↑ then edits it).",
            show=False,
            id="select-older-entry",
        ),
        Binding(
            "ctrl+down",
            "screen.select_entry(1)",
            "Newer entry",
            tooltip="Select a newer entry in the log.",
            show=False,
            id="select-newer-entry",
        ),
        Binding(
            "ctrl+delete",
            "screen.delete_entry",
            "Delete entry",
            tooltip="Delete the selected entry (the last one when none is selected).",
            show=False,
            id="delete-entry",
        ),
        Binding(
            "ctrl+z",
            "screen.undo",
            "Undo",
            tooltip="Undo the last change made on this screen (a save, an edit, a delete).",
            show=False,
            id="undo-last-change",
        ),
        Binding(
            "tab",
            "accept_suggestion",
            "Complete",
            tooltip="Complete the @name, #category or !severity being typed; again: the next.",
            show=False,
            id="complete-contact",
        ),
    ]

    suggestion = ""
    """The completion offered for the current value (from the suggester's public message)."""

    def on_suggestion_ready(self, event: SuggestionReady) -> None:
        if event.value == self.value:
            self.suggestion = event.suggestion

    def on_input_changed(self, event: Input.Changed) -> None:
        # Bubbles on to the screen: it previews the line.
        if event.input is self:
            self.suggestion = ""

    cycle: tuple[str, ...] = ()
    """The candidate lines the last Tab chose from: Tab again takes the next."""

    def action_accept_suggestion(self) -> None:
        if self.value in self.cycle and len(self.cycle) > 1:
            self.value = self.cycle[(self.cycle.index(self.value) + 1) % len(self.cycle)]
            self.cursor_position = len(self.value)
            return
        if self.suggestion and len(self.suggestion) > len(self.value):
            suggester = self.suggester
            matches = getattr(suggester, "matches", {}).get(self.value) or [self.suggestion]
            self.cycle = tuple(matches)
            self.value = self.suggestion
            self.cursor_position = len(self.value)


class FloorWalkScreen(FieldrmScreen):
    """The visit's running log with the capture line always focused."""

    MODE = "floor"
    BINDING_GROUP_TITLE = "Floor walk"
    AUTO_FOCUS = "#capture-input"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "cancel_edit",
            "Cancel edit",
            tooltip="Stop editing and clear the line.",
            show=False,
            id="cancel-edit",
        ),
        Binding(
            "ctrl+o",
            "export_report",
            "Export report",
            tooltip="Write a visit's report, open or past (Markdown, JSON or CSV), to a file.",
            id="export-visit-report",
        ),
        Binding(
            "ctrl+g",
            "end_visit",
            "End visit",
            tooltip="Close the open visit, after asking (with an optional summary).",
            id="end-visit",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.visit: Record | None = None
        self.entries: list[Record] = []
        self.names: dict[str, str] = {}
        self.editing: Record | None = None
        self.typed_lines: dict[str, str] = {}  # record id -> the line typed this session
        self.draft_restored = False  # the draft is given back once, on the first load
        self.undo_to: list[tuple[Record | None, str]] = []  # the last change, to undo

    def compose(self) -> ComposeResult:
        yield from self.compose_frame_top()
        with Vertical(id="floor"):
            yield SafeStatic(id="visit-header")
            log = SafeTable(id="visit-log", cursor_type="row", show_cursor=False)
            log.can_focus = False  # the capture line keeps the focus
            yield log
            yield SafeStatic(id="capture-preview")
            yield CaptureInput(
                placeholder="Type what you see:  text #category !severity @name   "
                "? question   > action ^due",
                id="capture-input",
                suggester=ContactSuggester(self.store),
            )
        yield from self.compose_frame_bottom()

    def on_mount(self) -> None:
        log = self.query_one("#visit-log", DataTable)
        width = self.app.size.width
        log.add_column("Time", width=5, key="time")
        log.add_column("Kind", width=11, key="kind")
        log.add_column("Marks", width=self._marks_width(width), key="marks")
        log.add_column("Text", width=self._text_width(width), key="text")
        self.show_preview(None, None)

    def on_screen_resume(self) -> None:
        self.query_one("#capture-input", Input).focus()

    NARROW = 100
    """Below this many columns the marks column narrows, so the text keeps ~40 cells."""

    @classmethod
    def _marks_width(cls, screen_width: int) -> int:
        return 14 if screen_width < cls.NARROW else 26

    @classmethod
    def _text_width(cls, screen_width: int) -> int:
        # The other columns take 5 + 11 + marks cells, and each column 2 cells of padding.
        return max(20, screen_width - 16 - cls._marks_width(screen_width) - 8 - 2)

    def on_resize(self, event: events.Resize) -> None:
        log = self.query_one("#visit-log", DataTable)
        widths = {
            "marks": self._marks_width(event.size.width),
            "text": self._text_width(event.size.width),
        }
        for key, width in widths.items():
            column = log.columns.get(ColumnKey(key))
            if column is not None:
                column.width = width
        log.refresh(layout=True)

    @property
    def capture_input(self) -> CaptureInput:
        return self.query_one("#capture-input", CaptureInput)

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [
            ("visit: Export report", "Write a visit's report", self.action_export_report),
            ("visit: End visit", "Close the open visit", self.action_end_visit),
            ("capture: Edit last entry", "Correct the last entry", self.action_edit_last),
            ("capture: Select an older entry", "ctrl+up", lambda: self.action_select_entry(-1)),
            ("capture: Delete entry", "The selected (or last) entry", self.action_delete_entry),
            ("capture: Undo", "Undo the last change (ctrl+z)", self.action_undo),
        ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "end_visit":
            return True if self.visit is not None else None
        if action == "cancel_edit":
            return self.editing is not None
        return True

    # ------------------------------------------------------------ the log

    def reload(self) -> None:
        self._load_log()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load_log(self) -> None:
        store = self.store
        visit = store.open_visit()
        entries = visit_log(store, visit.id if visit else None)
        refs: list[str | None] = []
        for entry in entries:
            refs += [getattr(entry, n, None) for n in ("contact_id", "owner_id", "escalated_to")]
        if visit is not None:
            refs += [visit.site_id, *visit.attendees]
        names = names_for(store, refs)
        site = names.get(visit.site_id) if visit else None
        attendees = [names.get(a, a[:8]) for a in visit.attendees] if visit else []
        draft = None if self.draft_restored else notebook.draft(store)
        self.post_message(LogLoaded(visit, site, attendees, entries, names, draft))

    @on(LogLoaded)
    def show_log(self, message: LogLoaded) -> None:
        self.visit = message.visit
        self.entries = message.entries
        self.names = message.names
        suggester = self.capture_input.suggester
        if isinstance(suggester, ContactSuggester):
            suggester.visit = message.visit
        if not self.draft_restored:
            self.draft_restored = True
            if message.draft and not self.capture_input.value:
                self.capture_input.value = message.draft
                self.capture_input.cursor_position = len(message.draft)
            elif self.capture_input.value:
                self._save_draft(self.capture_input.value)  # typed before the first load
        header = Text(no_wrap=True, overflow="ellipsis")
        if message.visit is None:
            header.append("No open visit", style="bold")
            header.append(" — entries are saved without one. ctrl+n starts a visit.")
        else:
            kind = label(message.visit.visit_type or "visit").capitalize()
            header.append(f"{kind} at ")
            header.append(message.site or "?", style="bold")
            header.append(f" since {short_time(message.visit.started_at)}")
            if message.attendees:
                header.append(" with " + ", ".join(message.attendees))
        header.append(f"   {len(message.entries)} entries", style="dim")
        self.query_one("#visit-header", Static).update(header)
        log = self.query_one("#visit-log", DataTable)
        log.clear()
        for entry in message.entries:
            log.add_row(*self._cells(entry), key=entry.id)
        log.show_cursor = False  # a selection (ctrl+up) ends with the next load
        if log.row_count:
            log.move_cursor(row=log.row_count - 1, animate=False)
        self.refresh_bindings()

    def _cells(self, entry: Record) -> tuple[str, str, str, str]:
        values = entry.to_json()
        marks: list[str] = []
        if entry.kind == "observation":
            marks = [values.get("category") or "", values.get("severity") or ""]
            who = self.names.get(values.get("contact_id") or "")
        elif entry.kind == "question":
            marks = [values.get("status") or ""]
            who = self.names.get(values.get("escalated_to") or "")
        else:
            marks = [
                values.get("status") or "",
                f"due {values['due']}" if values.get("due") else "",
            ]
            who = self.names.get(values.get("owner_id") or "")
        if who:
            marks.append("@" + who.split()[0])
        text = " ".join(entry.text.split())
        return (short_time(entry.created_at), entry.kind, " ".join(m for m in marks if m), text)

    # ------------------------------------------------------------ typing

    @on(Input.Changed, "#capture-input")
    def preview_capture(self, event: Input.Changed) -> None:
        if self.editing is None and self.draft_restored:
            self._save_draft(event.value)
        if not event.value.strip():
            self.show_preview(None, None)
            return
        self._parse_line(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="parse")
    def _parse_line(self, line: str) -> None:
        try:
            parsed = parse_capture(
                line,
                find_contacts=self.store.contacts_matching,
                today=local_today(),
                visit_id=self.visit.id if self.visit else None,
            )
        except FieldrmError as error:
            self.post_message(CapturePreviewed(line, None, str(error)))
            return
        self.post_message(CapturePreviewed(line, parsed, None))

    @work(thread=True, exclusive=True, exit_on_error=False, group="draft")
    def _save_draft(self, line: str) -> None:
        # Every change, so a crash loses nothing either; the App waits for it on quit.
        notebook.save_draft(self.store, line)

    @on(CapturePreviewed)
    def show_parsed(self, message: CapturePreviewed) -> None:
        if message.line == self.capture_input.value:
            self.show_preview(message.parsed, message.problem)

    def show_preview(self, parsed: Capture | None, problem: str | None) -> None:
        preview = self.query_one("#capture-preview", Static)
        if parsed is not None:
            text = describe(parsed)
        elif problem is not None:
            text = Text(problem, style="italic")
        else:
            text = Text(
                "Enter saves · ↑ edits the last entry · @name + Tab completes a contact",
                style="dim",
            )
        if self.editing is not None:
            text = Text.assemble(("editing  ", "bold reverse"), text)
        preview.update(text)
        preview.set_class(parsed is not None and bool(parsed.warnings), "-warning")

    # ------------------------------------------------------------ saving

    @on(Input.Submitted, "#capture-input")
    def save_line(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        if not line:
            return
        editing = self.editing
        self.editing = None
        self.capture_input.value = ""
        self.capture_input.remove_class("-editing")
        if editing is None:
            self._create_entry(line)
        else:
            self._update_entry(editing, line)

    @work(thread=True, exit_on_error=False, group="write")
    def _create_entry(self, line: str) -> None:
        try:
            record, parsed = notebook.capture(self.store, line, today=local_today())
        except FieldrmError as error:
            self.post_message(CaptureFailed(line, str(error)))
            return
        self.post_message(EntryChanged([(None, record.id)]))
        self.post_message(RecordSaved(record, "; ".join(parsed.warnings), line))

    @work(thread=True, exit_on_error=False, group="write")
    def _update_entry(self, entry: Record, line: str) -> None:
        try:
            record, parsed = notebook.recapture(self.store, entry, line, today=local_today())
        except FieldrmError as error:
            self.post_message(CaptureFailed(line, str(error)))
            return
        if record.id == entry.id:
            self.post_message(EntryChanged([(entry, entry.id)]))
        else:  # another kind: the entry was deleted and a new record made
            self.post_message(EntryChanged([(None, record.id), (entry, entry.id)]))
        self.post_message(RecordSaved(record, "; ".join(parsed.warnings), line))

    @on(EntryChanged)
    def remember_change(self, message: EntryChanged) -> None:
        self.undo_to = message.undo

    @on(RecordSaved)
    def entry_saved(self, message: RecordSaved) -> None:
        if message.line:
            self.typed_lines[message.record.id] = message.line
        if message.note:
            self.notify(message.note, title="Saved, with a note", severity="warning", markup=False)
        self.fieldrm.records_changed()

    @on(CaptureFailed)
    def entry_not_saved(self, message: CaptureFailed) -> None:
        capture_line = self.capture_input
        if not capture_line.value:
            capture_line.value = message.line  # give the text back to fix it
            capture_line.cursor_position = len(message.line)
        self.notify(message.reason, title="Not saved", severity="error", markup=False)

    # ------------------------------------------------------------ editing the last entry

    def action_edit_last(self) -> None:
        if self.capture_input.value.strip() and self.editing is None:
            self.app.bell()  # never replace a line being typed
            return
        if not self.entries:
            self.notify("Nothing to edit yet.", markup=False)
            return
        last = self.selected_entry() or max(
            self.entries, key=lambda entry: (str(entry.updated_at), entry.id)
        )
        self.editing = last
        line = self.typed_lines.get(last.id) or line_for(last, self.names)
        capture_line = self.capture_input
        capture_line.value = line
        capture_line.cursor_position = len(line)
        capture_line.add_class("-editing")
        capture_line.focus()
        self.refresh_bindings()

    def selected_entry(self) -> Record | None:
        """The entry picked with ctrl+up/down, or None when none is."""
        log = self.query_one("#visit-log", DataTable)
        if not log.show_cursor or not 0 <= log.cursor_row < len(self.entries):
            return None
        return self.entries[log.cursor_row]

    def action_select_entry(self, step: int) -> None:
        log = self.query_one("#visit-log", DataTable)
        if not log.row_count:
            return
        if not log.show_cursor:
            log.show_cursor = True
            row = log.row_count - 1 if step < 0 else log.cursor_row
        else:
            row = log.cursor_row
        log.move_cursor(row=max(0, min(row + step, log.row_count - 1)), animate=False)

    def action_delete_entry(self) -> None:
        entry = self.selected_entry() or (self.entries[-1] if self.entries else None)
        if entry is None:
            self.notify("Nothing to delete.", markup=False)
            return
        self._delete_entry(entry)

    @work(thread=True, exit_on_error=False, group="write")
    def _delete_entry(self, entry: Record) -> None:
        record = notebook.delete_entry(self.store, entry.id)
        self.post_message(EntryChanged([(entry, entry.id)]))
        self.post_message(RecordSaved(record, "Deleted. ctrl+z brings it back."))

    def action_undo(self) -> None:
        if not self.undo_to:
            self.notify("Nothing to undo.", markup=False)
            return
        undo, self.undo_to = self.undo_to, []
        self._undo(undo)

    @work(thread=True, exit_on_error=False, group="write")
    def _undo(self, undo: list[tuple[Record | None, str]]) -> None:
        record = None
        for before, record_id in undo:
            record = notebook.revert(self.store, before, record_id)
        if record is not None:
            self.post_message(RecordSaved(record, "Undone."))

    def action_cancel_edit(self) -> None:
        self.editing = None
        self.capture_input.value = ""
        self.capture_input.remove_class("-editing")
        self.show_preview(None, None)
        self.refresh_bindings()

    # ------------------------------------------------------------ the visit

    def action_end_visit(self) -> None:
        if self.visit is None:
            return
        from fieldrm.screens.prompt import PromptScreen

        def answered(summary: str | None) -> None:
            if summary is not None:  # Escape keeps the visit open
                self._end_visit(summary or None)

        self.app.push_screen(
            PromptScreen(
                "End the visit? Its summary (optional):",
                "Enter ends the visit (with nothing typed: no summary) · Escape keeps it open",
                empty_ok=True,
            ),
            answered,
        )

    @work(thread=True, exit_on_error=False, group="write")
    def _end_visit(self, summary: str | None) -> None:
        record = notebook.end_visit(self.store, summary=summary)
        self.post_message(RecordSaved(record, "Visit ended."))

    def action_export_report(self) -> None:
        self._list_visits()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _list_visits(self) -> None:
        self.post_message(VisitsListed(recent_visits(self.store)))

    @on(VisitsListed)
    def choose_visit(self, message: VisitsListed) -> None:
        if not message.visits:
            self.notify("No visit to report on yet.", markup=False)
            return
        choices = [(visit.id, visit_choice(visit, site)) for visit, site in message.visits]

        def chosen_visit(visit_id: str | None) -> None:
            if visit_id:
                self._choose_format(visit_id)

        self.app.push_screen(
            ChoiceScreen("Export the report of which visit?", choices, "visit-options"),
            chosen_visit,
        )

    def _choose_format(self, visit_id: str) -> None:
        choices = [("md", "Markdown"), ("json", "JSON"), ("csv", "CSV")]

        def chosen(fmt: str | None) -> None:
            if fmt:
                self._export_report(visit_id, fmt)

        self.app.push_screen(ChoiceScreen("Export the visit's report as", choices), chosen)

    @work(thread=True, exit_on_error=False, group="write")
    def _export_report(self, visit_id: str, fmt: str) -> None:
        # Imported when used: the report module is only needed for an export.
        from fieldrm.report import visit_report

        body = visit_report(self.store, visit_id, fmt)
        folder = data_dir() / "reports"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = now_utc().astimezone().strftime("%Y-%m-%d-%H%M")
        path = folder / f"visit-{stamp}-{visit_id[:8]}.{fmt}"
        path.write_text(body, encoding="utf-8")
        self.post_message(ReportExported(str(path)))

    @on(ReportExported)
    def report_exported(self, message: ReportExported) -> None:
        self.notify(message.path, title="Report written", markup=False, timeout=10)
