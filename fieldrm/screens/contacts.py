"""Contacts: the vendor's people, searchable; a site's org chart from reports_to; and a
contact's timeline (visits attended, observations, actions owned) with when you last met."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static, Tree

from fieldrm.display import ago
from fieldrm.display import short_date as _date
from fieldrm.models import Role, label
from fieldrm.screens.contact_tools import ContactTools
from fieldrm.screens.virtual_list import VirtualList
from fieldrm.screens.widgets import SafeStatic, SafeTable
from fieldrm.store.queries import (
    ContactDetail,
    ListFilter,
    contact_detail,
    list_count,
    list_page,
    list_position,
    names_for,
    sites_matching,
)

DETAIL_DELAY = 0.12
"""Seconds the cursor must rest on a contact before their card and timeline load."""


@dataclass
class ContactLoaded(Message):
    detail: ContactDetail


@dataclass
class MissingRolesLoaded(Message):
    roles: list[str]


@dataclass
class SitesListed(Message):
    """A worker read the sites, for the site filter's choice."""

    sites: list[tuple[str, str]]  # (id, "name (city)")


@dataclass(frozen=True)
class Scope:
    """The site and role the list is narrowed to (each None: all)."""

    site_id: str | None = None
    site_name: str = ""
    role: str | None = None

    def describe(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for name, value in (("site", self.site_name if self.site_id else ""),
                            ("role", label(self.role) if self.role else "")):  # fmt: skip
            if value:
                text.append(f" {name}: ", style="bold reverse")
                text.append(f" {value} ")
        text.append("  s, r to change", style="dim")
        return text


def _chart_label(member: Any, highlighted: bool) -> Text:
    text = Text(member.name, style="bold reverse" if highlighted else "")
    if member.role:
        text.append(f"  {label(member.role)}", style="dim")
    return text


class ContactsScreen(ContactTools):  # merge and import (SPEC §12): contact_tools.py
    """Everyone at the vendor, and who they report to."""

    MODE = "contacts"
    BINDING_GROUP_TITLE = "Contacts"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "focus_filter",
            "Find",
            tooltip="Type part of a name to narrow the list.",
            id="find-contact",
        ),
        Binding(
            "g",
            "focus_chart",
            "Org chart",
            tooltip="Move into the site's org chart.",
            id="focus-org-chart",
        ),
        Binding(
            "s",
            "filter_site",
            "Site",
            tooltip="Show only the people at one site (its org chart beside).",
            id="filter-contacts-by-site",
        ),
        Binding(
            "r",
            "filter_role",
            "Role",
            tooltip="Show only the people in one role.",
            id="filter-contacts-by-role",
        ),
        Binding(
            "n",
            "new_contact",
            "New",
            tooltip="Add a contact (the new TL met on the floor).",
            id="new-contact",
        ),
        Binding(
            "e",
            "edit_contact",
            "Edit",
            tooltip="Edit the highlighted contact.",
            id="edit-contact",
        ),
        Binding(
            "l",
            "focus_list",
            "List",
            tooltip="Back to the list of contacts.",
            show=False,
            id="focus-contact-list",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._detail_timer: Timer | None = None
        self._to_select: str | None = None  # a contact opened from elsewhere (Search, Today)
        self._chart_shape: tuple[Any, ...] | None = None  # (site, (depth, id, name, role)...)
        self._chart_nodes: dict[str, tuple[Any, Any]] = {}  # contact id -> (node, contact)
        self._chart_highlight: str | None = None
        self.scope = Scope()
        self._chart_site_on_load = False  # focus the org chart once a site's list is in

    def compose(self) -> ComposeResult:
        yield from self.compose_frame_top()
        with Horizontal(id="contacts"):
            with Vertical(id="contact-list-pane"):
                yield Input(placeholder="/ find by name", id="contact-filter")
                yield SafeStatic(id="contact-scope")  # the site and role filters, when set
                yield VirtualList((("Name", 22), ("Role", 26), ("Site", 18)), id="contact-table")
            with Vertical(id="contact-detail-pane"):
                yield SafeStatic(id="contact-card")
                yield SafeStatic(id="site-missing-roles")  # §11: roles the site has nobody in
                yield Tree("Org chart", id="org-chart")
                yield SafeTable(id="contact-timeline", cursor_type="row")
        yield from self.compose_frame_bottom()

    def on_mount(self) -> None:
        timeline = self.query_one("#contact-timeline", DataTable)
        timeline.add_column("When", width=10, key="when")
        timeline.add_column("What", width=16, key="what")
        timeline.add_column("", width=60, key="label")
        self.query_one("#org-chart", Tree).show_root = False
        self.query_one("#contact-scope").display = False
        self.query_one("#contact-table", VirtualList).focus()

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [
            ("contact: Find", "Narrow the list by name", self.action_focus_filter),
            ("contact: Org chart", "Move into the org chart", self.action_focus_chart),
            ("contact: Filter by site", "Only the people at one site (s)", self.action_filter_site),
            ("contact: Filter by role", "Only the people in one role (r)", self.action_filter_role),
            ("contact: New", "Add a contact (n)", self.action_new_contact),
            ("contact: Edit", "Edit the highlighted contact (e)", self.action_edit_contact),
            *self.tool_commands(),
        ]

    def reload(self) -> None:
        text = self.query_one("#contact-filter", Input).value
        flt = ListFilter("contact", text=text, site_id=self.scope.site_id, role=self.scope.role)
        store = self.store

        def fetch(offset: int, limit: int) -> list[tuple[str, Sequence[Any], None]]:
            # A pool thread: reads the store and formats, touches no screen state.
            people = list_page(store, flt, offset=offset, limit=limit)
            site_names = names_for(store, [p.site_id for p in people])
            return [
                (p.id, (p.name, label(p.role), site_names.get(p.site_id or "", "")), None)
                for p in people
            ]

        self.query_one("#contact-table", VirtualList).load(
            fetch,
            lambda: list_count(store, flt),
            select=self._to_select,
            locate=lambda key: list_position(store, flt, key),
        )

    @on(Input.Changed, "#contact-filter")
    def filter_typed(self) -> None:
        self.reload()

    @on(Input.Submitted, "#contact-filter")
    def filter_done(self) -> None:
        self.action_focus_list()

    def action_focus_filter(self) -> None:
        self.query_one("#contact-filter", Input).focus()

    def action_focus_list(self) -> None:
        self.query_one("#contact-table", VirtualList).focus()

    def action_focus_chart(self) -> None:
        self.query_one("#org-chart", Tree).focus()

    @on(VirtualList.Highlighted, "#contact-table")
    def contact_highlighted(self, event: VirtualList.Highlighted) -> None:
        # While the cursor is moving (held arrow, page down), only the row it stops on
        # is loaded: a timeline query per row passed would queue up behind the cursor.
        if self._detail_timer is not None:
            self._detail_timer.stop()
        contact_id = event.key
        self._detail_timer = self.set_timer(
            DETAIL_DELAY, lambda: self._load_contact(contact_id), name="contact-detail"
        )

    @on(Tree.NodeSelected, "#org-chart")
    def chart_person_chosen(self, event: Tree.NodeSelected) -> None:
        if event.node.data:
            self._load_contact(event.node.data)

    def action_new_contact(self) -> None:
        from fieldrm.screens.contact_form import ContactFormScreen

        self.app.push_screen(ContactFormScreen(), self._contact_saved)

    def action_edit_contact(self) -> None:
        from fieldrm.screens.contact_form import ContactFormScreen

        contact_id = self.query_one("#contact-table", VirtualList).current_key()
        if contact_id is None:
            self.notify("No contact highlighted.", markup=False)
            return
        self.app.push_screen(ContactFormScreen(contact_id), self._contact_saved)

    def _contact_saved(self, contact: Any) -> None:
        if contact is not None:
            self.notify(f"Saved {contact.name}.", title="Contact", markup=False)
            self.fieldrm.records_changed()
            self._load_contact(contact.id)

    def show_record(self, record: Any) -> None:
        """Show a contact opened from Search or Today: the list's cursor on them (no text
        filter), their card, timeline and org chart.  A site shows its org chart."""
        if record.kind == "site":
            self.show_site(record.id, record.name)
            return
        self._to_select = record.id
        self.set_scope(None, "", None, reload=False)  # they may be outside the scope shown
        text_filter = self.query_one("#contact-filter", Input)
        if text_filter.value:
            text_filter.value = ""  # reloads (Input.Changed)
        else:
            self.reload()

    @on(VirtualList.Reloaded)
    def contact_list_reloaded(self) -> None:
        if self._to_select is not None:
            self._load_contact(self._to_select)
            self._to_select = None
        if self.query_one("#contact-table", VirtualList).row_count == 0:
            self._show_nobody()
        if self._chart_site_on_load:
            self._chart_site_on_load = False
            self.action_focus_chart()

    # ------------------------------------------------------------ by site and role

    def action_filter_site(self) -> None:
        self._list_sites()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load-sites")
    def _list_sites(self) -> None:
        sites = sites_matching(self.store, "", limit=1000)
        shown = [
            (s.id, s.name + (f" ({s.city})" if getattr(s, "city", None) else "")) for s in sites
        ]
        self.post_message(SitesListed(shown))

    @on(SitesListed)
    def choose_site(self, message: SitesListed) -> None:
        from fieldrm.screens.choice import ChoiceScreen

        names = dict(message.sites)

        def chosen(site_id: str | None) -> None:
            if site_id is not None:
                self.set_scope(site_id or None, names.get(site_id, ""), self.scope.role)

        choices = [("", "All sites"), *message.sites]
        self.app.push_screen(ChoiceScreen("Show the people at", choices, "site-choices"), chosen)

    def action_filter_role(self) -> None:
        from fieldrm.screens.choice import ChoiceScreen

        def chosen(role: str | None) -> None:
            if role is not None:
                self.set_scope(self.scope.site_id, self.scope.site_name, role or None)

        choices = [("", "All roles"), *((role.value, label(role.value)) for role in Role)]
        self.app.push_screen(
            ChoiceScreen("Show the people who are", choices, "role-choices"), chosen
        )

    def set_scope(
        self, site_id: str | None, site_name: str, role: str | None, *, reload: bool = True
    ) -> None:
        """Narrow the list to a site and a role (None: all); the name filter still applies."""
        self.scope = Scope(site_id, site_name if site_id else "", role)
        shown = self.query_one("#contact-scope", Static)
        shown.display = bool(site_id or role)
        shown.update(self.scope.describe())
        if reload:
            self.reload()

    def show_site(self, site_id: str, site_name: str) -> None:
        """A site's org chart (opened from the site's card): its people, no other filter,
        the chart focused once they are in."""
        self._chart_site_on_load = True
        text_filter = self.query_one("#contact-filter", Input)
        if text_filter.value:
            with text_filter.prevent(Input.Changed):
                text_filter.value = ""
        self.set_scope(site_id, site_name, None)

    def _show_nobody(self) -> None:
        """An empty list: no card, timeline or chart left from the last person shown."""
        if self._detail_timer is not None:
            self._detail_timer.stop()
        where = self.scope.site_name
        self.query_one("#contact-card", Static).update(
            Text(f"No one at {where} matches." if where else "No one matches.", style="dim")
        )
        self.query_one("#site-missing-roles").display = False
        self.query_one("#contact-timeline", DataTable).clear()
        chart = self.query_one("#org-chart", Tree)
        chart.clear()
        self._chart_shape = None
        self._chart_nodes = {}
        self._chart_highlight = None

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load_contact(self, contact_id: str) -> None:
        self.post_message(ContactLoaded(contact_detail(self.store, contact_id)))

    @on(ContactLoaded)
    def show_contact(self, message: ContactLoaded) -> None:
        detail = message.detail
        person = detail.contact
        card = Text()
        card.append(person.name, style="bold")
        if person.role or person.title:
            card.append("  " + " · ".join(v for v in (label(person.role), person.title) if v))
        card.append("\n")
        if detail.site:
            card.append(f"at {detail.site}  ")
        if detail.manager:
            card.append(f"reports to {detail.manager}  ")
        card.append(
            "never met"
            if detail.last_met is None
            else f"last met {_date(detail.last_met)} ({ago(detail.last_met)})",
            style="italic",
        )
        for medium, values in (("email", person.emails), ("phone", person.phones)):
            if values:
                card.append(f"\n{medium}: {', '.join(values)}", style="dim")
        if person.tags:
            card.append("\n" + " ".join("#" + tag for tag in person.tags), style="dim")
        self.query_one("#contact-card", Static).update(card)
        self._load_missing_roles(person.site_id)

        self._show_chart(detail)

        timeline = self.query_one("#contact-timeline", DataTable)
        timeline.clear()
        for entry in detail.timeline:
            timeline.add_row(_date(entry.at), entry.what, " ".join(entry.label.split()))

    # ------------------------------------------------------------ §11: a site's missing roles

    @work(thread=True, exclusive=True, exit_on_error=False, group="load-roles")
    def _load_missing_roles(self, site_id: str | None) -> None:
        from fieldrm.store.relationships import missing_roles

        roles = [row["role"] for row in missing_roles(self.store, site_id)] if site_id else []
        self.post_message(MissingRolesLoaded(roles))

    @on(MissingRolesLoaded)
    def show_missing_roles(self, message: MissingRolesLoaded) -> None:
        shown = self.query_one("#site-missing-roles", Static)
        shown.display = bool(message.roles)
        names = ", ".join(label(role) for role in message.roles)
        shown.update(Text(f"site has no {names}", style="bold yellow"))

    def _show_chart(self, detail: ContactDetail) -> None:
        """The site's org chart with this person highlighted.

        Moving along the list usually stays within a site (hundreds of people): when the
        chart is the same, only two labels change instead of rebuilding every node.
        """
        chart = self.query_one("#org-chart", Tree)
        person_id = detail.contact.id
        shape = (
            detail.site,
            tuple((depth, m.id, m.name, m.role) for depth, m in detail.org_chart),
        )
        if shape == self._chart_shape:
            for member_id in {self._chart_highlight, person_id}:
                node, member = self._chart_nodes.get(member_id or "", (None, None))
                if node is not None and member is not None:
                    node.set_label(_chart_label(member, member_id == person_id))
            self._chart_highlight = person_id
            return
        chart.clear()
        chart.root.label = f"{detail.site or 'No site'}: org chart"
        nodes: dict[str, tuple[Any, Any]] = {}
        parents = [chart.root]
        chart_rows = detail.org_chart
        for index, (depth, member) in enumerate(chart_rows):
            del parents[depth + 1 :]
            parent = parents[-1]
            node_label = _chart_label(member, member.id == person_id)
            has_reports = index + 1 < len(chart_rows) and chart_rows[index + 1][0] > depth
            if has_reports:
                node = parent.add(node_label, data=member.id, expand=True)
                parents.append(node)
            else:
                node = parent.add_leaf(node_label, data=member.id)
            nodes[member.id] = (node, member)
        chart.root.expand()
        self._chart_shape = shape
        self._chart_nodes = nodes
        self._chart_highlight = person_id
