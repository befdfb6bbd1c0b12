"""Widgets every screen shares: the navigation bar, the status line, safe text and tables
(the long lists are `virtual_list.VirtualList`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import DataTable, Label, Static

from fieldrm.display import ago, visible
from fieldrm.screens.navigation import NAVIGATION
from fieldrm.screens.sync_scheduler import SyncStatus

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
