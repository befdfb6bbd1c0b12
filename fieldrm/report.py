"""The visit report (`fieldrm export visit`): what an RM mails to the client after a visit.

Three formats of the same content: Markdown to paste into a mail, JSON (the records as
§2 names their fields) for other tools, CSV (one row per observation, question and
action) for a spreadsheet.  The report gathers what is linked to the visit by
`visit_id`, plus actions whose `source_id` is the visit or one of its observations or
questions.  References to records this device has not received yet are shown as such,
never as an error.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fieldrm.errors import InvalidInput, NotFound
from fieldrm.models import (
    OPEN_ACTION_STATUSES,
    Category,
    Record,
    Role,
    Severity,
    label,
    local_today,
)
from fieldrm.notebook import display_name

if TYPE_CHECKING:
    from fieldrm.store import Store

__all__ = [
    "FORMATS",
    "VisitDocument",
    "clean_text",
    "visit_document",
    "visit_report",
]

FORMATS = ("md", "json", "csv")
CSV_COLUMNS = [
    "section",
    "id",
    "category",
    "severity",
    "text",
    "contact",
    "asked_by",
    "answer",
    "escalated_to",
    "owner",
    "due",
    "priority",
    "status",
    "overdue",
]

_CATEGORY_ORDER = [member.value for member in Category]
_ROLE_ORDER = [member.value for member in Role]
# The client reads the worst first.
_SEVERITY_ORDER = [member.value for member in reversed(Severity)]


def visit_report(store: Store, visit_id: str, fmt: str, *, today: date | None = None) -> str:
    """The report of one visit as `md`, `json` or `csv`; NotFound for an unknown visit.

    `visit_id` may be a full id or a unique id prefix.  `today` decides which actions are
    overdue (default: the local date).
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
    report = visit_document(store, visit_id, today=today)
    return {"md": report.markdown, "json": report.json, "csv": report.csv}[fmt]()


def visit_document(store: Store, visit_id: str, *, today: date | None = None) -> VisitDocument:
    """The records of one visit gathered for a document (the PDF renders from this)."""
    try:
        visit = store.resolve(visit_id, ["visit"])
    except NotFound:
        raise NotFound(f"no visit with id {visit_id!r}") from None
    return _Report(store, visit, today or local_today())


# Leftover capture markup: a sigil starting a word whose next character is a letter (the
# grammar's own rule), e.g. `@Nobody` for an unknown name or `#billing` on a question; and
# a `^` before a date the grammar does not read (`^31-12`), which no client reads either.
_MARK = re.compile(r"(?<!\S)(?:[#!@^](?=[^\W\d_])|\^(?=\d))")
_ASKED_BY_MARK = re.compile(r"\(\s*asked[ _]by\s*:", re.IGNORECASE)
# Words after which a trailing name belongs to the sentence ("send the deck to Priya").
_BEFORE_A_NAME = {"to", "with", "from", "for", "by", "and", "cc", "ask", "tell", "call", "of",
                  "at", "about", "via", "email", "ping", "remind"}  # fmt: skip


def rm_name(store: Store, user: str | None = None) -> str:
    """The RM as documents name them: this device's display name for its own user
    (`fieldrm me --name`); a colleague, or an RM with no display name, by login."""
    mine = store.user
    if user in (None, "", mine):
        return display_name(store) or mine or "RM"
    return user


def clean_text(text: str) -> str:
    """User text as a client reads it: capture marks left in the text lose their sigil."""
    return _ASKED_BY_MARK.sub("(asked by:", _MARK.sub("", str(text)))


def _trailing_name(text: str, name: str) -> tuple[str, bool]:
    """`text` without a trailing mention of `name` (the full name, or a run of its words, as
    capture leaves it), and whether one was dropped.  A name the sentence needs ("… to
    Priya") stays."""
    for run in _name_runs(name):
        pattern = r"\s+".join(re.escape(word) for word in run)
        found = re.search(rf"(?:^|\s)({pattern})[\s.,;:!?]*$", text, re.IGNORECASE)
        if found is None:
            continue
        before = text[: found.start(1)].rstrip()
        last = before.rsplit(None, 1)[-1].casefold() if before else ""
        if not before or last in _BEFORE_A_NAME:
            return text, False
        return before.rstrip(" ,;:—-"), True
    return text, False


class _Report:
    """The records of one visit, gathered once and rendered in any format."""

    def __init__(self, store: Store, visit: Record, today: date) -> None:
        self.store = store
        self.visit = visit
        self.today = today
        self._known: dict[str, Record | None] = {}
        self.site = self.lookup(getattr(visit, "site_id", None))
        self.vendor = self.lookup(getattr(self.site, "vendor_id", None))
        self.attendees = [self.lookup(i) for i in getattr(visit, "attendees", [])]
        self.observations = self._linked("observation", "visit_id", [visit.id])
        self.questions = self._linked("question", "visit_id", [visit.id])
        sources = [visit.id, *(r.id for r in self.observations), *(r.id for r in self.questions)]
        actions = {r.id: r for r in self._linked("action", "visit_id", [visit.id])}
        actions.update((r.id, r) for r in self._linked("action", "source_id", sources))
        self.actions = sorted(actions.values(), key=lambda r: (r.created_at, r.id))

    # ------------------------------------------------------------ gathering

    def lookup(self, record_id: str | None) -> Record | None:
        if not record_id:
            return None
        if record_id not in self._known:
            try:
                self._known[record_id] = self.store.get(record_id)
            except NotFound:  # a reference to a record this device has not received yet
                self._known[record_id] = None
        return self._known[record_id]

    def _linked(self, kind: str, field: str, ids: Iterable[str]) -> list[Record]:
        found: dict[str, Record] = {}
        for record_id in ids:
            for record in self.store.list(kind, where={field: record_id}):
                found[record.id] = record
        return sorted(found.values(), key=lambda r: (r.created_at, r.id))

    def contact_name(self, contact_id: str | None) -> str:
        if not contact_id:
            return ""
        contact = self.lookup(contact_id)
        if contact is None:
            return f"contact {contact_id[:8]} (not on this device yet)"
        return str(getattr(contact, "name", contact.label))

    def owner_name(self, action: Record) -> str:
        if getattr(action, "owner_id", None):
            return self.contact_name(action.owner_id)
        return f"{self.rm_name(action.created_by)} (RM)"

    def rm_name(self, user: str | None = None) -> str:
        return rm_name(self.store, user)

    # ------------------------------------------------------------ clean text

    def person_detail(self, contact: Record) -> str:
        """Title and role, the role only when the title does not already say it."""
        title = " ".join(str(getattr(contact, "title", None) or "").split())
        role = label(getattr(contact, "role", None))
        if role and (not title or role.casefold() not in title.casefold()):
            role_text = role[:1].upper() + role[1:]
            return f"{title} ({role})" if title else role_text
        return title

    def entry_text(self, record: Record, contact_id: str | None) -> str:
        """An entry's text without marks, and without a trailing mention of the contact the
        report names beside it (capture leaves "… Ravi" for `@Ravi`)."""
        text = clean_text(record.text)
        contact = self.lookup(contact_id) if contact_id else None
        if contact is not None and getattr(contact, "name", None):
            text, _dropped = _trailing_name(text, str(contact.name))
        return text

    def observation_parts(self, record: Record) -> tuple[str, list[str]]:
        """An observation's text and what it is about (contact, program), each name once:
        a contact the text already names (not trailing) is not repeated after it."""
        text = clean_text(record.text)
        contact_id = getattr(record, "contact_id", None)
        name = self.contact_name(contact_id)
        contact = self.lookup(contact_id) if contact_id else None
        if contact is not None and getattr(contact, "name", None):
            text, dropped = _trailing_name(text, str(contact.name))
            if not dropped and _mentions(text, str(contact.name)):
                text, name = _full_name_in(text, str(contact.name)), ""
        return text, [name, self.program_name(record)]

    def overdue(self, action: Record) -> bool:
        due = getattr(action, "due", None)
        return due is not None and due < self.today and action.status in OPEN_ACTION_STATUSES

    def program_name(self, record: Record) -> str:
        program = self.lookup(getattr(record, "program_id", None))
        return str(getattr(program, "name", "")) if program is not None else ""

    # ------------------------------------------------------------ time

    def zone(self) -> tzinfo | None:
        name = getattr(self.site, "timezone", None)
        if not name:
            return None
        try:
            return ZoneInfo(name)
        except Exception:  # unknown name or no time-zone database: fall back to UTC
            return None

    def local(self, moment: datetime) -> datetime:
        zone = self.zone()
        return moment.astimezone(zone) if zone is not None else moment

    def when(self) -> str:
        start = self.local(self.visit.started_at)
        text = f"{start:%a} {start.day} {start:%b %Y, %H:%M}"
        ended = getattr(self.visit, "ended_at", None)
        if ended is not None:
            end = self.local(ended)
            if end.date() == start.date():
                text += f"–{end:%H:%M}"
            else:
                text += f" – {end:%a} {end.day} {end:%b %Y, %H:%M}"
        else:
            text += " (still open)"
        zone = self.zone()
        return text + (f" {start:%Z} ({zone})" if zone is not None else " UTC")

    # ------------------------------------------------------------ markdown

    def title(self) -> str:
        visit_type = label(getattr(self.visit, "visit_type", "visit"))
        site = str(getattr(self.site, "name", "")) or "unknown site"
        vendor = getattr(self.vendor, "name", None)
        where = f"{site} ({vendor})" if vendor else site
        day = self.local(self.visit.started_at).date().isoformat()
        return f"{visit_type.capitalize()} — {where}, {day}"

    def markdown(self) -> str:
        lines = [f"# {_md(self.title())}", ""]
        lines.append(f"- **When:** {self.when()}")
        if self.site is not None:
            lines.append(f"- **Site:** {_md(self.place())}")
        purpose = getattr(self.visit, "purpose", None)
        if purpose:
            lines.append(f"- **Purpose:** {_md(clean_text(purpose))}")
        lines.append(f"- **Prepared by:** {_md(self.rm_name())}")
        lines.append("")

        lines += ["## Attendees", ""]
        for contact_id, contact in self.attendees_in_order():
            if contact is None:
                lines.append(f"- {_md(self.contact_name(contact_id))}")
                continue
            detail = self.person_detail(contact)
            lines.append(f"- **{_md(contact.name)}**" + (f" — {_md(detail)}" if detail else ""))
        if not self.attendees:
            lines.append("No attendees recorded.")
        lines.append("")

        summary = getattr(self.visit, "summary", None)
        if summary:
            lines += ["## Summary", "", _md(clean_text(summary), keep_lines=True), ""]

        lines += ["## Observations", ""]
        if not self.observations:
            lines += ["No observations recorded.", ""]
        for category, records in self.observations_by_category():
            lines += [f"### {category}", ""]
            for record in records:
                severity = getattr(record, "severity", None)
                head = f"**{str(severity).capitalize()}:** " if severity else ""
                text, about = self.observation_parts(record)
                tail = ", ".join(part for part in about if part)
                lines.append(f"- {head}{_md(text)}" + (f" — *{_md(tail)}*" if tail else ""))
            lines.append("")

        lines += ["## Questions from the floor", ""]
        if not self.questions:
            lines += ["No questions recorded.", ""]
        for record in self.questions:
            asked = clean_text(getattr(record, "asked_by", None) or "")
            text = self.entry_text(record, getattr(record, "escalated_to", None))
            lines.append(f"- **{_md(text)}**" + (f" (asked by {_md(asked)})" if asked else ""))
            lines.append(f"  - {self.question_outcome(record)}")
        if self.questions:
            lines.append("")

        lines += ["## Follow-up actions", ""]
        if not self.actions:
            lines += ["No actions agreed.", ""]
        else:
            lines += ["| Action | Owner | Due | Priority | Status |", "|---|---|---|---|---|"]
            for record in self.actions:
                due = record.due.isoformat() if getattr(record, "due", None) else "—"
                if self.overdue(record):
                    due += " **overdue**"
                cells = [
                    _md(self.entry_text(record, getattr(record, "owner_id", None))),
                    _md(self.owner_name(record)),
                    due,
                    str(getattr(record, "priority", None) or "—"),
                    label(record.status),
                ]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        lines += self.carried_over_markdown()
        return "\n".join(lines)

    def place(self) -> str:
        """`Salt Lake, Kolkata, India · Northwind Contact Solutions`."""
        site = self.site
        parts = (getattr(site, "name", None), getattr(site, "city", None),
                 getattr(site, "country", None))  # fmt: skip
        place = ", ".join(str(part) for part in parts if part) or "unknown site"
        return place + (f" · {self.vendor.name}" if self.vendor is not None else "")

    def clients(self) -> list[str]:
        """The clients of the site's programs (`Meridian Bank`), for a document's title block."""
        if self.site is None:
            return []
        programs = self.store.list("program", where={"site_id": self.site.id})
        return sorted({str(p.client) for p in programs if getattr(p, "client", None)})

    # ------------------------------------------------------------ §11: carried over

    def carried_over(self) -> list[Record]:
        """For a review meeting: open actions raised at earlier reviews of the vendor."""
        vendor_id = getattr(self.visit, "vendor_id", None)
        if getattr(self.visit, "visit_type", None) != "review_meeting" or not vendor_id:
            return []
        from fieldrm.store.queries import carried_over_actions

        return carried_over_actions(
            self.store,
            vendor_id,
            program_id=getattr(self.visit, "program_id", None),
            before=self.visit.started_at,
        )

    def carried_over_markdown(self) -> list[str]:
        carried = self.carried_over()
        if getattr(self.visit, "visit_type", None) != "review_meeting":
            return []
        lines = ["## Carried over", ""]
        if not carried:
            return [*lines, "Nothing carried over from earlier reviews.", ""]
        lines += ["| Action | Owner | Due | Raised | Status |", "|---|---|---|---|---|"]
        for record in carried:
            due = record.due.isoformat() if getattr(record, "due", None) else "—"
            if self.overdue(record):
                due += " **overdue**"
            raised = self.local(record.created_at).date().isoformat()
            cells = [_md(record.text), _md(self.owner_name(record)), due, raised,
                     label(record.status)]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        return [*lines, ""]

    def attendees_in_order(self) -> list[tuple[str, Record | None]]:
        """Most senior first (the order of §2's roles), then by name; unknown ones last."""

        def rank(pair: tuple[str, Record | None]) -> tuple[int, str]:
            contact_id, contact = pair
            if contact is None:
                return len(_ROLE_ORDER) + 1, contact_id
            role = getattr(contact, "role", None)
            position = _ROLE_ORDER.index(role) if role in _ROLE_ORDER else len(_ROLE_ORDER)
            return position, str(getattr(contact, "name", ""))

        ids = getattr(self.visit, "attendees", [])
        return sorted(zip(ids, self.attendees, strict=True), key=rank)

    def observations_by_category(self) -> list[tuple[str, list[Record]]]:
        groups: dict[str, list[Record]] = {}
        for record in self.observations:
            groups.setdefault(getattr(record, "category", None) or "", []).append(record)

        def category_rank(name: str) -> tuple[int, str]:
            if name in _CATEGORY_ORDER:
                return _CATEGORY_ORDER.index(name), name
            return len(_CATEGORY_ORDER), name  # uncategorised (or unknown) last

        def severity_rank(record: Record) -> int:
            severity = getattr(record, "severity", None)
            return _SEVERITY_ORDER.index(severity) if severity in _SEVERITY_ORDER else 2

        out = []
        for name in sorted(groups, key=category_rank):
            heading = {"kpi": "KPI", "": "Uncategorised"}.get(name, name.capitalize())
            out.append((heading, sorted(groups[name], key=severity_rank)))
        return out

    def question_outcome(self, record: Record) -> str:
        head, rest = self.question_outcome_parts(record)
        if head == "Open":
            return f"*Open* — {_md(rest)}"
        if head == "Escalated to":
            return f"**Escalated to** {_md(rest)}"
        return f"**{_md(head)}:** {_md(rest)}"

    def question_outcome_parts(self, record: Record) -> tuple[str, str]:
        """(`Answer (from Tom Becker)`, the answer) / (`Escalated to`, who) / (`Open`, …)."""
        answer = getattr(record, "answer", None)
        escalated_to = getattr(record, "escalated_to", None)
        if answer:
            source = f" (from {self.contact_name(escalated_to)})" if escalated_to else ""
            return f"Answer{source}", clean_text(answer)
        if escalated_to:
            contact = self.lookup(escalated_to)
            title = getattr(contact, "title", None)
            who = self.contact_name(escalated_to) + (f" ({title})" if title else "")
            return "Escalated to", f"{who} — awaiting an answer"
        return "Open", "not answered yet"

    # ------------------------------------------------------------ json and csv

    def json(self) -> str:
        document = {
            "visit": self.visit.to_json(),
            "site": self.site.to_json() if self.site is not None else None,
            "vendor": self.vendor.to_json() if self.vendor is not None else None,
            "attendees": [c.to_json() for c in self.attendees if c is not None],
            "observations": [r.to_json() for r in self.observations],
            "questions": [r.to_json() for r in self.questions],
            "actions": [
                {**r.to_json(), "overdue": self.overdue(r)} if self.overdue(r) else r.to_json()
                for r in self.actions
            ],
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for record in self.observations:
            writer.writerow(self._row("observation", record, {
                "category": getattr(record, "category", None),
                "severity": getattr(record, "severity", None),
                "contact": self.contact_name(getattr(record, "contact_id", None)),
            }))  # fmt: skip
        for record in self.questions:
            writer.writerow(self._row("question", record, {
                "asked_by": getattr(record, "asked_by", None),
                "answer": getattr(record, "answer", None),
                "escalated_to": self.contact_name(getattr(record, "escalated_to", None)),
                "status": record.status,
            }))  # fmt: skip
        for record in self.actions:
            due = getattr(record, "due", None)
            writer.writerow(self._row("action", record, {
                "owner": self.owner_name(record),
                "due": due.isoformat() if due else None,
                "priority": getattr(record, "priority", None),
                "status": record.status,
                "overdue": "yes" if self.overdue(record) else "",
            }))  # fmt: skip
        return buffer.getvalue()

    @staticmethod
    def _row(section: str, record: Record, values: dict[str, Any]) -> dict[str, Any]:
        row = {"section": section, "id": record.id, "text": record.text, **values}
        return {column: "" if row.get(column) is None else row[column] for column in CSV_COLUMNS}


VisitDocument = _Report
"""One visit's records gathered once; `visit_document` makes one."""


_MD_SPECIAL = str.maketrans({ch: "\\" + ch for ch in "\\`*_[]<>|"})


def _md(text: Any, *, keep_lines: bool = False) -> str:
    """User text made safe inside Markdown: specials escaped, one line unless kept."""
    value = str(text).translate(_MD_SPECIAL)
    if keep_lines:
        return value.strip()
    return " ".join(value.split())


def _name_runs(name: str) -> list[list[str]]:
    words = name.split()
    runs = [words[i:j] for i in range(len(words)) for j in range(i + 1, len(words) + 1)]
    return sorted(runs, key=len, reverse=True)


def _name_match(text: str, name: str) -> re.Match[str] | None:
    for run in _name_runs(name):
        pattern = r"\s+".join(re.escape(word) for word in run)
        found = re.search(rf"(?<!\S){pattern}(?![\w-])", text, re.IGNORECASE)
        if found:
            return found
    return None


def _mentions(text: str, name: str) -> bool:
    return _name_match(text, name) is not None


def _full_name_in(text: str, name: str) -> str:
    """The text with the (partial) name it holds written out in full, once."""
    found = _name_match(text, name)
    if found is None or found.group(0) == name:
        return text
    return text[: found.start()] + name + text[found.end() :]
