"""The read queries of fieldrm.store.queries on a real in-memory store (the app's lists,
Today and contact screens, and the CLI's `today`, read through these)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fieldrm.display import ago, short_date, short_time
from fieldrm.models import local_today, now_utc
from fieldrm.store import Store, queries


@pytest.fixture
def store():
    with Store.memory() as memory:
        yield memory


def test_list_filter_by_status_and_text_with_like_wildcards_taken_literally(store):
    for text, status in [("50% done", "open"), ("500 done", "in_progress"), ("x_y", "done")]:
        store.create("action", {"text": text, "status": status})
    live = queries.ListFilter("action", statuses=("open", "in_progress"))
    assert queries.list_count(store, live) == 2
    literal = queries.ListFilter("action", text="50%")
    assert [r.text for r in queries.list_page(store, literal)] == ["50% done"]
    assert queries.list_count(store, queries.ListFilter("action", text="x_")) == 1


def test_contacts_filter_by_site_and_role_combined_with_text(store):
    vendor = store.create("vendor", {"name": "Northwind"})
    north = store.create("site", {"name": "North", "vendor_id": vendor.id})
    south = store.create("site", {"name": "South", "vendor_id": vendor.id})
    for name, site, role in [
        ("Asha Rao", north, "team_leader"),
        ("Arun Pillai", north, "supervisor"),
        ("Bina Shah", north, "team_leader"),
        ("Anil Das", south, "team_leader"),
    ]:
        store.create("contact", {"name": name, "site_id": site.id, "role": role})

    def names(**filters):
        flt = queries.ListFilter("contact", **filters)
        page = [c.name for c in queries.list_page(store, flt)]
        assert queries.list_count(store, flt) == len(page)
        return page

    assert names(site_id=north.id) == ["Arun Pillai", "Asha Rao", "Bina Shah"]
    assert names(role="team_leader") == ["Anil Das", "Asha Rao", "Bina Shah"]
    assert names(site_id=north.id, role="team_leader") == ["Asha Rao", "Bina Shah"]
    assert names(site_id=north.id, role="team_leader", text="as") == ["Asha Rao"]
    assert names(site_id=south.id, role="supervisor") == []


def test_names_for_reads_more_ids_than_one_sql_statement_takes(store):
    contacts = [store.create("contact", {"name": f"Person {i}"}) for i in range(1200)]
    names = queries.names_for(store, [c.id for c in contacts] + [None, "unknown"])
    assert len(names) == 1200 and names[contacts[-1].id] == "Person 1199"


def test_actions_due_are_the_open_ones_soonest_first(store):
    today = local_today()
    for days, status in [(3, "open"), (-1, "in_progress"), (1, "done"), (30, "open")]:
        store.create(
            "action", {"text": f"due {days}", "due": today + timedelta(days), "status": status}
        )
    due = queries.actions_due(store, today + timedelta(days=7))
    assert [a.text for a in due] == ["due -1", "due 3"]


def test_org_chart_cuts_a_reporting_cycle_and_shows_everyone_once(store):
    vendor = store.create("vendor", {"name": "Northwind"})
    site = store.create("site", {"vendor_id": vendor.id, "name": "Kolkata"})
    boss = store.create("contact", {"name": "Ann", "site_id": site.id})
    store.create("contact", {"name": "Bob", "site_id": site.id, "reports_to": boss.id})
    two = store.create("contact", {"name": "Cy", "site_id": site.id})
    three = store.create("contact", {"name": "Di", "site_id": site.id, "reports_to": two.id})
    store.update(two.id, set={"reports_to": three.id})
    chart = [(depth, person.name) for depth, person in queries.org_chart(store, site.id)]
    assert chart[:2] == [(0, "Ann"), (1, "Bob")]
    assert sorted(name for _, name in chart) == ["Ann", "Bob", "Cy", "Di"]


def test_read_counts_and_conflict_count(store):
    store.create("observation", {"text": "queue long"})
    assert queries.read_counts(store) == (1, 0, None)
    assert queries.open_conflict_count(store) == 0


def test_display_formats():
    now = now_utc()
    assert ago(None) == "never"
    assert ago((now - timedelta(minutes=5)).isoformat(), now) == "5 min ago"
    assert ago((now - timedelta(days=3)).isoformat(), now) == "3 days ago"
    assert short_date(local_today()) == local_today().isoformat()
    assert len(short_time(now.isoformat())) == 5
    assert short_time(None) == short_date(None) == ""


def test_list_position_is_the_row_list_page_puts_a_record_on(store):
    with store.transaction():
        for number in range(40):
            store.create("contact", {"name": f"Person {number % 7} {number:02d}"})
            store.create(
                "action", {"text": f"act {number}", "due": f"2030-01-{number % 28 + 1:02d}"}
            )
    for flt in (
        queries.ListFilter("contact"),
        queries.ListFilter("contact", text="person 3"),
        queries.ListFilter("action", statuses=("open",)),
    ):
        listed = queries.list_page(store, flt, limit=1000)
        assert listed
        assert [queries.list_position(store, flt, r.id) for r in listed] == list(range(len(listed)))
    left_out = next(c for c in store.list("contact") if "Person 3" not in c.name)
    assert (
        queries.list_position(store, queries.ListFilter("contact", text="person 3"), left_out.id)
        is None
    )
