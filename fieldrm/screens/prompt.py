"""A small modal: one line of text (an answer, a new value), Enter to save."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input

from fieldrm.screens.widgets import SafeLabel, SafeStatic


class PromptScreen(ModalScreen[str | None]):
    """Returns the text typed (stripped), or None on Escape or an empty line; with
    `empty_ok`, an empty line returns "" (so Escape alone means "no")."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without saving.", id="cancel-prompt")
    ]

    def __init__(
        self, title: str, context: str = "", value: str = "", *, empty_ok: bool = False
    ) -> None:
        super().__init__()
        self.empty_ok = empty_ok
        self.title_text = title
        self.context = context
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield SafeLabel(self.title_text, classes="dialog-title", markup=False)
            if self.context:
                yield SafeStatic(self.context, classes="dialog-context", markup=False)
            yield Input(value=self.value, id="prompt-input")

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.dismiss(text if text or self.empty_ok else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
