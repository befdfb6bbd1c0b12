"""The app's background sync: when to sync, one sync at a time, backoff while the server is
down, and the status line's figures with the one sync history of this session.

`SyncScheduler` is mixed into the App: its worker posts past-tense messages (SyncStarted,
SyncCompleted, SyncFailed, SyncSkipped, CountsRead) and its handlers, on the UI thread, own
`sync_status`.  The network and the store are touched only in thread workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from textual import work
from textual.reactive import reactive
from textual.timer import Timer

from fieldrm.errors import FieldrmError
from fieldrm.models import format_timestamp, now_utc
from fieldrm.screens.messages import (
    CountsRead,
    OutsideWrite,
    SyncCompleted,
    SyncFailed,
    SyncProgress,
    SyncSkipped,
    SyncStarted,
)
from fieldrm.screens.navigation import key_of
from fieldrm.store.queries import outside_writes, read_counts

if TYPE_CHECKING:
    from textual.app import App

    from fieldrm.store import Store

    _AppBase = App[None]
else:
    _AppBase = object

SYNC_INTERVAL = 60.0
"""Seconds between background syncs while the server answers."""
RETRY_DELAYS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Backoff after failed syncs: the app keeps trying (so it notices a reconnect) without
hammering a server that is down."""
FIRST_SYNC_DELAY = 0.3
"""Seconds after the first frame before the start-up sync."""
SYNC_AFTER_EDIT = 3.0
"""Seconds after a local edit before it is pushed (edits in a burst go together)."""
WATCH_EVERY = 1.0
"""Seconds between looks for writes by another process (the CLI) on this device."""
HISTORY_LINES = 200
"""Sync log lines kept for the Sync screen."""
PROGRESS_AFTER = 1.0
"""Seconds a sync runs before the status line shows how far it has got."""
SOONEST = 0.05
"""The shortest delay a sync is scheduled with: Textual's Timer divides by its interval, so
a zero delay raises (and would end background sync for good)."""


@dataclass(frozen=True)
class SyncStatus:
    """What the status line shows, and the session's sync log (the one history)."""

    connection: str = "no server"  # "online", "offline", "no server", "syncing"
    last_sync: str | None = None  # ISO timestamp of the last successful sync
    pending: int = 0
    conflicts: int = 0
    error: str | None = None  # the last failure's readable reason
    server: str | None = None
    progress: str | None = None  # a long sync's "pushed 500 of 2,000" while it runs
    history: tuple[str, ...] = field(default=(), compare=False)

    def logged(self, line: str) -> tuple[str, ...]:
        """The history with `line` added (stamped with the local time), newest last."""
        stamp = now_utc().astimezone().strftime("%H:%M:%S")
        return (*self.history, f"{stamp}  {line}")[-HISTORY_LINES:]


class SyncScheduler(_AppBase):
    """Mixed into the App: background sync with backoff, and the status line's figures."""

    store: Store
    sync_interval: float = SYNC_INTERVAL
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    sync_after_edit: float = SYNC_AFTER_EDIT

    sync_status: reactive[SyncStatus] = reactive(SyncStatus, always_update=True)
    """What the status line shows; replaced whole on every change."""
    data_version: reactive[int] = reactive(0)
    """Bumped after every local write or pull, so visible screens reload."""

    _failed_syncs = 0
    _sync_timer: Timer | None = None
    _sync_again = False
    _outside_version: int | None = None

    @property
    def sync_history(self) -> tuple[str, ...]:
        """This session's sync log, oldest first."""
        return self.sync_status.history

    def start_syncing(self) -> None:
        """Call once the first screen is up: the first sync follows shortly."""
        # Importing the HTTP client in a worker thread would otherwise compete (GIL) with
        # drawing the first screen.
        self.set_timer(FIRST_SYNC_DELAY, self.sync_now, name="first-sync")
        self._look_for_outside_writes()  # the baseline: later changes are another's writes
        self.set_interval(WATCH_EVERY, self._look_for_outside_writes, name="outside-writes")

    def stop_syncing(self) -> None:
        if self._sync_timer is not None:
            self._sync_timer.stop()

    def records_changed(self) -> None:
        """Call after a local write: screens reload, the status line recounts, sync soon."""
        self.data_version += 1
        self.refresh_counts()
        if self.sync_status.connection in ("online", "syncing"):
            self._schedule_sync(self.sync_after_edit)

    # ------------------------------------------------------------ another process writes

    @work(thread=True, exclusive=True, exit_on_error=False, group="watch")
    def _look_for_outside_writes(self) -> None:
        self.post_message(OutsideWrite(outside_writes(self.store)))

    def on_outside_write(self, message: OutsideWrite) -> None:
        seen, self._outside_version = self._outside_version, message.version
        if seen is not None and seen != message.version:
            # The CLI wrote on this device: screens reload, the status line recounts.
            self.data_version += 1
            self.refresh_counts()

    # ------------------------------------------------------------ the status line

    @work(thread=True, exclusive=True, exit_on_error=False, group="status")
    def refresh_counts(self) -> None:
        pending, conflicts, last_sync = read_counts(self.store)
        server = self.store.get_state("server")
        self.post_message(CountsRead(pending, conflicts, last_sync, server))

    def on_counts_read(self, message: CountsRead) -> None:
        status = self.sync_status
        connection = status.connection
        if message.server is None and connection != "syncing":
            connection = "no server"
        self.sync_status = replace(
            status,
            connection=connection,
            last_sync=message.last_sync,
            pending=message.pending,
            conflicts=message.conflicts,
            server=message.server,
        )

    def _replace_status(self, **changes: Any) -> None:
        if changes.get("connection", "syncing") != "syncing":
            changes.setdefault("progress", None)  # a sync's progress ends with it
        self.sync_status = replace(self.sync_status, **changes)

    # ------------------------------------------------------------ when to sync

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
            self._schedule_sync(SOONEST)
        else:
            self._schedule_sync(delay)

    def _schedule_sync(self, delay: float) -> None:
        if self._sync_timer is not None:
            self._sync_timer.stop()
        self._sync_timer = self.set_timer(max(delay, SOONEST), self.sync_now, name="sync")

    # ------------------------------------------------------------ the sync itself

    @work(thread=True, exit_on_error=False, group="sync")
    def _sync_with_server(self) -> None:
        # Whatever happens in here ends in SyncSkipped, SyncCompleted or SyncFailed, each of
        # which schedules the next attempt: background sync never stops for good.
        try:
            self._sync_attempt()
        except Exception as error:  # never a traceback: say what happened and retry later
            reason = f"{type(error).__name__}: {error}"
            self.post_message(SyncFailed(reason, offline=False, title="Sync failed"))

    def _sync_attempt(self) -> None:
        from fieldrm.sync.replica import is_configured

        # Asked before importing the sync client: httpx costs ~0.1 s of CPU, which a
        # device without a server never needs to spend.
        if not is_configured(self.store):
            self.post_message(SyncSkipped())
            return
        from fieldrm.sync import client

        self.post_message(SyncStarted())
        started = time.monotonic()

        def progress(phase: str, done: int, total: int | None) -> None:
            if time.monotonic() - started >= PROGRESS_AFTER:
                verb = "pushed" if phase == "push" else "pulled"
                of = f" of {total:,}" if total is not None else ""
                self.post_message(SyncProgress(f"{verb} {done:,}{of}"))

        try:
            result = client.sync_once(self.store, progress=progress)
        except client.Offline as error:
            self.post_message(SyncFailed(str(error), offline=True, title="Offline"))
            return
        except client.Refused as error:
            self.post_message(SyncFailed(str(error), offline=False, title="Sync refused"))
            return
        except FieldrmError as error:
            self.post_message(SyncFailed(str(error), offline=False, title="Sync failed"))
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

    def on_sync_skipped(self) -> None:
        self._replace_status(connection="no server", error=None)
        # Look again later: `fieldrm login` in another terminal configures a server.
        self._after_sync(self.sync_interval)

    def on_sync_started(self) -> None:
        self._replace_status(connection="syncing")

    def on_sync_progress(self, message: SyncProgress) -> None:
        if self.sync_status.connection == "syncing":
            self._replace_status(progress=message.line)

    def on_sync_completed(self, message: SyncCompleted) -> None:
        self._failed_syncs = 0
        line = (
            f"synced: {message.pushed} up, {message.pulled} down, "
            f"{message.conflicts} conflicts, {message.rejected} refused"
        )
        for rejection in message.rejections[:20]:
            line += f"\n          refused: {rejection}"
        status = self.sync_status
        self._replace_status(
            connection="online", error=None, last_sync=message.at, history=status.logged(line)
        )
        sync_key = key_of("sync")
        if message.conflicts:
            self.notify(
                f"{message.conflicts} edit(s) clashed with a colleague's; both values are "
                f"kept. Review them on the Sync screen ({sync_key}).",
                title="Conflicts to review",
                severity="warning",
                markup=False,
            )
        if message.rejected:
            self.notify(
                f"{message.rejected} change(s) were refused; the Sync screen ({sync_key}) "
                "says why.",
                title="Changes refused",
                severity="error",
                markup=False,
            )
        if message.pulled or message.conflicts:
            self.data_version += 1
        self.refresh_counts()
        self._after_sync(self.sync_interval)

    def on_sync_failed(self, message: SyncFailed) -> None:
        delay = self.retry_delays[min(self._failed_syncs, len(self.retry_delays) - 1)]
        self._failed_syncs += 1
        status = self.sync_status
        self._replace_status(
            connection="offline",
            error=message.reason,
            history=status.logged(f"{message.title.lower()}: {message.reason}"),
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
