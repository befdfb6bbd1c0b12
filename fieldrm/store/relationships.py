"""What the relationship side of the job reads (SPEC §11): KPI status and trend, a vendor's
escalation ladder and its open escalations, the roles a site is missing, a review's agenda.

Bounded SQL over the store's tables, like `queries.py`, returning small dataclasses or the
JSON shapes of §11, so the CLI and the screens show the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fieldrm.models import (
    OPEN_QUESTION_STATUSES,
    Direction,
    Record,
    format_timestamp,
    label,
    local_today,
    now_utc,
    parse_timestamp,
    period_key,
)
from fieldrm.store.queries import (
    _marks,
    _records,
    _rows,
    carried_over_actions,
    contacts_overdue,
    names_for,
)

if TYPE_CHECKING:
    from fieldrm.store.db import Store

TREND_PERIODS = 6


# ---------------------------------------------------------------- KPIs


def kpi_status(direction: str, target: float, red: float | None, value: float) -> str:
    """green when `value` meets the target, red at or beyond `red`, amber otherwise (§11)."""
    higher = direction == Direction.higher_better
    if (value >= target) if higher else (value <= target):
        return "green"
    if red is not None and ((value <= red) if higher else (value >= red)):
        return "red"
    return "amber"


@dataclass
class KpiStatus:
    kpi: Record
    program: str
    latest: dict[str, Any] | None  # {"period", "value"}
    status: str | None
    trend: list[dict[str, Any]] = field(default_factory=list)  # oldest first

    def to_json(self) -> dict[str, Any]:
        kpi = self.kpi
        return {
            "id": kpi.id,
            "program": self.program,
            "name": kpi.name,
            "unit": kpi.unit,
            "direction": kpi.direction,
            "target": kpi.target,
            "latest": self.latest,
            "status": self.status,
            "trend": self.trend,
        }


def program_ids_of_vendor(store: Store, vendor_id: str) -> list[str]:
    rows = _rows(
        store,
        "SELECT program.id FROM records AS program JOIN records AS site "
        "ON site.id = json_extract(program.data, '$.site_id') "
        "WHERE program.kind = 'program' AND program.deleted = 0 AND site.kind = 'site' "
        "AND json_extract(site.data, '$.vendor_id') = ?",
        [vendor_id],
    )
    return [row[0] for row in rows]


def site_ids_of_vendor(store: Store, vendor_id: str) -> list[str]:
    rows = _rows(
        store,
        "SELECT id FROM records WHERE kind = 'site' AND deleted = 0 "
        "AND json_extract(data, '$.vendor_id') = ?",
        [vendor_id],
    )
    return [row[0] for row in rows]


def kpi_statuses(store: Store, program_ids: list[str] | None = None) -> list[KpiStatus]:
    """Each KPI (of the given programs, or all) with its latest value, status and trend."""
    sql = "SELECT data FROM records WHERE kind = 'kpi' AND deleted = 0"
    params: list[Any] = []
    if program_ids is not None:
        if not program_ids:
            return []
        sql += f" AND json_extract(data, '$.program_id') IN ({_marks(program_ids)})"
        params += program_ids
    kpis = _records(store, sql + " ORDER BY lower(json_extract(data, '$.name')), id", params)
    if not kpis:
        return []
    ids = [kpi.id for kpi in kpis]
    values: dict[str, list[tuple[str, float]]] = {}
    for kpi_id, period, value in _rows(
        store,
        "SELECT json_extract(data, '$.kpi_id'), json_extract(data, '$.period'), "
        "json_extract(data, '$.value') FROM records "
        f"WHERE json_extract(data, '$.kpi_id') IN ({_marks(ids)}) "
        # `+kind`: look values up by KPI (records_by_kpi), not by scanning every value
        "AND json_extract(data, '$.kpi_id') IS NOT NULL AND +kind = 'kpi_value' AND deleted = 0",
        ids,
    ):
        values.setdefault(kpi_id, []).append((period, value))
    programs = names_for(store, [kpi.program_id for kpi in kpis])
    out = []
    for kpi in kpis:
        series = sorted(values.get(kpi.id, []), key=lambda pv: period_key(pv[0]))
        trend = [{"period": p, "value": v} for p, v in series[-TREND_PERIODS:]]
        latest = trend[-1] if trend else None
        status = kpi_status(kpi.direction, kpi.target, kpi.red, latest["value"]) if latest else None
        out.append(KpiStatus(kpi, programs.get(kpi.program_id, ""), latest, status, trend))
    out.sort(key=lambda item: (item.program.lower(), item.kpi.name.lower()))
    return out


def kpis_off_target(store: Store, program_ids: list[str] | None = None) -> list[KpiStatus]:
    """KPIs whose latest value misses the target (red first)."""
    off = [item for item in kpi_statuses(store, program_ids) if item.status in ("amber", "red")]
    off.sort(key=lambda item: item.status != "red")
    return off


# ---------------------------------------------------------------- ladders and escalations


def ladder_steps(store: Store, vendor_id: str, program_id: str | None = None) -> list[Record]:
    """The vendor's ladder, one step per level: a program's own step overrides the vendor's."""
    steps = _records(
        store,
        "SELECT data FROM records WHERE kind = 'ladder_step' AND deleted = 0 "
        "AND json_extract(data, '$.vendor_id') = ? ORDER BY json_extract(data, '$.level')",
        [vendor_id],
    )
    by_level: dict[int, Record] = {}
    for step in steps:
        if step.program_id is None:
            by_level.setdefault(step.level, step)
    for step in steps:
        if program_id is not None and step.program_id == program_id:
            by_level[step.level] = step
    return [by_level[level] for level in sorted(by_level)]


def step_target(store: Store, step: Record | None, site_id: str | None = None) -> str | None:
    """Who a ladder step names: its contact, else the first person in its role at the
    vendor (at the site first).  Returns a contact id or None."""
    if step is None:
        return None
    if step.contact_id:
        return step.contact_id
    sites = site_ids_of_vendor(store, step.vendor_id)
    rows = _rows(
        store,
        "SELECT id FROM records WHERE kind = 'contact' AND deleted = 0 "
        "AND json_extract(data, '$.role') = ? AND (json_extract(data, '$.vendor_id') = ? "
        f"OR json_extract(data, '$.site_id') IN ({_marks(sites)})) "
        "ORDER BY json_extract(data, '$.site_id') IS NOT ?, lower(json_extract(data, '$.name')) "
        "LIMIT 1",
        [step.role, step.vendor_id, *sites, site_id],
    )
    return rows[0][0] if rows else None


def step_name(store: Store, step: Record | None, site_id: str | None = None) -> str | None:
    """A ladder step as a person reads it: the contact's name, else the role."""
    if step is None:
        return None
    target = step_target(store, step, site_id)
    if target:
        return names_for(store, [target]).get(target, target)
    return label(step.role)


def question_context(store: Store, question: Record) -> tuple[str | None, str | None, str | None]:
    """(vendor id, site id, program id) a question belongs to, by its program or visit."""
    program_id = question.program_id
    site_id = None
    if question.visit_id:
        visit = store.get_raw(question.visit_id) or {}
        site_id = visit.get("site_id")
        program_id = program_id or visit.get("program_id")
        if visit.get("vendor_id") and not site_id:
            return visit["vendor_id"], None, program_id
    if program_id and not site_id:
        site_id = (store.get_raw(program_id) or {}).get("site_id")
    vendor_id = (store.get_raw(site_id) or {}).get("vendor_id") if site_id else None
    return vendor_id, site_id, program_id


@dataclass
class Escalation:
    question: Record
    vendor_id: str | None
    level: int | None
    to: str | None
    escalated_at: str | None
    due_at: str | None
    overdue: bool
    next: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "question_id": self.question.id,
            "text": self.question.text,
            "level": self.level,
            "to": self.to,
            "escalated_at": self.escalated_at,
            "due_at": self.due_at,
            "overdue": self.overdue,
            "next": self.next,
        }


def escalations(
    store: Store, *, vendor_id: str | None = None, overdue_only: bool = False, limit: int = 500
) -> list[Escalation]:
    """Escalated questions still waiting for an answer, oldest escalation first."""
    questions = _records(
        store,
        "SELECT data FROM records WHERE kind = 'question' AND deleted = 0 "
        "AND json_extract(data, '$.status') = 'escalated' "
        "ORDER BY coalesce(json_extract(data, '$.escalated_at'), updated_at) LIMIT ?",
        [limit],
    )
    now = now_utc()
    out = []
    ladders: dict[tuple[str, str | None], dict[int, Record]] = {}
    step_names: dict[tuple[str, str | None], str | None] = {}  # (step id, site) -> name

    def named(step: Record | None, site: str | None) -> str | None:
        if step is None:
            return None
        if (step.id, site) not in step_names:
            step_names[step.id, site] = step_name(store, step, site)
        return step_names[step.id, site]

    people = names_for(store, [q.escalated_to for q in questions])
    for question in questions:
        vendor, site, program = question_context(store, question)
        if vendor_id is not None and vendor != vendor_id:
            continue
        if vendor and (vendor, program) not in ladders:
            ladders[vendor, program] = {s.level: s for s in ladder_steps(store, vendor, program)}
        steps = ladders.get((vendor, program), {}) if vendor else {}
        level = question.escalation_level
        step = steps.get(level) if level else None
        to = people.get(question.escalated_to or "")
        if to is None and step is not None:
            to = named(step, site)
        at = question.escalated_at
        due = at + timedelta(hours=step.respond_within_hours) if at and step else None
        overdue = due is not None and now > due
        if overdue_only and not overdue:
            continue
        out.append(
            Escalation(
                question=question,
                vendor_id=vendor,
                level=level,
                to=to,
                escalated_at=format_timestamp(at) if at else None,
                due_at=format_timestamp(due) if due else None,
                overdue=overdue,
                next=named(steps.get((level or 0) + 1), site),
            )
        )
    return out


# ---------------------------------------------------------------- coverage


def missing_roles(store: Store, site_id: str | None = None) -> list[dict[str, str]]:
    """Required roles (by cadence) that a site has nobody in: [{"site", "role"}]."""
    cadences = _records(
        store,
        "SELECT data FROM records WHERE kind = 'cadence' AND deleted = 0 "
        "AND json_extract(data, '$.required') = 1",
        [],
    )
    if not cadences:
        return []
    sql = "SELECT id, json_extract(data, '$.name') FROM records WHERE kind = 'site' AND deleted = 0"
    params: list[Any] = []
    if site_id:
        sql += " AND id = ?"
        params.append(site_id)
    sites = _rows(store, sql + " ORDER BY lower(json_extract(data, '$.name'))", params)
    present = {
        (row[0], row[1])
        for row in _rows(
            store,
            "SELECT json_extract(data, '$.site_id'), json_extract(data, '$.role') FROM records "
            "WHERE kind = 'contact' AND deleted = 0 AND json_extract(data, '$.role') IS NOT NULL",
        )
    }
    out = []
    for site, name in sites:
        wanted = {c.role for c in cadences if c.site_id in (None, site)}
        roles = sorted(wanted - {role for where, role in present if where == site})
        out.extend({"site": name, "role": role} for role in roles)
    return out


def overdue_people(
    store: Store, *, site_ids: list[str] | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Contacts overdue a meeting by their role's cadence, as §11's `coverage` lists them."""
    rows = contacts_overdue(store, site_ids=site_ids, limit=limit)
    sites = names_for(store, [contact.site_id for contact, _met, _due in rows])
    return [
        {
            "contact": contact.name,
            "role": contact.role,
            "site": sites.get(contact.site_id or ""),
            "last_met": last_met,
            "due": due,
        }
        for contact, last_met, due in rows
    ]


def coverage(store: Store, site_id: str | None = None) -> dict[str, Any]:
    return {
        "missing_roles": missing_roles(store, site_id),
        "overdue": overdue_people(store, site_ids=[site_id] if site_id else None),
    }


# ---------------------------------------------------------------- a review's agenda


def _age_days(stamp: Any) -> int:
    moment = parse_timestamp(stamp) if not isinstance(stamp, datetime) else stamp
    return (local_today() - moment.astimezone().date()).days


def open_questions_of(
    store: Store, site_ids: list[str], program_ids: list[str], limit: int = 100
) -> list[Record]:
    """Open (not escalated) questions asked at these sites' visits or about these programs."""
    if not site_ids and not program_ids:
        return []
    return _records(
        store,
        "SELECT data FROM records WHERE kind = 'question' AND deleted = 0 "
        "AND json_extract(data, '$.status') = ? AND ("
        f"json_extract(data, '$.program_id') IN ({_marks(program_ids)}) OR "
        "json_extract(data, '$.visit_id') IN (SELECT id FROM records WHERE kind = 'visit' "
        f"AND json_extract(data, '$.site_id') IN ({_marks(site_ids)}))) "
        "ORDER BY json_extract(data, '$.created_at') LIMIT ?",
        [OPEN_QUESTION_STATUSES[0], *program_ids, *site_ids, limit],
    )


def agenda(
    store: Store, *, vendor_id: str, program_id: str | None = None, before: datetime | None = None
) -> dict[str, Any]:
    """A review's agenda, built from the records (§11), in the JSON shape of `agenda`."""
    programs = [program_id] if program_id else program_ids_of_vendor(store, vendor_id)
    sites = site_ids_of_vendor(store, vendor_id)
    actions = carried_over_actions(store, vendor_id, program_id=program_id, before=before)
    owners = names_for(store, [action.owner_id for action in actions])
    carried = [
        {
            "id": action.id,
            "text": action.text,
            "owner": owners.get(action.owner_id or "") if action.owner_id else None,
            "due": action.due.isoformat() if action.due else None,
            "age_days": _age_days(action.created_at),
            "raised_at": format_timestamp(action.created_at),
        }
        for action in actions
    ]
    off = kpis_off_target(store, programs)
    questions = open_questions_of(store, sites, programs)
    return {
        "carried_over": carried,
        "escalations": [e.to_json() for e in escalations(store, vendor_id=vendor_id)],
        "kpis_off_target": [
            {
                "kpi": item.kpi.name,
                "period": item.latest["period"] if item.latest else None,
                "value": item.latest["value"] if item.latest else None,
                "target": item.kpi.target,
                "status": item.status,
            }
            for item in off
        ],
        "people_overdue": overdue_people(store, site_ids=sites) if sites else [],
        "open_questions": [
            {
                "id": question.id,
                "text": question.text,
                "asked_by": question.asked_by,
                "age_days": _age_days(question.created_at),
            }
            for question in questions
        ],
    }


# ---------------------------------------------------------------- Today's §11 panels


@dataclass
class RelationshipToday:
    """What Today shows of §11: KPIs off target and escalations past their response time."""

    kpis_off_target: list[KpiStatus]
    overdue_escalations: list[Escalation]


def relationship_today(store: Store, limit: int = 6) -> RelationshipToday:
    return RelationshipToday(
        kpis_off_target=kpis_off_target(store)[:limit],
        overdue_escalations=escalations(store, overdue_only=True)[:limit],
    )
