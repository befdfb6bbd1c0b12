"""A record as a card: its fields as a person reads them (names, local times), for what
Search or Today opens that has no list of its own (an observation, a visit, a site)."""

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
from textual.widgets import Static

from fieldrm.display import readable_fields, reference_ids
from fieldrm.models import label
from fieldrm.screens.widgets import SafeLabel, SafeStatic
from fieldrm.store.queries import names_for


@dataclass
class NamesRead(Message):
    names: dict[str, str]


class RecordCard(ModalScreen[None]):
    """One record's fields; Escape or Enter closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", tooltip="Close the card.", id="close-card"),
        Binding(
            "g",
            "org_chart",
            "Org chart",
            tooltip="The site's people as an org chart, on the Contacts screen.",
            id="site-org-chart",
        ),
    ]

    def __init__(self, record: Any) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="record-card"):
            yield SafeLabel(label(self.record.kind).capitalize(), classes="dialog-title")
            yield SafeStatic(id="record-card-fields")

    def on_mount(self) -> None:
        self._read_names()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _read_names(self) -> None:
        store = self.app.store  # type: ignore[attr-defined]
        self.post_message(NamesRead(names_for(store, reference_ids(self.record))))

    @on(NamesRead)
    def show_fields(self, message: NamesRead) -> None:
        text = Text()
        for title, value in readable_fields(self.record, message.names):
            text.append(f"{title}: ", style="bold")
            text.append(f"{value}\n")
        self.query_one("#record-card-fields", Static).update(text)

    def action_close(self) -> None:
        self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "org_chart" or self.record.kind == "site"

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        if self.record.kind != "site":
            return []
        return [
            (
                "site: Org chart",
                "This site's people on the Contacts screen (g)",
                self.action_org_chart,
            )
        ]

    def action_org_chart(self) -> None:
        """The site's org chart: the Contacts screen narrowed to its people."""
        if self.record.kind != "site":
            return
        self.dismiss(None)
        self.app.open_record(self.record, "contacts")  # type: ignore[attr-defined]
