"""What a relationship manager does, written once (SPEC §3, §9): the command line and the
terminal app both call these, so a rule such as "a visit is already open" has one home.

Every function takes the Store first, writes in one transaction and returns the record
it wrote (with the parsed line, for the operations that read one); problems are
`fieldrm.errors` exceptions (InvalidInput, NotFound) and nothing is half-written.
Imports stay light: `fieldrm capture` runs through here on its fast path.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from fieldrm.capture import LINE_FIELDS, Capture, parse_capture
from fieldrm.errors import InvalidInput
from fieldrm.models import (
    ActionStatus,
    QuestionStatus,
    Record,
    VisitType,
    local_today,
    now_utc,
    set_delta,
)

if TYPE_CHECKING:
    from fieldrm.store import Store

__all__ = [
    "answer_question",
    "capture",
    "delete_entry",
    "end_visit",
    "escalate_question",
    "raise_action",
    "recapture",
    "set_due",
    "set_owner",
    "set_status",
    "start_visit",
]


# ---------------------------------------------------------------- capture


def _parse(store: Store, line: str, today: date | None, visit_id: str | None) -> Capture:
    return parse_capture(
        line,
        find_contacts=store.contacts_matching,
        today=local_today() if today is None else today,
        visit_id=visit_id,
    )


def capture(store: Store, line: str, *, today: date | None = None) -> tuple[Record, Capture]:
    """Save one quick-capture line (SPEC §3), filed under the open visit if there is one."""
    visit = store.open_visit()
    parsed = _parse(store, line, today, visit.id if visit is not None else None)
    return store.create(parsed.kind, parsed.values), parsed


def recapture(
    store: Store, entry: Record, line: str, *, today: date | None = None
) -> tuple[Record, Capture]:
    """Re-parse `line` into an existing observation, question or action (an edit).

    The entry keeps its id and visit; fields the line no longer sets are cleared.  A line
    of another kind is another record: the entry is deleted and the new one created.
    """
    parsed = _parse(store, line, today, getattr(entry, "visit_id", None))
    with store.transaction():
        if parsed.kind != entry.kind:
            store.delete(entry.id)
            return store.create(parsed.kind, parsed.values), parsed
        values = dict(parsed.values)
        added, removed = set_delta(getattr(entry, "tags", None), values.pop("tags", None))
        for name in LINE_FIELDS.get(entry.kind, ()):
            values.setdefault(name, None)
        changes: dict[str, Any] = {"set": values}
        if added:
            changes["add"] = {"tags": added}
        if removed and entry.kind == "observation":
            changes["remove"] = {"tags": removed}
        return store.update(entry.id, **changes), parsed


def raise_action(
    store: Store, source: Record, line: str, *, today: date | None = None
) -> tuple[Record, Capture]:
    """A follow-up action from an observation or question, captured from `line` (§3
    grammar: @owner ^due !priority).  The source's visit carries over, and a question's
    escalation contact becomes the owner when the line names none."""
    parsed = _parse(store, "> " + line.removeprefix("> "), today, getattr(source, "visit_id", None))
    values = {**parsed.values, "source_id": source.id}
    owner = getattr(source, "escalated_to", None)
    if owner and not values.get("owner_id"):
        values["owner_id"] = owner
    return store.create("action", values), parsed


def delete_entry(store: Store, record_id: str) -> Record:
    """Delete a record (a tombstone that syncs)."""
    return store.delete(record_id)


# ---------------------------------------------------------------- visits


def visit_title(store: Store, visit: Record) -> str:
    """`floor_walk at Kolkata since 2026-11-23 08:00`, for messages about a visit."""
    site = store.get_raw(visit.site_id) or {}
    started = str(visit.to_json().get("started_at", ""))[:16].replace("T", " ")
    return f"{visit.visit_type} at {site.get('name', visit.site_id)} since {started}"


def start_visit(
    store: Store,
    site_id: str,
    *,
    visit_type: str | None = None,
    purpose: str | None = None,
    attendees: Iterable[str] = (),
) -> Record:
    """Start a visit now.  One visit is open at a time: while one is, this refuses
    (InvalidInput) rather than end it behind the RM's back."""
    values: dict[str, Any] = {"site_id": site_id, "started_at": now_utc()}
    if visit_type:
        values["visit_type"] = visit_type
    if purpose:
        values["purpose"] = purpose
    if attendees:
        values["attendees"] = list(attendees)
    if visit_type == VisitType.review_meeting:  # §11: a review reviews the site's vendor
        vendor_id = (store.get_raw(site_id) or {}).get("vendor_id")
        if vendor_id:
            values["vendor_id"] = vendor_id
    with store.transaction():
        current = store.open_visit()
        if current is not None:
            raise InvalidInput(
                f"a visit is already open: {visit_title(store, current)} ({current.id}); "
                "end it first (`fieldrm visit end`, or ctrl+g on the floor walk)"
            )
        return store.create("visit", values)


def end_visit(store: Store, *, summary: str | None = None) -> Record:
    """End the open visit; InvalidInput when none is open."""
    with store.transaction():
        current = store.open_visit()
        if current is None:
            raise InvalidInput("no visit is open (start one with `fieldrm visit start --site …`)")
        values: dict[str, Any] = {"ended_at": now_utc()}
        if summary:
            values["summary"] = summary
        return store.update(current.id, set=values)


# ---------------------------------------------------------------- questions and actions


def answer_question(store: Store, question_id: str, answer: str) -> Record:
    """Record the answer; the question is answered now."""
    return store.update(
        question_id,
        set={"answer": answer, "status": QuestionStatus.answered, "answered_at": now_utc()},
    )


def escalate_question(store: Store, question_id: str, contact_id: str) -> Record:
    """Hand a question to a contact; it is escalated to them."""
    return store.update(
        question_id, set={"escalated_to": contact_id, "status": QuestionStatus.escalated}
    )


def set_status(store: Store, record_id: str, status: ActionStatus | QuestionStatus | str) -> Record:
    """Move an action (done, in progress, cancelled, reopened) or a question (reopened)."""
    return store.update(record_id, set={"status": status})


def set_owner(store: Store, action_id: str, contact_id: str) -> Record:
    """Give an action to a contact."""
    return store.update(action_id, set={"owner_id": contact_id})


def set_due(store: Store, action_id: str, due: date) -> Record:
    """When an action is due."""
    return store.update(action_id, set={"due": due})
