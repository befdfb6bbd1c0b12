"""KPIs (SPEC §11): each program's KPIs with their status colour, latest value, target and
a sparkline of the last six periods.  `/` filters by program or KPI name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input

from fieldrm.models import label
from fieldrm.screens.base import FieldrmScreen
from fieldrm.screens.widgets import SafeTable
from fieldrm.store.relationships import KpiStatus, kpi_statuses

STATUS_STYLE = {"green": "bold green", "amber": "bold yellow", "red": "bold red"}
BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """Values as block characters, lowest to highest (a flat series is a flat line)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return BARS[3] * len(values)
    return "".join(BARS[round((v - low) / (high - low) * (len(BARS) - 1))] for v in values)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else ""


@dataclass
class KpisLoaded(Message):
    statuses: list[KpiStatus]


class KpisScreen(FieldrmScreen):
    """KPIs per program, worst first within each program."""

    MODE = "kpis"
    BINDING_GROUP_TITLE = "KPIs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", tooltip="Filter by program or KPI.",
                id="filter-kpis"),
    ]  # fmt: skip
    COLUMNS = (
        ("Program", 26),
        ("KPI", 16),
        ("Status", 7),
        ("Latest", 10),
        ("Period", 9),
        ("Target", 8),
        ("Trend", 8),
        ("Unit", 8),
    )

    def compose(self) -> ComposeResult:
        yield from self.compose_frame_top()
        with Vertical(id="kpis"):
            yield Input(placeholder="/ filter by program or KPI", id="kpi-filter")
            yield SafeTable(id="kpi-table", cursor_type="row")
        yield from self.compose_frame_bottom()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#kpi-table", DataTable)
        for title, width in self.COLUMNS:
            table.add_column(title, width=width, key=title.lower())
        table.focus()

    def action_focus_filter(self) -> None:
        self.query_one("#kpi-filter", Input).focus()

    @on(Input.Changed, "#kpi-filter")
    def filter_typed(self) -> None:
        self.reload()

    def reload(self) -> None:
        self._load(self.query_one("#kpi-filter", Input).value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load(self, text: str) -> None:
        wanted = text.strip().lower()
        statuses = [
            item
            for item in kpi_statuses(self.store)
            if not wanted or wanted in item.program.lower() or wanted in item.kpi.name.lower()
        ]
        self.post_message(KpisLoaded(statuses))

    @on(KpisLoaded)
    def show(self, message: KpisLoaded) -> None:
        table = self.query_one("#kpi-table", DataTable)
        table.clear()
        for item in message.statuses:
            latest = item.latest or {}
            status = item.status or "-"
            table.add_row(
                item.program,
                item.kpi.name,
                Text(status, style=STATUS_STYLE.get(status, "dim")),
                _number(latest.get("value")),
                latest.get("period", ""),
                _number(item.kpi.target),
                sparkline([point["value"] for point in item.trend]),
                label(item.kpi.unit),
                key=item.kpi.id,
            )
