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
    "contact_form",
    "delete_entry",
    "display_name",
    "draft",
    "end_visit",
    "escalate_question",
    "merge_contacts",
    "raise_action",
    "recapture",
    "revert",
    "save_contact",
    "save_draft",
    "set_display_name",
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


# ---------------------------------------------------------------- contacts (SPEC §12)


def merge_contacts(store: Store, contact_id: str, keep_id: str) -> Record:
    """Merge one contact into another: every reference to the first (visits' attendees,
    observations, questions, actions, reports_to, and any other field that names a
    contact) moves to `keep`, `keep`'s empty fields take the first's values and its sets
    (emails, phones, tags, programs) gain the first's, and the first is deleted.  One
    transaction, written through the store like any edit, so the merge syncs; a colleague's
    concurrent edit of the deleted contact stays as a conflict (SPEC §5.6)."""
    from fieldrm.models import USER_KINDS, kind_info

    with store.transaction():
        gone = store.resolve(contact_id, ["contact"])
        keep = store.resolve(keep_id, ["contact"])
        if gone.id == keep.id:
            raise InvalidInput(f"{gone.label}: a contact cannot be merged into itself")
        for kind in USER_KINDS:
            for name, info in kind_info(kind).fields.items():
                if "contact" not in info.refs:
                    continue
                for record in store.list(kind, where={name: gone.id}):
                    if info.is_set:
                        store.update(record.id, add={name: [keep.id]}, remove={name: [gone.id]})
                    else:  # keep's own reports_to must not become keep itself
                        store.update(
                            record.id, set={name: None if record.id == keep.id else keep.id}
                        )
        keep = store.get(keep.id)
        info = kind_info("contact")
        values: dict[str, Any] = {}
        add: dict[str, list[Any]] = {}
        for name, field in info.fields.items():
            theirs = getattr(gone, name, None)
            if theirs in (None, "", []) or name == "name":
                continue
            if field.is_set:
                missing = [v for v in theirs if v not in (getattr(keep, name, None) or [])]
                if missing:
                    add[name] = missing
            elif getattr(keep, name, None) in (None, "") and theirs != keep.id:
                values[name] = theirs
        if values or add:
            keep = store.update(keep.id, set=values, add=add)
        store.delete(gone.id)
        return keep


# ---------------------------------------------------------------- the capture draft

DRAFT = "capture_draft"
"""The `state` key holding the half-typed capture line (a device setting: it never syncs)."""


def save_draft(store: Store, line: str) -> None:
    """Keep a half-typed capture line, so quitting, a crash or a screen change loses
    nothing; an empty line clears it."""
    store.set_state(DRAFT, line if line.strip() else None)


def draft(store: Store) -> str | None:
    """The half-typed capture line kept by `save_draft`, or None."""
    return store.get_state(DRAFT)


# ---------------------------------------------------------------- undo


def revert(store: Store, before: Record | None, record_id: str) -> Record:
    """Put a record back as it was in `before` (None: it did not exist, so it is deleted);
    one change that syncs like any other.  The undo of the floor walk's last change."""
    from fieldrm.models import kind_info

    if before is None:
        return store.delete(record_id)
    old, current = before.to_json(), store.get(record_id).to_json()
    scalars: dict[str, Any] = {}
    added: dict[str, list[Any]] = {}
    removed: dict[str, list[Any]] = {}
    for name, info in kind_info(before.kind).fields.items():
        if info.is_set:
            gained, lost = set_delta(current.get(name), old.get(name))
            if gained:
                added[name] = gained
            if lost:
                removed[name] = lost
        elif old.get(name) != current.get(name):
            scalars[name] = old.get(name)
    was_deleted = bool(old.get("deleted"))
    return store.update(
        record_id,
        set=scalars,
        add=added,
        remove=removed,
        deleted=was_deleted if was_deleted != bool(current.get("deleted")) else None,
    )


# ---------------------------------------------------------------- contacts from a form

CONTACT_FORM = ("name", "role", "title", "site", "reports_to", "phones", "emails", "tags")
"""The fields of the app's contact form, as typed text (lists comma-separated)."""


def contact_form(store: Store, contact: Record) -> dict[str, str]:
    """A contact as the form shows it: names for references, lists joined by commas."""
    site = store.get_raw(contact.site_id) if contact.site_id else None
    boss = store.get_raw(contact.reports_to) if contact.reports_to else None
    return {
        "name": contact.name,
        "role": contact.role or "",
        "title": contact.title or "",
        "site": (site or {}).get("name", ""),
        "reports_to": (boss or {}).get("name", ""),
        "phones": ", ".join(contact.phones),
        "emails": ", ".join(contact.emails),
        "tags": ", ".join(contact.tags),
    }


def save_contact(store: Store, contact_id: str | None, form: dict[str, str]) -> Record:
    """Add (no id) or edit a contact from the app's form: a role by a unique prefix, the
    site and the boss by name; InvalidInput (nothing written) when a value does not fit."""
    from fieldrm.errors import Ambiguous, NotFound
    from fieldrm.models import Role

    text = {name: " ".join(form.get(name, "").split()) for name in CONTACT_FORM}
    if not text["name"]:
        raise InvalidInput("a contact needs a name")
    values: dict[str, Any] = {"name": text["name"], "title": text["title"] or None}
    roles = [member.value for member in Role]
    typed_role = text["role"].lower().replace(" ", "_")
    role = next((r for r in roles if r == typed_role), None)
    if typed_role and role is None:
        matches = [r for r in roles if r.startswith(typed_role)]
        if len(matches) != 1:
            raise InvalidInput(f"{text['role']!r} is not a role (one of {', '.join(roles)})")
        role = matches[0]
    values["role"] = role
    try:
        values["site_id"] = store.resolve(text["site"], ["site"]).id if text["site"] else None
        values["reports_to"] = _one_contact(store, text["reports_to"], contact_id)
    except (NotFound, Ambiguous) as error:
        raise InvalidInput(str(error)) from None
    lists = {
        name: [item.strip() for item in form.get(name, "").replace(";", ",").split(",")]
        for name in ("phones", "emails", "tags")
    }
    lists = {name: [item for item in items if item] for name, items in lists.items()}
    with store.transaction():
        if contact_id is None:
            return store.create("contact", {**values, **lists})
        current = store.get(contact_id)
        added: dict[str, list[Any]] = {}
        removed: dict[str, list[Any]] = {}
        for name, items in lists.items():
            gained, lost = set_delta(getattr(current, name), items)
            if gained:
                added[name] = gained
            if lost:
                removed[name] = lost
        return store.update(contact_id, set=values, add=added, remove=removed)


def _one_contact(store: Store, typed: str, not_id: str | None) -> str | None:
    """The one contact `typed` names (an exact name, else a unique match), or None."""
    from fieldrm.errors import Ambiguous, NotFound

    if not typed:
        return None
    found = [c for c in store.contacts_matching(typed, 10) if c.id != not_id]
    exact = [c for c in found if c.name.lower() == typed.lower()]
    if len(exact) == 1 or len(found) == 1:
        return (exact or found)[0].id
    if not found:
        raise NotFound(f"no contact named {typed!r} to report to")
    names = ", ".join(c.name for c in found[:4])
    raise Ambiguous(f"{typed!r} matches more than one contact ({names}): type more of the name")


# ---------------------------------------------------------------- who I am in reports

DISPLAY_NAME = "display_name"
"""The `state` key of the RM's name as reports show it (never the login handle)."""


def set_display_name(store: Store, name: str | None) -> None:
    """How reports name this RM ("Anna Lindqvist", not `rm-anna`); empty clears it."""
    store.set_state(DISPLAY_NAME, " ".join((name or "").split()) or None)


def display_name(store: Store) -> str | None:
    return store.get_state(DISPLAY_NAME)
