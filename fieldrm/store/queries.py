"""What the screens and the command line read from the device store (SPEC §7, §9).

Each query is bounded SQL run under the store's lock and returns plain records or small
dataclasses, so no widget ever holds a whole table.  The terminal app calls these from
thread workers; the CLI's `today` calls them directly.  The queries live in `store/`
because they read the store's tables; nothing outside `store/` touches the connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fieldrm.models import (
    OPEN_ACTION_STATUSES,
    OPEN_QUESTION_STATUSES,
    Record,
    chunks,
    format_timestamp,
    label,
    local_today,
    now_utc,
)

if TYPE_CHECKING:
    from fieldrm.store.db import Store

PAGE_SIZE = 200
"""Rows fetched per page for the long lists; more are fetched as the cursor nears the end."""


def _rows(store: Store, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[Any]:
    with store.lock:
        return store.conn.execute(sql, params).fetchall()


def _records(store: Store, sql: str, params: list[Any]) -> list[Record]:
    """The records whose JSON is the first column of `sql`'s rows."""
    return [store._model(row[0]) for row in _rows(store, sql, params)]


def _marks(values: Any) -> str:
    return ",".join("?" * len(values))


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
    site_id: str | None = None  # only records at this site (contacts by site)
    role: str | None = None  # only contacts in this role


def _filter_sql(flt: ListFilter) -> tuple[str, list[Any]]:
    clauses = ["kind = ?", "deleted = 0"]
    params: list[Any] = [flt.kind]
    if flt.statuses:
        clauses.append(f"json_extract(data, '$.status') IN ({_marks(flt.statuses)})")
        params += list(flt.statuses)
    if flt.text.strip():
        field_name = "name" if flt.kind == "contact" else "text"
        clauses.append(f"lower(json_extract(data, '$.{field_name}')) LIKE ? ESCAPE '\\'")
        params.append(_like(flt.text.strip()))
    if flt.overdue_before:
        clauses.append("json_extract(data, '$.due') < ?")
        params.append(flt.overdue_before)
    for field_name in ("site_id", "role"):
        value = getattr(flt, field_name)
        if value:
            clauses.append(f"json_extract(data, '$.{field_name}') = ?")
            params.append(value)
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
    return _rows(store, f"SELECT count(*) FROM records WHERE {where}", params)[0][0]


def list_position(store: Store, flt: ListFilter, record_id: str) -> int | None:
    """Where `record_id` is in the filtered list (0 = first, in `list_page`'s order), or
    None when the filter leaves it out: a screen opening a record far down a long list
    fetches the window that holds it."""
    where, params = _filter_sql(flt)
    sql = (
        f"SELECT n FROM (SELECT id, row_number() OVER (ORDER BY {_order(flt.kind)}) - 1 AS n "
        f"FROM records WHERE {where}) WHERE id = ?"
    )
    rows = _rows(store, sql, [*params, record_id])
    return rows[0][0] if rows else None


# ---------------------------------------------------------------- names


def names_for(store: Store, ids: list[str | None]) -> dict[str, str]:
    """Labels for the given record ids (one query), for showing references by name."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    labels: dict[str, str] = {}
    for chunk in chunks(wanted):
        rows = _rows(
            store,
            "SELECT id, coalesce(json_extract(data, '$.name'), json_extract(data, '$.text'),"
            f" json_extract(data, '$.purpose'), id) FROM records WHERE id IN ({_marks(chunk)})",
            chunk,
        )
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
        f"AND json_extract(data, '$.status') IN ({_marks(OPEN_ACTION_STATUSES)}) "
        "AND json_extract(data, '$.due') IS NOT NULL AND json_extract(data, '$.due') <= ? "
        "ORDER BY json_extract(data, '$.due') LIMIT ?",
        [*OPEN_ACTION_STATUSES, on_or_before.isoformat(), limit],
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
    rows = _rows(store, sql, [format_timestamp(since), limit])
    return [(store._model(row[0]), row[1]) for row in rows]


def last_met(store: Store, contact_ids: list[str]) -> dict[str, str]:
    """When each contact last attended a visit (ISO timestamp), for those who ever did."""
    if not contact_ids:
        return {}
    sql = (
        "SELECT attendee.value, max(json_extract(visit.data, '$.started_at')) "
        "FROM records AS visit, json_each(visit.data, '$.attendees') AS attendee "
        "WHERE visit.kind = 'visit' AND visit.deleted = 0 "
        f"AND attendee.value IN ({_marks(contact_ids)}) "
        "GROUP BY attendee.value"
    )
    return dict(_rows(store, sql, contact_ids))


# §11: "last met" by the cadence of each role, and the actions a review carries over.


def _held_met_cte() -> str:
    """Each contact's last meeting: the latest visit they attended that was held (not a
    planned one, not in the future)."""
    return (
        "WITH met AS (SELECT attendee.value AS contact_id, "
        "max(json_extract(visit.data, '$.started_at')) AS last_met "
        "FROM records AS visit, json_each(visit.data, '$.attendees') AS attendee "
        "WHERE visit.kind = 'visit' AND visit.deleted = 0 "
        "AND coalesce(json_extract(visit.data, '$.planned'), 0) = 0 "
        "AND json_extract(visit.data, '$.started_at') <= ? GROUP BY attendee.value), "
        "cad AS MATERIALIZED (SELECT json_extract(data, '$.role') AS role, "
        "json_extract(data, '$.site_id') AS site_id, "
        "min(json_extract(data, '$.every_days')) AS every FROM records "
        "WHERE kind = 'cadence' AND deleted = 0 GROUP BY 1, 2) "
    )


def contacts_overdue(
    store: Store,
    *,
    site_ids: list[str] | None = None,
    default_days: int | None = None,
    limit: int = 500,
) -> list[tuple[Record, str | None, str]]:
    """Contacts overdue a meeting: (contact, last met or None, due date), longest overdue
    first, then those never met.  A contact's role's cadence at their site, else its cadence
    everywhere, else `default_days` (None: contacts whose role has no cadence are skipped)
    says how often; any held visit they attended resets it."""
    now = format_timestamp(now_utc())
    every = "coalesce(here.every, anywhere.every, ?)"
    where = ""
    params: list[Any] = [now, default_days]
    if site_ids is not None:
        where = f"AND json_extract(contact.data, '$.site_id') IN ({_marks(site_ids)}) "
        params += site_ids
    sql = (
        _held_met_cte() + "SELECT data, last_met, every FROM (SELECT contact.data AS data, "
        f"met.last_met AS last_met, {every} AS every FROM records AS contact "
        "LEFT JOIN met ON met.contact_id = contact.id "
        "LEFT JOIN cad AS here ON here.role = json_extract(contact.data, '$.role') "
        "AND here.site_id = json_extract(contact.data, '$.site_id') "
        "LEFT JOIN cad AS anywhere ON anywhere.role = json_extract(contact.data, '$.role') "
        "AND anywhere.site_id IS NULL "
        f"WHERE contact.kind = 'contact' AND contact.deleted = 0 {where}) "
        "WHERE every IS NOT NULL AND (last_met IS NULL OR julianday(last_met) + every < "
        "julianday(?)) "
        "ORDER BY last_met IS NULL, julianday(last_met) + every, "
        "lower(json_extract(data, '$.name')) LIMIT ?"
    )
    rows = _rows(store, sql, [*params, now, limit])
    out = []
    for data, met, days in rows:
        record = store._model(data)
        start = met if met else format_timestamp(record.created_at)
        due = (datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(days=days)).date()
        out.append((record, met, (due if met else record.created_at.date()).isoformat()))
    return out


def carried_over_actions(
    store: Store,
    vendor_id: str,
    *,
    program_id: str | None = None,
    before: datetime | None = None,
    limit: int = 200,
) -> list[Record]:
    """Open actions raised at earlier review meetings of a vendor (and program), oldest
    first: what the next review carries over (§11, and the client pack of §12)."""
    reviews = (
        "SELECT id FROM records WHERE kind = 'visit' AND deleted = 0 "
        "AND json_extract(data, '$.visit_type') = 'review_meeting' "
        "AND json_extract(data, '$.vendor_id') = ? AND json_extract(data, '$.started_at') < ?"
    )
    params: list[Any] = [vendor_id, format_timestamp(before or now_utc())]
    if program_id:
        reviews += " AND json_extract(data, '$.program_id') = ?"
        params.append(program_id)
    return _records(
        store,
        "SELECT data FROM records WHERE kind = 'action' AND deleted = 0 "
        f"AND json_extract(data, '$.status') IN ({_marks(OPEN_ACTION_STATUSES)}) "
        f"AND (json_extract(data, '$.visit_id') IN ({reviews}) "
        f"OR json_extract(data, '$.source_id') IN ({reviews})) "
        "ORDER BY json_extract(data, '$.created_at'), rowid LIMIT ?",
        [*OPEN_ACTION_STATUSES, *params, *params, limit],
    )


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
    store: Store, *, due_within_days: int = 7, not_met_days: int = 60, questions_shown: int = 200
) -> TodaySummary:
    visit = next_visit(store)
    site = names_for(store, [visit.site_id]).get(visit.site_id) if visit else None
    question_filter = ListFilter("question", statuses=OPEN_QUESTION_STATUSES)
    actions = actions_due(store, local_today() + timedelta(days=due_within_days), limit=8)
    return TodaySummary(
        visit=visit,
        visit_site=site,
        open_question_count=list_count(store, question_filter),
        # All of them (the panel scrolls), bounded: a page, never the whole table.
        open_questions=list_page(store, question_filter, limit=questions_shown),
        actions_due=actions,
        owners=names_for(store, [a.owner_id for a in actions]),
        contacts_not_met=[
            (contact, met)
            for contact, met, _due in contacts_overdue(store, default_days=not_met_days, limit=6)
        ],
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
        midnight = datetime.combine(local_today(), datetime.min.time()).astimezone()
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
    visits = _rows(
        store,
        "SELECT visit.data FROM records AS visit, json_each(visit.data, '$.attendees') AS a "
        "WHERE visit.kind = 'visit' AND visit.deleted = 0 AND a.value = ? "
        "ORDER BY json_extract(visit.data, '$.started_at') DESC LIMIT ?",
        [contact_id, limit],
    )
    mentions = _rows(
        store,
        "SELECT data FROM records WHERE deleted = 0 AND ("
        "(kind = 'observation' AND json_extract(data, '$.contact_id') = ?) OR "
        "(kind = 'action' AND json_extract(data, '$.owner_id') = ?) OR "
        "(kind = 'question' AND json_extract(data, '$.escalated_to') = ?)) "
        "ORDER BY updated_at DESC LIMIT ?",
        [contact_id, contact_id, contact_id, limit],
    )
    visit_records = [json.loads(row[0]) for row in visits]
    site_names = names_for(store, [v.get("site_id") for v in visit_records])
    for visit in visit_records:
        visit_type = label(visit.get("visit_type") or "visit")
        where = site_names.get(visit.get("site_id") or "", "")
        text = f"{visit_type} at {where}" + (
            f": {visit['purpose']}" if visit.get("purpose") else ""
        )
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


# ---------------------------------------------------------------- conflicts and sync counts


def open_conflict_count(store: Store) -> int:
    """How many conflicts wait for a person to decide them."""
    return _rows(
        store,
        "SELECT count(*) FROM records WHERE kind = 'conflict' AND deleted = 0 "
        "AND json_extract(data, '$.status') = 'open'",
    )[0][0]


def read_counts(store: Store) -> tuple[int, int, str | None]:
    """(pending changes, open conflicts, last sync) from the store."""
    return store.pending_count(), open_conflict_count(store), store.get_state("last_sync")


# ---------------------------------------------------------------- documents (SPEC §12)


def vendor_visits(
    store: Store, vendor_id: str, start: date | None = None, end: date | None = None
) -> list[Record]:
    """The visits at a vendor's sites (or reviewing the vendor) that started between `start`
    and `end` (UTC dates, both included), oldest first: the visits of a client pack."""
    sql = (
        "SELECT data FROM records WHERE kind = 'visit' AND deleted = 0 AND ("
        " json_extract(data, '$.site_id') IN (SELECT id FROM records WHERE kind = 'site'"
        "  AND deleted = 0 AND json_extract(data, '$.vendor_id') = ?)"
        " OR json_extract(data, '$.vendor_id') = ?)"
    )
    params: list[Any] = [vendor_id, vendor_id]
    if start is not None:
        sql += " AND json_extract(data, '$.started_at') >= ?"
        params.append(start.isoformat())
    if end is not None:
        sql += " AND json_extract(data, '$.started_at') < ?"
        params.append((end + timedelta(days=1)).isoformat())
    return _records(store, sql + " ORDER BY json_extract(data, '$.started_at'), id", params)


# ---------------------------------------------------------------- visits to choose from


def recent_visits(store: Store, limit: int = 30) -> list[tuple[Record, str]]:
    """Visits held, newest first (open or past; planned ones are not held yet), each with
    its site's name: what a person picks a visit from, by site, date and purpose, never by id."""
    visits = _records(
        store,
        "SELECT data FROM records WHERE kind = 'visit' AND deleted = 0 "
        "AND coalesce(json_extract(data, '$.planned'), 0) = 0 "
        "ORDER BY json_extract(data, '$.started_at') DESC LIMIT ?",
        [limit],
    )
    names = names_for(store, [visit.site_id for visit in visits])
    return [(visit, names.get(visit.site_id, "?")) for visit in visits]


def outside_writes(store: Store) -> int:
    """SQLite's `data_version`: it changes when another connection (another process, such
    as `fieldrm capture`) commits to the device's database, never for this one's writes."""
    return int(_rows(store, "PRAGMA data_version")[0][0])
