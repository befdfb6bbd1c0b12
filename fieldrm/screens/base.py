"""What every fieldrm screen shares: the frame (navigation, status line, footer), access
to the store, reloading when data changes, and one place where worker failures become a
readable notification instead of a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from fieldrm.screens.widgets import KeyBar, NavBar, StatusLine
from fieldrm.store import Store

if TYPE_CHECKING:
    from fieldrm.app import FieldrmApp


class FieldrmScreen(Screen[None]):
    """A top-level screen (one of the app's modes)."""

    MODE: ClassVar[str] = ""

    @property
    def fieldrm(self) -> FieldrmApp:
        return self.app  # type: ignore[return-value]

    @property
    def store(self) -> Store:
        return self.fieldrm.store

    def compose_frame_top(self) -> ComposeResult:
        yield NavBar(self.MODE)

    def compose_frame_bottom(self) -> ComposeResult:
        yield StatusLine(id="status-line")
        yield KeyBar()

    _loaded_version: int = -1
    """The app's data_version this screen last loaded; -1 before the first load."""

    def on_mount(self) -> None:
        self.watch(self.app, "data_version", self._data_changed, init=False)

    def on_screen_resume(self) -> None:
        # Coming back to a screen whose data did not change costs nothing: no query, no
        # rebuilt rows (a switch stays within a frame or two).
        if self._loaded_version != self.fieldrm.data_version:
            self._reload_now()

    def _data_changed(self, _version: int) -> None:
        # Screens in the background reload when they are shown again.
        if self.is_current:
            self._reload_now()

    def _reload_now(self) -> None:
        self._loaded_version = self.fieldrm.data_version
        self.reload()

    def reload(self) -> None:
        """Fetch what the screen shows (in a worker); screens override this."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.fieldrm.report_error(event.worker.error)
