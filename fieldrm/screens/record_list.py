"""The shape the Questions and Actions screens share: a text filter, status presets, a
paged table and a detail line for the highlighted record; subclasses add the actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from fieldrm.models import Record
from fieldrm.screens.base import FieldrmScreen
from fieldrm.screens.messages import RecordSaved
from fieldrm.screens.virtual_list import VirtualList
from fieldrm.screens.widgets import SafeStatic
from fieldrm.store.queries import (
    ListFilter,
    list_count,
    list_page,
    list_position,
    names_for,
)


class Names(dict[str, str]):
    """Labels of the records a page of a list refers to, by id."""

    def of(self, record_id: str | None, default: str = "") -> str:
        return self.get(record_id or "", default) if record_id else default


class Listed(NamedTuple):
    """A row of a list: its record and the labels of what it refers to."""

    record: Record
    names: Names


class RecordListScreen(FieldrmScreen):
    """A filterable list of one kind of record."""

    KIND: ClassVar[str] = ""
    COLUMNS: ClassVar[Sequence[tuple[str, int | None]]] = ()
    # (label, statuses): `f` cycles through these; the first is the default.
    PRESETS: ClassVar[Sequence[tuple[str, tuple[str, ...]]]] = ()
    REFERENCES: ClassVar[Sequence[str]] = ()  # fields whose ids are shown as names

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "focus_filter",
            "Filter",
            tooltip="Type to filter the list by its text.",
            id="focus-filter",
        ),
        Binding(
            "f",
            "next_preset",
            "Status",
            tooltip="Cycle the status filter.",
            id="cycle-status-filter",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.preset_index = 0
        self._binding_state: tuple[bool | None, ...] = ()
        self._to_select: str | None = None  # a record opened from elsewhere (Search, Today)

    def compose(self) -> ComposeResult:
        yield from self.compose_frame_top()
        with Vertical(classes="record-list"):
            with Horizontal(classes="filter-bar"):
                yield SafeStatic(id="preset-label")
                yield Input(placeholder="/ filter by text", id="list-filter")
            yield VirtualList(self.COLUMNS, id="record-table")
            yield SafeStatic(id="record-detail")
        yield from self.compose_frame_bottom()

    def on_mount(self) -> None:
        self.query_one("#record-table", VirtualList).focus()

    @property
    def table(self) -> VirtualList:
        return self.query_one("#record-table", VirtualList)

    @property
    def current_filter(self) -> ListFilter:
        label, statuses = self.PRESETS[self.preset_index]
        text = self.query_one("#list-filter", Input).value
        return ListFilter(self.KIND, statuses=statuses, text=text)

    def reload(self) -> None:
        flt = self.current_filter
        store = self.store

        def fetch(offset: int, limit: int) -> list[tuple[str, Sequence[Any], Listed]]:
            # A pool thread: reads the store and formats, touches no screen state.
            records = list_page(store, flt, offset=offset, limit=limit)
            refs = [getattr(r, name, None) for r in records for name in self.REFERENCES]
            names = Names(names_for(store, refs))
            return [
                (record.id, self.cells(record, names), Listed(record, names)) for record in records
            ]

        self.table.load(
            fetch,
            lambda: list_count(store, flt),
            select=self._to_select,
            locate=lambda key: list_position(store, flt, key),
        )

    def show_record(self, record: Record) -> None:
        """Put the cursor on `record` (opened from Search or Today): the first status
        preset that lists it, no text filter."""
        status = getattr(record, "status", None)
        self.preset_index = next(
            (
                i
                for i, (_, statuses) in enumerate(self.PRESETS)
                if not statuses or status in statuses
            ),
            0,
        )
        self._to_select = record.id
        text_filter = self.query_one("#list-filter", Input)
        if text_filter.value:
            text_filter.value = ""  # reloads (Input.Changed)
        else:
            self.reload()
        self.table.focus()

    def show_count(self, total: int) -> None:
        """The preset's label and how many records the list's filter matches."""
        label = self.PRESETS[self.preset_index][0]
        self.query_one("#preset-label", Static).update(
            Text.assemble((f" {label} ", "bold reverse"), f" {total} ")
        )

    def cells(self, record: Record, names: Names) -> Sequence[Any]:
        """A row's cells (called in a worker: format only, touch no widget)."""
        raise NotImplementedError

    def detail(self, record: Record, names: Names) -> Text:
        raise NotImplementedError

    def _listed(self, key: str | None) -> Listed | None:
        return self.table.items.get(key) if key else None

    @property
    def selected(self) -> Record | None:
        listed = self._listed(self.table.current_key())
        return listed.record if listed is not None else None

    @on(VirtualList.Highlighted, "#record-table")
    def show_detail(self, event: VirtualList.Highlighted) -> None:
        listed = self._listed(event.key)
        detail = self.query_one("#record-detail", Static)
        detail.update(self.detail(*listed) if listed is not None else "")
        self._refresh_bindings_if_changed()

    @on(VirtualList.Reloaded)
    def show_first_detail(self) -> None:
        self.show_count(self.table.row_count)  # the count the list was loaded with
        if self._to_select is not None and self.table.current_key() == self._to_select:
            self._to_select = None
        listed = self._listed(self.table.current_key())
        self.query_one("#record-detail", Static).update(
            self.detail(*listed) if listed is not None else Text("Nothing here.", style="dim")
        )
        self._refresh_bindings_if_changed()

    def _refresh_bindings_if_changed(self) -> None:
        # Redrawing the footer costs a few ms: do it only when what applies changed.
        record = self.selected
        state = tuple(
            None if record is None else self.can(action, record)
            for action in sorted(self.RECORD_ACTIONS)
        )
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    # ------------------------------------------------------------ filtering

    def action_focus_filter(self) -> None:
        self.query_one("#list-filter", Input).focus()

    def action_next_preset(self) -> None:
        self.preset_index = (self.preset_index + 1) % len(self.PRESETS)
        self.reload()

    @on(Input.Changed, "#list-filter")
    def filter_typed(self) -> None:
        self.reload()

    @on(Input.Submitted, "#list-filter")
    def filter_done(self) -> None:
        self.table.focus()

    def key_escape(self) -> None:
        if self.focused is self.query_one("#list-filter", Input):
            self.table.focus()

    # ------------------------------------------------------------ writing

    @work(thread=True, exit_on_error=False, group="write")
    def save(self, note: str, operation: Callable[..., Record], *args: Any) -> None:
        """Run a notebook operation in a worker; the list reloads when it is saved."""
        record = operation(self.store, *args)
        self.post_message(RecordSaved(record, note))

    @work(thread=True, exit_on_error=False, group="write")
    def create_action_from(self, source: Record, line: str) -> None:
        """Capture `line` as an action (§3 grammar: @owner ^due !priority) raised from
        `source`; the source's visit, and its escalation contact as owner, carry over."""
        from fieldrm.notebook import raise_action

        record, _ = raise_action(self.store, source, line)
        self.post_message(RecordSaved(record, "Action created."))

    @on(RecordSaved)
    def saved(self, message: RecordSaved) -> None:
        if message.note:
            self.notify(message.note, markup=False)
        self.fieldrm.records_changed()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.RECORD_ACTIONS:
            record = self.selected
            return None if record is None else self.can(action, record)
        return True

    RECORD_ACTIONS: ClassVar[frozenset[str]] = frozenset()

    def can(self, action: str, record: Record) -> bool | None:
        return True
