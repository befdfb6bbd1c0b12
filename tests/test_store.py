"""The device store: one transaction per write, the change log, search, threads, import."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from fieldrm.errors import Ambiguous, InvalidInput, NotFound
from fieldrm.models import new_id
from fieldrm.store import Store
from fieldrm.store import db as store_db
from fieldrm.store import text as store_text


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "device.db") as opened:
        yield opened


def ops(store: Store) -> list[tuple[int, dict]]:
    rows = store.conn.execute("SELECT seq, op FROM outbox ORDER BY seq").fetchall()
    return [(seq, json.loads(op)) for seq, op in rows]


def snapshot(store: Store) -> tuple[list, ...]:
    """Everything a write touches: records, the outbox, the search index and its keys."""
    conn = store.conn
    return (
        conn.execute("SELECT id, data, meta, deleted FROM records ORDER BY rowid").fetchall(),
        conn.execute("SELECT seq, op FROM outbox ORDER BY seq").fetchall(),
        conn.execute("SELECT rowid, body FROM search ORDER BY rowid").fetchall(),
        conn.execute("SELECT record, key FROM search_keys ORDER BY record").fetchall(),
    )


def found(store: Store, query: str) -> set[str]:
    return {record.id for record in store.search(query)}


# ---------------------------------------------------------------- one transaction per write


def _writes(store: Store, contact_id: str):
    """Each kind of write, as a callable, against an existing contact."""
    return {
        "create": lambda: store.create("observation", {"text": "queue wallboard is broken"}),
        "edit": lambda: store.update(contact_id, set={"title": "Ops lead"}),
        "add": lambda: store.update(contact_id, add={"tags": ["escalation"]}),
        "remove": lambda: store.update(contact_id, remove={"tags": ["vip"]}),
        "delete": lambda: store.delete(contact_id),
        "import": lambda: store.import_records([{"kind": "vendor", "name": "Imported Ltd"}]),
    }


@pytest.mark.parametrize("write", ["create", "edit", "add", "remove", "delete", "import"])
@pytest.mark.parametrize("failing_step", ["change log", "search"])
def test_a_write_that_fails_midway_leaves_nothing(store, monkeypatch, write, failing_step):
    contact = store.create("contact", {"name": "Priya Nair", "tags": ["vip"]})
    before = snapshot(store)

    class Boom(Exception):
        pass

    def explode(*args, **kwargs):
        raise Boom(failing_step)

    if failing_step == "change log":
        monkeypatch.setattr(Store, "_append_op", explode)
    else:
        monkeypatch.setattr(store_text, "search_body", explode)  # the index writer's
    with pytest.raises(Boom):
        _writes(store, contact.id)[write]()
    assert snapshot(store) == before

    # The same write succeeds once nothing fails, with its record, op and search row.
    monkeypatch.undo()
    _writes(store, contact.id)[write]()
    records, outbox, search_rows, _keys = snapshot(store)
    assert len(outbox) == len(before[1]) + 1
    assert records != before[0]
    assert len(search_rows) == len(records)


def test_a_failing_write_in_a_thread_does_not_block_the_next(store, monkeypatch):
    calls = 0
    real = Store._append_op

    def fail_once(self, op):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise sqlite3.OperationalError("disk I/O error")
        real(self, op)

    monkeypatch.setattr(Store, "_append_op", fail_once)
    with pytest.raises(sqlite3.OperationalError):
        store.create("vendor", {"name": "First"})
    store.create("vendor", {"name": "Second"})
    assert [r.name for r in store.list("vendor")] == ["Second"]
    assert store.pending_count() == 1


def test_bad_values_write_nothing(store):
    store.create("contact", {"name": "Priya Nair"})
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="role"):
        store.create("contact", {"name": "X", "role": "boss"})
    with pytest.raises(InvalidInput, match="is required"):
        store.create("observation", {})
    with pytest.raises(InvalidInput, match="unknown kind"):
        store.create("meeting", {"name": "x"})
    contact_id = before[0][0][0]
    with pytest.raises(InvalidInput, match="no field"):
        store.update(contact_id, set={"shoe_size": 9})
    with pytest.raises(InvalidInput, match="not a set"):
        store.update(contact_id, add={"title": ["x"]})
    with pytest.raises(NotFound):
        store.update("01a2076e-0000-7000-8000-000000000000", set={"title": "x"})
    assert snapshot(store) == before


# ---------------------------------------------------------------- the change log


def test_ops_are_numbered_per_device_and_stamped(store):
    contact = store.create("contact", {"name": "Priya Nair", "tags": ["vip"]})
    store.update(contact.id, set={"title": "Program manager"})
    store.update(contact.id, add={"tags": ["night"]}, remove={"tags": ["vip"]})
    store.delete(contact.id)
    store.update(contact.id, deleted=False)
    log = ops(store)
    assert [seq for seq, _ in log] == [1, 2, 3, 4, 5]
    stamps = [op["hlc"] for _, op in log]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    assert all(len(stamp) == 16 for stamp in stamps)
    assert all(op["id"] == contact.id and op["kind"] == "contact" for _, op in log)
    assert all(op["by"] == store.user for _, op in log)
    assert store.get_state("hlc") == stamps[-1]

    create, edit, sets, delete, restore = (op for _, op in log)
    assert create["new"] is True
    assert create["set"]["name"] == "Priya Nair"
    assert create["add"] == {"tags": ["vip"]}
    assert "base" not in create and "seen" not in create  # never synced: bases left out
    assert "new" not in edit
    # updated_at rides along unless the edit fell in the same millisecond as the create.
    assert set(edit["set"]) - {"updated_at"} == {"title"}
    assert sets["add"] == {"tags": ["night"]}
    assert sets["rem"] == {"tags": [["vip", 0]]}
    assert delete["del"] is True and restore["del"] is False


def test_ops_carry_the_versions_their_edit_was_based_on(store):
    contact = store.create("contact", {"name": "Priya Nair", "tags": ["vip", "night"]})
    # What a sync would have recorded: the server versions this device has seen.
    meta = {"v": {"title": 17, "name": 3}, "e": {"tags": {"vip": 12}}, "seen": 42}
    store.conn.execute("UPDATE records SET meta = ? WHERE id = ?", [json.dumps(meta), contact.id])
    store.update(contact.id, set={"title": "Ops lead"}, remove={"tags": ["vip", "night"]})
    _, op = ops(store)[-1]
    assert op["seen"] == 42
    assert op["base"] == {"title": 17}  # only the fields this edit replaced
    assert op["rem"] == {"tags": [["night", 0], ["vip", 12]]}


def test_a_write_that_changes_nothing_logs_nothing(store):
    contact = store.create("contact", {"name": "Priya Nair", "tags": ["vip"]})
    store.update(contact.id, set={"name": "Priya Nair"}, add={"tags": ["vip"]})
    assert store.pending_count() == 1
    assert store.get(contact.id).to_json() == contact.to_json()


def test_device_id_is_made_once_and_kept(tmp_path):
    with Store.open(tmp_path / "a.db") as first:
        device = first.device_id
        first.create("vendor", {"name": "Acme"})
    with Store.open(tmp_path / "a.db") as again:
        assert again.device_id == device
        again.create("vendor", {"name": "Beta"})
        assert [seq for seq, _ in ops(again)] == [1, 2]
    with Store.open(tmp_path / "b.db") as other:
        assert other.device_id != device and len(device) == 32


def test_clock_survives_reopening(tmp_path):
    with Store.open(tmp_path / "a.db") as first:
        first.create("vendor", {"name": "Acme"})
        last = first.get_state("hlc")
    with Store.open(tmp_path / "a.db") as again:
        again.create("vendor", {"name": "Beta"})
        assert again.get_state("hlc") > last


# ---------------------------------------------------------------- search


def test_search_follows_creates_edits_deletes_and_restores(store):
    contact = store.create(
        "contact", {"name": "Priya Nair", "title": "Wallboard owner", "tags": ["calibration"]}
    )
    obs = store.create("observation", {"text": "Agents skip the greeting", "category": "quality"})
    assert found(store, "wallboard") == {contact.id}
    assert found(store, "calibr") == {contact.id}  # set elements, last word as a prefix
    assert found(store, "greeting quality") == {obs.id}  # vocabulary values count
    store.update(contact.id, set={"title": "Escalations"})
    assert found(store, "wallboard") == set()
    assert found(store, "escalations") == {contact.id}
    store.update(contact.id, remove={"tags": ["calibration"]})
    assert found(store, "calibration") == set()
    store.delete(obs.id)
    assert found(store, "greeting") == set()
    store.update(obs.id, deleted=False)
    assert found(store, "greeting") == {obs.id}
    rows = store.conn.execute("SELECT count(*) FROM search").fetchone()[0]
    assert rows == store.conn.execute("SELECT count(*) FROM records").fetchone()[0]


def test_search_by_kind_ignores_punctuation_and_diacritics(store):
    store.create("vendor", {"name": "Teleperformance Bogotá"})
    contact = store.create("contact", {"name": "José Ramírez"})
    assert found(store, "bogota") != set()
    assert {r.id for r in store.search("jose", kinds=["contact"])} == {contact.id}
    assert store.search("jose", kinds=["vendor"]) == []
    assert store.search('"; DROP TABLE records; --') == []
    assert store.search("   ") == []


# ---------------------------------------------------------------- names and lists


def test_resolve_by_id_prefix_and_exact_name(store):
    ravi = store.create("contact", {"name": "Ravi Kumar"})
    store.create("contact", {"name": "ravi kumar"})
    priya = store.create("contact", {"name": "Priya Nair"})
    assert store.resolve(priya.id).id == priya.id
    assert store.resolve(priya.id[:-6]).id == priya.id
    assert store.resolve("PRIYA NAIR").id == priya.id
    with pytest.raises(Ambiguous, match="more than one"):
        store.resolve("Ravi Kumar")
    assert store.resolve("Priya").id == priya.id  # a unique first name, as `@Priya`
    with pytest.raises(NotFound):
        store.resolve("Priya Nair", ["vendor"])
    assert store.resolve(ravi.id, ["contact"]).name == "Ravi Kumar"


def test_list_filters_on_fields_and_set_elements(store):
    vip = store.create("contact", {"name": "A", "role": "supervisor", "tags": ["vip"]})
    store.create("contact", {"name": "B", "role": "team_leader"})
    gone = store.create("contact", {"name": "C", "role": "supervisor"})
    store.delete(gone.id)
    assert [r.id for r in store.list("contact", where={"tags": "vip"})] == [vip.id]
    assert [r.name for r in store.list("contact", where={"role": "supervisor"})] == ["A"]
    assert store.count("contact", where={"role": "supervisor"}, include_deleted=True) == 2
    with pytest.raises(InvalidInput):
        store.list("contact", where={"shoe_size": 9})


def test_open_visit_is_the_one_without_an_end(store):
    site = store.create("site", {"vendor_id": new_id(), "name": "Manila"})
    assert store.open_visit() is None
    visit = store.create("visit", {"site_id": site.id})
    assert store.open_visit().id == visit.id
    store.update(visit.id, set={"ended_at": "2026-11-23T10:00:00Z"})
    assert store.open_visit() is None


# ---------------------------------------------------------------- threads


def test_the_store_serves_several_threads_at_once(store):
    writers, per_writer = 4, 40
    errors: list[BaseException] = []
    start = threading.Barrier(writers + 1)

    def write(number: int) -> None:
        try:
            start.wait()
            for index in range(per_writer):
                record = store.create("observation", {"text": f"writer {number} note {index}"})
                store.update(record.id, add={"tags": [f"w{number}"]})
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def read() -> None:
        try:
            start.wait()
            for _ in range(per_writer):
                store.search("note")
                store.count("observation")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    threads.append(threading.Thread(target=read))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count("observation") == writers * per_writer
    log = ops(store)
    assert [seq for seq, _ in log] == list(range(1, 2 * writers * per_writer + 1))
    stamps = [op["hlc"] for _, op in log]
    assert len(set(stamps)) == len(stamps)
    for number in range(writers):
        assert store.count("observation", where={"tags": f"w{number}"}) == per_writer


# ---------------------------------------------------------------- import and export


def test_import_is_all_or_nothing(store):
    store.create("vendor", {"name": "Acme"})
    before = snapshot(store)
    batch = [
        {"kind": "vendor", "name": "Good one"},
        {"kind": "contact", "name": "Priya", "role": "boss"},
    ]
    with pytest.raises(InvalidInput, match="record 2"):
        store.import_records(batch)
    assert snapshot(store) == before


def test_export_then_import_round_trips_through_the_write_path(tmp_path, store):
    vendor = store.create("vendor", {"name": "Acme"})
    contact = store.create("contact", {"name": "Priya", "vendor_id": vendor.id, "tags": ["vip"]})
    store.delete(contact.id)
    exported = list(store.export_all())
    with Store.open(tmp_path / "other.db") as other:
        assert other.import_records(exported) == (2, 0)
        restored = list(other.export_all())
        assert restored[0] == exported[0]
        # The tombstone is re-applied on import, so only its updated_at moves.
        assert {**restored[1], "updated_at": None} == {**exported[1], "updated_at": None}
        assert restored[1]["deleted"] is True
        assert other.pending_count() == 3  # two creates and the tombstone, ready to sync
        exported[0]["country"] = "India"
        assert other.import_records(exported) == (0, 2)
        assert other.get(vendor.id).country == "India"
        assert other.pending_count() == 4


def test_search_ranks_best_first_and_finds_old_records_past_the_window(store, monkeypatch):
    monkeypatch.setattr(store_db, "SEARCH_WINDOW", 5)
    old = store.create("observation", {"text": "badge reader broken at the fraud bay door"})
    best = store.create("observation", {"text": "coaching"})
    for number in range(8):
        store.create("observation", {"text": f"note {number} about coaching and many other words"})
    assert [r.id for r in store.search("badge")] == [old.id]
    assert [r.id for r in store.search("fraud bad")] == [old.id]
    results = store.search("coaching", limit=3)
    assert len(results) == 3
    assert best.id not in {r.id for r in results}  # only the newest 5 matches are ranked
    monkeypatch.setattr(store_db, "SEARCH_WINDOW", 1000)
    assert store.search("coaching", limit=3)[0].id == best.id


def test_search_window_is_the_newest_by_creation_on_a_device_filled_out_of_order(
    store, monkeypatch
):
    """A snapshot pull lands records in the server's order, not creation's (issue 14)."""
    from fieldrm.sync import replica

    monkeypatch.setattr(store_db, "SEARCH_WINDOW", 3)
    made = []
    for day in range(8):
        stamp = f"2026-03-{day + 10:02d}T09:00:00.000Z"
        registers = {
            "text": "coaching note on the floor",
            "created_at": stamp,
            "updated_at": stamp,
            "created_by": "alice",
        }
        made.append(
            {"id": new_id(), "kind": "observation", "r": {k: [v, 1] for k, v in registers.items()}}
        )
    arrival = [3, 7, 0, 5, 1, 6, 2, 4]  # the order a snapshot's pages delivered them
    for index in arrival:
        replica.apply_changes(store, [made[index]], {})
    newest_first = [made[day]["id"] for day in (7, 6, 5)]
    assert [r.id for r in store.search("coaching", limit=10)] == newest_first
    assert [r.id for r in store.search("floor coach", limit=2)] == newest_first[:2]


def test_records_whose_search_keys_collide_are_all_found(store, monkeypatch):
    monkeypatch.setattr(store_text, "search_key", lambda data: 42)
    first = store.create("observation", {"text": "headsets missing"})
    with store.transaction():
        second = store.create("observation", {"text": "headsets broken"})
        third = store.create("observation", {"text": "headsets again"})
    store.update(first.id, set={"text": "headsets found"})
    assert found(store, "headsets") == {first.id, second.id, third.id}
    assert found(store, "found") == {first.id}
    assert found(store, "missing") == set()
