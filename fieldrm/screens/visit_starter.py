"""Starting a visit from anywhere in the app (ctrl+n), as a mix-in of the App: refuse
while my visit is open, pick the site and attendees, ask the purpose, start it through the
notebook, then open the floor walk (and a review meeting's agenda over it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from fieldrm.notebook import start_visit, visit_title
from fieldrm.screens.messages import VisitAlreadyOpen, VisitNotOpen, VisitStarted

if TYPE_CHECKING:
    from fieldrm.screens.start_visit import VisitPlan


class VisitStarter:
    """The App's visit start; it needs the App's `store`, `records_changed` and screens."""

    store: Any

    def action_start_visit(self) -> None:
        self._check_no_visit_open()

    @work(thread=True, exclusive=True, exit_on_error=False, group="visit-check")
    def _check_no_visit_open(self) -> None:
        visit = self.store.open_visit()
        if visit is None:
            self.post_message(VisitNotOpen())
        else:
            self.post_message(VisitAlreadyOpen(visit_title(self.store, visit)))

    def on_visit_already_open(self, message: VisitAlreadyOpen) -> None:
        self.notify(
            f"A visit is already open: {message.title}. End it first (ctrl+g on the floor walk).",
            title="Visit already open",
            severity="warning",
            markup=False,
        )

    def on_visit_not_open(self) -> None:
        from fieldrm.screens.start_visit import StartVisitScreen

        self.push_screen(StartVisitScreen(), self._ask_purpose)

    def _ask_purpose(self, plan: VisitPlan | None) -> None:
        if plan is None:
            return
        from fieldrm.screens.prompt import PromptScreen

        def typed(purpose: str | None) -> None:
            self._create_visit(plan, purpose)

        title = f"Purpose of the visit to {plan.site_name}"
        self.push_screen(PromptScreen(title, "Enter with nothing typed skips it."), typed)

    @work(thread=True, exit_on_error=False, group="write")
    def _create_visit(self, plan: VisitPlan, purpose: str | None = None) -> None:
        visit = start_visit(
            self.store,
            plan.site_id,
            visit_type=plan.visit_type,
            purpose=purpose,
            attendees=plan.attendees,
        )
        self.post_message(VisitStarted(plan.site_name, visit.vendor_id, visit.program_id))

    def on_visit_started(self, message: VisitStarted) -> None:
        self.notify(f"Visit to {message.site_name} started.", title="Visit", markup=False)
        self.records_changed()
        self.switch_mode("floor")
        if message.vendor_id is not None:  # a review meeting: its agenda first
            from fieldrm.screens.agenda import AgendaScreen

            self.push_screen(AgendaScreen(message.vendor_id, message.program_id))
