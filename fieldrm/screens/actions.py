"""Follow-up actions: filter them, close one, start one, hand one to an owner."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from fieldrm.models import OPEN_ACTION_STATUSES, ActionStatus, Record, label, local_today, parse_due
from fieldrm.notebook import set_due, set_owner, set_status
from fieldrm.screens.pick_contact import PickContactScreen, PickedContact
from fieldrm.screens.prompt import PromptScreen
from fieldrm.screens.record_list import Names, RecordListScreen


class ActionsScreen(RecordListScreen):
    """Open, in-progress, done and cancelled actions, soonest due first."""

    MODE = "actions"
    KIND = "action"
    BINDING_GROUP_TITLE = "Actions"
    COLUMNS = (("Due", 10), ("Status", 11), ("Priority", 8), ("Action", 56), ("Owner", 18))
    PRESETS = (
        ("open", OPEN_ACTION_STATUSES),
        (ActionStatus.done.value, (ActionStatus.done.value,)),
        (ActionStatus.cancelled.value, (ActionStatus.cancelled.value,)),
        ("all", ()),
    )
    REFERENCES = ("owner_id",)
    RECORD_ACTIONS = frozenset({"close", "start", "cancel_action", "reopen", "owner", "due"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "close", "Done", tooltip="Close the action as done.", id="close-action"),
        Binding("s", "start", "Start", tooltip="Mark the action in progress.", id="start-action"),
        Binding(
            "o",
            "owner",
            "Owner",
            tooltip="Give the action to a contact.",
            id="set-action-owner",
        ),
        Binding(
            "u",
            "due",
            "Due",
            tooltip="Set the due date (2026-12-01, fri, +3d, tomorrow).",
            id="set-action-due",
        ),
        Binding(
            "x",
            "cancel_action",
            "Cancel",
            tooltip="Cancel the action.",
            show=False,
            id="cancel-action",
        ),
        Binding(
            "r",
            "reopen",
            "Reopen",
            tooltip="Open the action again.",
            show=False,
            id="reopen-action",
        ),
    ]

    def cells(self, record: Record, names: Names) -> Sequence[Any]:
        due = record.due.isoformat() if record.due else ""
        overdue = (
            record.due is not None
            and record.due < local_today()
            and record.status in OPEN_ACTION_STATUSES
        )
        return (
            Text(due, style="bold red") if overdue else due,
            label(record.status),
            record.priority or "",
            " ".join(record.text.split()),
            names.of(record.owner_id, "me"),
        )

    def detail(self, record: Record, names: Names) -> Text:
        text = Text()
        text.append("> ", style="bold")
        text.append(record.text)
        text.append(f"\nowner {names.of(record.owner_id, 'me')}", style="italic")
        if record.due:
            text.append(f" · due {record.due.isoformat()}", style="italic")
        text.append(f" · {label(record.status)}", style="italic")
        return text

    def can(self, action: str, record: Record) -> bool | None:
        closed = record.status not in OPEN_ACTION_STATUSES
        if action == "reopen":
            return closed
        if action == "start":
            return record.status == ActionStatus.open
        if action in ("close", "cancel_action"):
            return not closed
        return True

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [
            ("action: Close as done", "Close the highlighted action", self.action_close),
            ("action: Start", "Mark it in progress", self.action_start),
            ("action: Set owner", "Give it to a contact", self.action_owner),
            ("action: Set due date", "When it is due", self.action_due),
            ("action: Cancel", "Cancel it", self.action_cancel_action),
            ("action: Reopen", "Open it again", self.action_reopen),
            ("action: Cycle status filter", "open, done, cancelled, all", self.action_next_preset),
        ]

    def _set_status(self, status: str, note: str) -> None:
        action = self.selected
        if action is not None:
            self.save(note, set_status, action.id, status)

    def action_close(self) -> None:
        self._set_status(ActionStatus.done, "Closed as done.")

    def action_start(self) -> None:
        self._set_status(ActionStatus.in_progress, "In progress.")

    def action_cancel_action(self) -> None:
        self._set_status(ActionStatus.cancelled, "Cancelled.")

    def action_reopen(self) -> None:
        self._set_status(ActionStatus.open, "Reopened.")

    def action_owner(self) -> None:
        action = self.selected
        if action is None:
            return

        def picked(contact: PickedContact | None) -> None:
            if contact is not None:
                self.save(f"Owner: {contact.name}.", set_owner, action.id, contact.id)

        self.app.push_screen(PickContactScreen("Owner", action.text), picked)

    def action_due(self) -> None:
        action = self.selected
        if action is None:
            return

        def typed(text: str | None) -> None:
            if not text:
                return
            try:
                due = parse_due(text, local_today())
            except ValueError as error:
                self.notify(str(error), title="Not a date", severity="error", markup=False)
                return
            self.save(f"Due {due.isoformat()}.", set_due, action.id, due)

        current = action.due.isoformat() if action.due else ""
        self.app.push_screen(PromptScreen("Due date", action.text, current), typed)
