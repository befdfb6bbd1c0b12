"""A modal to pick a contact by typing part of their name (escalate to, owner)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from fieldrm.models import Record, label
from fieldrm.screens.widgets import SafeLabel, SafeStatic, shown
from fieldrm.store.queries import ListFilter, list_page


@dataclass
class PickedContact:
    id: str
    name: str


@dataclass
class ContactsFound(Message):
    text: str
    contacts: list[Record]


class PickContactScreen(ModalScreen[PickedContact | None]):
    """Returns the chosen contact, or None on Escape."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without choosing.", id="cancel-pick")
    ]

    def __init__(self, title: str, context: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.context = context
        self.found: dict[str, Record] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield SafeLabel(self.title_text, classes="dialog-title", markup=False)
            if self.context:
                yield SafeStatic(self.context, classes="dialog-context", markup=False)
            yield Input(placeholder="Type part of a name", id="contact-input")
            yield OptionList(id="contact-options")

    def on_mount(self) -> None:
        self._find("")

    @on(Input.Changed, "#contact-input")
    def typed(self, event: Input.Changed) -> None:
        self._find(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _find(self, text: str) -> None:
        store = self.app.store  # type: ignore[attr-defined]
        found = list_page(store, ListFilter("contact", text=text.strip()), limit=30)
        self.post_message(ContactsFound(text, found))

    @on(ContactsFound)
    def show(self, message: ContactsFound) -> None:
        if message.text != self.query_one("#contact-input", Input).value:
            return
        self.found = {contact.id: contact for contact in message.contacts}
        options = self.query_one("#contact-options", OptionList)
        options.clear_options()
        for contact in message.contacts:
            role = label(contact.role)
            options.add_option(Option(shown(f"{contact.name}  {role}".rstrip()), id=contact.id))
        if message.contacts:
            options.highlighted = 0

    def on_key(self, event) -> None:  # noqa: ANN001 - Textual's Key event
        if event.key in ("up", "down") and self.focused is self.query_one("#contact-input"):
            options = self.query_one("#contact-options", OptionList)
            options.action_cursor_down() if event.key == "down" else options.action_cursor_up()
            event.stop()

    @on(Input.Submitted, "#contact-input")
    def take_highlighted(self) -> None:
        options = self.query_one("#contact-options", OptionList)
        if options.highlighted is None or options.option_count == 0:
            self.notify("No contact matches what you typed.", severity="warning", markup=False)
            return
        self._choose(options.get_option_at_index(options.highlighted).id or "")

    @on(OptionList.OptionSelected, "#contact-options")
    def take(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option.id or "")

    def _choose(self, contact_id: str) -> None:
        contact = self.found.get(contact_id)
        if contact is not None:
            self.dismiss(PickedContact(contact.id, contact.name))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.report_error(event.worker.error)  # type: ignore[attr-defined]
