"""The fieldrm terminal app (SPEC §7): a thin App that wires screens, keys and sync.

Threading: every store or network call runs in a thread worker that posts a message;
handlers here and on the screens own the UI state.  The store's one connection is made
with `check_same_thread=False` and serialized by its lock, so pool threads may share it.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from fieldrm.errors import FieldrmError
from fieldrm.models import format_timestamp, now_utc
from fieldrm.notebook import start_visit
from fieldrm.screens.messages import (
    CountsRead,
    SyncCompleted,
    SyncFailed,
    SyncSkipped,
    SyncStarted,
)
from fieldrm.screens.widgets import NAVIGATION
from fieldrm.services import SyncStatus
from fieldrm.store import Store
from fieldrm.store.queries import read_counts

if TYPE_CHECKING:
    from fieldrm.screens.start_visit import VisitPlan

SYNC_INTERVAL = 60.0
"""Seconds between background syncs while the server answers."""
RETRY_DELAYS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Backoff after failed syncs: the app keeps trying (so it notices a reconnect) without
hammering a server that is down."""
FIRST_SYNC_DELAY = 0.3
"""Seconds after the first frame before the start-up sync."""
SYNC_AFTER_EDIT = 3.0
"""Seconds after a local edit before it is pushed (edits in a burst go together)."""
PREWARM_DELAY = 0.6
"""Seconds after the first frame before the other screens are built in the background."""
PREWARM_ORDER = ("floor", "contacts", "questions", "actions", "search", "sync", "today")
"""Most likely next screens first."""


def _lazy_screen(module: str, name: str) -> Callable[[], Screen]:
    """A mode's screen, imported when first shown: start-up loads only the first screen."""

    def make() -> Screen:
        return getattr(importlib.import_module(f"fieldrm.screens.{module}"), name)()

    return make


class FieldrmApp(App[None]):
    """The relationship manager's notebook."""

    TITLE = "fieldrm"
    # Absolute, so subclasses defined elsewhere (benchmarks, tests) find it too.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    MODES: ClassVar[dict[str, Any]] = {
        "today": _lazy_screen("today", "TodayScreen"),
        "floor": _lazy_screen("floor_walk", "FloorWalkScreen"),
        "contacts": _lazy_screen("contacts", "ContactsScreen"),
        "questions": _lazy_screen("questions", "QuestionsScreen"),
        "actions": _lazy_screen("actions", "ActionsScreen"),
        "sync": _lazy_screen("sync", "SyncScreen"),
        "search": _lazy_screen("search", "SearchScreen"),
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "f1",
            "toggle_keys",
            "Keys",
            tooltip="Show or hide the keys of this screen.",
            id="show-keys",
        ),
        *[
            Binding(
                key,
                f"switch_mode('{mode}')",
                title,
                tooltip=f"Go to the {title} screen.",
                show=False,
                id=f"go-{mode}",
            )
            for mode, key, title in NAVIGATION
        ],
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

    sync_status: reactive[SyncStatus] = reactive(SyncStatus, always_update=True)
    """What the status line shows; replaced whole on every change."""
    data_version: reactive[int] = reactive(0)
    """Bumped after every local write or pull, so visible screens reload."""

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
        self._failed_syncs = 0
        self._sync_timer: Any = None
        self._sync_again = False
        self._sync_history: list[str] = []
        self.ready_at: float | None = None

    # ------------------------------------------------------------ start and stop

    def on_mount(self) -> None:
        mode = self.start_mode or ("floor" if self.store.open_visit() is not None else "today")
        self.switch_mode(mode)
        self.refresh_counts()

    def on_ready(self) -> None:
        self.ready_at = time.perf_counter()
        # The first sync starts once the first screen is up: importing the HTTP client
        # in a worker thread would otherwise compete (GIL) with drawing it.
        self.set_timer(FIRST_SYNC_DELAY, self.sync_now, name="first-sync")
        if self.prewarm_delay is not None:
            self.set_timer(self.prewarm_delay, self._prewarm_screens, name="prewarm")

    def _prewarm_screens(self) -> None:
        self.run_worker(self._build_screens(), group="prewarm", exit_on_error=False)

    async def _build_screens(self) -> None:
        """Build the screens not yet shown, one at a time, while the user reads the first.

        A screen's first visit costs 0.15-0.5 s (importing its module, parsing its widgets'
        CSS, composing, laying out, its first query); built here in idle time, the first
        visit costs what a repeat visit does.  `_init_mode` is what `switch_mode` runs for
        a mode never shown: it mounts the screen without making it current.  (Private
        Textual API, stable in the pinned version; re-check on upgrade.)
        """
        for mode in PREWARM_ORDER:
            if mode in self._screen_stacks:
                continue  # already shown (or built)
            await_mount = self._init_mode(mode)
            styled_as_of = self._css_update_count
            await await_mount
            # Mounting styled it with the current CSS; without this mark, the switch to it
            # would re-parse every stylesheet (~70 ms), as for a screen never styled.
            screen = self._screen_stacks[mode][0]
            screen._css_update_count = styled_as_of
            # Its first data load is under way; once the rows are in, lay it out and render
            # it once, unseen (Textual lays out and paints only the current screen): the
            # widgets' line caches are then warm, and the switch costs what a repeat visit
            # does (~35 ms instead of 0.1-0.3 s).  Twice, because some screens load in two
            # stages (a contact's card follows once the first row is highlighted).
            for _stage in range(2):
                await self._loads_finished()
                if screen.is_current:
                    break  # the user got there first
                screen._refresh_layout(self.size)
                screen._layout_required = False
                screen._compositor.render_update(full=True)
                await asyncio.sleep(0.2)
            # Let key presses and repaints through between screens.
            await asyncio.sleep(0.05)
        # Everything built so far lives as long as the app: move it out of the collector's
        # sight.  Otherwise each full collection walks every widget, row and record (a
        # 0.1-0.3 s pause, landing on whatever key the user pressed).
        gc.freeze()

    def on_unmount(self) -> None:
        if self._sync_timer is not None:
            self._sync_timer.stop()
        gc.unfreeze()  # what this app built may be collected once it is gone (tests run many)

    # ------------------------------------------------------------ errors

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

    # ------------------------------------------------------------ data changes

    def records_changed(self) -> None:
        """Call after a local write: screens reload, the status line recounts, sync soon."""
        self.data_version += 1
        self.refresh_counts()
        if self.sync_status.connection in ("online", "syncing"):
            self._schedule_sync(self.sync_after_edit)

    @work(thread=True, exclusive=True, exit_on_error=False, group="status")
    def refresh_counts(self) -> None:
        pending, conflicts, last_sync = read_counts(self.store)
        server = self.store.get_state("server")
        self.post_message(CountsRead(pending, conflicts, last_sync, server))

    @on(CountsRead)
    def show_counts(self, message: CountsRead) -> None:
        status = self.sync_status
        connection = status.connection
        if message.server is None and connection != "syncing":
            connection = "no server"
        self.sync_status = SyncStatus(
            connection=connection,
            last_sync=message.last_sync,
            pending=message.pending,
            conflicts=message.conflicts,
            error=status.error,
            server=message.server,
            history=status.history,
        )

    # ------------------------------------------------------------ sync

    async def _loads_finished(self, limit: float = 3.0) -> None:
        """Wait (at most `limit` s) until no screen is loading data and its rows are in."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and any(
            worker.group in ("load", "page") and not worker.is_finished for worker in self.workers
        ):
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.02)  # the loaded message is handled by the screen's own task

    def action_sync_now(self) -> None:
        self.sync_now()

    def sync_now(self) -> None:
        if self._sync_timer is not None:
            self._sync_timer.stop()
            self._sync_timer = None
        if any(worker.group == "sync" and not worker.is_finished for worker in self.workers):
            # One sync at a time (a thread cannot be cancelled); run again when it ends.
            self._sync_again = True
            return
        self._sync_again = False
        self._sync_with_server()

    def _after_sync(self, delay: float) -> None:
        if self._sync_again:
            self._sync_again = False
            self._schedule_sync(0.0)
        else:
            self._schedule_sync(delay)

    def _schedule_sync(self, delay: float) -> None:
        if self._sync_timer is not None:
            self._sync_timer.stop()
        self._sync_timer = self.set_timer(delay, self.sync_now, name="sync")

    @work(thread=True, exit_on_error=False, group="sync")
    def _sync_with_server(self) -> None:
        from fieldrm.sync.replica import SERVER, TOKEN

        # Checked before importing the sync client: httpx costs ~0.1 s of CPU, which a
        # device without a server never needs to spend.
        if not (self.store.get_state(SERVER) and self.store.get_state(TOKEN)):
            self.post_message(SyncSkipped())
            return
        from fieldrm.sync import client

        self.post_message(SyncStarted())
        try:
            result = client.sync_once(self.store)
        except client.Offline as error:
            self.post_message(SyncFailed(str(error), offline=True, title="Offline"))
            return
        except client.Refused as error:
            self.post_message(SyncFailed(str(error), offline=False, title="Sync refused"))
            return
        except FieldrmError as error:
            self.post_message(SyncFailed(str(error), offline=False, title="Sync failed"))
            return
        except Exception as error:  # never a traceback: say what happened and retry later
            reason = f"{type(error).__name__}: {error}"
            self.post_message(SyncFailed(reason, offline=False, title="Sync failed"))
            return
        self.post_message(
            SyncCompleted(
                pushed=result.pushed,
                pulled=result.pulled,
                conflicts=result.conflicts,
                rejected=result.rejected,
                rejections=list(getattr(result, "rejections", []) or []),
                at=format_timestamp(now_utc()),
            )
        )

    def _log_sync(self, line: str) -> tuple[str, ...]:
        stamp = now_utc().astimezone().strftime("%H:%M:%S")
        self._sync_history.append(f"{stamp}  {line}")
        del self._sync_history[:-200]
        return tuple(self._sync_history)

    def _replace_status(self, **changes: Any) -> None:
        values = {**self.sync_status.__dict__, **changes}
        self.sync_status = SyncStatus(**values)

    @on(SyncSkipped)
    def show_no_server(self) -> None:
        self._replace_status(connection="no server", error=None)
        # Look again later: `fieldrm login` in another terminal configures a server.
        self._after_sync(self.sync_interval)

    @on(SyncStarted)
    def show_syncing(self) -> None:
        self._replace_status(connection="syncing")

    @on(SyncCompleted)
    def show_sync_result(self, message: SyncCompleted) -> None:
        self._failed_syncs = 0
        line = (
            f"synced: {message.pushed} up, {message.pulled} down, "
            f"{message.conflicts} conflicts, {message.rejected} refused"
        )
        for rejection in message.rejections[:20]:
            line += f"\n          refused: {rejection}"
        self._replace_status(
            connection="online", error=None, last_sync=message.at, history=self._log_sync(line)
        )
        if message.conflicts:
            self.notify(
                f"{message.conflicts} edit(s) clashed with a colleague's; both values are "
                "kept. Review them on the Sync screen (F7).",
                title="Conflicts to review",
                severity="warning",
                markup=False,
            )
        if message.rejected:
            self.notify(
                f"{message.rejected} change(s) were refused; the Sync screen (F7) says why.",
                title="Changes refused",
                severity="error",
                markup=False,
            )
        if message.pulled or message.conflicts:
            self.data_version += 1
        self.refresh_counts()
        self._after_sync(self.sync_interval)

    @on(SyncFailed)
    def show_sync_failure(self, message: SyncFailed) -> None:
        delay = self.retry_delays[min(self._failed_syncs, len(self.retry_delays) - 1)]
        self._failed_syncs += 1
        self._replace_status(
            connection="offline",
            error=message.reason,
            history=self._log_sync(f"{message.title.lower()}: {message.reason}"),
        )
        # One notification per outage, not one per retry.
        if self._failed_syncs == 1 or not message.offline:
            self.notify(
                f"{message.reason}\nYour changes stay on this device; retrying in {delay:.0f} s.",
                title=message.title,
                severity="warning" if message.offline else "error",
                markup=False,
            )
        self.refresh_counts()
        self._after_sync(delay)

    @property
    def sync_history(self) -> tuple[str, ...]:
        return tuple(self._sync_history)

    # ------------------------------------------------------------ visits

    def action_start_visit(self) -> None:
        from fieldrm.screens.start_visit import StartVisitScreen

        self.push_screen(StartVisitScreen(), self._start_visit)

    def _start_visit(self, plan: VisitPlan | None) -> None:
        if plan is not None:
            self._create_visit(plan)

    @work(thread=True, exit_on_error=False, group="write")
    def _create_visit(self, plan: VisitPlan) -> None:
        start_visit(self.store, plan.site_id, visit_type=plan.visit_type, attendees=plan.attendees)
        self.call_from_thread(self._visit_started, plan.site_name)

    def _visit_started(self, site_name: str) -> None:
        self.notify(f"Visit to {site_name} started.", title="Visit", markup=False)
        self.records_changed()
        self.switch_mode("floor")

    # ------------------------------------------------------------ keys and palette

    def action_toggle_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for mode, key, title in NAVIGATION:
            yield SystemCommand(
                f"go: {title}",
                f"Show the {title} screen ({key.upper()})",
                lambda mode=mode: self.switch_mode(mode),
            )
        yield SystemCommand(
            "visit: Start visit", "Choose a site and attendees (ctrl+n)", self.action_start_visit
        )
        yield SystemCommand("sync: Sync now", "Push and pull now (ctrl+r)", self.sync_now)
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
    try:
        FieldrmApp(store).run()
    finally:
        store.close()
