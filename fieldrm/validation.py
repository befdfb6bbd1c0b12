"""The one check of field values (SPEC §5.14), used by the device before it writes and by
the server before it applies: the same function on both sides, so they never disagree.

It is derived from `models.py`: each field's type, vocabulary and constraints come from its
pydantic declaration, plus limits pydantic does not know — text length, nesting depth of
the values of fields this version does not know (kept for round trips, but bounded),
integers that fit 64 bits and finite numbers.

Speed: a value already in the canonical form devices write (a str of a known vocabulary, an
int in range, a canonical record id …) passes a plain-Python check derived once per field;
anything else goes through the field's pydantic validator, which also words the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, get_args

from pydantic import ConfigDict, TypeAdapter, ValidationError

from fieldrm.errors import describe_validation_error
from fieldrm.models import BASE_FIELDS, KINDS, kind_info

MAX_TEXT = 100_000
"""Characters in one text value (a long meeting summary fits many times over)."""
MAX_ITEM = 1_000
"""Characters in one element of a set (a tag, an email, an id)."""
MAX_DEPTH = 16
"""Levels of nesting in a value (lists and objects inside each other)."""
MIN_INT, MAX_INT = -(2**63), 2**63 - 1

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def bounds_reason(value: Any, depth: int = 0) -> str | None:
    """Why `value` breaks the limits every stored value keeps, or None."""
    kind = type(value)
    if kind is str:
        return None if len(value) <= MAX_TEXT else f"text longer than {MAX_TEXT} characters"
    if kind is bool or value is None:
        return None
    if kind is int:
        return None if MIN_INT <= value <= MAX_INT else "a number that does not fit 64 bits"
    if kind is float:
        if not math.isfinite(value) or not MIN_INT <= value <= MAX_INT:
            return "a number that is not finite or does not fit 64 bits"
        return None
    if kind is list or kind is dict:
        if depth >= MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if kind is dict:
            for key in value:
                if type(key) is not str:
                    return "an object key that is not text"
            value = value.values()
        for item in value:
            reason = bounds_reason(item, depth + 1)
            if reason is not None:
                return reason
        return None
    return f"a value of type {kind.__name__}"


def _fast(kind: str, name: str) -> Callable[[Any], bool]:
    """A plain-Python test that accepts the canonical forms of a field (never more)."""
    info = kind_info(kind).fields[name]
    optional = type(None) in get_args(KINDS[kind].model_fields[name].annotation)  # None allowed
    if info.is_set:
        if info.refs:
            return lambda v: (
                type(v) is list and all(type(i) is str and _UUID.fullmatch(i) for i in v)
            )
        return lambda v: (
            type(v) is list
            and all(type(i) is str and 0 < len(i) <= MAX_ITEM and i == i.strip() for i in v)
        )
    if info.refs:
        return lambda v: (optional and v is None) or (type(v) is str and bool(_UUID.fullmatch(v)))
    if info.choices:
        choices = frozenset(info.choices)
        return lambda v: (optional and v is None) or (type(v) is str and v in choices)
    if info.value_type == "int":
        floor = _lower_bound(kind, name)
        return lambda v: (optional and v is None) or (type(v) is int and floor <= v <= MAX_INT)
    if info.value_type == "bool":
        return lambda v: type(v) is bool
    if info.value_type == "date":
        return lambda v: (
            (optional and v is None)
            or (type(v) is str and bool(_ISO_DATE.fullmatch(v)) and _is_date(v))
        )
    if info.value_type == "text":
        return lambda v: (
            (optional and v is None)
            or (type(v) is str and 0 < len(v) <= MAX_TEXT and v == v.strip())
        )
    if info.value_type == "datetime":
        return lambda v: (optional and v is None) or _is_stamp(v)
    return lambda v: False  # objects: pydantic decides


_BASE_FAST: dict[str, Callable[[Any], bool]] = {
    "id": lambda v: type(v) is str and bool(_UUID.fullmatch(v)),
    "created_at": lambda v: _is_stamp(v),
    "updated_at": lambda v: _is_stamp(v),
    "created_by": lambda v: type(v) is str and len(v) <= MAX_ITEM and v == v.strip(),
    "deleted": lambda v: type(v) is bool,
}


def _is_stamp(value: Any) -> bool:
    """The form every record's stamps are written in: `2026-11-30T09:15:00.123Z`."""
    if (
        type(value) is not str
        or len(value) != 24
        or value[-1] != "Z"
        or value[10] != "T"
        or value[19] != "."
    ):
        return False
    try:
        datetime.fromisoformat(value[:-1])
    except ValueError:
        return False
    return True


def _never(_value: Any) -> bool:
    return False


def _lower_bound(kind: str, name: str) -> int:
    for item in KINDS[kind].model_fields[name].metadata:
        ge = getattr(item, "ge", None)
        if ge is not None:
            return int(ge)
    return MIN_INT


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


@cache
def _fast_checks(kind: str) -> dict[str, Callable[[Any], bool]]:
    """Each known field's plain-Python test of its canonical forms (see `_fast`)."""
    return {
        name: _BASE_FAST.get(name, _never) if name in BASE_FIELDS else _fast(kind, name)
        for name in KINDS[kind].model_fields
    }


@cache
def _adapter(kind: str, name: str) -> TypeAdapter[Any]:
    """The field's own pydantic validator, as the model declares it."""
    spec = KINDS[kind].model_fields[name]
    annotation = Annotated[(spec.annotation, *spec.metadata)] if spec.metadata else spec.annotation
    return TypeAdapter(annotation, config=ConfigDict(str_strip_whitespace=True))


def values_reason(kind: str, values: dict[str, Any]) -> str | None:
    """Why one of `values` (field -> value) cannot be stored in a `kind`, or None."""
    fast = _fast_checks(kind)
    for name, value in values.items():
        check = fast.get(name)
        if check is not None and check(value):
            continue
        reason = field_reason(kind, name, value)
        if reason is not None:
            return reason
    return None


def field_reason(kind: str, name: str, value: Any) -> str | None:
    """Why `value` cannot be `kind.name` (None: it can).  A field this version does not
    know may hold any JSON value within the limits."""
    check = _fast_checks(kind).get(name)
    if check is None:
        reason = bounds_reason(value)
        return None if reason is None else f"{name}: {reason}"
    if check(value):
        return None
    adapter = _adapter(kind, name)
    try:
        parsed = adapter.validate_python(value)
    except ValidationError as error:
        return f"{name}: " + describe_validation_error(error).removeprefix("record: ")
    reason = bounds_reason(adapter.dump_python(parsed, mode="json"))
    if reason is None and type(value) in (str, list, dict):
        reason = bounds_reason(value)  # as sent: the server stores values as they came
    return None if reason is None else f"{name}: {reason}"


def record_reason(data: dict[str, Any]) -> str | None:
    """Why a whole record (as a dict) cannot be stored, or None; checks every field."""
    kind = data.get("kind")
    if kind not in KINDS:
        return f"unknown kind {kind!r}"
    reason = values_reason(kind, {n: v for n, v in data.items() if n != "kind"})
    if reason is not None:
        return f"{kind}: {reason}"
    missing = [
        name
        for name, spec in KINDS[kind].model_fields.items()
        if spec.is_required() and name not in data and name != "kind"
    ]
    if missing:
        return f"{kind}: {', '.join(missing)}: is required"
    return None


__all__ = [
    "MAX_DEPTH",
    "MAX_TEXT",
    "bounds_reason",
    "field_reason",
    "record_reason",
    "values_reason",
]
