"""The records of SPEC §2 as pydantic models: the one source of truth.

The device store, the sync protocol, the merge rules and the command line all derive
their idea of a kind's fields from the classes here (see `kind_info`), so a field is
declared once.  Records allow extra fields: a field written by a newer fieldrm survives
a round trip through this one.
"""

from __future__ import annotations

import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

__all__ = [
    "KINDS",
    "USER_KINDS",
    "Record",
    "ValidationError",
    "kind_info",
    "new_id",
    "now_utc",
    "parse_timestamp",
]


# ---------------------------------------------------------------- ids and times


def new_id(at_ms: int | None = None) -> str:
    """A UUIDv7 (RFC 9562): 48-bit unix-ms timestamp, version, 74 random bits."""
    ms = int(time.time() * 1000) if at_ms is None else at_ms
    return uuid7_from(ms, int.from_bytes(secrets.token_bytes(10), "big"))


def uuid7_from(ms: int, rand: int) -> str:
    """The UUIDv7 layout of `ms` (unix milliseconds) and 74 bits taken from `rand`."""
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def now_utc() -> datetime:
    """The current time; FIELDRM_NOW (ISO 8601) freezes it for tests and snapshots."""
    frozen = os.environ.get("FIELDRM_NOW")
    if frozen:
        return parse_timestamp(frozen)
    return datetime.now(UTC)


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 text or a datetime, as an aware UTC datetime (naive means local time)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not a date and time: {value!r} (use ISO 8601)") from None
    else:
        raise ValueError(f"not a date and time: {value!r}")
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(UTC)


def format_timestamp(moment: datetime, timespec: str = "milliseconds") -> str:
    """ISO 8601 UTC with a Z, as every record's stamps are written."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def local_today() -> date:
    """Today's date in local time (FIELDRM_NOW freezes it)."""
    return now_utc().astimezone().date()


def label(value: Any) -> str:
    """How a vocabulary value reads to a person: `team_leader` -> `team leader`."""
    return str(value).replace("_", " ") if value not in (None, "") else ""


def set_delta(before: Any, after: Any) -> tuple[list[str], list[str]]:
    """What turns set `before` into set `after`: (added, removed), each sorted."""
    old, new = set(before or ()), set(after or ())
    return sorted(new - old), sorted(old - new)


def chunks(items: list[Any], size: int = 500) -> Any:
    """`items` in slices of at most `size` (SQLite's bound-parameter limit is 999)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# The canonical form str(uuid.UUID(...)) gives back unchanged: such ids skip the UUID parse
# (three per observation, the largest part of validating a synced record on the server).
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _check_uuid(value: str) -> str:
    if type(value) is str and _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(f"not a record id: {value!r}") from None


def _empty_to_none(value: Any) -> Any:
    return None if value == "" else value


def _as_set(value: Any) -> list[str]:
    """Sets are stored as sorted lists without duplicates, so equal sets compare equal."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    items = [str(item).strip() for item in value]
    return sorted({item for item in items if item})


Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str),
]
RecordId = Annotated[str, AfterValidator(_check_uuid)]
Ref = Annotated[
    str | None,
    BeforeValidator(_empty_to_none),
    AfterValidator(lambda v: None if v is None else _check_uuid(v)),
]
RefSet = Annotated[
    list[str],
    BeforeValidator(_as_set),
    AfterValidator(lambda items: sorted({_check_uuid(i) for i in items})),
]
TextSet = Annotated[list[str], BeforeValidator(_as_set)]
Text = Annotated[str | None, BeforeValidator(_empty_to_none)]
RequiredText = Annotated[str, AfterValidator(lambda v: _required_text(v))]


def _finite(value: float) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number")
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"not a number: {value!r}") from None
    return value


Number = Annotated[float, BeforeValidator(_number), AfterValidator(_finite)]

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_WEEK = re.compile(r"(\d{4})-[Ww](\d{2})")


def period_start(period: str) -> date:
    """The first day of a KPI period: `2026-11`, `2026-W48` (ISO week) or a date."""
    text = str(period).strip()
    month = _MONTH.fullmatch(text)
    if month:
        return date(int(month[1]), int(month[2]), 1)
    week = _WEEK.fullmatch(text)
    if week:
        try:
            return date.fromisocalendar(int(week[1]), int(week[2]), 1)
        except ValueError:
            pass
    else:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(f"not a period: {period!r} (a month 2026-11, a week 2026-W48 or a date)")


def normal_period(period: Any) -> str:
    """A period as stored: `2026-11`, `2026-W48` or `2026-11-30` (ValueError otherwise)."""
    text = str(period).strip()
    start = period_start(text)
    if _MONTH.fullmatch(text):
        return text
    if _WEEK.fullmatch(text):
        return text.upper()
    return start.isoformat()


def period_key(period: str) -> tuple[str, int]:
    """Sorts periods in time order (a month before its weeks, a week before its days)."""
    try:
        start = period_start(period)
    except ValueError:
        return (str(period), 9)
    rank = 0 if _MONTH.fullmatch(period) else 1 if _WEEK.fullmatch(period) else 2
    return (start.isoformat(), rank)


Period = Annotated[str, BeforeValidator(normal_period)]


def derived_id(at: date | datetime, *parts: str) -> str:
    """A UUIDv7 that every device derives alike from `parts` (a KPI and a period, a review
    series and a date), so the same thing made on two devices is one record (§11)."""
    import hashlib

    moment = at if isinstance(at, datetime) else datetime(at.year, at.month, at.day, tzinfo=UTC)
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    ms = max(0, int(moment.timestamp() * 1000))
    return uuid7_from(ms, int.from_bytes(digest[:10], "big"))


def kpi_value_id(kpi_id: str, period: str) -> str:
    """The one id of a KPI's value for a period."""
    normal = normal_period(period)
    return derived_id(period_start(normal), "kpi_value", kpi_id, normal)


def _required_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _ref(*kinds: str) -> Any:
    return Field(default=None, json_schema_extra={"ref": list(kinds)})


def _refs(*kinds: str) -> Any:
    return Field(default_factory=list, json_schema_extra={"ref": list(kinds)})


def _search() -> dict[str, Any]:
    return {"search": True}


# ---------------------------------------------------------------- vocabularies


class Role(StrEnum):
    facility_operations_manager = "facility_operations_manager"
    client_services_manager = "client_services_manager"
    program_manager = "program_manager"
    operations_manager = "operations_manager"
    supervisor = "supervisor"
    team_leader = "team_leader"
    quality_manager = "quality_manager"
    workforce_manager = "workforce_manager"
    training_manager = "training_manager"
    hr_manager = "hr_manager"
    it_manager = "it_manager"
    business_development_manager = "business_development_manager"
    other = "other"


class Category(StrEnum):
    quality = "quality"
    kpi = "kpi"
    staffing = "staffing"
    training = "training"
    process = "process"
    facility = "facility"
    compliance = "compliance"
    technology = "technology"
    morale = "morale"
    other = "other"


class Severity(StrEnum):
    positive = "positive"
    info = "info"
    concern = "concern"
    critical = "critical"


class VisitType(StrEnum):
    floor_walk = "floor_walk"
    site_visit = "site_visit"
    review_meeting = "review_meeting"
    audit = "audit"


class QuestionStatus(StrEnum):
    open = "open"
    answered = "answered"
    escalated = "escalated"


class ActionStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    done = "done"
    cancelled = "cancelled"


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"


# §11: KPIs, reviews, ladders, cadences.


class KpiUnit(StrEnum):
    percent = "percent"
    seconds = "seconds"
    count = "count"
    ratio = "ratio"
    currency = "currency"


class Direction(StrEnum):
    higher_better = "higher_better"
    lower_better = "lower_better"


class Review(StrEnum):
    weekly_ops = "weekly_ops"
    monthly_performance = "monthly_performance"
    qbr = "qbr"


# ---------------------------------------------------------------- records


class Record(BaseModel):
    """What every record has (SPEC §2)."""

    # Each kind's validator is built on first use, not at import: a `fieldrm capture` process
    # then builds one kind's, not fourteen (~40 ms).  pydantic >= 2.14 builds it under a lock.
    model_config = ConfigDict(
        extra="allow", use_enum_values=True, str_strip_whitespace=True, defer_build=True
    )

    id: RecordId = Field(default_factory=new_id)
    kind: str
    created_at: Timestamp = Field(default_factory=now_utc)
    updated_at: Timestamp = Field(default_factory=now_utc)
    created_by: str = ""
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        """The record as §2 names its fields, plus any fields from a newer version."""
        return self.model_dump(mode="json")

    @property
    def label(self) -> str:
        """A short human name for lists and messages."""
        for name in ("name", "text", "purpose"):
            value = getattr(self, name, None)
            if value:
                return str(value)
        return self.id


class Vendor(Record):
    kind: Literal["vendor"] = "vendor"
    name: RequiredText = Field(json_schema_extra=_search())
    country: Text = None
    website: Text = None
    notes: Text = Field(default=None, json_schema_extra=_search())


class Site(Record):
    kind: Literal["site"] = "site"
    vendor_id: RecordId = Field(json_schema_extra={"ref": ["vendor"]})
    name: RequiredText = Field(json_schema_extra=_search())
    city: Text = Field(default=None, json_schema_extra=_search())
    country: Text = None
    timezone: Text = None
    seats: int | None = Field(default=None, ge=0)


class Program(Record):
    kind: Literal["program"] = "program"
    site_id: RecordId = Field(json_schema_extra={"ref": ["site"]})
    name: RequiredText = Field(json_schema_extra=_search())
    client: Text = Field(default=None, json_schema_extra=_search())
    line_of_business: Text = Field(default=None, json_schema_extra=_search())
    seats: int | None = Field(default=None, ge=0)
    notes: Text = Field(default=None, json_schema_extra=_search())


class Contact(Record):
    kind: Literal["contact"] = "contact"
    name: RequiredText = Field(json_schema_extra=_search())
    role: Role | None = None
    title: Text = Field(default=None, json_schema_extra=_search())
    vendor_id: Ref = _ref("vendor")
    site_id: Ref = _ref("site")
    program_ids: RefSet = _refs("program")
    reports_to: Ref = _ref("contact")
    emails: TextSet = Field(default_factory=list, json_schema_extra=_search())
    phones: TextSet = Field(default_factory=list)
    notes: Text = Field(default=None, json_schema_extra=_search())
    tags: TextSet = Field(default_factory=list, json_schema_extra=_search())


class Visit(Record):
    kind: Literal["visit"] = "visit"
    site_id: RecordId = Field(json_schema_extra={"ref": ["site"]})
    visit_type: VisitType = VisitType.floor_walk
    purpose: Text = Field(default=None, json_schema_extra=_search())
    started_at: Timestamp = Field(default_factory=now_utc)
    ended_at: Timestamp | None = None
    attendees: RefSet = _refs("contact")
    summary: Text = Field(default=None, json_schema_extra=_search())
    # §11: a review meeting's kind and what it reviews; planned = not yet held (a planned
    # visit is never the open one); series: the recurring series it belongs to.
    review: Review | None = None
    vendor_id: Ref = _ref("vendor")
    program_id: Ref = _ref("program")
    planned: bool = False
    series: Text = None


class Observation(Record):
    kind: Literal["observation"] = "observation"
    text: RequiredText = Field(json_schema_extra=_search())
    visit_id: Ref = _ref("visit")
    program_id: Ref = _ref("program")
    contact_id: Ref = _ref("contact")
    category: Category | None = None
    severity: Severity | None = None
    tags: TextSet = Field(default_factory=list, json_schema_extra=_search())


class Question(Record):
    kind: Literal["question"] = "question"
    text: RequiredText = Field(json_schema_extra=_search())
    visit_id: Ref = _ref("visit")
    program_id: Ref = _ref("program")
    asked_by: Text = Field(default=None, json_schema_extra=_search())
    answer: Text = Field(default=None, json_schema_extra=_search())
    status: QuestionStatus = QuestionStatus.open
    escalated_to: Ref = _ref("contact")
    answered_at: Timestamp | None = None
    # §11: the ladder level it was escalated to, when, and why.
    escalation_level: int | None = Field(default=None, ge=1, le=5)
    escalated_at: Timestamp | None = None
    escalation_note: Text = Field(default=None, json_schema_extra=_search())


class Action(Record):
    kind: Literal["action"] = "action"
    text: RequiredText = Field(json_schema_extra=_search())
    owner_id: Ref = _ref("contact")
    due: date | None = None
    priority: Priority | None = None
    status: ActionStatus = ActionStatus.open
    source_id: Ref = _ref("observation", "question", "visit")
    visit_id: Ref = _ref("visit")


class Kpi(Record):
    """A program's key performance indicator with its target (§11)."""

    kind: Literal["kpi"] = "kpi"
    program_id: RecordId = Field(json_schema_extra={"ref": ["program"]})
    name: RequiredText = Field(json_schema_extra=_search())
    unit: KpiUnit | None = None
    direction: Direction
    target: Number
    red: Number | None = None
    sla: bool = False
    notes: Text = Field(default=None, json_schema_extra=_search())


class KpiValue(Record):
    """A KPI's value for one period; its id is derived from the KPI and the period."""

    kind: Literal["kpi_value"] = "kpi_value"
    kpi_id: RecordId = Field(json_schema_extra={"ref": ["kpi"]})
    period: Period
    value: Number
    source: Text = Field(default=None, json_schema_extra=_search())
    note: Text = Field(default=None, json_schema_extra=_search())


class LadderStep(Record):
    """One level of a vendor's escalation ladder: who (a contact or a role) and how fast."""

    kind: Literal["ladder_step"] = "ladder_step"
    vendor_id: RecordId = Field(json_schema_extra={"ref": ["vendor"]})
    program_id: Ref = _ref("program")
    level: int = Field(ge=1, le=5)
    contact_id: Ref = _ref("contact")
    role: Role | None = None
    respond_within_hours: Number = Field(gt=0)

    @model_validator(mode="after")
    def _someone(self) -> LadderStep:
        if not self.contact_id and not self.role:
            raise ValueError("a ladder step needs a contact or a role")
        return self


class Cadence(Record):
    """How often a role should be met (at one site, or everywhere) and whether a site must
    have someone in it."""

    kind: Literal["cadence"] = "cadence"
    role: Role
    every_days: int = Field(ge=1, le=3660)
    site_id: Ref = _ref("site")
    required: bool = False


class Conflict(Record):
    """A same-field (or delete-versus-edit) clash kept for a person to decide (SPEC §5.3).

    Made by the server, synced like any record; `current` and `other` are
    `{"value", "by", "device", "at"}`.  `field` is "deleted" for a delete against an edit,
    and then `other.value` holds the edit's values.
    """

    kind: Literal["conflict"] = "conflict"
    record_id: RecordId
    record_kind: str
    field: str
    current: dict[str, Any]
    other: dict[str, Any]
    status: Literal["open", "resolved"] = "open"
    resolution: Text = None
    resolved_by: Text = None
    resolved_at: Timestamp | None = None


USER_KINDS: dict[str, type[Record]] = {
    model.model_fields["kind"].default: model
    for model in (Vendor, Site, Program, Contact, Visit, Observation, Question, Action)
    + (Kpi, KpiValue, LadderStep, Cadence)
}
KINDS: dict[str, type[Record]] = {**USER_KINDS, "conflict": Conflict}
BASE_FIELDS = frozenset(Record.model_fields)
"""Fields every record has; set by the store, never by a person."""

OPEN_ACTION_STATUSES: tuple[str, ...] = (ActionStatus.open.value, ActionStatus.in_progress.value)
"""Action statuses that still ask for work (the others are closed)."""
OPEN_QUESTION_STATUSES: tuple[str, ...] = (
    QuestionStatus.open.value,
    QuestionStatus.escalated.value,
)
"""Question statuses still waiting for an answer to reach the floor."""


# ---------------------------------------------------------------- derived facts


@dataclass(frozen=True)
class FieldInfo:
    name: str
    required: bool
    is_set: bool
    refs: tuple[str, ...]  # kinds a reference may point at; empty when not a reference
    searchable: bool
    choices: tuple[str, ...]  # allowed values of an enumerated field
    value_type: str  # "text", "int", "date", "datetime", "bool", "json"

    @property
    def option(self) -> str:
        """The command-line option: references drop their `_id` (SPEC §4)."""
        name = self.name
        if self.refs and name.endswith("_id"):
            name = name[: -len("_id")]
        return name.replace("_", "-")


@dataclass(frozen=True)
class KindInfo:
    kind: str
    model: type[Record]
    fields: dict[str, FieldInfo]  # the kind's own fields, in declaration order

    @property
    def set_fields(self) -> list[str]:
        return [name for name, info in self.fields.items() if info.is_set]

    @property
    def search_fields(self) -> list[str]:
        return [name for name, info in self.fields.items() if info.searchable]


def _value_type(annotation: Any) -> tuple[str, tuple[str, ...]]:
    if get_origin(annotation) is Literal:
        return "text", tuple(get_args(annotation))
    if get_origin(annotation) is dict:
        return "json", ()
    args = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    for arg in args:
        if get_origin(arg) is Annotated:
            arg = get_args(arg)[0]
        if isinstance(arg, type) and issubclass(arg, StrEnum):
            return "text", tuple(member.value for member in arg)
        if get_origin(arg) is Literal:
            return "text", tuple(get_args(arg))
        if arg is bool:
            return "bool", ()
        if arg is int:
            return "int", ()
        if arg is float:
            return "number", ()
        if arg is datetime:
            return "datetime", ()
        if arg is date:
            return "date", ()
        if get_origin(arg) is dict or arg is dict:
            return "json", ()
    return "text", ()


@cache
def kind_info(kind: str) -> KindInfo:
    """What a kind's fields are, derived from its model. Raises KeyError for unknown kinds."""
    model = KINDS[kind]
    fields: dict[str, FieldInfo] = {}
    for name, spec in model.model_fields.items():
        if name in BASE_FIELDS:
            continue
        extra = spec.json_schema_extra if isinstance(spec.json_schema_extra, dict) else {}
        annotation = spec.annotation
        is_set = get_origin(annotation) is list or (
            get_origin(annotation) is Annotated and get_origin(get_args(annotation)[0]) is list
        )
        value_type, choices = _value_type(annotation)
        fields[name] = FieldInfo(
            name=name,
            required=spec.is_required(),
            is_set=is_set,
            refs=tuple(extra.get("ref", ())),
            searchable=bool(extra.get("search")),
            choices=choices,
            value_type=value_type,
        )
    return KindInfo(kind=kind, model=model, fields=fields)


def validate_record(data: dict[str, Any]) -> Record:
    """Build the model for a record dict; raises ValidationError or KeyError (unknown kind)."""
    return KINDS[data["kind"]].model_validate(data)


def parse_due(text: str, today: date) -> date:
    """A due date as people type it: ISO, a weekday (`fri`), `today`, `tomorrow`, `+3d`/`+2w`."""
    word = text.strip().lower()
    if word in ("today", "tod"):
        return today
    if word in ("tomorrow", "tom", "tmrw"):
        return today + timedelta(days=1)
    if word.startswith("+") and len(word) > 2 and word[1:-1].isdigit() and word[-1] in "dw":
        count = int(word[1:-1])
        try:
            return today + timedelta(days=count * (7 if word[-1] == "w" else 1))
        except OverflowError:
            raise ValueError(f"not a date: {text!r} is past the end of the calendar") from None
    weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    for index, day in enumerate(weekdays):
        if len(word) >= 3 and day.startswith(word):
            ahead = (index - today.weekday()) % 7 or 7
            return today + timedelta(days=ahead)
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise ValueError(
            f"not a date: {text!r} (use 2026-12-01, fri, +3d, today or tomorrow)"
        ) from None
