"""Start a visit in one key: type to choose the site, pick attendees from its people."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, SelectionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from fieldrm.models import Record, VisitType
from fieldrm.models import label as vocabulary_label
from fieldrm.screens.widgets import SafeLabel, SafeStatic, shown
from fieldrm.store import Store
from fieldrm.store.queries import site_contacts, sites_matching

VISIT_TYPES = [member.value for member in VisitType]


@dataclass
class VisitPlan:
    """What the person chose; the app creates the visit."""

    site_id: str
    site_name: str
    visit_type: str = VisitType.floor_walk.value
    attendees: list[str] = field(default_factory=list)


@dataclass
class SitesFound(Message):
    text: str
    sites: list[Record]


@dataclass
class PeopleFound(Message):
    site_id: str
    people: list[Record]


class AttendeeList(SelectionList[str]):
    """The site's people; space ticks one, Enter starts the visit."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "confirm", "Start visit", tooltip="Start the visit.", id="confirm-visit"),
    ]

    class Confirmed(Message):
        pass

    def action_confirm(self) -> None:
        self.post_message(self.Confirmed())


class StartVisitScreen(ModalScreen[VisitPlan | None]):
    """Returns the plan, or None on Escape."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without starting.", id="cancel-visit"),
        Binding(
            "ctrl+t",
            "next_type",
            "Visit type",
            tooltip="Cycle the visit type (floor walk, site visit, review meeting, audit).",
            id="cycle-visit-type",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sites: dict[str, Record] = {}
        self.site: Record | None = None
        self.visit_type: str = VisitType.floor_walk.value

    @property
    def store(self) -> Store:
        return self.app.store  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="start-visit"):
            yield SafeLabel("Start a visit", classes="dialog-title")
            yield SafeStatic(id="visit-type")
            yield Input(placeholder="Site: type a few letters of its name or city", id="site-input")
            yield OptionList(id="site-options")
            yield SafeLabel("Who is there? (space ticks, Enter starts)", id="attendee-label")
            yield AttendeeList(id="attendee-list")

    def on_mount(self) -> None:
        self.query_one("#attendee-label").display = False
        self.query_one("#attendee-list").display = False
        self._show_type()
        self._find_sites("")

    def _show_type(self) -> None:
        label = vocabulary_label(self.visit_type)
        self.query_one("#visit-type", Static).update(f"Type: {label}   (ctrl+t changes)")

    def action_next_type(self) -> None:
        index = VISIT_TYPES.index(self.visit_type)
        self.visit_type = VISIT_TYPES[(index + 1) % len(VISIT_TYPES)]
        self._show_type()

    @on(Input.Changed, "#site-input")
    def site_typed(self, event: Input.Changed) -> None:
        if self.site is not None and event.value == self.site.name:
            # The chosen site's name written into the box: searching again would start an
            # exclusive "load" worker that cancels the one listing the site's people.
            return
        self._find_sites(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _find_sites(self, text: str) -> None:
        self.post_message(SitesFound(text, sites_matching(self.store, text.strip())))

    @on(SitesFound)
    def show_sites(self, message: SitesFound) -> None:
        if message.text != self.query_one("#site-input", Input).value:
            return
        self.sites = {site.id: site for site in message.sites}
        options = self.query_one("#site-options", OptionList)
        options.clear_options()
        for site in message.sites:
            city = f" ({site.city})" if getattr(site, "city", None) else ""
            options.add_option(Option(shown(f"{site.name}{city}"), id=site.id))
        if message.sites:
            options.highlighted = 0

    @on(Input.Submitted, "#site-input")
    def take_highlighted_site(self) -> None:
        options = self.query_one("#site-options", OptionList)
        if options.highlighted is None or options.option_count == 0:
            self.notify("No site matches what you typed.", severity="warning", markup=False)
            return
        option = options.get_option_at_index(options.highlighted)
        self._choose_site(option.id or "")

    @on(OptionList.OptionSelected, "#site-options")
    def take_site(self, event: OptionList.OptionSelected) -> None:
        self._choose_site(event.option.id or "")

    def on_key(self, event) -> None:  # noqa: ANN001 - Textual's Key event
        # Up/down in the site box move through the matches without leaving it.
        if self.focused is self.query_one("#site-input") and event.key in ("up", "down"):
            options = self.query_one("#site-options", OptionList)
            if event.key == "down":
                options.action_cursor_down()
            else:
                options.action_cursor_up()
            event.stop()

    def _choose_site(self, site_id: str) -> None:
        site = self.sites.get(site_id)
        if site is None:
            return
        self.site = site
        self.query_one("#site-input", Input).value = site.name
        self.query_one("#site-options").display = False
        self.query_one("#attendee-label").display = True
        attendees = self.query_one("#attendee-list", AttendeeList)
        attendees.display = True
        attendees.focus()
        self._find_people(site.id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _find_people(self, site_id: str) -> None:
        self.post_message(PeopleFound(site_id, site_contacts(self.store, site_id, 300)))

    @on(PeopleFound)
    def show_people(self, message: PeopleFound) -> None:
        attendees = self.query_one("#attendee-list", AttendeeList)
        attendees.clear_options()
        for person in message.people:
            role = vocabulary_label(person.role)
            attendees.add_option((shown(f"{person.name}  {role}".rstrip()), person.id))
        if message.people:
            attendees.highlighted = 0

    @on(AttendeeList.Confirmed)
    def start(self) -> None:
        if self.site is None:
            return
        chosen = list(self.query_one("#attendee-list", AttendeeList).selected)
        self.dismiss(VisitPlan(self.site.id, self.site.name, self.visit_type, chosen))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.report_error(event.worker.error)  # type: ignore[attr-defined]
