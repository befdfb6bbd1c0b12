"""What an RM does beyond the floor walk (SPEC §11), written once for the CLI and the app:
record KPIs and their values, plan reviews, set escalation ladders and cadences, escalate
a question up the ladder.

The things two devices may make independently (a KPI's value for a period, a meeting of a
recurring review series, a ladder level, a role's cadence) get ids derived from what they
are, so both devices write the same record and sync merges it field by field.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fieldrm.errors import InvalidInput, NotFound
from fieldrm.models import (
    QuestionStatus,
    Record,
    VisitType,
    derived_id,
    kind_info,
    kpi_value_id,
    normal_period,
    now_utc,
    parse_timestamp,
)
from fieldrm.store.relationships import ladder_steps, question_context, step_target

if TYPE_CHECKING:
    from fieldrm.store import Store

__all__ = [
    "escalate_up",
    "import_kpi_csv",
    "parse_every",
    "parse_hours",
    "plan_visits",
    "put_record",
    "record_kpi_value",
    "set_cadence",
    "set_ladder_step",
]


def put_record(store: Store, kind: str, record_id: str, values: dict[str, Any]) -> Record:
    """Create the record with this (derived) id, or change the fields that differ (a
    deleted one comes back).  Unchanged fields are not written, so doing it again is a no-op."""
    with store.transaction():
        existing = store.get_raw(record_id)
        if existing is None:
            return store.create(kind, {**values, "id": record_id})
        if existing["kind"] != kind:
            raise InvalidInput(f"id {record_id} is a {existing['kind']}, not a {kind}")
        model = store._validate({**existing, **values})  # one clear line when a value is bad
        wanted = model.to_json()
        changed = {name: values[name] for name in values if wanted.get(name) != existing.get(name)}
        if not changed and not existing.get("deleted"):
            return store.get(record_id)
        return store.update(record_id, set=changed, deleted=False if existing["deleted"] else None)


def _number(name: str, value: Any) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{name}: not a number: {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInput(f"{name}: not a number: {value!r}")
    return number


def _period(value: str) -> str:
    try:
        return normal_period(value)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


# ---------------------------------------------------------------- KPIs


def record_kpi_value(
    store: Store,
    kpi_id: str,
    period: str,
    value: Any,
    *,
    source: str | None = None,
    note: str | None = None,
) -> Record:
    """A KPI's value for a period: one record per KPI and period on every device."""
    normal = _period(period)
    number = _number("value", value)
    kpi = store.get(kpi_id, include_deleted=False)
    if kpi.kind != "kpi":
        raise InvalidInput(f"{kpi_id} is a {kpi.kind}, not a kpi")
    values: dict[str, Any] = {"kpi_id": kpi.id, "period": normal, "value": number}
    if source:
        values["source"] = source
    if note:
        values["note"] = note
    return put_record(store, "kpi_value", kpi_value_id(kpi.id, normal), values)


def _kpi_named(store: Store, program_id: str, name: str) -> Record:
    for kpi in store.list("kpi", where={"program_id": program_id}):
        if kpi.name.strip().lower() == name.strip().lower() or kpi.id.startswith(name.lower()):
            return kpi
    raise NotFound(f"no KPI {name!r} in that program (add it: fieldrm kpi add …)")


def import_kpi_csv(store: Store, text: str) -> tuple[int, int, int]:
    """KPI values from CSV (`program,kpi,period,value[,source]`), all or nothing.

    Returns (created, updated, unchanged); importing the same file again changes nothing.
    """
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        raise InvalidInput("the file is empty (header: program,kpi,period,value[,source])")
    header = [cell.strip().lower() for cell in rows[0]]
    if header[:4] != ["program", "kpi", "period", "value"]:
        raise InvalidInput("line 1: the header must be program,kpi,period,value[,source]")
    has_source = len(header) > 4 and header[4] == "source"
    created = updated = unchanged = 0
    with store.transaction():
        for number, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            try:
                if len(row) < 4:
                    raise InvalidInput("needs program, kpi, period and value")
                program = store.resolve(row[0].strip(), ["program"])
                kpi = _kpi_named(store, program.id, row[1])
                record_id = kpi_value_id(kpi.id, _period(row[2]))
                before = store.get_raw(record_id)
                source = row[4].strip() if has_source and len(row) > 4 else None
                after = record_kpi_value(store, kpi.id, row[2], row[3], source=source or None)
            except (InvalidInput, NotFound) as error:
                raise type(error)(f"line {number}: {error}; nothing imported") from None
            if before is None:
                created += 1
            elif before == after.to_json():
                unchanged += 1
            else:
                updated += 1
    return created, updated, unchanged


# ---------------------------------------------------------------- reviews


def parse_every(text: str) -> tuple[int, str]:
    """`1w`, `2w`, `1m`, `3m` (a count and `w` or `m`)."""
    word = text.strip().lower()
    if len(word) >= 2 and word[:-1].isdigit() and word[-1] in "wm" and int(word[:-1]) > 0:
        return int(word[:-1]), word[-1]
    raise InvalidInput(f"--every takes 1w, 2w, 1m or 3m, not {text!r}")


def _add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def series_key(
    site_id: str,
    visit_type: str,
    review: str | None,
    vendor_id: str | None,
    program_id: str | None,
    every: str,
) -> str:
    """What names a recurring series, alike on every device that plans it."""
    parts = [site_id, visit_type, review or "", vendor_id or "", program_id or "", every]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def plan_visits(
    store: Store,
    site_id: str,
    at: str | datetime,
    *,
    visit_type: str | None = None,
    review: str | None = None,
    vendor_id: str | None = None,
    program_id: str | None = None,
    purpose: str | None = None,
    every: str | None = None,
    count: int = 1,
) -> list[Record]:
    """Plan one visit, or `count` of a recurring series (`every` 1w/1m/3m).  A series'
    meetings have ids derived from the series and the date: planning it again, here or on
    another device, makes no second meeting."""
    try:
        start = parse_timestamp(at)
    except ValueError as error:
        raise InvalidInput(f"--at: {error}") from None
    kind = visit_type or (VisitType.review_meeting if review else VisitType.site_visit)
    if review and kind != VisitType.review_meeting:
        raise InvalidInput("--review is for --type review_meeting")
    if not 1 <= count <= 60:
        raise InvalidInput("--count must be between 1 and 60")
    if count > 1 and not every:
        raise InvalidInput("--count needs --every (1w, 1m or 3m)")
    site = store.get(site_id, include_deleted=False)
    if kind == VisitType.review_meeting and not vendor_id:
        vendor_id = getattr(site, "vendor_id", None)
    values: dict[str, Any] = {"site_id": site.id, "visit_type": kind, "planned": True}
    for name, value in (
        ("review", review),
        ("vendor_id", vendor_id),
        ("program_id", program_id),
        ("purpose", purpose),
    ):
        if value:
            values[name] = value
    if not every:
        return [store.create("visit", {**values, "started_at": start})]
    step, unit = parse_every(every)
    series = series_key(site.id, kind, review, vendor_id, program_id, f"{step}{unit}")
    planned = []
    with store.transaction():
        for index in range(count):
            moment = (
                start + timedelta(weeks=step * index)
                if unit == "w"
                else _add_months(start, step * index)
            )
            record_id = derived_id(moment, "visit", series, moment.date().isoformat())
            existing = store.get_raw(record_id)
            if existing is not None:
                planned.append(store.get(record_id))
                continue
            record = {**values, "started_at": moment, "series": series, "id": record_id}
            planned.append(store.create("visit", record))
    return planned


# ---------------------------------------------------------------- ladders


def parse_hours(text: str) -> float:
    """A response target: `4h`, `2d`, `90m` or hours as a number."""
    word = text.strip().lower()
    scale = {"h": 1.0, "d": 24.0, "m": 1 / 60}.get(word[-1:])
    number = word[:-1] if scale else word
    try:
        hours = float(number) * (scale or 1.0)
    except ValueError:
        raise InvalidInput(f"--within takes 4h, 2d or 90m, not {text!r}") from None
    if not hours > 0 or hours != hours or hours == float("inf"):
        raise InvalidInput(f"--within must be more than zero, not {text!r}")
    return hours


def set_ladder_step(
    store: Store,
    vendor_id: str,
    level: int,
    within_hours: float,
    *,
    program_id: str | None = None,
    contact_id: str | None = None,
    role: str | None = None,
) -> Record:
    """Set one level of a vendor's (or a program's) ladder; setting it again changes it."""
    if not 1 <= level <= 5:
        raise InvalidInput(f"--level must be 1 to 5, not {level}")
    if bool(contact_id) == bool(role):
        raise InvalidInput("give either --contact or --role")
    values = {
        "vendor_id": vendor_id,
        "program_id": program_id,
        "level": level,
        "contact_id": contact_id,
        "role": role,
        "respond_within_hours": within_hours,
    }
    return put_record(store, "ladder_step", ladder_step_id(vendor_id, program_id, level), values)


def ladder_step_id(vendor_id: str, program_id: str | None, level: int) -> str:
    """One record per vendor (program) and level, on every device."""
    return derived_id(date(2000, 1, 1), "ladder_step", vendor_id, program_id or "", str(level))


def escalate_up(store: Store, question_id: str, note: str | None = None) -> Record:
    """Move a question one level up its vendor's ladder (the first escalation: level 1)."""
    question = store.get(question_id, include_deleted=False)
    if question.kind != "question":
        raise InvalidInput(f"{question_id} is a {question.kind}, not a question")
    if question.status == QuestionStatus.answered:
        raise InvalidInput("the question is already answered: reopen it to escalate")
    vendor_id, site_id, program_id = question_context(store, question)
    if vendor_id is None:
        raise InvalidInput(
            "the question has no vendor (no visit or program): escalate it to a contact"
        )
    steps = {step.level: step for step in ladder_steps(store, vendor_id, program_id)}
    if not steps:
        raise InvalidInput("the vendor has no escalation ladder: fieldrm ladder set --vendor …")
    level = (question.escalation_level or 0) + 1
    higher = sorted(n for n in steps if n >= level)
    if not higher:
        raise InvalidInput(f"already at the top of the ladder (level {level - 1})")
    step = steps[higher[0]]
    values: dict[str, Any] = {
        "status": QuestionStatus.escalated,
        "escalation_level": step.level,
        "escalated_at": now_utc(),
        "escalated_to": step_target(store, step, site_id),
    }
    if note:
        values["escalation_note"] = note
    return store.update(question.id, set=values)


# ---------------------------------------------------------------- cadence


def parse_days(text: str) -> int:
    """A cadence: `14d`, `2w` or days as a whole number, at least one day."""
    word = text.strip().lower()
    scale = {"d": 1, "w": 7}.get(word[-1:])
    number = word[:-1] if scale else word
    if not number.isdigit() or int(number) * (scale or 1) < 1:
        raise InvalidInput(f"--every takes a number of days at least 1 (14d, 2w), not {text!r}")
    return int(number) * (scale or 1)


def set_cadence(
    store: Store, role: str, every_days: int, *, site_id: str | None = None, required: bool = False
) -> Record:
    """How often a role should be met (at a site, or everywhere); setting it again changes it."""
    roles = kind_info("cadence").fields["role"].choices
    if role not in roles:
        raise InvalidInput(f"unknown role {role!r} (one of {', '.join(roles)})")
    if every_days < 1:
        raise InvalidInput("a cadence is at least 1 day")
    values = {"role": role, "every_days": every_days, "site_id": site_id, "required": required}
    return put_record(store, "cadence", cadence_id(role, site_id), values)


def cadence_id(role: str, site_id: str | None) -> str:
    """One record per role and site (or everywhere), on every device."""
    return derived_id(date(2000, 1, 1), "cadence", role, site_id or "")
