"""Merging two contacts (SPEC §12, `fieldrm merge CONTACT KEEP`): every reference moves,
the first is deleted, and nothing either contact held is lost."""

from __future__ import annotations

import pytest

from fieldrm import notebook
from fieldrm.errors import InvalidInput, NotFound
from fieldrm.store import Store


@pytest.fixture
def world():
    with Store.memory() as store:
        site = store.create("site", {"vendor_id": store.create("vendor", {"name": "V"}).id,
                                     "name": "Kolkata"})  # fmt: skip
        priya = store.create(
            "contact",
            {"name": "Priya Nair", "title": "Program Manager", "emails": ["priya@v.example"],
             "tags": ["vip"]},
        )  # fmt: skip
        dup = store.create("contact", {"name": "P. Nair", "role": "program_manager",
                                       "phones": ["+919830012345"], "tags": ["night-shift"],
                                       "notes": "From the vendor's sheet"})  # fmt: skip
        boss = store.create("contact", {"name": "Ravi Kumar"})
        store.update(dup.id, set={"reports_to": boss.id})
        team = store.create("contact", {"name": "Arjun Das", "reports_to": dup.id})
        visit = store.create("visit", {"site_id": site.id, "started_at": "2026-11-20T08:00:00Z",
                                       "attendees": [dup.id, boss.id]})  # fmt: skip
        refs = {
            "observation": store.create("observation", {"text": "x", "contact_id": dup.id}),
            "question": store.create(
                "question", {"text": "y", "escalated_to": dup.id, "status": "escalated"}
            ),  # fmt: skip
            "action": store.create("action", {"text": "z", "owner_id": dup.id}),
        }
        yield {"store": store, "priya": priya, "dup": dup, "boss": boss, "team": team,
               "visit": visit, "refs": refs}  # fmt: skip


def test_every_reference_moves_and_the_first_is_deleted(world):
    store, priya, dup = world["store"], world["priya"], world["dup"]
    kept = notebook.merge_contacts(store, "P. Nair", "Priya Nair")
    assert kept.id == priya.id
    assert store.get(dup.id).deleted
    assert store.get(world["team"].id).reports_to == priya.id
    assert sorted(store.get(world["visit"].id).attendees) == sorted([priya.id, world["boss"].id])
    assert store.get(world["refs"]["observation"].id).contact_id == priya.id
    assert store.get(world["refs"]["question"].id).escalated_to == priya.id
    assert store.get(world["refs"]["action"].id).owner_id == priya.id
    # Nothing the merged contact held is lost; what Priya had stays hers.
    assert (kept.name, kept.title, kept.role) == ("Priya Nair", "Program Manager",
                                                  "program_manager")  # fmt: skip
    assert kept.reports_to == world["boss"].id
    assert kept.phones == ["+919830012345"] and kept.emails == ["priya@v.example"]
    assert sorted(kept.tags) == ["night-shift", "vip"]
    assert kept.notes == "From the vendor's sheet"


def test_a_contact_reporting_to_the_merged_one_does_not_report_to_itself(world):
    store = world["store"]
    kept = notebook.merge_contacts(store, world["team"].id, world["dup"].id)
    assert kept.reports_to == world["boss"].id  # its own, not itself


@pytest.mark.parametrize(
    ("first", "keep", "error", "message"),
    [
        ("Priya Nair", "Priya Nair", InvalidInput, "into itself"),
        ("Nobody", "Priya Nair", NotFound, "Nobody"),
        ("Priya Nair", "Kolkata", NotFound, "Kolkata"),  # a site, not a contact
    ],
)
def test_bad_merges_change_nothing(world, first, keep, error, message):
    store = world["store"]
    before = store.pending_count()
    with pytest.raises(error, match=message):
        notebook.merge_contacts(store, first, keep)
    assert store.pending_count() == before
