"""The demo data set: realistic, internally consistent, and idempotent."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from fieldrm.demo import demo_id, load_demo
from fieldrm.models import USER_KINDS, kind_info
from fieldrm.store import Store

TODAY = date(2026, 11, 23)


@pytest.fixture
def store():
    with Store.memory() as store:
        load_demo(store, today=TODAY)
        yield store


def test_second_load_creates_nothing_and_queues_nothing():
    with Store.memory() as store:
        first = load_demo(store, today=TODAY)
        pending = store.pending_count()
        assert first == sum(store.count(kind) for kind in USER_KINDS)
        assert pending == first  # every record went through the write path, one op each
        assert load_demo(store, today=TODAY + timedelta(days=3)) == 0
        assert store.pending_count() == pending


def test_user_changes_survive_a_reload(store):
    priya = store.resolve("Priya Nair", ["contact"])
    store.update(priya.id, set={"title": "Senior Program Manager"})
    store.delete(demo_id("observation:obs-aircon"))
    assert load_demo(store, today=TODAY) == 0
    assert store.get(priya.id).title == "Senior Program Manager"
    assert store.get(demo_id("observation:obs-aircon")).deleted


def test_ids_are_fixed_uuid7():
    with Store.memory() as one, Store.memory() as two:
        load_demo(one, today=TODAY)
        load_demo(two, today=date(2027, 1, 5))
        # A KPI value's id is its KPI and its period (§11), and the six months of values
        # follow `today`; every other id is fixed.
        ids_one = {r["id"] for r in one.export_all() if r["kind"] != "kpi_value"}
        ids_two = {r["id"] for r in two.export_all() if r["kind"] != "kpi_value"}
    assert ids_one == ids_two
    assert all(uuid.UUID(i).version == 7 for i in ids_one)
    assert demo_id("contact:priya") != demo_id("contact:ravi")


def test_size_and_places(store):
    assert store.count("vendor") == 3
    cities = {site.city for site in store.list("site")}
    assert {"Kolkata", "Manila", "Lahore"} <= cities
    assert 25 <= store.count("contact") <= 40
    assert store.count("program") >= 5
    assert all(p.client and p.line_of_business for p in store.list("program"))


def test_every_reference_points_at_a_demo_record(store):
    ids = {r["id"] for r in store.export_all()}
    for record in store.export_all():
        for name, info in kind_info(record["kind"]).fields.items():
            if not info.refs:
                continue
            value = record.get(name)
            targets = value if isinstance(value, list) else [value]
            for target in targets:
                if target is not None:
                    assert target in ids, (record["kind"], name)


def test_reporting_chain_from_team_leader_to_facility_manager(store):
    contacts = {c.id: c for c in store.list("contact")}
    arjun = store.resolve("Arjun Das", ["contact"])
    chain = [arjun.role]
    current = arjun
    while current.reports_to:
        current = contacts[current.reports_to]
        chain.append(current.role)
    assert chain == [
        "team_leader",
        "supervisor",
        "operations_manager",
        "program_manager",
        "facility_operations_manager",
    ]
    roles = {c.role for c in contacts.values()}
    for role in ("client_services_manager", "quality_manager", "workforce_manager"):
        assert role in roles
    assert "training_manager" in roles
    assert all(c.emails and c.phones for c in contacts.values())


def test_visits_are_past_with_attendees_and_none_is_open(store):
    visits = store.list("visit")
    assert store.open_visit() is None
    assert {v.visit_type for v in visits} >= {"floor_walk", "site_visit", "review_meeting"}
    for visit in [v for v in visits if not v.planned]:  # §11: a planned review is ahead
        assert visit.attendees
        assert visit.ended_at > visit.started_at
        assert visit.started_at.date() < TODAY


def test_observations_cover_categories_and_severities(store):
    observations = store.list("observation")
    assert len({o.category for o in observations}) >= 7
    assert {o.severity for o in observations} == {"positive", "info", "concern", "critical"}
    assert all(o.visit_id for o in observations)


def test_questions_answered_escalated_and_open(store):
    questions = store.list("question")
    by_status = {status: [q for q in questions if q.status == status] for status in
                 ("open", "answered", "escalated")}  # fmt: skip
    assert all(by_status.values())
    assert all(q.answer and q.answered_at for q in by_status["answered"])
    assert all(q.escalated_to and not q.answer for q in by_status["escalated"])
    tom = store.get(demo_id("contact:tom"))
    assert any(q.escalated_to == tom.id for q in by_status["escalated"])  # to the client


def test_actions_overdue_due_soon_and_done_relative_to_today(store):
    actions = store.list("action")
    live = [a for a in actions if a.status in ("open", "in_progress")]
    assert any(a.due < TODAY for a in live)  # overdue
    assert any(TODAY <= a.due <= TODAY + timedelta(days=7) for a in live)  # due soon
    assert any(a.status == "done" for a in actions)
    assert any(a.owner_id is None for a in actions)  # the RM's own
    assert all(a.source_id and a.visit_id for a in actions)


def test_relationships_kpis_ladders_cadences_and_a_review_series(store):
    from fieldrm.store.queries import carried_over_actions
    from fieldrm.store.relationships import agenda, coverage, escalations, kpi_statuses

    statuses = kpi_statuses(store)
    assert len(statuses) == store.count("kpi") >= 5
    assert all(len(item.trend) == 6 for item in statuses)
    assert {item.status for item in statuses} >= {"green", "amber", "red"}
    assert store.count("ladder_step") == 3 * store.count("vendor")
    northwind = demo_id("vendor:northwind")
    carried = carried_over_actions(store, northwind)
    assert len(carried) >= 3 and any(a.owner_id is None for a in carried)
    assert any(e.overdue for e in escalations(store))
    report = coverage(store)
    assert report["missing_roles"] and report["overdue"]
    built = agenda(store, vendor_id=northwind)
    assert built["carried_over"] and built["kpis_off_target"] and built["escalations"]
    assert store.list("visit", where={"planned": True})


def test_demo_is_searchable(store):
    assert any(r.kind == "observation" for r in store.search("side-by-sides"))
    assert [c.name for c in store.contacts_matching("ravi")] == ["Ravi Kumar"]
