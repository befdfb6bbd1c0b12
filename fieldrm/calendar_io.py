"""The calendar (SPEC §12, `fieldrm export ics`): planned and held visits and open actions
with due dates, as an iCalendar (RFC 5545) file that calendar programs import.

Each visit is its own event (a review series is its visits); each open action with a due
date is an all-day event on that date.  A UID is the record's id, so it stays the same
across exports and edits, and importing the file again updates the events instead of
doubling them; SEQUENCE and DTSTAMP follow the record's last change.  Written by hand
(a few lines of RFC 5545: escaping, folding, CRLF), so exporting needs no library.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from fieldrm.models import OPEN_ACTION_STATUSES, label
from fieldrm.report import clean_text

if TYPE_CHECKING:
    from fieldrm.models import Record
    from fieldrm.store import Store

__all__ = ["calendar_ics", "uid"]

PRODID = "-//fieldrm//fieldrm calendar//EN"
DOMAIN = "fieldrm"
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def uid(record_id: str) -> str:
    """The event's UID: the record's id, stable across exports and edits."""
    return f"{record_id}@{DOMAIN}"


def _escape(text: object) -> str:
    value = str(text).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1),
    never splitting a UTF-8 character."""
    out: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > (75 if not out else 74):
            out.append(current)
            current, size = "", 0
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _day(value: date) -> str:
    return value.strftime("%Y%m%d")


def _sequence(record: Record) -> int:
    """Grows with every change of the record, so a calendar takes the newer event."""
    return max(0, int((record.updated_at - _EPOCH).total_seconds()))


def _event(record: Record, props: list[tuple[str, str]]) -> list[str]:
    lines = ["BEGIN:VEVENT", f"UID:{uid(record.id)}", f"DTSTAMP:{_stamp(record.updated_at)}",
             f"SEQUENCE:{_sequence(record)}"]  # fmt: skip
    lines += [f"{name}:{value}" for name, value in props if value]
    lines.append("END:VEVENT")
    return lines


def calendar_ics(store: Store) -> str:
    """Every visit (planned or held) and every open action with a due date."""
    names = {r.id: r for kind in ("vendor", "site") for r in store.list(kind)}
    contacts = {r.id: str(r.name) for r in store.list("contact")}
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
             "X-WR-CALNAME:fieldrm"]  # fmt: skip
    for visit in store.list("visit", order="json_extract(data, '$.started_at'), id"):
        site = names.get(getattr(visit, "site_id", None) or "")
        vendor = names.get(getattr(site, "vendor_id", None) or "") if site else None
        where = ", ".join(
            str(part) for part in (getattr(site, "name", None), getattr(site, "city", None),
                                   getattr(vendor, "name", None)) if part
        )  # fmt: skip
        kind = label(getattr(visit, "visit_type", None) or "visit")
        review = getattr(visit, "review", None)
        title = f"{kind.capitalize()}" + (f" ({label(review)})" if review else "")
        title += f" — {getattr(site, 'name', None) or 'site'}"
        start = visit.started_at
        end = getattr(visit, "ended_at", None) or start + timedelta(hours=1)
        attendees = [contacts[i] for i in getattr(visit, "attendees", []) if i in contacts]
        details = [getattr(visit, "purpose", None), getattr(visit, "summary", None),
                   "Attendees: " + ", ".join(attendees) if attendees else None]  # fmt: skip
        lines += _event(visit, [
            ("DTSTART", _stamp(start)),
            ("DTEND", _stamp(max(end, start))),
            ("SUMMARY", _escape(title)),
            ("LOCATION", _escape(where)),
            ("DESCRIPTION", _escape("\n".join(d for d in details if d))),
            ("CATEGORIES", "VISIT"),
        ])  # fmt: skip
    for action in store.list("action", order="json_extract(data, '$.due'), id"):
        due = getattr(action, "due", None)
        if due is None or action.status not in OPEN_ACTION_STATUSES:
            continue
        owner = contacts.get(getattr(action, "owner_id", None) or "", "me")
        lines += _event(action, [
            ("DTSTART;VALUE=DATE", _day(due)),
            ("DTEND;VALUE=DATE", _day(due + timedelta(days=1))),
            ("SUMMARY", _escape(f"Due: {clean_text(action.text)} ({owner})")),
            ("DESCRIPTION", _escape(f"Action, {label(action.status)}; owner {owner}")),
            ("CATEGORIES", "ACTION"),
            ("TRANSP", "TRANSPARENT"),
        ])  # fmt: skip
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
