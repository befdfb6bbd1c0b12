"""The multi-device model: random work on 2-5 devices, synced over a faulty network.

Devices create contacts, edit fields, add and remove tags, delete, and resolve conflicts,
and sync on a random schedule through a transport that drops requests, loses responses
after the server committed, and sends requests twice.  After a final full sync every device
must equal the server, and every value any device wrote must be a current value, be kept
in a conflict, or have been overwritten by a device that showed it (an informed overwrite).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldrm.errors import FieldrmError
from fieldrm.store import Store
from fieldrm.sync import client as sync_client
from fieldrm.sync.conflicts import open_conflicts, resolve_conflict
from fieldrm.sync.replica import rejections
from fieldrm.sync.server.storage import Storage

PROFILE = (
    "fieldrm-sync-slow"
    if os.environ.get("FIELDRM_HYPOTHESIS_PROFILE") == "slow"
    else ("fieldrm-sync")
)
URL = "http://testserver"
FAULTS = ("ok", "drop", "lose", "twice")


class FaultyTransport(httpx.BaseTransport):
    """Forwards to the in-process server, failing requests as `plan` says, in order."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.plan: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault = self.plan.pop(0) if self.plan else "ok"
        if fault == "drop":
            raise httpx.ConnectError("request dropped", request=request)
        if fault == "twice":
            self.inner.handle_request(request).read()
        response = self.inner.handle_request(request)
        if fault == "lose":
            response.read()  # the server has committed; the device never hears of it
            raise httpx.ReadError("response lost", request=request)
        return response


DEVICE = st.integers(0, 4)
PICK = st.integers(0, 50)
step = st.one_of(
    st.tuples(st.just("create"), DEVICE),
    st.tuples(st.just("edit"), DEVICE, PICK, st.sampled_from(("title", "notes"))),
    st.tuples(st.just("add"), DEVICE, PICK),
    st.tuples(st.just("remove"), DEVICE, PICK),
    st.tuples(st.just("delete"), DEVICE, PICK),
    st.tuples(st.just("resolve"), DEVICE, PICK, st.sampled_from(("current", "other", "both"))),
    st.tuples(st.just("sync"), DEVICE, st.lists(st.sampled_from(FAULTS), max_size=5)),
)


def _normal(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value not in (None, [])}


class Model:
    def __init__(
        self, storage: Storage, http: httpx.Client, transport: httpx.BaseTransport, count: int
    ) -> None:
        self.storage = storage
        self.workspace = f"model-{os.urandom(6).hex()}"
        self.transport = FaultyTransport(transport)
        self.client = httpx.Client(transport=self.transport)
        self.devices: list[Store] = []
        for number in range(count):
            token = storage.add_user(f"user{number}", self.workspace)
            store = Store.memory()
            sync_client.login(store, URL, token, client=http)
            self.devices.append(store)
        self.counter = 0
        self.written: set[tuple[str, str, str]] = set()  # (record, field, value)
        self.overwritten: set[tuple[str, str, str]] = set()  # seen, then replaced

    def seed(self) -> None:
        """Two contacts every device has, so that edits can clash from the first step."""
        for _ in range(2):
            self.run(("create", 0))
        for number in range(len(self.devices)):
            self.run(("sync", number, []))

    def close(self) -> None:
        self.client.close()
        for store in self.devices:
            store.close()

    def token(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def device(self, number: int) -> Store:
        return self.devices[number % len(self.devices)]

    @staticmethod
    def contact(store: Store, pick: int) -> dict[str, Any] | None:
        ids = [
            row[0]
            for row in store.conn.execute(
                "SELECT id FROM records WHERE kind = 'contact' ORDER BY id"
            )
        ]
        return store.get_raw(ids[pick % len(ids)]) if ids else None

    def note_replaced(self, record: dict[str, Any], field: str) -> None:
        value = record.get(field)
        if isinstance(value, str):
            self.overwritten.add((record["id"], field, value))

    def run(self, action: tuple[Any, ...]) -> None:
        what, number, *args = action
        store = self.device(number)
        if what == "create":
            value = self.token()
            record = store.create("contact", {"name": value, "tags": [self.token()]})
            self.written.add((record.id, "name", value))
            self.written.add((record.id, "tags", record.tags[0]))  # type: ignore[attr-defined]
        elif what == "sync":
            self.transport.plan = list(args[0])
            with contextlib.suppress(sync_client.Offline):  # all stays queued for later
                sync_client.sync_once(store, client=self.client)
            self.transport.plan = []
        elif what == "resolve":
            conflicts = open_conflicts(store)
            if not conflicts:
                return
            conflict = conflicts[args[0] % len(conflicts)].to_json()
            target = store.get_raw(conflict["record_id"])
            if target is None:
                return
            try:
                resolve_conflict(store, conflict["id"], args[1])
            except FieldrmError:
                return
            if conflict["field"] in ("title", "notes", "name"):
                self.note_replaced(target, conflict["field"])
                after = store.get_raw(conflict["record_id"]) or {}
                if isinstance(after.get(conflict["field"]), str):
                    self.written.add(
                        (conflict["record_id"], conflict["field"], after[conflict["field"]])
                    )
        else:
            record = self.contact(store, args[0])
            if record is None:
                return
            if what == "edit":
                value = self.token()
                self.note_replaced(record, args[1])
                store.update(record["id"], set={args[1]: value})
                self.written.add((record["id"], args[1], value))
            elif what == "add":
                value = self.token()
                store.update(record["id"], add={"tags": [value]})
                self.written.add((record["id"], "tags", value))
            elif what == "remove":
                if not record["tags"]:
                    return
                gone = record["tags"][0]
                store.update(record["id"], remove={"tags": [gone]})
                self.overwritten.add((record["id"], "tags", gone))
            elif what == "delete":
                store.update(record["id"], deleted=not record["deleted"])

    def settle(self) -> None:
        for _round in range(2):
            for store in self.devices:
                sync_client.sync_once(store, client=self.client)

    def check(self) -> None:
        server = {record["id"]: record for record in self.storage.records(self.workspace)}
        for store in self.devices:
            assert store.pending_count() == 0
            assert rejections(store) == []
            local = {record["id"]: record for record in store.export_all()}
            assert set(local) == set(server)
            for record_id, record in server.items():
                assert _normal(local[record_id]) == _normal(record), record_id
        kept: set[tuple[str, str, str]] = set()
        for record in server.values():
            if record["kind"] == "conflict":
                for side in ("current", "other"):
                    value = record[side]["value"]
                    values = value if isinstance(value, dict) else {record["field"]: value}
                    for name, item in values.items():
                        for one in item if isinstance(item, list) else [item]:
                            kept.add((record["record_id"], name, json.dumps(one)))
                continue
            for name in ("name", "title", "notes"):
                if record.get(name) is not None:
                    kept.add((record["id"], name, json.dumps(record[name])))
            for tag in record.get("tags", []):
                kept.add((record["id"], "tags", json.dumps(tag)))
        for record_id, field, value in self.written:
            if (record_id, field, value) in self.overwritten:
                continue
            assert (record_id, field, json.dumps(value)) in kept, (field, value)
        self.check_one_conflict_per_competing_device(server)

    @staticmethod
    def check_one_conflict_per_competing_device(server: dict[str, dict[str, Any]]) -> None:
        """A chain of one device's edits counts as one edit (SPEC §5.14): at most one open
        conflict per record, field and competing (losing) device."""
        competing = [
            (record["record_id"], record["field"], record["other"]["device"])
            for record in server.values()
            if record["kind"] == "conflict" and record["status"] == "open"
        ]
        assert len(competing) == len(set(competing)), competing


@settings(settings.get_profile(PROFILE))
@given(devices=st.integers(2, 5), steps=st.lists(step, min_size=4, max_size=30))
def test_devices_converge_and_nothing_typed_is_lost(storage, http, transport, devices, steps):
    model = Model(storage, http, transport, devices)
    try:
        model.seed()
        for action in steps:
            model.run(action)
        model.settle()
        model.check()
    finally:
        model.close()
