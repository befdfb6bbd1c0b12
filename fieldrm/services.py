"""The app's read-side queries over the device store, and its sync status.

The terminal app calls these from thread workers; each runs a bounded SQL query under
`store.lock` and returns plain records, so no widget ever holds a whole table.  Nothing
here imports Textual: the queries are testable (and benchmarked) on their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fieldrm.models import Record, format_timestamp, now_utc, parse_timestamp
from fieldrm.store import Store

PAGE_SIZE = 200
"""Rows fetched per page for the long lists; more are fetched as the cursor nears the end."""

OPEN_ACTION_STATUSES = ("open", "in_progress")


def today() -> date:
    """Today's date in local time (FIELDRM_NOW freezes it)."""
    return now_utc().astimezone().date()


def _records(store: Store, sql: str, params: list[Any]) -> list[Record]:
    with store.lock:
        rows = store.conn.execute(sql, params).fetchall()
    return [store._model(row[0]) for row in rows]


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's wildcards taken literally."""
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# ---------------------------------------------------------------- paged lists


@dataclass(frozen=True)
class ListFilter:
    """What a list screen shows: a kind, statuses to include (empty = all), and text."""

    kind: str
    statuses: tuple[str, ...] = ()
    text: str = ""
    overdue_before: str | None = None  # ISO date: only actions due before it


def _filter_sql(flt: ListFilter) -> tuple[str, list[Any]]:
    clauses = ["kind = ?", "deleted = 0"]
    params: list[Any] = [flt.kind]
    if flt.statuses:
        clauses.append(f"json_extract(data, '$.status') IN ({','.join('?' * len(flt.statuses))})")
        params += list(flt.statuses)
    if flt.text.strip():
        field_name = "name" if flt.kind == "contact" else "text"
        clauses.append(f"lower(json_extract(data, '$.{field_name}')) LIKE ? ESCAPE '\\'")
        params.append(_like(flt.text.strip()))
    if flt.overdue_before:
        clauses.append("json_extract(data, '$.due') < ?")
        params.append(flt.overdue_before)
    return " AND ".join(clauses), params


def _order(kind: str) -> str:
    if kind == "contact":
        return "lower(json_extract(data, '$.name')), id"
    if kind == "action":
        # Due first (soonest on top), undated after them, newest first among equals.
        return "json_extract(data, '$.due') IS NULL, json_extract(data, '$.due'), updated_at DESC"
    return "updated_at DESC, id"


def list_page(
    store: Store, flt: ListFilter, *, offset: int = 0, limit: int = PAGE_SIZE
) -> list[Record]:
    """One page of a filtered list, in the screen's order."""
    where, params = _filter_sql(flt)
    sql = f"SELECT data FROM records WHERE {where} ORDER BY {_order(flt.kind)} LIMIT ? OFFSET ?"
    return _records(store, sql, [*params, limit, offset])


def list_count(store: Store, flt: ListFilter) -> int:
    where, params = _filter_sql(flt)
    with store.lock:
        return store.conn.execute(f"SELECT count(*) FROM records WHERE {where}", params).fetchone()[
            0
        ]


# ---------------------------------------------------------------- names


def names_for(store: Store, ids: list[str | None]) -> dict[str, str]:
    """Labels for the given record ids (one query), for showing references by name."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    labels: dict[str, str] = {}
    with store.lock:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = store.conn.execute(
                "SELECT id, coalesce(json_extract(data, '$.name'), json_extract(data, '$.text'),"
                f" json_extract(data, '$.purpose'), id) FROM records WHERE id IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            labels.update({row[0]: row[1] for row in rows})
    return labels


def sites_matching(store: Store, text: str, limit: int = 20) -> list[Record]:
    """Sites whose name or city contains `text` (all sites, by name, when it is empty)."""
    return _records(
        store,
        "SELECT data FROM records WHERE kind = 'site' AND deleted = 0 AND ("
        "lower(json_extract(data, '$.name')) LIKE ? ESCAPE '\\' OR "
        "lower(coalesce(json_extract(data, '$.city'), '')) LIKE ? ESCAPE '\\') "
        "ORDER BY lower(json_extract(data, '$.name')) LIMIT ?",
        [_like(text), _like(text), limit],
    )


def site_contacts(store: Store, site_id: str, limit: int = 500) -> list[Record]:
    """The people at a site, by name."""
    return _records(
        store,
        "SELECT data FROM records WHERE kind = 'contact' AND deleted = 0 "
        "AND json_extract(data, '$.site_id') = ? "
        "ORDER BY lower(json_extract(data, '$.name')) LIMIT ?",
        [site_id, limit],
    )


# ---------------------------------------------------------------- today


def next_visit(store: Store) -> Record | None:
    """The open visit, else the next one planned (started_at in the future)."""
    visit = store.open_visit()
    if visit is not None:
        return visit
    found = _records(
        store,
        "SELECT data FROM records WHERE kind = 'visit' AND deleted = 0 "
        "AND json_extract(data, '$.started_at') > ? "
        "ORDER BY json_extract(data, '$.started_at') LIMIT 1",
        [format_timestamp(now_utc())],
    )
    return found[0] if found else None


def actions_due(store: Store, on_or_before: date, limit: int = 20) -> list[Record]:
    """Open actions due on or before a date (overdue and due soon), soonest first."""
    return _records(
        store,
        "SELECT data FROM records WHERE kind = 'action' AND deleted = 0 "
        "AND json_extract(data, '$.status') IN ('open', 'in_progress') "
        "AND json_extract(data, '$.due') IS NOT NULL AND json_extract(data, '$.due') <= ? "
        "ORDER BY json_extract(data, '$.due') LIMIT ?",
        [on_or_before.isoformat(), limit],
    )


def _last_met_cte() -> str:
    return (
        "WITH met AS (SELECT attendee.value AS contact_id, "
        "max(json_extract(visit.data, '$.started_at')) AS last_met "
        "FROM records AS visit, json_each(visit.data, '$.attendees') AS attendee "
        "WHERE visit.kind = 'visit' AND visit.deleted = 0 GROUP BY attendee.value) "
    )


def contacts_not_met(
    store: Store, since: datetime, limit: int = 10
) -> list[tuple[Record, str | None]]:
    """Contacts last met before `since` (longest ago first), then contacts never met."""
    sql = (
        _last_met_cte() + "SELECT contact.data, met.last_met FROM records AS contact "
        "LEFT JOIN met ON met.contact_id = contact.id "
        "WHERE contact.kind = 'contact' AND contact.deleted = 0 "
        "AND (met.last_met IS NULL OR met.last_met < ?) "
        "ORDER BY met.last_met IS NULL, met.last_met, lower(json_extract(contact.data, '$.name')) "
        "LIMIT ?"
    )
    with store.lock:
        rows = store.conn.execute(sql, [format_timestamp(since), limit]).fetchall()
    return [(store._model(row[0]), row[1]) for row in rows]


def last_met(store: Store, contact_ids: list[str]) -> dict[str, str]:
    """When each contact last attended a visit (ISO timestamp), for those who ever did."""
    if not contact_ids:
        return {}
    marks = ",".join("?" * len(contact_ids))
    sql = (
        "SELECT attendee.value, max(json_extract(visit.data, '$.started_at')) "
        "FROM records AS visit, json_each(visit.data, '$.attendees') AS attendee "
        f"WHERE visit.kind = 'visit' AND visit.deleted = 0 AND attendee.value IN ({marks}) "
        "GROUP BY attendee.value"
    )
    with store.lock:
        return dict(store.conn.execute(sql, contact_ids).fetchall())


@dataclass
class TodaySummary:
    """Everything the Today screen shows, gathered in one worker."""

    visit: Record | None
    visit_site: str | None
    open_question_count: int
    open_questions: list[Record]
    actions_due: list[Record]
    owners: dict[str, str]
    contacts_not_met: list[tuple[Record, str | None]]
    recent_observations: list[Record]


def today_summary(
    store: Store, *, due_within_days: int = 7, not_met_days: int = 60
) -> TodaySummary:
    visit = next_visit(store)
    site = names_for(store, [visit.site_id]).get(visit.site_id) if visit else None
    question_filter = ListFilter("question", statuses=("open", "escalated"))
    actions = actions_due(store, today() + timedelta(days=due_within_days), limit=8)
    return TodaySummary(
        visit=visit,
        visit_site=site,
        open_question_count=list_count(store, question_filter),
        open_questions=list_page(store, question_filter, limit=5),
        actions_due=actions,
        owners=names_for(store, [a.owner_id for a in actions]),
        contacts_not_met=contacts_not_met(store, now_utc() - timedelta(days=not_met_days), 6),
        recent_observations=store.list("observation", limit=6),
    )


# ---------------------------------------------------------------- a visit's log


def visit_log(store: Store, visit_id: str | None, limit: int = 500) -> list[Record]:
    """A visit's observations, questions and actions, oldest first.

    Without a visit: today's captures (records of those kinds made since midnight).
    """
    if visit_id:
        sql = (
            "SELECT data FROM records WHERE kind IN ('observation', 'question', 'action') "
            "AND deleted = 0 AND json_extract(data, '$.visit_id') = ? "
            "ORDER BY json_extract(data, '$.created_at'), rowid LIMIT ?"
        )
        params: list[Any] = [visit_id, limit]
    else:
        midnight = datetime.combine(today(), datetime.min.time()).astimezone()
        sql = (
            "SELECT data FROM (SELECT rowid, data, updated_at FROM records "
            "WHERE kind IN ('observation', 'question', 'action') AND deleted = 0 "
            "AND updated_at >= ? ORDER BY updated_at DESC LIMIT ?) "
            "ORDER BY json_extract(data, '$.created_at'), rowid"
        )
        params = [format_timestamp(midnight), limit]
    return _records(store, sql, params)


# ---------------------------------------------------------------- contacts


@dataclass(frozen=True)
class TimelineEntry:
    at: str  # ISO timestamp or date
    what: str  # "visit", "observation", "action"
    label: str
    record_id: str


@dataclass
class ContactDetail:
    contact: Record
    site: str | None
    manager: str | None
    last_met: str | None
    timeline: list[TimelineEntry]
    org_chart: list[tuple[int, Record]]  # (depth, contact) in tree order


def contact_detail(store: Store, contact_id: str, limit: int = 100) -> ContactDetail:
    """A contact with their site's org chart and their timeline (newest first)."""
    contact = store.get(contact_id)
    names = names_for(store, [contact.site_id, contact.reports_to])
    timeline: list[TimelineEntry] = []
    with store.lock:
        visits = store.conn.execute(
            "SELECT visit.data FROM records AS visit, json_each(visit.data, '$.attendees') AS a "
            "WHERE visit.kind = 'visit' AND visit.deleted = 0 AND a.value = ? "
            "ORDER BY json_extract(visit.data, '$.started_at') DESC LIMIT ?",
            [contact_id, limit],
        ).fetchall()
        mentions = store.conn.execute(
            "SELECT data FROM records WHERE deleted = 0 AND ("
            "(kind = 'observation' AND json_extract(data, '$.contact_id') = ?) OR "
            "(kind = 'action' AND json_extract(data, '$.owner_id') = ?) OR "
            "(kind = 'question' AND json_extract(data, '$.escalated_to') = ?)) "
            "ORDER BY updated_at DESC LIMIT ?",
            [contact_id, contact_id, contact_id, limit],
        ).fetchall()
    visit_records = [json.loads(row[0]) for row in visits]
    site_names = names_for(store, [v.get("site_id") for v in visit_records])
    for visit in visit_records:
        label = (visit.get("visit_type") or "visit").replace("_", " ")
        where = site_names.get(visit.get("site_id") or "", "")
        text = f"{label} at {where}" + (f": {visit['purpose']}" if visit.get("purpose") else "")
        timeline.append(TimelineEntry(visit["started_at"], "visit", text, visit["id"]))
    for row in mentions:
        record = json.loads(row[0])
        kind = record["kind"]
        if kind == "action":
            what = f"action ({record.get('status')}"
            what += f", due {record['due']})" if record.get("due") else ")"
        elif kind == "question":
            what = "question escalated"
        else:
            what = "observation"
        timeline.append(TimelineEntry(record["created_at"], what, record["text"], record["id"]))
    timeline.sort(key=lambda entry: entry.at, reverse=True)
    met = visit_records[0]["started_at"] if visit_records else None
    chart = org_chart(store, contact.site_id) if contact.site_id else [(0, contact)]
    return ContactDetail(
        contact=contact,
        site=names.get(contact.site_id or ""),
        manager=names.get(contact.reports_to or ""),
        last_met=met,
        timeline=timeline[:limit],
        org_chart=chart,
    )


def org_chart(store: Store, site_id: str, limit: int = 500) -> list[tuple[int, Record]]:
    """A site's people as a tree from reports_to: (depth, contact) in display order.

    People whose manager is elsewhere (or unknown) are roots; a reports_to cycle is cut
    where it closes, so every person appears exactly once.
    """
    people = site_contacts(store, site_id, limit)
    by_id = {p.id: p for p in people}
    reports: dict[str | None, list[Record]] = {}
    for person in people:
        boss = person.reports_to if person.reports_to in by_id else None
        reports.setdefault(boss, []).append(person)
    out: list[tuple[int, Record]] = []
    seen: set[str] = set()

    def walk(boss: str | None, depth: int) -> None:
        for person in reports.get(boss, []):
            if person.id in seen:
                continue
            seen.add(person.id)
            out.append((depth, person))
            walk(person.id, depth + 1)

    walk(None, 0)
    for person in people:  # members of a cycle with no root above them
        if person.id not in seen:
            seen.add(person.id)
            out.append((0, person))
            walk(person.id, 1)
    return out


# ---------------------------------------------------------------- conflicts and sync status


def open_conflicts(store: Store, limit: int = 200) -> list[Record]:
    """Open conflicts, oldest first (the sync package's own helper when it is installed)."""
    return _records(
        store,
        "SELECT data FROM records WHERE kind = 'conflict' AND deleted = 0 "
        "AND json_extract(data, '$.status') = 'open' ORDER BY created_at LIMIT ?",
        [limit],
    )


def open_conflict_count(store: Store) -> int:
    with store.lock:
        return store.conn.execute(
            "SELECT count(*) FROM records WHERE kind = 'conflict' AND deleted = 0 "
            "AND json_extract(data, '$.status') = 'open'"
        ).fetchone()[0]


@dataclass(frozen=True)
class SyncStatus:
    """What the status line shows."""

    connection: str = "no server"  # "online", "offline", "no server", "syncing"
    last_sync: str | None = None  # ISO timestamp of the last successful sync
    pending: int = 0
    conflicts: int = 0
    error: str | None = None  # the last failure's readable reason
    server: str | None = None
    history: tuple[str, ...] = field(default=(), compare=False)


def read_counts(store: Store) -> tuple[int, int, str | None]:
    """(pending changes, open conflicts, last sync) from the store."""
    return store.pending_count(), open_conflict_count(store), store.get_state("last_sync")


def ago(moment: str | None, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', '12 days ago', or 'never'."""
    if not moment:
        return "never"
    try:
        then = parse_timestamp(moment)
    except ValueError:
        return str(moment)
    seconds = ((now or now_utc()) - then).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def short_time(moment: Any) -> str:
    """HH:MM in local time for a timestamp, or the text itself for a date."""
    if moment is None:
        return ""
    if isinstance(moment, date) and not isinstance(moment, datetime):
        return moment.isoformat()
    try:
        return parse_timestamp(moment).astimezone().strftime("%H:%M")
    except ValueError:
        return str(moment)


def short_date(moment: Any) -> str:
    if moment is None:
        return ""
    if isinstance(moment, date) and not isinstance(moment, datetime):
        return moment.isoformat()
    try:
        return parse_timestamp(moment).astimezone().strftime("%Y-%m-%d")
    except ValueError:
        return str(moment)
