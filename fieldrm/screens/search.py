"""Search: full text over every kind of record, results as you type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from fieldrm.display import readable_fields, reference_ids, short_date
from fieldrm.models import Record, label
from fieldrm.screens.base import FieldrmScreen
from fieldrm.screens.virtual_list import Row, VirtualList
from fieldrm.screens.widgets import SafeStatic
from fieldrm.store.queries import names_for

RESULT_LIMIT = 100


@dataclass
class SearchFinished(Message):
    query: str
    results: list[Record]
    names: dict[str, str] = field(default_factory=dict)  # what the results refer to
    rows: list[Row] = field(default_factory=list)  # the results' rows, formatted

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SearchFinished)


def _fields(record: Record, names: dict[str, str]) -> Text:
    text = Text()
    text.append(f"{label(record.kind)}   ", style="bold reverse")
    for title, value in readable_fields(record, names):
        text.append(f"{title}: ", style="bold")
        text.append(value + "   ")
    return text


class SearchScreen(FieldrmScreen):
    """Everything, as you type."""

    MODE = "search"
    BINDING_GROUP_TITLE = "Search"
    AUTO_FOCUS = "#search-input"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "down",
            "focus_results",
            "Results",
            tooltip="Move from the search box into the results.",
            show=False,
            id="focus-search-results",
        ),
        Binding(
            "slash",
            "focus_query",
            "Search",
            tooltip="Back to the search box.",
            id="focus-search-box",
        ),
        Binding(
            "enter",
            "open_result",
            "Open",
            tooltip="Open the highlighted result in its screen.",
            id="open-search-result",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, Record] = {}
        self.names: dict[str, str] = {}
        self.shown_query: str | None = None
        """The query whose results the table shows (tests and the benchmark wait on it)."""

    def compose(self) -> ComposeResult:
        yield from self.compose_frame_top()
        with Vertical(id="search"):
            yield Input(
                placeholder="Search everything: names, notes, observations…", id="search-input"
            )
            yield SafeStatic(id="search-count")
            yield VirtualList((("Kind", 12), ("Updated", 10), ("Text", None)), id="search-results")
            yield SafeStatic(id="search-detail")
        yield from self.compose_frame_bottom()

    def on_screen_resume(self) -> None:
        self.query_one("#search-input", Input).focus()

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [("search: Focus the search box", "Type a new search", self.action_focus_query)]

    def action_focus_results(self) -> None:
        self.query_one("#search-results", VirtualList).focus()

    def action_focus_query(self) -> None:
        self.query_one("#search-input", Input).focus()

    def reload(self) -> None:
        self._search(self.query_one("#search-input", Input).value)

    @on(Input.Changed, "#search-input")
    def query_typed(self, event: Input.Changed) -> None:
        self._search(event.value)

    @on(Input.Submitted, "#search-input")
    def query_done(self) -> None:
        self.action_focus_results()

    @work(thread=True, exclusive=True, exit_on_error=False, group="search")
    def _search(self, query: str) -> None:
        results = self.store.search(query, limit=RESULT_LIMIT) if query.strip() else []
        names = names_for(self.store, [ref for r in results for ref in reference_ids(r)])
        rows: list[Row] = [
            (r.id, (r.kind, short_date(r.updated_at), " ".join(r.label.split())), r)
            for r in results
        ]
        self.post_message(SearchFinished(query, results, names, rows))

    @on(SearchFinished)
    def show_results(self, message: SearchFinished) -> None:
        if message.query != self.query_one("#search-input", Input).value:
            return  # typed on since; a newer search is coming
        self.results = {record.id: record for record in message.results}
        self.names = message.names
        self.query_one("#search-results", VirtualList).show(message.rows)
        count = len(message.results)
        more = "+" if count >= RESULT_LIMIT else ""
        label = f"{count}{more} results" if message.query.strip() else "Type to search."
        self.query_one("#search-count", Static).update(Text(label, style="dim"))
        self.show_detail()
        self.shown_query = message.query

    @on(VirtualList.Highlighted, "#search-results")
    def show_detail(self) -> None:
        record = self.results.get(
            self.query_one("#search-results", VirtualList).current_key() or ""
        )
        detail = self.query_one("#search-detail", Static)
        detail.update(_fields(record, self.names) if record is not None else "")

    @on(VirtualList.Selected, "#search-results")
    def result_chosen(self) -> None:
        self.action_open_result()

    def action_open_result(self) -> None:
        record = self.results.get(
            self.query_one("#search-results", VirtualList).current_key() or ""
        )
        if record is not None:
            self.fieldrm.open_record(record)
