"""Contacts in and out (SPEC §12): vCard 2.1/3.0/4.0 and CSV, matched and never silently
merged, all or nothing, idempotent, and round trips through export."""

from __future__ import annotations

import pytest

from fieldrm.contacts_io import export_contacts, import_contacts, normalise_phone
from fieldrm.errors import InvalidInput
from fieldrm.store import Store

# Five cards in one file: 2.1 (quoted-printable name), 3.0, 4.0 (tel: URI), a 3.0 card
# repeating the first, and one whose phone is Priya's written another way.
VCARDS = (
    "BEGIN:VCARD\r\n"
    "VERSION:2.1\r\n"
    "N;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Mu=C3=B1oz;Jos=C3=A9\r\n"
    "TEL;CELL:+57 310 555 0199\r\n"
    "ORG:Northwind Contact Solutions\r\n"
    "TITLE:IT Manager\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\n"
    "VERSION:3.0\n"
    "FN:Grace Lim\n"
    "N:Lim;Grace;;;\n"
    "EMAIL;TYPE=INTERNET:grace.lim@bayanihan.example\n"
    "ROLE:Quality manager\n"
    "CATEGORIES:vip,night-shift\n"
    "NOTE:Met at the QBR\\, Manila\n"
    "END:VCARD\n"
    "BEGIN:VCARD\n"
    "VERSION:4.0\n"
    "FN:Дмитрий Иванов\n"
    'TEL;VALUE=uri;TYPE="voice,cell":tel:+7-495-555-0100\n'
    "EMAIL:dmitri@example.ru\n"
    "END:VCARD\n"
    "BEGIN:VCARD\n"
    "VERSION:3.0\n"
    "FN:José Muñoz\n"
    "TEL:+573105550199\n"
    "END:VCARD\n"
    "BEGIN:VCARD\n"
    "VERSION:3.0\n"
    "FN:P. Nair\n"
    "TEL;TYPE=WORK:(+91) 98300-12345\n"
    "EMAIL:priya.personal@example.com\n"
    "TITLE:Program Manager\n"
    "END:VCARD\n"
)


@pytest.fixture
def store():
    with Store.memory() as store:
        northwind = store.create("vendor", {"name": "Northwind Contact Solutions"})
        store.create("site", {"vendor_id": northwind.id, "name": "Kolkata Salt Lake"})
        store.create("contact", {"name": "Priya Nair", "vendor_id": northwind.id,
                                 "phones": ["+91 98300 12345"]})  # fmt: skip
        store.create("contact", {"name": "Ravi Kumar", "vendor_id": northwind.id,
                                 "emails": ["ravi@northwind.example"]})  # fmt: skip
        yield store


def contacts(store):
    return {c.name: c for c in store.list("contact")}


def test_dry_run_reports_and_writes_nothing(store):
    before = store.pending_count()
    summary = import_contacts(store, VCARDS.encode(), "vcf", dry_run=True)
    assert (summary["new"], summary["matched"], summary["updated"]) == (3, 1, 1)
    assert summary["skipped"] == [{"line": 23, "reason": "the same contact as line 1"}]
    assert summary["matches"][0]["contact"] == "Priya Nair"
    assert summary["matches"][0]["by"] == "phone +919830012345"
    assert store.pending_count() == before
    assert set(contacts(store)) == {"Priya Nair", "Ravi Kumar"}


def test_import_creates_new_fills_matched_and_is_idempotent(store):
    summary = import_contacts(store, VCARDS.encode(), "vcf")
    assert (summary["new"], summary["matched"], summary["updated"]) == (3, 1, 1)
    people = contacts(store)
    assert set(people) == {"Priya Nair", "Ravi Kumar", "José Muñoz", "Grace Lim",
                           "Дмитрий Иванов"}  # fmt: skip
    jose = people["José Muñoz"]
    assert jose.phones == ["+573105550199"]  # normalised
    assert jose.vendor_id == people["Priya Nair"].vendor_id  # ORG names a known vendor
    assert (jose.title, people["Grace Lim"].role) == ("IT Manager", "quality_manager")
    assert sorted(people["Grace Lim"].tags) == ["night-shift", "vip"]
    assert people["Grace Lim"].notes == "Met at the QBR, Manila"
    assert people["Дмитрий Иванов"].phones == ["+74955550100"]
    priya = people["Priya Nair"]  # empty fields filled, her name untouched
    assert priya.title == "Program Manager"
    assert priya.emails == ["priya.personal@example.com"]
    assert priya.phones == ["+91 98300 12345"]  # the same number is not added twice
    pending = store.pending_count()
    again = import_contacts(store, VCARDS.encode(), "vcf")
    assert (again["new"], again["matched"], again["updated"]) == (0, 4, 0)
    assert store.pending_count() == pending  # nothing written


def test_a_close_name_at_the_same_vendor_is_reported_never_merged(store):
    sheet = "name,vendor\nRavi Kumaar,Northwind Contact Solutions\nRavi Kumaar,\n"
    summary = import_contacts(store, sheet.encode(), "csv")
    assert summary["new"] == 1  # the second row has no vendor: not compared with Ravi
    assert summary["matched"] == 1 and summary["updated"] == 0
    assert summary["matches"][0]["contact"] == "Ravi Kumar"
    assert "close name" in summary["matches"][0]["by"]
    assert sorted(c.name for c in store.list("contact")) == [
        "Priya Nair", "Ravi Kumaar", "Ravi Kumar"]  # fmt: skip


def test_csv_import_with_roles_sites_and_several_values(store):
    sheet = (
        "Name,Role,Title,Site,Email,Phones,Tags\n"
        "Sneha Banerjee,supervisor,Floor Supervisor,Kolkata Salt Lake,"
        "sneha@northwind.example,+91 98300 55555;+91 33 4000 1234,day-shift\n"
        '"Arjun Das",Team leader,"Team Leader, Team 4",,,,\n'
    )
    summary = import_contacts(store, sheet.encode(), "csv")
    assert (summary["new"], summary["matched"]) == (2, 0)
    people = contacts(store)
    sneha = people["Sneha Banerjee"]
    assert sneha.role == "supervisor" and sneha.site_id and sneha.vendor_id
    assert sneha.phones == ["+913340001234", "+919830055555"]
    assert people["Arjun Das"].role == "team_leader"


@pytest.mark.parametrize(
    ("fmt", "data", "message"),
    [
        ("vcf", b"BEGIN:VCARD\nVERSION:3.0\nFN:A\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\n"
                b"TEL:+1 555 0100\nEND:VCARD\n", "line 5: a vCard with no name"),
        ("vcf", b"BEGIN:VCARD\nVERSION:3.0\nFN Priya\nEND:VCARD\n", "line 3: cannot read"),
        ("vcf", b"BEGIN:VCARD\nFN:A\n", "line 1: a card with no END:VCARD"),
        ("vcf", b"hello\n", "line 1: not part of a vCard"),
        ("csv", b"name,role\nA,team_leader\nB,chief wizard\n", "line 3: unknown role"),
        ("csv", b"name,email\nA,a@b.example\nB,not-an-email\n", "line 3: not an email"),
        ("csv", b"name,shoe size\nA,9\n", "line 1: unknown column 'shoe size'"),
        ("csv", b"name\nA\n\xff\xfeB\n", "line 3: not UTF-8"),
        ("csv", b"name,vendor\nA,Nobody Ltd\n", "line 2: no vendor named"),
    ],
)  # fmt: skip
def test_bad_input_refuses_the_whole_import(store, fmt, data, message):
    before = store.pending_count()
    with pytest.raises(InvalidInput, match=message):
        import_contacts(store, data, fmt)
    assert store.pending_count() == before
    assert len(store.list("contact")) == 2


@pytest.mark.parametrize("fmt", ["vcf", "csv"])
def test_export_round_trips_through_import(store, fmt):
    import_contacts(store, VCARDS.encode(), "vcf")
    store.update(contacts(store)["Grace Lim"].id, set={"title": "QA Lead, Night"})
    exported = export_contacts(store, fmt)
    # Into the same device: every contact is itself, nothing changes.
    pending = store.pending_count()
    same = import_contacts(store, exported.encode(), fmt)
    assert (same["new"], same["matched"], same["updated"]) == (0, 5, 0)
    assert store.pending_count() == pending
    # Into a fresh device that knows the vendor: the same people, field for field.
    with Store.memory() as fresh:
        fresh.create("vendor", {"name": "Northwind Contact Solutions"})
        fresh.create("site", {"vendor_id": fresh.list("vendor")[0].id,
                              "name": "Kolkata Salt Lake"})  # fmt: skip
        summary = import_contacts(fresh, exported.encode(), fmt)
        assert summary["new"] == 5
        fields = ("name", "role", "title", "emails", "tags", "notes")

        def seen(device):
            vendors = {v.id: v.name for v in device.list("vendor")}
            return {
                c.name: (
                    {f: getattr(c, f) for f in fields},
                    sorted(normalise_phone(p) for p in c.phones),  # phones as E.164
                    vendors.get(c.vendor_id),
                )
                for c in device.list("contact")
            }

        assert seen(fresh) == seen(store)


def test_phones_compare_in_any_format():
    assert normalise_phone("(+91) 98300-12345") == normalise_phone("+91 98300 12345")
    assert normalise_phone("0917 555 0101", "PH") == "+639175550101"
    assert normalise_phone("tel:+7-495-555-0100") == "+74955550100"
