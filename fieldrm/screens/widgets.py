"""Widgets every screen shares: the navigation bar, the status line, a paged table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Label, Static

from fieldrm.display import ago, visible
from fieldrm.screens.navigation import NAVIGATION
from fieldrm.screens.sync_scheduler import SyncStatus
from fieldrm.store.queries import PAGE_SIZE

if TYPE_CHECKING:
    from fieldrm.app import FieldrmApp


NARROW = 100
"""Below this many columns the bars go compact (80x24 terminals): every key still shows."""


def _short(descriptions: list[str]) -> list[str]:
    """One word per description: the first, or the last where two share the first."""
    firsts = [d.split()[0] if d.split() else d for d in descriptions]
    return [
        d.split()[-1] if firsts.count(first) > 1 else first
        for d, first in zip(descriptions, firsts, strict=True)
    ]


def shown(content: Any) -> Any:
    """Text or a rich `Text` with its control characters visible (`display.visible`), so a
    stored ESC, OSC or BEL never reaches the terminal; anything else as it is."""
    if isinstance(content, str):
        return visible(content)
    if isinstance(content, Text) and visible(content.plain) != content.plain:
        content = content.copy()
        content.plain = visible(content.plain)
    return content


class SafeStatic(Static):
    """A Static that shows control characters visibly (see `shown`)."""

    def __init__(self, content: Any = "", **options: Any) -> None:
        super().__init__(shown(content), **options)

    def update(self, content: Any = "", *, layout: bool = True) -> None:
        super().update(shown(content), layout=layout)


class SafeLabel(Label):
    """A Label that shows control characters visibly (see `shown`)."""

    def __init__(self, content: Any = "", **options: Any) -> None:
        super().__init__(shown(content), **options)

    def update(self, content: Any = "", *, layout: bool = True) -> None:
        super().update(shown(content), layout=layout)


class SafeTable(DataTable):
    """A DataTable whose cells show control characters visibly (see `shown`)."""

    def add_row(self, *cells: Any, **options: Any) -> Any:
        return super().add_row(*(shown(cell) for cell in cells), **options)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, **options: Any) -> None:
        super().update_cell(row_key, column_key, shown(value), **options)

    def update_cell_at(self, coordinate: Any, value: Any, **options: Any) -> None:
        super().update_cell_at(coordinate, shown(value), **options)


class NavBar(Static):
    """The screens and their F-keys, the current one highlighted."""

    def __init__(self, current: str) -> None:
        super().__init__(id="nav-bar")
        self.current = current

    def on_mount(self) -> None:
        self.show_screens(self.app.size.width)

    def on_resize(self, event: Any) -> None:
        self.show_screens(event.size.width)

    def show_screens(self, width: int) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        narrow = width < NARROW
        if not narrow:
            text.append(" fieldrm ", style="bold reverse")
        titles = [destination.title for destination in NAVIGATION]
        for destination, title in zip(
            NAVIGATION, _short(titles) if narrow else titles, strict=True
        ):
            style = "bold reverse" if destination.mode == self.current else ""
            name = f"{destination.key.upper()} {title}"
            text.append(" ")
            text.append(name if narrow else f" {name} ", style=style)
        self.update(text)


def status_text(status: SyncStatus) -> Text:
    """The status line's text: connection, last sync, pending changes, open conflicts."""
    marks = {"online": "●", "syncing": "◌", "offline": "○", "no server": "·"}
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f" {marks.get(status.connection, '·')} {status.connection}")
    if status.progress and status.connection == "syncing":
        text.append(f" ({status.progress})")
    text.append(f"  │  last sync {ago(status.last_sync)}")
    pending = status.pending
    text.append(f"  │  {pending} pending change{'s' if pending != 1 else ''}")
    conflicts = status.conflicts
    text.append(f"  │  {conflicts} open conflict{'s' if conflicts != 1 else ''}")
    if status.error and status.connection == "offline":
        text.append(f"  │  {status.error}")
    return text


class KeyBar(Static):
    """The screen's keys on one line: a light Footer (one widget, no children).

    Textual's Footer rebuilds a widget per key whenever the bindings change, which costs
    ~0.1 s of CPU on every screen switch here; this draws the same facts as one line of
    text.  Clicking a key runs its action; hovering shows every key's tooltip.
    """

    def __init__(self) -> None:
        super().__init__(id="key-bar")
        self._spans: list[tuple[int, int, str, Any]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.show_keys()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Any) -> None:
        if screen is self.screen:
            self.show_keys()

    def on_resize(self, event: Any) -> None:
        self.show_keys()

    def show_keys(self) -> None:
        shown: list[tuple[Any, Any, bool, str | None]] = []
        seen: set[str] = set()
        active = self.screen.active_bindings
        for node, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                shown.append((node, binding, enabled, tooltip))
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        descriptions = [binding.description for _, binding, _, _ in shown]
        width = self.app.size.width
        text, spans = self._line(shown, descriptions, palette, compact=False)
        if width < NARROW and len(text) > width:
            # Narrow (80x24): one word per key, the word that tells it apart ("Keep
            # current" and "Keep both" become "current" and "both"), so every key shows.
            text, spans = self._line(shown, _short(descriptions), palette, compact=True)
            # Still too long: the app's own keys (the same on every screen) give way, last
            # first, rather than the screen's keys or "^p palette" being cut.  F1 keeps its
            # place, and F1 and the palette list every key left out.
            while len(text) > width and (dropped := self._app_key_to_drop(shown)) is not None:
                descriptions.pop(dropped)
                del shown[dropped]
                text, spans = self._line(shown, _short(descriptions), palette, compact=True)
        self._spans = spans
        tips = [
            f"{self.app.get_key_display(binding)}: {tooltip or binding.description}"
            for _, binding, _, tooltip in shown
        ]
        self.tooltip = "\n".join(tips) or None
        self.update(text)

    def _app_key_to_drop(self, shown: list[Any]) -> int | None:
        """The index of the last app-wide key other than F1 (None: only the screen's left)."""
        for index in range(len(shown) - 1, -1, -1):
            node, binding = shown[index][0], shown[index][1]
            if node is self.app and binding.action != "toggle_keys":
                return index
        return None

    def _line(
        self, shown: list[Any], descriptions: list[str], palette: Any, *, compact: bool
    ) -> tuple[Text, list[tuple[int, int, str, Any]]]:
        text = Text(no_wrap=True, overflow="ellipsis")
        spans: list[tuple[int, int, str, Any]] = []
        for (node, binding, enabled, _), description in zip(shown, descriptions, strict=True):
            key = self.app.get_key_display(binding)
            start = len(text)
            text.append(f" {key} ", style="bold" if enabled else "dim")
            text.append(description, style="" if enabled else "dim strike")
            text.append("" if compact else " ")
            spans.append((start, len(text), binding.action, node))
        if palette is not None:
            gap = " " if compact else "  "
            text.append(f"{gap}{self.app.get_key_display(palette.binding)} ", style="bold")
            text.append("palette")
        return text, spans

    async def on_click(self, event: Any) -> None:
        for start, end, action, node in self._spans:
            if start <= event.x < end:
                await self.app.run_action(action, node)
                return


class StatusLine(SafeStatic):
    """Always visible: online/offline/no server, last sync, pending changes, conflicts."""

    AGE_EVERY = 15.0
    """Seconds between redraws, so "last sync 5 min ago" ages while nothing happens."""

    def on_mount(self) -> None:
        app: FieldrmApp = self.app  # type: ignore[assignment]
        self.watch(app, "sync_status", self.show_status)
        self.set_interval(self.AGE_EVERY, self._age, name="status-age")

    def _age(self) -> None:
        app: FieldrmApp = self.app  # type: ignore[assignment]
        self.update(status_text(app.sync_status))

    def show_status(self, status: SyncStatus) -> None:
        self.update(status_text(status))
        for state in ("online", "offline", "syncing", "no-server"):
            self.set_class(status.connection.replace(" ", "-") == state, f"-{state}")
        self.tooltip = status.error or f"server: {status.server or 'none configured'}"


Fetch = Callable[[int, int], list[tuple[str, Sequence[Any], Any]]]
"""A list's page: (offset, limit) -> [(row key, cells, item)]."""


class PagedTable(SafeTable):
    """A DataTable that fetches its rows a page at a time from SQL, in a thread worker.

    `load(fetch)` replaces the rows; `fetch(offset, limit)` runs in a thread worker and
    returns row tuples `(key, cells, item)`; `item` (what the row shows, for the screen)
    is kept in `items` on the UI thread.  The next page is fetched when the cursor nears
    the last row, so a 100,000-row list never becomes a 100,000-row widget.  A page that
    fails is reported (App.report_error) and asked for again on the next cursor move.
    """

    class PageLoaded(Message):
        def __init__(self, table: PagedTable, generation: int, offset: int, rows: list) -> None:
            super().__init__()
            self.table = table
            self.generation = generation
            self.offset = offset
            self.rows = rows

    class PageFailed(Message):
        def __init__(self, table: PagedTable, generation: int, error: Exception) -> None:
            super().__init__()
            self.table = table
            self.generation = generation
            self.error = error

    class Reloaded(Message):
        """The first page of a new load is in the table."""

        def __init__(self, table: PagedTable) -> None:
            super().__init__()
            self.table = table

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "home",
            "scroll_top",
            "First",
            tooltip="Go to the first row.",
            show=False,
            id="list-first-row",
        ),
        Binding(
            "end",
            "scroll_bottom",
            "Last",
            tooltip="Go to the last row loaded (more load as you go).",
            show=False,
            id="list-last-row",
        ),
    ]

    def __init__(self, columns: Sequence[tuple[str, int | None]], **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._column_spec = columns
        self._fetch: Fetch | None = None
        self._generation = 0
        self._exhausted = True
        self._loading = False
        self._keep_key: str | None = None
        self._keep_row = 0
        self.items: dict[str, Any] = {}
        """Each loaded row's item, by row key (set on the UI thread)."""

    def on_mount(self) -> None:
        for label, width in self._column_spec:
            self.add_column(label, width=width, key=label.lower())

    def load(self, fetch: Fetch, keep: bool = True, select: str | None = None) -> None:
        """Replace the rows with `fetch`'s first page (keeping the cursor's row if asked,
        or putting it on the row `select` names)."""
        self._fetch = fetch
        self._generation += 1
        self._exhausted = False
        self._loading = True
        self._keep_key = select or (self.current_key() if keep else None)
        self._keep_row = self.cursor_row if keep else 0
        self._fetch_page(self._generation, 0)

    @work(thread=True, exit_on_error=False, group="page")
    def _fetch_page(self, generation: int, offset: int) -> None:
        fetch = self._fetch
        if fetch is None:
            return
        try:
            rows = fetch(offset, PAGE_SIZE)
        except Exception as error:  # reported on the UI thread; the list stays usable
            self.post_message(self.PageFailed(self, generation, error))
            return
        self.post_message(self.PageLoaded(self, generation, offset, rows))

    def on_paged_table_page_failed(self, message: PageFailed) -> None:
        message.stop()
        if message.generation == self._generation:
            self._loading = False  # the next cursor move asks for the page again
        app: FieldrmApp = self.app  # type: ignore[assignment]
        app.report_error(message.error)

    def on_paged_table_page_loaded(self, message: PageLoaded) -> None:
        message.stop()
        if message.generation != self._generation:
            return  # a newer load replaced this one
        # Still "loading" while rows go in: moving the cursor must not fetch again.
        if message.offset == 0:
            self.clear()
            self.items = {}
        for key, cells, item in message.rows:
            self.items[key] = item
            if key not in self.rows:
                self.add_row(*cells, key=key)
        self._exhausted = len(message.rows) < PAGE_SIZE
        self._loading = False
        if message.offset == 0:
            if self._keep_key is not None and self._keep_key in self.rows:
                self.move_cursor(row=self.get_row_index(self._keep_key), animate=False)
            elif self._keep_key is not None and self.row_count:
                # The row left the list (closed, answered): the cursor takes the next one,
                # never the top, so a second key press never hits an unrelated row.
                self.move_cursor(row=min(self._keep_row, self.row_count - 1), animate=False)
            self.post_message(self.Reloaded(self))

    def current_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor is past the rows while a reload is in flight
            return None

    def watch_cursor_coordinate(self, old: Any, new: Any) -> None:
        super().watch_cursor_coordinate(old, new)
        self._maybe_fetch_more()

    def _maybe_fetch_more(self) -> None:
        if self._exhausted or self._loading or self._fetch is None or self.row_count == 0:
            return
        if self.cursor_row >= self.row_count - 20:
            self._loading = True
            self._fetch_page(self._generation, self.row_count)
