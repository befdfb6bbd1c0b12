"""The fieldrm terminal app (SPEC §7): the App wires CSS, modes, keys and commands.

The modes and their keys come from the navigation table (`screens/navigation.py`); the
background sync and the status line's figures from `screens/sync_scheduler.py`; building
the other screens in idle time from `screens/prewarm.py`; starting a visit from
`screens/visit_starter.py`.  Threading: every store or
network call runs in a thread worker that posts a message; handlers here and on the
screens own the UI state.  The store's one connection is made with
`check_same_thread=False` and serialized by its lock, so pool threads may share it.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from fieldrm.display import visible
from fieldrm.errors import FieldrmError
from fieldrm.screens.navigation import NAVIGATION, OPENS_IN, go_binding, key_of, modes
from fieldrm.screens.prewarm import PREWARM_DELAY, start_prewarm
from fieldrm.screens.sync_scheduler import (
    RETRY_DELAYS,
    SYNC_AFTER_EDIT,
    SYNC_INTERVAL,
    SyncScheduler,
)
from fieldrm.screens.visit_starter import VisitStarter
from fieldrm.store import Store

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel


class FieldrmApp(VisitStarter, SyncScheduler, App[None]):
    """The relationship manager's notebook."""

    TITLE = "fieldrm"
    # Absolute, so subclasses defined elsewhere (benchmarks, tests) find it too.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    MODES: ClassVar[dict[str, Any]] = modes()
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "f1",
            "toggle_keys",
            "Keys",
            tooltip="Show or hide the keys of this screen.",
            id="show-keys",
        ),
        *[go_binding(destination.mode) for destination in NAVIGATION],
        Binding(
            "ctrl+n",
            "start_visit",
            "Start visit",
            tooltip="Start a visit: choose the site by typing, then pick who attends.",
            id="start-visit",
        ),
        Binding(
            "ctrl+r",
            "sync_now",
            "Sync",
            tooltip="Send pending changes to the server and fetch colleagues' work now.",
            id="sync-now",
        ),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            tooltip="Quit fieldrm (everything is already saved).",
            priority=True,
            id="quit",
        ),
    ]

    def __init__(
        self,
        store: Store | None = None,
        *,
        start_mode: str | None = None,
        sync_interval: float = SYNC_INTERVAL,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        sync_after_edit: float = SYNC_AFTER_EDIT,
        prewarm_delay: float | None = PREWARM_DELAY,
    ) -> None:
        super().__init__()
        self.store = store if store is not None else Store.open()
        self.start_mode = start_mode
        self.sync_interval = sync_interval
        self.retry_delays = retry_delays
        self.sync_after_edit = sync_after_edit
        self.prewarm_delay = prewarm_delay
        self.ready_at: float | None = None

    # ------------------------------------------------------------ start and stop

    async def on_mount(self) -> None:
        mode = self.start_mode
        if mode is None:
            # The floor walk when a visit is open, else Today.  The query runs in a thread
            # (never SQL on the UI thread); the app is ready once the first screen is chosen.
            visit = await asyncio.to_thread(self.store.open_visit)
            mode = "floor" if visit is not None else "today"
        self.switch_mode(mode)
        self.refresh_counts()

    def on_ready(self) -> None:
        self.ready_at = time.perf_counter()
        self.start_syncing()
        start_prewarm(self, self.prewarm_delay)

    async def action_quit(self) -> None:
        # A half-typed capture line is kept as a draft: let its write finish first.
        drafts = [w for w in self.workers if w.group == "draft" and not w.is_finished]
        if drafts:
            await self.workers.wait_for_complete(drafts)
        self.exit()

    def on_unmount(self) -> None:
        self.stop_syncing()
        gc.unfreeze()  # what this app built may be collected once it is gone (tests run many)

    # ------------------------------------------------------------ errors

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification shows control characters visibly (`display.visible`)."""
        super().notify(
            visible(message), title=visible(title), severity=severity, timeout=timeout,
            markup=markup,
        )  # fmt: skip

    def report_error(self, error: BaseException, title: str | None = None) -> None:
        """A failure as a notification with a readable reason, never a traceback."""
        if isinstance(error, FieldrmError):
            reason = str(error)
            title = title or "Could not do that"
        else:
            reason = f"{type(error).__name__}: {error}"
            title = title or "Something went wrong"
            self.log.error(reason)
        self.notify(reason, title=title, severity="error", markup=False, timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.report_error(event.worker.error)

    # ------------------------------------------------------------ the sync server

    def action_log_in(self) -> None:
        from fieldrm.screens.login import LoginScreen

        def logged_in(who: dict[str, str] | None) -> None:
            if who is not None:
                kept = f" Earlier data kept in {who['backup']}." if "backup" in who else ""
                self.notify(
                    f"Logged in as {who['user']} (workspace {who['workspace']}); syncing now."
                    + kept,
                    title="Sync server",
                    markup=False,
                )
                self.refresh_counts()
                self.sync_now()

        self.push_screen(LoginScreen(), logged_in)

    # ------------------------------------------------------------ opening a record

    def open_record(self, record: Any, mode: str | None = None) -> None:
        """Open what Search found or a Today panel shows: in its own screen, with the cursor
        on it (questions, actions, contacts), else as a card; or in `mode` (a site's chart)."""
        mode = mode or OPENS_IN.get(record.kind)
        if mode is None:
            from fieldrm.screens.record_card import RecordCard

            self.push_screen(RecordCard(record))
            return
        self.switch_mode(mode)
        self.call_after_refresh(self._show_opened, mode, record)

    def _show_opened(self, mode: str, record: Any) -> None:
        if self.current_mode == mode and hasattr(self.screen, "show_record"):
            self.screen.show_record(record)

    # ------------------------------------------------------------ keys and palette

    def action_toggle_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for destination in NAVIGATION:
            yield SystemCommand(
                f"go: {destination.title}",
                f"Show the {destination.title} screen ({key_of(destination.mode)})",
                lambda mode=destination.mode: self.switch_mode(mode),
            )
        yield SystemCommand(
            "visit: Start visit", "Choose a site and attendees (ctrl+n)", self.action_start_visit
        )
        yield SystemCommand("sync: Sync now", "Push and pull now (ctrl+r)", self.sync_now)
        yield SystemCommand(
            "sync: Log in to a server", "Server, token, your name in reports", self.action_log_in
        )
        for name, help_text, callback in getattr(screen, "palette_commands", lambda: [])():
            yield SystemCommand(name, help_text, callback)
        yield SystemCommand(
            "help: Keys", "Show or hide this screen's keys (F1)", self.action_toggle_keys
        )
        yield SystemCommand("app: Theme", "Change the colour theme", self.action_change_theme)
        yield SystemCommand("app: Quit", "Quit fieldrm (ctrl+q)", self.action_quit)


def run_app() -> None:
    """Open the terminal app on this device's store (the CLI calls this with no arguments)."""
    try:
        store = Store.open()
    except FieldrmError as error:
        print(f"fieldrm: {error}", file=sys.stderr)
        raise SystemExit(getattr(error, "exit_code", 1)) from None
    app = FieldrmApp(store)
    try:
        app.run()
    finally:
        store.close()
    if app.return_code:
        # Textual printed what went wrong; the exit code must say so too.
        raise SystemExit(app.return_code)
