"""What the Contacts screen does with contacts as a whole (SPEC §12): merge the highlighted
contact into another, and import a vCard or CSV file after a preview of what it would do.

`ContactTools` is the Contacts screen's base: its bindings join the screen's own.  Both
operations run in thread workers (the notebook's `merge_contacts`, contacts_io's plan and
import) and post a past-tense message; a bad file reaches the app's one error path as a
single line, and nothing is written until the RM confirms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen

from fieldrm.models import Record
from fieldrm.screens.base import FieldrmScreen
from fieldrm.screens.choice import ChoiceScreen
from fieldrm.screens.pick_contact import PickContactScreen, PickedContact
from fieldrm.screens.prompt import PromptScreen
from fieldrm.screens.virtual_list import VirtualList
from fieldrm.screens.widgets import SafeLabel, SafeStatic


@dataclass
class ContactsMerged(Message):
    """A worker merged `gone` into `kept`."""

    gone: str
    kept: Record


@dataclass
class ImportPlanned(Message):
    """A worker read a contacts file and matched it; nothing is written yet."""

    path: str
    plan: Any  # contacts_io.ImportPlan


@dataclass
class ContactsImported(Message):
    """A worker imported a contacts file; `summary` as `fieldrm import contacts` prints."""

    path: str
    summary: dict[str, Any]


class ImportPreviewScreen(ModalScreen[bool]):
    """New, matched and skipped entries of a file; Enter imports, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "confirm", "Import", tooltip="Write the new and matched contacts.",
                id="confirm-import"),
        Binding("escape", "cancel", "Cancel", tooltip="Close; nothing is written.",
                id="cancel-import"),
    ]  # fmt: skip

    def __init__(self, path: str, plan: Any) -> None:
        super().__init__()
        self.path = path
        self.plan = plan

    def compose(self) -> ComposeResult:
        summary = self.plan.summary()
        counts = (f"{summary['new']} new, {summary['matched']} matched, "
                  f"{summary['updated']} to update, {len(summary['skipped'])} skipped")  # fmt: skip
        lines = [f"New: {entry.name} (line {entry.line})" for entry in self.plan.new]
        lines += [f"Matched: line {m['line']} {m['name']} = {m['contact']} ({m['by']})"
                  + (f"; fills {', '.join(m['updates'])}" if m["updates"] else "")
                  for m in summary["matches"]]  # fmt: skip
        lines += [f"Skipped: line {s['line']}, {s['reason']}" for s in summary["skipped"]]
        with Vertical(classes="dialog", id="import-preview"):
            yield SafeLabel(f"Import contacts from {Path(self.path).name}", classes="dialog-title",
                        markup=False)  # fmt: skip
            yield SafeStatic(counts, id="import-counts", markup=False)
            with VerticalScroll(id="import-entries"):
                yield SafeStatic("\n".join(lines) or "Nothing to import.", markup=False)
            yield SafeStatic("Enter imports · Escape cancels (nothing is written)",
                         classes="dialog-context", markup=False)  # fmt: skip

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class ContactTools(FieldrmScreen):
    """Merge and import, for the Contacts screen (which subclasses this)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Rare next to finding and filtering: in F1 and the palette, not the key bar.
        Binding("m", "merge_contact", "Merge", tooltip="Merge this contact into another: "
                "every reference moves, this one is deleted.", show=False, id="merge-contact"),
        Binding("i", "import_contacts", "Import", tooltip="Import contacts from a .vcf or "
                ".csv file, after a preview.", show=False, id="import-contacts"),
    ]  # fmt: skip

    def tool_commands(self) -> list[tuple[str, str, Any]]:
        """The palette's merge and import (the screen adds them to its own)."""
        return [
            ("contact: Merge", "Merge the highlighted contact into another (m)",
             self.action_merge_contact),
            ("contact: Import", "Import contacts from a .vcf or .csv file (i)",
             self.action_import_contacts),
        ]  # fmt: skip

    # ------------------------------------------------------------ merge

    def action_merge_contact(self) -> None:
        table = self.query_one("#contact-table", VirtualList)
        contact_id = table.current_key()
        cells = table.row_cells(table.cursor_row)
        if contact_id is None or cells is None:
            self.notify("No contact is highlighted.", severity="warning", markup=False)
            return
        self._pick_target(contact_id, str(cells[0]))

    def _pick_target(self, gone_id: str, name: str) -> None:

        def picked(target: PickedContact | None) -> None:
            if target is None:
                return
            if target.id == gone_id:
                self.notify("Pick another contact to merge into.", severity="warning",
                            markup=False)  # fmt: skip
                return
            question = (f"Merge {name} into {target.name}? Every visit, note and action "
                        f"moves to {target.name}; {name} is deleted.")  # fmt: skip

            def confirmed(choice: str | None) -> None:
                if choice == "merge":
                    self._merge(gone_id, name, target.id)

            self.app.push_screen(
                ChoiceScreen(question, [("merge", "Merge"), ("cancel", "Cancel")]), confirmed
            )

        self.app.push_screen(PickContactScreen(f"Merge {name} into…", name), picked)

    @work(thread=True, exit_on_error=False, group="write")
    def _merge(self, gone_id: str, gone_name: str, keep_id: str) -> None:
        from fieldrm.notebook import merge_contacts

        self.post_message(ContactsMerged(gone_name, merge_contacts(self.store, gone_id, keep_id)))

    def on_contacts_merged(self, message: ContactsMerged) -> None:
        self.notify(f"{message.gone} merged into {message.kept.name}.", markup=False)
        self.fieldrm.records_changed()

    # ------------------------------------------------------------ import

    def action_import_contacts(self) -> None:
        def typed(path: str | None) -> None:
            if path:
                self._plan_import(path)

        self.app.push_screen(
            PromptScreen("Import contacts", "A .vcf or .csv file (nothing is written yet)"),
            typed,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="import")
    def _plan_import(self, path: str) -> None:
        from fieldrm.contacts_io import decode, plan_import, read_contacts, read_file

        data, fmt = read_file(path)
        entries = read_contacts(self.store, decode(data, path), fmt)
        self.post_message(ImportPlanned(path, plan_import(self.store, entries)))

    def on_import_planned(self, message: ImportPlanned) -> None:
        def confirmed(go: bool | None) -> None:
            if go:
                self._import(message.path)

        self.app.push_screen(ImportPreviewScreen(message.path, message.plan), confirmed)

    @work(thread=True, exit_on_error=False, group="write")
    def _import(self, path: str) -> None:
        # Read and matched again: the file or the contacts may have changed meanwhile.
        from fieldrm.contacts_io import import_contacts, read_file

        data, fmt = read_file(path)
        summary = import_contacts(self.store, data, fmt, source=path)
        self.post_message(ContactsImported(path, summary))

    def on_contacts_imported(self, message: ContactsImported) -> None:
        summary = message.summary
        self.notify(f"Imported {summary['new']} new, {summary['matched']} matched "
                    f"({summary['updated']} updated), {len(summary['skipped'])} skipped.",
                    markup=False)  # fmt: skip
        self.fieldrm.records_changed()
