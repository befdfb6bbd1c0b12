"""The records of SPEC §2: validation, normalisation and the facts derived from them."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, date, datetime

import pytest

from fieldrm.models import (
    KINDS,
    USER_KINDS,
    ValidationError,
    kind_info,
    new_id,
    parse_due,
    parse_timestamp,
    validate_record,
)

SOME_ID = new_id()

# The least each kind needs to be valid; every other field has a default.
MINIMAL: dict[str, dict[str, object]] = {
    "vendor": {"name": "Acme BPO"},
    "site": {"vendor_id": SOME_ID, "name": "Kolkata One"},
    "program": {"site_id": SOME_ID, "name": "Card services"},
    "contact": {"name": "Priya Nair"},
    "visit": {"site_id": SOME_ID},
    "observation": {"text": "TLs not doing side-by-sides"},
    "question": {"text": "can we waive the fee?"},
    "action": {"text": "send the calibration deck"},
    "kpi": {"program_id": SOME_ID, "name": "AHT", "direction": "lower_better", "target": 300},
    "kpi_value": {"kpi_id": SOME_ID, "period": "2026-10", "value": 342},
    "ladder_step": {
        "vendor_id": SOME_ID,
        "level": 1,
        "role": "program_manager",
        "respond_within_hours": 4,
    },
    "cadence": {"role": "program_manager", "every_days": 14},
}


def make(kind: str, **values: object):
    return validate_record({"kind": kind, **MINIMAL[kind], **values})


def test_minimal_covers_every_user_kind() -> None:
    assert set(MINIMAL) == set(USER_KINDS)


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_minimal_record_is_valid_with_common_fields(kind: str) -> None:
    record = make(kind)
    data = record.to_json()
    assert data["kind"] == kind
    assert uuid.UUID(data["id"]).version == 7
    assert data["deleted"] is False
    for stamp in ("created_at", "updated_at"):
        assert data[stamp].endswith("Z")
        assert parse_timestamp(data[stamp]).tzinfo is not None


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        (kind, name)
        for kind in sorted(MINIMAL)
        for name, info in kind_info(kind).fields.items()
        if info.required
    ],
)
def test_each_required_field_is_required(kind: str, field: str) -> None:
    values = {k: v for k, v in MINIMAL[kind].items() if k != field}
    with pytest.raises(ValidationError) as caught:
        validate_record({"kind": kind, **values})
    assert any(error["loc"] == (field,) for error in caught.value.errors())


def test_required_fields_match_the_spec() -> None:
    required = {
        kind: sorted(name for name, info in kind_info(kind).fields.items() if info.required)
        for kind in USER_KINDS
    }
    # SPEC §2 also marks visit.started_at required; it defaults to now, so never missing.
    assert required == {
        "vendor": ["name"],
        "site": ["name", "vendor_id"],
        "program": ["name", "site_id"],
        "contact": ["name"],
        "visit": ["site_id"],
        "observation": ["text"],
        "question": ["text"],
        "action": ["text"],
        "kpi": ["direction", "name", "program_id", "target"],
        "kpi_value": ["kpi_id", "period", "value"],
        "ladder_step": ["level", "respond_within_hours", "vendor_id"],
        "cadence": ["every_days", "role"],
    }


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("kpi", {"direction": "sideways"}),
        ("kpi", {"target": "fast"}),
        ("kpi_value", {"value": "lots"}),
        ("kpi_value", {"period": "2026-13"}),
        ("kpi_value", {"period": "2026-W54"}),
        ("kpi_value", {"period": "last month"}),
        ("ladder_step", {"level": 0}),
        ("ladder_step", {"level": 6}),
        ("ladder_step", {"role": None}),
        ("cadence", {"every_days": 0}),
        ("question", {"escalation_level": 6}),
    ],
)
def test_section_11_bad_values_are_refused(kind: str, values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        make(kind, **values)


def test_periods_are_normalised_and_ordered_in_time() -> None:
    from fieldrm.models import normal_period, period_key

    assert normal_period("2026-w48") == "2026-W48"
    assert normal_period(" 2026-11 ") == "2026-11"
    periods = ["2026-12", "2026-W48", "2026-02", "2025-12-31", "2026-11"]
    assert sorted(periods, key=period_key) == [
        "2025-12-31",
        "2026-02",
        "2026-11",
        "2026-W48",
        "2026-12",
    ]


def test_a_kpi_value_id_is_derived_from_kpi_and_period_alone() -> None:
    from fieldrm.models import kpi_value_id

    other = "01900000-0000-7000-8000-000000000001"
    assert kpi_value_id(SOME_ID, "2026-w48") == kpi_value_id(SOME_ID, "2026-W48")
    assert uuid.UUID(kpi_value_id(SOME_ID, "2026-10")).version == 7
    assert kpi_value_id(SOME_ID, "2026-10") != kpi_value_id(SOME_ID, "2026-11")
    assert kpi_value_id(SOME_ID, "2026-10") != kpi_value_id(other, "2026-10")


@pytest.mark.parametrize("kind", ["vendor", "contact", "observation"])
def test_blank_required_text_is_refused(kind: str) -> None:
    field = "text" if kind == "observation" else "name"
    with pytest.raises(ValidationError):
        make(kind, **{field: "   "})


@pytest.mark.parametrize(
    ("kind", "field", "good", "bad"),
    [
        ("contact", "role", "team_leader", "boss"),
        ("visit", "visit_type", "audit", "picnic"),
        ("observation", "category", "morale", "vibes"),
        ("observation", "severity", "critical", "meh"),
        ("question", "status", "escalated", "pending"),
        ("action", "status", "in_progress", "started"),
        ("action", "priority", "high", "asap"),
    ],
)
def test_enumerated_fields_take_only_their_choices(kind, field, good, bad) -> None:
    assert getattr(make(kind, **{field: good}), field) == good
    assert good in kind_info(kind).fields[field].choices
    with pytest.raises(ValidationError):
        make(kind, **{field: bad})


def test_dates_and_timestamps() -> None:
    assert make("action", due="2026-12-01").due == date(2026, 12, 1)
    with pytest.raises(ValidationError):
        make("action", due="2026-13-01")
    with pytest.raises(ValidationError):
        make("action", due="friday-ish")
    visit = make("visit", started_at="2026-11-20T09:30:00+05:30")
    assert visit.to_json()["started_at"] == "2026-11-20T04:00:00.000Z"
    with pytest.raises(ValidationError):
        make("visit", started_at="yesterday morning")
    with pytest.raises(ValidationError):
        make("question", answered_at="not a time")


def test_ids_and_references_must_be_uuids() -> None:
    with pytest.raises(ValidationError):
        make("vendor", id="not-an-id")
    with pytest.raises(ValidationError):
        make("site", vendor_id="acme")
    with pytest.raises(ValidationError):
        make("contact", reports_to="priya")
    with pytest.raises(ValidationError):
        make("contact", program_ids=[SOME_ID, "nope"])
    upper = SOME_ID.upper()
    assert make("contact", reports_to=upper).reports_to == SOME_ID
    # An empty reference means "none", as a cleared CLI option sends it.
    assert make("action", owner_id="").owner_id is None


def test_new_ids_are_uuid7_in_time_order() -> None:
    early, late = new_id(at_ms=1_700_000_000_000), new_id(at_ms=1_700_000_000_001)
    assert uuid.UUID(early).version == 7 and uuid.UUID(early).variant == uuid.RFC_4122
    assert early < late
    assert len({new_id() for _ in range(1000)}) == 1000


def test_sets_are_normalised_sorted_and_unique() -> None:
    contact = make("contact", tags=[" vip", "night", "vip", ""], emails="a@x.com")
    assert contact.tags == ["night", "vip"]
    assert contact.emails == ["a@x.com"]
    other = new_id()
    visit = make("visit", attendees=[other, SOME_ID, other.upper()])
    assert visit.attendees == sorted({other, SOME_ID})


def test_extra_fields_from_a_newer_version_survive_to_json() -> None:
    record = make("contact", pronouns="she/her", linkedin={"url": "x"})
    data = record.to_json()
    assert data["pronouns"] == "she/her"
    assert data["linkedin"] == {"url": "x"}
    assert validate_record(data).to_json() == data


def test_to_json_has_exactly_the_spec_fields() -> None:
    common = ["id", "kind", "created_at", "updated_at", "created_by", "deleted"]
    assert list(make("observation").to_json()) == [
        *common,
        *["text", "visit_id", "program_id", "contact_id", "category", "severity", "tags"],
    ]
    assert list(make("action").to_json())[len(common) :] == [
        *["text", "owner_id", "due", "priority", "status", "source_id", "visit_id"]
    ]


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(KeyError):
        validate_record({"kind": "meeting", "name": "x"})


def test_kind_info_derives_options_sets_and_refs() -> None:
    contact = kind_info("contact")
    assert contact.set_fields == ["program_ids", "emails", "phones", "tags"]
    assert contact.fields["vendor_id"].option == "vendor"
    assert contact.fields["reports_to"].option == "reports-to"
    assert contact.fields["reports_to"].refs == ("contact",)
    assert contact.fields["program_ids"].refs == ("program",)
    assert kind_info("action").fields["owner_id"].option == "owner"
    assert kind_info("action").fields["due"].value_type == "date"
    assert kind_info("action").fields["source_id"].refs == ("observation", "question", "visit")
    assert "conflict" in KINDS and "conflict" not in USER_KINDS


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("today", date(2026, 11, 23)),
        ("tomorrow", date(2026, 11, 24)),
        ("+3d", date(2026, 11, 26)),
        ("+2w", date(2026, 12, 7)),
        ("fri", date(2026, 11, 27)),
        ("Friday", date(2026, 11, 27)),
        ("mon", date(2026, 11, 30)),  # today is a Monday: "mon" means next week's
    ],
)
def test_parse_due(typed: str, expected: date) -> None:
    assert parse_due(typed, date(2026, 11, 23)) == expected


@pytest.mark.parametrize("typed", ["someday", "fr", "+d", "2026-02-30", ""])
def test_parse_due_refuses_what_it_cannot_read(typed: str) -> None:
    with pytest.raises(ValueError):
        parse_due(typed, date(2026, 11, 23))


def test_frozen_clock_sets_default_timestamps(monkeypatch) -> None:
    monkeypatch.setenv("FIELDRM_NOW", "2026-01-02T03:04:05Z")
    record = make("observation")
    assert record.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_importing_the_models_builds_no_validator():
    """A `fieldrm capture` process loads the models; building every kind's pydantic schema
    at import cost it ~40 ms, so each is built when first used (`defer_build`)."""
    probe = (
        "import fieldrm.models as m; "
        "print(sum(k.__pydantic_complete__ for k in (m.Record, *m.KINDS.values())))"
    )
    built = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert built == "0"
    # Used, a kind validates as before (and its schema is then built).
    from fieldrm.models import KINDS

    record = KINDS["observation"].model_validate({"kind": "observation", "text": " Queue "})
    assert record.text == "Queue"
