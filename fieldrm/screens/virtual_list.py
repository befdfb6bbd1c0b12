"""A list that draws only the rows on screen (Textual's Line API, as Toolong does).

`VirtualList` is a ScrollView whose `virtual_size` is set from the row count; each visible
line is drawn by `render_line(y)` from rows fetched by window (`fetch(offset, limit)`, in
a thread worker) and cached per window.  A 100,000-row list costs the same to show, scroll
or reload as a 40-row one: no widget ever holds every row.

Tests and screens read it plainly: `row_count`, `cursor_row`, `current_key()`,
`index_of(key)`, `row_cells(row)`, `loaded_keys()` and `items` (each loaded row's item by
key).  It posts `Highlighted` when the cursor rests on a row, `Selected` on Enter or a click
on the cursor row, and `Reloaded` once a new load's rows are in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from fieldrm.screens.widgets import shown
from fieldrm.store.queries import PAGE_SIZE

if TYPE_CHECKING:
    from fieldrm.app import FieldrmApp

Row = tuple[str, Sequence[Any], Any]
"""A row: (key, cells, item); `item` is what the screen keeps for the row."""

Fetch = Callable[[int, int], list[Row]]
"""A list's window: (offset, limit) -> rows, run in a thread worker."""

KEPT_WINDOWS = 12
"""Windows of rows kept in memory; the ones furthest from the cursor are dropped first."""


class RowMessage(Message):
    """A message about one row of a VirtualList."""

    def __init__(self, virtual_list: VirtualList, row: int, key: str, item: Any) -> None:
        super().__init__()
        self.virtual_list = virtual_list
        self.row = row
        self.key = key
        self.item = item

    @property
    def control(self) -> VirtualList:
        return self.virtual_list


class VirtualList(ScrollView, can_focus=True):
    """Rows fetched by window and drawn a line at a time; a row cursor and a header."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-list--header",
        "virtual-list--cursor",
        "virtual-list--even-row",
    }
    DEFAULT_CSS = """
    VirtualList {
        background: $surface;
        color: $foreground;
        height: 1fr;
        overflow-x: hidden;
        & > .virtual-list--header { text-style: bold; background: $panel; color: $foreground; }
        & > .virtual-list--even-row { background: $surface-lighten-1 50%; }
        & > .virtual-list--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:dark > .virtual-list--even-row { background: $surface-darken-1 40%; }
        &:focus {
            background-tint: $foreground 5%;
            & > .virtual-list--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_by(-1)", "Up", show=False),
        Binding("down", "cursor_by(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("enter", "select_row", "Select", show=False),
        Binding(
            "home", "first", "First", tooltip="Go to the first row.", show=False,
            id="list-first-row",
        ),
        Binding(
            "end", "last", "Last", tooltip="Go to the last row.", show=False,
            id="list-last-row",
        ),
    ]  # fmt: skip

    class Highlighted(RowMessage):
        """The cursor is on a row whose data is in."""

    class Selected(RowMessage):
        """Enter (or a click) on the cursor's row."""

    class Reloaded(Message):
        """The rows of a new load are in."""

        def __init__(self, virtual_list: VirtualList) -> None:
            super().__init__()
            self.virtual_list = virtual_list

        @property
        def control(self) -> VirtualList:
            return self.virtual_list

    class WindowsLoaded(Message):
        def __init__(self, generation: int, count: int | None, windows: dict) -> None:
            super().__init__()
            self.generation = generation
            self.count = count
            self.windows = windows

    class WindowFailed(Message):
        def __init__(self, generation: int, window: int, error: Exception) -> None:
            super().__init__()
            self.generation = generation
            self.window = window
            self.error = error

    def __init__(
        self, columns: Sequence[tuple[str, int | None]], *, window: int = PAGE_SIZE, **options: Any
    ) -> None:
        super().__init__(**options)
        self.columns = list(columns)
        self.window = window
        self.cursor_row = 0
        self.row_count = 0
        self.items: dict[str, Any] = {}
        """Each loaded row's item, by row key."""
        self._fetch: Fetch | None = None
        self._count: Callable[[], int] | None = None
        self._generation = 0
        self._windows: dict[int, list[Row]] = {}
        self._index: dict[str, int] = {}
        self._asked: set[int] = set()  # windows being fetched for this generation
        self._failed: set[int] = set()  # asked for again on the next cursor move, not drawing
        self._counted = False  # this load's count is in (else a fetch asks for it again)
        self._announced: tuple[int, int, str] | None = None  # (generation, row, key)
        self._keep: tuple[str | None, int] = (None, 0)

    # ------------------------------------------------------------ reading it

    def current_key(self) -> str | None:
        """The key of the row under the cursor, or None (no rows, or not fetched yet)."""
        row = self._row(self.cursor_row)
        return row[0] if row is not None else None

    def index_of(self, key: str) -> int | None:
        """The row number of `key` if its window is loaded."""
        return self._index.get(key)

    def row_cells(self, row: int) -> Sequence[Any] | None:
        found = self._row(row)
        return found[1] if found is not None else None

    def loaded_keys(self) -> list[str]:
        """The keys of the loaded rows, in list order."""
        return [key for key, _ in sorted(self._index.items(), key=lambda pair: pair[1])]

    def _row(self, row: int) -> Row | None:
        if not 0 <= row < self.row_count:
            return None
        rows = self._windows.get(row // self.window)
        offset = row % self.window
        return rows[offset] if rows is not None and offset < len(rows) else None

    # ------------------------------------------------------------ loading

    def load(
        self,
        fetch: Fetch,
        count: Callable[[], int],
        keep: bool = True,
        select: str | None = None,
        locate: Callable[[str], int | None] | None = None,
    ) -> None:
        """Show the rows `fetch` returns (`count()` of them), keeping the cursor's row if
        asked (or the next one if it left), or putting it on the row `select` names
        (`locate(key)` says where a row is, so one far down the list is fetched too)."""
        self._fetch, self._count = fetch, count
        self._generation += 1
        self._asked, self._failed = set(), set()
        self._counted = False
        self._keep = (
            select or (self.current_key() if keep else None),
            self.cursor_row if keep else 0,
        )
        wanted = sorted({0, self.cursor_row // self.window if keep else 0})
        self._asked = set(wanted)
        self._load(self._generation, wanted, find=(select, locate) if select and locate else None)

    def show(self, rows: list[Row]) -> None:
        """Show `rows` (already in memory, such as search results), cursor on the first."""
        self._fetch, self._count = None, None
        self._generation += 1
        self._asked = set()
        self._keep = (None, 0)
        size = self.window
        windows = {n // size: rows[n : n + size] for n in range(0, len(rows), size)}
        loaded = self.WindowsLoaded(self._generation, len(rows), windows)
        self.on_virtual_list_windows_loaded(loaded)

    @work(thread=True, exit_on_error=False, group="page")
    def _load(
        self,
        generation: int,
        wanted: list[int],
        count: bool = True,
        find: tuple[str, Callable[[str], int | None]] | None = None,
    ) -> None:
        fetch, counter = self._fetch, self._count
        if fetch is None:
            return
        windows: dict[int, list[Row]] = {}
        window = wanted[0]
        try:
            if find is not None:
                key, locate = find
                found = locate(key)
                if found is not None and found // self.window not in wanted:
                    wanted = [*wanted, found // self.window]
            total = counter() if count and counter is not None else None
            for window in wanted:
                windows[window] = fetch(window * self.window, self.window)
        except Exception as error:  # reported on the UI thread; the list stays usable
            self.post_message(self.WindowFailed(generation, window, error))
            return
        self.post_message(self.WindowsLoaded(generation, total, windows))

    def on_virtual_list_window_failed(self, message: WindowFailed) -> None:
        message.stop()
        if message.generation == self._generation:
            self._asked.discard(message.window)
            self._failed.add(message.window)
            if not self._counted:
                self._asked = set()  # the reload failed whole: the next key asks again
        app: FieldrmApp = self.app  # type: ignore[assignment]
        app.report_error(message.error)

    def on_virtual_list_windows_loaded(self, message: WindowsLoaded) -> None:
        message.stop()
        if message.generation != self._generation:
            return  # a newer load replaced this one
        reload = message.count is not None
        if reload:
            self._windows, self._index, self.items = {}, {}, {}
            self.row_count = message.count or 0
            self._counted = True
        for window, rows in message.windows.items():
            self._windows[window] = rows
            self._asked.discard(window)
            for offset, (key, _cells, item) in enumerate(rows):
                self._index[key] = window * self.window + offset
                self.items[key] = item
        self._forget_far_windows()
        if reload:
            key, row = self._keep
            found = self._index.get(key) if key is not None else None
            if found is not None:
                self.cursor_row = found
            else:
                # The row left the list (closed, answered): the cursor takes the next one,
                # never the top, so a second key press never hits an unrelated row.
                self.cursor_row = min(row, max(self.row_count - 1, 0))
            self.virtual_size = Size(self.size.width, self.row_count + 1)
            self._scroll_to_cursor()
            self.post_message(self.Reloaded(self))
        self._announce()
        self.refresh()

    def _forget_far_windows(self) -> None:
        if len(self._windows) <= KEPT_WINDOWS:
            return
        here = self.cursor_row // self.window
        for window in sorted(self._windows, key=lambda w: abs(w - here))[KEPT_WINDOWS:]:
            for key, *_ in self._windows.pop(window):
                self._index.pop(key, None)
                self.items.pop(key, None)

    def _want(self, window: int) -> None:
        if self._fetch is None or window in self._asked or (self._asked and not self._counted):
            return  # asked already, or a reload (count and rows) is on its way
        if self._counted and window in self._windows:
            return  # (before this load's count is in, the rows shown are the last load's)
        if window in self._failed:
            return  # asked for again when the cursor moves, never in a loop of redraws
        self._asked.add(window)
        self._load(self._generation, [window], count=not self._counted)

    # ------------------------------------------------------------ the cursor

    def move_cursor(self, row: int) -> None:
        """Put the cursor on `row` (clamped to the list), scrolled into view."""
        row = max(0, min(row, self.row_count - 1))
        self._failed = set()
        if row == self.cursor_row:
            self._announce()
            return
        self.cursor_row = row
        self._scroll_to_cursor()
        self.refresh()
        self._announce()
        # The windows two pages on either side are fetched before the cursor gets there.
        reach = self._page_rows * 2
        self._want(min(row + reach, self.row_count - 1) // self.window)
        self._want(max(row - reach, 0) // self.window)

    def _announce(self) -> None:
        """Post Highlighted once per cursor position whose row is in (else fetch it)."""
        row = self._row(self.cursor_row)
        if row is None:
            if self.row_count or not self._counted:
                self._want(self.cursor_row // self.window)
            return
        marker = (self._generation, self.cursor_row, row[0])
        if marker != self._announced:
            self._announced = marker
            self.post_message(self.Highlighted(self, self.cursor_row, row[0], row[2]))

    @property
    def _page_rows(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + self._page_rows:
            self.scroll_to(y=self.cursor_row - self._page_rows + 1, animate=False, immediate=True)

    def action_cursor_by(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * self._page_rows)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(self.row_count - 1)

    def action_select_row(self) -> None:
        row = self._row(self.cursor_row)
        if row is not None:
            self.post_message(self.Selected(self, self.cursor_row, row[0], row[2]))

    def on_click(self, event: Any) -> None:
        if event.y < 1:
            return
        row = round(self.scroll_y) + event.y - 1
        if row == self.cursor_row:
            self.action_select_row()
        elif row < self.row_count:
            self.move_cursor(row)

    # ------------------------------------------------------------ drawing

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.row_count + 1)

    def _widths(self, width: int) -> list[int]:
        fixed = sum(w + 2 for _, w in self.columns if w is not None)
        flexible = [w for _, w in self.columns if w is None]
        rest = max((width - fixed) // len(flexible) - 2, 1) if flexible else 0
        return [w if w is not None else rest for _, w in self.columns]

    def _line(self, cells: Sequence[Any], style: Style, width: int) -> Strip:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for cell, cell_width in zip(cells, self._widths(width), strict=False):
            content = shown(cell)
            part = content.copy() if isinstance(content, Text) else Text(str(content))
            part.truncate(cell_width, overflow="ellipsis", pad=True)
            text.append(" ")
            text.append_text(part)
            text.append(" ")
        segments = list(text.render(self.app.console))
        return Strip(Segment.apply_style(segments, post_style=None, style=style)).crop_extend(
            0, width, style
        )

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("virtual-list--header")
            return self._line([name for name, _ in self.columns], style, width)
        index = round(self.scroll_y) + y - 1
        if index >= self.row_count:
            return Strip.blank(width, base)
        style = base
        if index % 2:
            style += self.get_component_rich_style("virtual-list--even-row")
        if index == self.cursor_row:
            style += self.get_component_rich_style("virtual-list--cursor")
        row = self._row(index)
        if row is None:
            self._want(index // self.window)
            return self._line(["…"], style, width)
        return self._line(row[1], style, width)
