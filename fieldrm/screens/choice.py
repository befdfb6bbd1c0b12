"""A small modal: pick one of a few choices with the arrow keys and Enter."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from fieldrm.screens.widgets import SafeLabel, shown


class ChoiceScreen(ModalScreen[str | None]):
    """Returns the chosen key, or None on Escape."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without choosing.", id="cancel-choice")
    ]

    def __init__(
        self, title: str, choices: list[tuple[str, str]], choices_id: str | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices
        self.choices_id = choices_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield SafeLabel(self.title_text, classes="dialog-title", markup=False)
            yield OptionList(
                *[Option(shown(label), id=key) for key, label in self.choices], id=self.choices_id
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def choose(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
