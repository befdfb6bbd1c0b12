"""Log in to a sync server from the app (SPEC §7): the server's address, the token from
`fieldrm server add-user`, and the RM's name as reports show it.  The check runs in a
worker (`client.login`); a refusal is said under the form and everything typed stays.
A login that would mix two workspaces (or send another user's queued changes) is refused
there too (sync/workspace.py); the "start fresh" box is `fieldrm login --fresh`."""

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
from textual.widgets import Checkbox, Input, Static

from fieldrm import notebook
from fieldrm.errors import FieldrmError
from fieldrm.screens.widgets import SafeLabel, SafeStatic


@dataclass
class LoginChecked(Message):
    who: dict[str, str] | None
    problem: str | None = None


@dataclass
class DisplayNameRead(Message):
    name: str | None
    server: str | None


class LoginScreen(ModalScreen[dict[str, str] | None]):
    """Returns {"user", "workspace"} once the server accepted the token, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "log_in", "Log in", tooltip="Check the token and log in.", id="log-in"),
        Binding("escape", "cancel", "Cancel", tooltip="Close without logging in.", id="cancel"),
    ]

    @property
    def store(self) -> Any:
        return self.app.store  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="login"):
            yield SafeLabel("Log in to a sync server   (ctrl+s logs in)", classes="dialog-title")
            yield Input(placeholder="Server: http://host:8765", id="login-server")
            yield Input(placeholder="Token (from fieldrm server add-user)", id="login-token")
            yield Input(placeholder="Your name as reports show it", id="login-display-name")
            yield Checkbox(
                "Start fresh (--fresh): back up this device, then empty it",
                id="login-fresh",
            )
            yield SafeStatic(id="login-problem")

    def on_mount(self) -> None:
        self.query_one("#login-server", Input).focus()
        self._read_settings()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _read_settings(self) -> None:
        self.post_message(
            DisplayNameRead(notebook.display_name(self.store), self.store.get_state("server"))
        )

    @on(DisplayNameRead)
    def show_settings(self, message: DisplayNameRead) -> None:
        for box, value in (
            ("#login-display-name", message.name),
            ("#login-server", message.server),
        ):
            field = self.query_one(box, Input)
            if value and not field.value:
                field.value = value

    @on(Input.Submitted)
    def submitted(self) -> None:
        self.action_log_in()

    def action_log_in(self) -> None:
        server = self.query_one("#login-server", Input).value.strip()
        token = self.query_one("#login-token", Input).value.strip()
        name = self.query_one("#login-display-name", Input).value
        fresh = self.query_one("#login-fresh", Checkbox).value
        if not server or not token:
            self._problem("The server's address and a token are both needed.")
            return
        self._problem("Checking…", style="italic")
        self._log_in(server, token, name, fresh)

    @work(thread=True, exclusive=True, exit_on_error=False, group="login")
    def _log_in(self, server: str, token: str, name: str, fresh: bool) -> None:
        from fieldrm.sync import client

        try:
            who = client.login(self.store, server, token, fresh=fresh)
        except FieldrmError as error:
            self.post_message(LoginChecked(None, str(error)))
            return
        if name.strip():
            notebook.set_display_name(self.store, name)
        self.post_message(LoginChecked(who))

    @on(LoginChecked)
    def checked(self, message: LoginChecked) -> None:
        if message.who is None:
            self._problem(message.problem or "The server refused.")
        else:
            self.dismiss(message.who)

    def _problem(self, text: str, style: str = "bold red") -> None:
        self.query_one("#login-problem", Static).update(Text(text, style=style))

    def action_cancel(self) -> None:
        self.dismiss(None)
