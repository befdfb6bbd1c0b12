"""Sync: what went up and came down, errors with their reasons, and the conflict review —
both values side by side (a diff for text), keep current / take other / keep both / edit /
decide later."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from fieldrm.display import ago, short_date
from fieldrm.models import Record, label
from fieldrm.screens.base import FieldrmScreen
from fieldrm.screens.messages import RecordSaved
from fieldrm.screens.prompt import PromptScreen
from fieldrm.screens.sync_scheduler import SyncStatus
from fieldrm.screens.widgets import SafeStatic, SafeTable
from fieldrm.store.queries import names_for


@dataclass
class ConflictsLoaded(Message):
    conflicts: list[Record]
    labels: dict[str, str]
    refusals: list[str]


def _shown(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "(none)"
    return json.dumps(value, ensure_ascii=False)


def _conflict_value(field_name: str, value: Any) -> str:
    """A side of a conflict as it reads: a delete-versus-edit conflict's current side is
    "deleted", its other side the edit's fields (never `true` or a JSON object)."""
    if field_name == "deleted":
        if isinstance(value, dict):
            edits = [
                f"{label(name)}: {_shown(v)}" for name, v in value.items() if name != "updated_at"
            ]
            return "edited: " + "; ".join(edits) if edits else "edited"
        return "deleted" if value else "kept"
    return _shown(value)


def _side(title: str, side: dict[str, Any], field_name: str = "") -> Text:
    text = Text()
    text.append(title + "\n", style="bold")
    text.append(_conflict_value(field_name, side.get("value")) + "\n")
    who = side.get("by") or "?"
    device = (side.get("device") or "")[:8]
    text.append(f"by {who} on {device or '?'}, {short_date(side.get('at'))}", style="dim")
    return text


def text_diff(current: Any, other: Any) -> Text:
    """A word diff of two text values: removed words struck red, added words green."""
    if not (isinstance(current, str) and isinstance(other, str)):
        return Text("")
    a, b = current.split(), other.split()
    out = Text()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(" ".join(a[i1:i2]) + " ")
        if op in ("delete", "replace"):
            out.append(" ".join(a[i1:i2]) + " ", style="strike red")
        if op in ("insert", "replace"):
            out.append(" ".join(b[j1:j2]) + " ", style="bold green")
    return out


class SyncScreen(FieldrmScreen):
    """The sync log and the conflict review."""

    MODE = "sync"
    BINDING_GROUP_TITLE = "Sync and conflicts"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "c",
            "resolve('current')",
            "Keep current",
            tooltip="Keep the value every device has now.",
            id="keep-current",
        ),
        Binding(
            "t",
            "resolve('other')",
            "Take other",
            tooltip="Replace it with the other value.",
            id="take-other",
        ),
        Binding(
            "r",
            "restore",
            "Restore",
            tooltip="Restore the deleted record, with the colleague's edit.",
            id="restore-deleted",
        ),
        Binding(
            "b",
            "resolve('both')",
            "Keep both",
            tooltip="Keep both: texts joined, sets united.",
            id="keep-both",
        ),
        Binding("e", "edit_value", "Edit", tooltip="Type the value to keep.", id="edit-conflict"),
        Binding(
            "i",
            "app.log_in",
            "Log in",
            tooltip="Log in to a sync server (address, token, your name in reports).",
            id="log-in-to-server",
        ),
        Binding(
            "l",
            "decide_later",
            "Later",
            tooltip="Leave this conflict open and go to the next one.",
            id="decide-later",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.conflicts: dict[str, Record] = {}

    def compose(self) -> ComposeResult:
        yield from self.compose_frame_top()
        with Vertical(id="sync"):
            yield SafeStatic(id="sync-summary")
            yield SafeStatic(id="sync-log")
            yield SafeStatic(id="sync-refused")
            yield SafeStatic("Open conflicts", classes="section-title")
            yield SafeTable(id="conflict-table", cursor_type="row")
            with Horizontal(id="conflict-compare"):
                yield SafeStatic(id="conflict-current", classes="conflict-side")
                yield SafeStatic(id="conflict-other", classes="conflict-side")
            yield SafeStatic(id="conflict-diff")
        yield from self.compose_frame_bottom()

    def on_mount(self) -> None:
        table = self.query_one("#conflict-table", DataTable)
        table.add_column("Record", width=30, key="record")
        table.add_column("Field", width=12, key="field")
        table.add_column("Current", width=24, key="current")
        table.add_column("Other", width=24, key="other")
        table.focus()
        self.query_one("#sync-refused").display = False
        self.watch(self.app, "sync_status", self.show_status)

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [
            (
                "conflict: Keep current",
                "Keep the value on every device",
                lambda: self.action_resolve("current"),
            ),
            ("conflict: Take other", "Use the other value", lambda: self.action_resolve("other")),
            (
                "conflict: Keep both",
                "Join texts or unite sets",
                lambda: self.action_resolve("both"),
            ),
            ("conflict: Edit value", "Type the value to keep", self.action_edit_value),
            ("conflict: Decide later", "Go to the next conflict", self.action_decide_later),
        ]

    def show_status(self, status: SyncStatus) -> None:
        summary = Text()
        summary.append(f"Server: {status.server or 'none configured'}", style="bold")
        summary.append(f"   {status.connection}   last sync {ago(status.last_sync)}")
        plural = "" if status.conflicts == 1 else "s"
        summary.append(f"   {status.pending} pending   {status.conflicts} open conflict{plural}")
        if status.error:
            summary.append("\nLast error: ", style="bold")
            summary.append(status.error)
        if status.server is None:
            summary.append(
                "\nNo server yet: `fieldrm login --server URL --token TOKEN` sets one up; "
                "everything works offline meanwhile.",
                style="dim",
            )
        self.query_one("#sync-summary", Static).update(summary)
        history = status.history[-8:]
        self.query_one("#sync-log", Static).update(
            Text("\n".join(history)) if history else Text("No sync yet this session.", style="dim")
        )

    # ------------------------------------------------------------ conflicts

    def reload(self) -> None:
        self._load_conflicts()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load_conflicts(self) -> None:
        from fieldrm.sync import replica
        from fieldrm.sync.conflicts import open_conflicts

        conflicts = open_conflicts(self.store)
        labels = names_for(self.store, [c.record_id for c in conflicts])
        refusals = replica.rejections(self.store)
        self.post_message(ConflictsLoaded(conflicts, labels, refusals))

    @on(ConflictsLoaded)
    def show_conflicts(self, message: ConflictsLoaded) -> None:
        refused = self.query_one("#sync-refused", Static)
        refused.display = bool(message.refusals)
        if message.refusals:
            text = Text("Changes the server refused (the rest went through):\n", style="bold")
            for line in message.refusals[-6:]:
                text.append(f"  {line}\n", style="")
            refused.update(text)
        table = self.query_one("#conflict-table", DataTable)
        keep = table.cursor_row
        table.clear()
        self.conflicts = {c.id: c for c in message.conflicts}
        for conflict in message.conflicts:
            label = message.labels.get(conflict.record_id, conflict.record_id[:8])
            table.add_row(
                f"{conflict.record_kind}: {' '.join(str(label).split())}",
                conflict.field,
                " ".join(_conflict_value(conflict.field, conflict.current.get("value")).split()),
                " ".join(_conflict_value(conflict.field, conflict.other.get("value")).split()),
                key=conflict.id,
            )
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1), animate=False)
        self.show_selected()

    @property
    def selected(self) -> Record | None:
        table = self.query_one("#conflict-table", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.conflicts.get(key or "")

    @on(DataTable.RowHighlighted, "#conflict-table")
    def show_selected(self) -> None:
        conflict = self.selected
        current = self.query_one("#conflict-current", Static)
        other = self.query_one("#conflict-other", Static)
        diff = self.query_one("#conflict-diff", Static)
        if conflict is None:
            current.update(Text("No open conflicts.", style="dim"))
            other.update("")
            diff.update("")
        else:
            field_name = conflict.field
            current.update(_side("Current (every device has this)", conflict.current, field_name))
            other.update(_side("Other (kept from the clash)", conflict.other, field_name))
            diff.update(text_diff(conflict.current.get("value"), conflict.other.get("value")))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in ("resolve", "restore", "edit_value", "decide_later"):
            return True
        conflict = self.selected if self.query("#conflict-table") else None
        if conflict is None:
            if action == "restore":
                return False  # only offered for a delete-versus-edit conflict
            return None if action in ("resolve", "edit_value", "decide_later") else True
        # A delete against an edit: restore it (r) or keep it deleted (c); "take other",
        # "both" and "edit" would read as something else, so they are not offered.
        deleted = conflict.field == "deleted"
        if action == "restore":
            return deleted
        if action == "edit_value" or (action == "resolve" and parameters[:1] != ("current",)):
            return not deleted
        return True

    def action_restore(self) -> None:
        self.action_resolve("other")

    def action_resolve(self, keep: str) -> None:
        conflict = self.selected
        if conflict is not None:
            self._resolve(conflict.id, keep, None)

    def action_edit_value(self) -> None:
        conflict = self.selected
        if conflict is None:
            return
        start = conflict.current.get("value")
        other = conflict.other.get("value")
        is_set = isinstance(start, list) or isinstance(other, list)

        def typed(text: str | None) -> None:
            if text is None:
                return
            # A set field (tags, phones, attendees…) is typed as a comma-separated list.
            value: Any = [item.strip() for item in text.split(",") if item.strip()]
            self._resolve(conflict.id, "value", value if is_set else text)

        if is_set:
            prefill = ", ".join(map(str, start or []))
        else:
            prefill = start if isinstance(start, str) else ("" if start is None else str(start))
        self.app.push_screen(
            PromptScreen(
                f"New value for {conflict.field}" + (" (comma-separated)" if is_set else ""),
                f"current: {_shown(start)}\nother: {_shown(other)}",
                prefill,
            ),
            typed,
        )

    def action_decide_later(self) -> None:
        table = self.query_one("#conflict-table", DataTable)
        if table.row_count:
            table.move_cursor(row=(table.cursor_row + 1) % table.row_count)

    @work(thread=True, exit_on_error=False, group="write")
    def _resolve(self, conflict_id: str, keep: str, value: str | None) -> None:
        from fieldrm.sync.conflicts import resolve_conflict

        record = resolve_conflict(self.store, conflict_id, keep, value)
        self.post_message(RecordSaved(record, "Conflict resolved."))

    @on(RecordSaved)
    def resolved(self, message: RecordSaved) -> None:
        self.notify(message.note, markup=False)
        self.fieldrm.records_changed()
