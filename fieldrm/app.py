"""The fieldrm terminal app (SPEC §7): a thin App that wires screens, keys and sync."""

from __future__ import annotations

from textual.app import App


class FieldrmApp(App[None]):
    """The relationship manager's notebook."""

    TITLE = "fieldrm"


def run_app() -> None:
    """Open the terminal app on this device's store (the CLI calls this with no arguments)."""
    FieldrmApp().run()
