"""Add or edit a contact in the app (SPEC §7): name, role, title, site, reports to, phones,
emails, tags.  ctrl+s saves through `notebook.save_contact`; a value that does not fit is
said under the form and everything typed stays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from fieldrm import notebook
from fieldrm.errors import FieldrmError
from fieldrm.models import Record
from fieldrm.screens.widgets import SafeLabel, SafeStatic

PLACEHOLDERS = {
    "name": "Name (required)",
    "role": "Role: team leader, program manager, … (a prefix will do)",
    "title": "Title",
    "site": "Site (its name)",
    "reports_to": "Reports to (a contact's name)",
    "phones": "Phones, comma-separated",
    "emails": "Emails, comma-separated",
    "tags": "Tags, comma-separated",
}


@dataclass
class ContactFormLoaded(Message):
    form: dict[str, str]


@dataclass
class ContactNotSaved(Message):
    reason: str


@dataclass
class ContactSaved(Message):
    contact: Record


class ContactFormScreen(ModalScreen[Record | None]):
    """Returns the saved contact, or None on Escape."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", tooltip="Save the contact.", id="save-contact"),
        Binding("escape", "cancel", "Cancel", tooltip="Close without saving.", id="cancel-form"),
    ]

    def __init__(self, contact_id: str | None = None) -> None:
        super().__init__()
        self.contact_id = contact_id

    @property
    def store(self) -> Any:
        return self.app.store  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        title = "Edit contact" if self.contact_id else "New contact"
        with Vertical(classes="dialog", id="contact-form"):
            yield SafeLabel(f"{title}   (ctrl+s saves, Escape cancels)", classes="dialog-title")
            for name in notebook.CONTACT_FORM:
                yield Input(placeholder=PLACEHOLDERS[name], id=f"contact-{name}")
            yield SafeStatic(id="contact-problem")

    def on_mount(self) -> None:
        self.query_one("#contact-name", Input).focus()
        if self.contact_id:
            self._load(self.contact_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load(self, contact_id: str) -> None:
        form = notebook.contact_form(self.store, self.store.get(contact_id))
        self.post_message(ContactFormLoaded(form))

    @on(ContactFormLoaded)
    def show_form(self, message: ContactFormLoaded) -> None:
        for name, value in message.form.items():
            self.query_one(f"#contact-{name}", Input).value = value

    def action_save(self) -> None:
        form = {name: self.query_one(f"#contact-{name}", Input).value for name in PLACEHOLDERS}
        self._save(form)

    @on(Input.Submitted)
    def next_or_save(self) -> None:
        self.action_save()

    @work(thread=True, exclusive=True, exit_on_error=False, group="write")
    def _save(self, form: dict[str, str]) -> None:
        try:
            record = notebook.save_contact(self.store, self.contact_id, form)
        except FieldrmError as error:
            self.post_message(ContactNotSaved(str(error)))
            return
        self.post_message(ContactSaved(record))

    @on(ContactSaved)
    def close_saved(self, message: ContactSaved) -> None:
        self.dismiss(message.contact)

    @on(ContactNotSaved)
    def show_problem(self, message: ContactNotSaved) -> None:
        self.query_one("#contact-problem", Static).update(Text(message.reason, style="bold red"))

    def action_cancel(self) -> None:
        self.dismiss(None)
