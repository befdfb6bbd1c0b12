"""The multi-device model's machinery: devices, a faulty network, the steps, the end checks.

Devices (file-backed stores, so that a crashed device reopens from its file) create records
of every kind with references to each other, edit every kind of field, add and remove
elements of every set field, delete and restore, resolve conflicts with every choice (a new
value too), write values the server refuses, and sync on a random schedule through a
transport that drops requests, loses answers after the server committed, sends requests
twice, and kills the device before it reads an answer, while it applies one, or just after
it commits one.

Disasters (SPEC §5.12-§5.13) join them: a device's disk image taken and the device later
restored from one of its images, a device cloned from its disk, a device's clock a day
ahead, behind, or right again, and, on an SQLite server, a server backup taken (the
operator's `server backup`) and the server later restored from one of them.

A step is one `step_<name>` method of `Model` and one strategy in `STEPS` (or `DISASTERS`,
`SERVER_DISASTERS`): adding a kind of step is adding both.  The end checks are `check_*`
functions of a settled model.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import random
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from hypothesis import currently_in_test_context, event
from hypothesis import strategies as st

from fieldrm import jsonio
from fieldrm.errors import FieldrmError
from fieldrm.models import USER_KINDS, FieldInfo, format_timestamp, kind_info, new_id
from fieldrm.relationships import cadence_id, kpi_value_id, ladder_step_id, put_record
from fieldrm.safe_copy import copy_sqlite
from fieldrm.store import Store
from fieldrm.sync import client as sync_client
from fieldrm.sync.conflicts import KEEPS, open_conflicts, resolve_conflict
from fieldrm.sync.replica import rejections
from fieldrm.sync.server.sqlite import SqliteBackend, backup_database
from fieldrm.sync.server.storage import Storage
from fieldrm.validation import MAX_TEXT

URL = "http://testserver"
FAULTS = ("ok", "drop", "lose", "twice", "crash", "crash_apply", "crash_after")


class DeviceCrash(Exception):  # noqa: N818 - a crash, not an error the code handles
    """The device died here: nothing after this point ran, nothing uncommitted was kept."""


class FaultyTransport(httpx.BaseTransport):
    """Forwards to the in-process server, failing requests as `plan` says, in order.

    The server's clock is right whatever the device's (`device_clock`).
    "crash": the server commits, the device dies before reading the answer.
    "crash_apply": the answer arrives and the device dies while applying it (`arm` makes
    the device's next transaction fail before it commits); "crash_after": it dies just
    after its next transaction commits (whatever that transaction left out is lost).
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.plan: list[str] = []
        self.arm: Callable[[bool], None] = lambda _committed: None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with device_clock(0):
            return self.forward(request)

    def forward(self, request: httpx.Request) -> httpx.Response:
        fault = self.plan.pop(0) if self.plan else "ok"
        if fault == "drop":
            raise httpx.ConnectError("request dropped", request=request)
        if fault == "twice":
            self.inner.handle_request(request).read()
        response = self.inner.handle_request(request)
        if fault in ("lose", "crash"):
            response.read()  # the server has committed; the device never hears of it
            if fault == "crash":
                raise DeviceCrash("the device died before reading the answer")
            raise httpx.ReadError("response lost", request=request)
        if fault in ("crash_apply", "crash_after"):
            self.arm(fault == "crash_after")
        return response


# ---------------------------------------------------------------- what the steps draw

DEVICE = st.integers(0, 4)
# Picks lean on the first few records and fields (the seeded ones, which every device has):
# clashes, and so conflicts to resolve, need two devices on one field.
PICK = st.one_of(st.integers(0, 2), st.integers(0, 50))
FIELD = st.one_of(st.integers(0, 1), st.integers(0, 20))
CHOICE = st.integers(0, 2**16)
KIND = st.sampled_from(sorted(USER_KINDS))
KEEP = st.sampled_from(KEEPS)

STEPS = [
    st.tuples(st.just("create"), DEVICE, KIND, CHOICE),
    st.tuples(st.just("edit"), DEVICE, st.none() | KIND, PICK, FIELD, CHOICE),
    st.tuples(st.just("add"), DEVICE, PICK, CHOICE),
    st.tuples(st.just("remove"), DEVICE, PICK, CHOICE),
    st.tuples(st.just("clash"), DEVICE, DEVICE, PICK, FIELD, CHOICE, st.none() | KEEP),
    st.tuples(st.just("delete"), DEVICE, PICK),
    st.tuples(st.just("resolve"), DEVICE, PICK, KEEP, CHOICE),
    st.tuples(st.just("refused"), DEVICE, PICK, CHOICE),
    st.tuples(st.just("sync"), DEVICE, st.lists(st.sampled_from(FAULTS), max_size=5)),
]
# Disasters: a device's clock is a day ahead, behind, or right again (0).
DAY_S = 24 * 3600
DISASTERS = [
    st.tuples(st.just("image"), DEVICE),
    st.tuples(st.just("restore"), DEVICE, PICK),
    st.tuples(st.just("clone"), DEVICE),
    st.tuples(st.just("clock"), DEVICE, st.sampled_from((DAY_S, -DAY_S, 0))),
]
# Those of the server's SQLite file (the device drawn is not used).
SERVER_DISASTERS = [
    st.tuples(st.just("backup"), DEVICE),
    st.tuples(st.just("rewind"), DEVICE, PICK),
]
MAX_DEVICES = 7  # clones stop here

# Fields whose value is part of a derived id (§11: the same KPI value, ladder level or
# cadence made on two devices is one record): set at creation, not edited afterwards.
DERIVED = {
    "kpi_value": ("kpi_id", "period"),
    "ladder_step": ("vendor_id", "program_id", "level"),
    "cadence": ("role", "site_id"),
}
# Fields that must never be cleared: the record's own rule needs one of them (a ladder step
# needs a contact or a role; two devices clearing one each would make a record the server
# refuses, a refusal nobody caused on purpose).
NEVER_CLEARED = {"ladder_step": ("contact_id", "role")}
INT_RANGES = {
    ("question", "escalation_level"): (1, 5),
    ("ladder_step", "level"): (1, 3),
    ("cadence", "every_days"): (1, 3660),
}
PERIODS = ("2026-10", "2026-11", "2026-W48")
ROLES = ("supervisor", "team_leader", "other")
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class Model:
    def __init__(
        self,
        storage: Storage,
        http: httpx.Client,
        transport: httpx.BaseTransport,
        count: int,
    ) -> None:
        self.storage = storage
        self.workspace = f"model-{os.urandom(6).hex()}"
        self.transport = FaultyTransport(transport)
        self.client = httpx.Client(transport=self.transport)
        self.home = Path(tempfile.mkdtemp(prefix="fieldrm-model-", dir=RAM))
        self.paths: list[Path] = []
        self.devices: list[Store] = []
        for number in range(count):
            token = storage.add_user(f"user{number}", self.workspace)
            path = self.home / f"device{number}.db"
            shutil.copyfile(empty_store(), path)
            store = Store.open(path)
            sync_client.login(store, URL, token, client=http)
            self.paths.append(path)
            self.devices.append(store)
        self.counter = 0
        self.written: set[tuple[str, str, str]] = set()  # (record, field, value as JSON)
        self.overwritten: set[tuple[str, str, str]] = set()  # seen, then replaced
        # (device, record, field) -> what that device wrote there: its chain (§5.14).
        self.chains: dict[tuple[int, str, str], set[str]] = {}
        self.refused: list[list[str]] = [[] for _ in range(count)]  # records of bad writes
        # Disasters: each device's disk images (file, its refusals then), the server's
        # backups (SQLite only: `server_file` is None on PostgreSQL), the devices' clocks.
        self.images: dict[int, list[tuple[Path, list[str]]]] = {}
        self.server_file = sqlite_file(storage)
        self.backups: list[Path] = []
        self.offsets: dict[int, int] = {}

    # ------------------------------------------------------------ set-up and tear-down

    def seed(self) -> None:
        """Records every device has (those others refer to, and some to edit), so that
        references and clashes are possible from the first step."""
        seeded = ("vendor", "site", "program", "contact", "contact", "visit", "kpi")
        for kind in (*seeded, "action", "observation"):
            self.step_create(0, kind, self.counter)
        for number in range(len(self.devices)):
            self.step_sync(number, [])

    def play(self, steps: list[tuple[Any, ...]]) -> None:
        """A whole run: seed, the steps, a full sync everywhere, the end checks."""
        try:
            self.seed()
            for action in steps:
                self.run(action)
            self.settle()
            self.check()
        finally:
            self.close()

    def close(self) -> None:
        self.client.close()
        for store in self.devices:
            with contextlib.suppress(Exception):
                store.close()
        shutil.rmtree(self.home, ignore_errors=True)

    def steps(self) -> st.SearchStrategy[tuple[Any, ...]]:
        """Every kind of step this model's server allows: server backups and restores need
        its SQLite file (PostgreSQL's are pg_dump's, out of process)."""
        server = SERVER_DISASTERS if self.server_file is not None else []
        return st.one_of(*STEPS, *DISASTERS, *server)

    # ------------------------------------------------------------ helpers

    def token(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def number(self, device: int) -> int:
        return device % len(self.devices)

    @staticmethod
    def ids(store: Store, kinds: tuple[str, ...] | list[str]) -> list[str]:
        marks = ",".join("?" * len(kinds))
        return [
            row[0]
            for row in store.conn.execute(
                f"SELECT id FROM records WHERE kind IN ({marks}) ORDER BY id", list(kinds)
            )
        ]

    def pick(self, store: Store, pick: int, kinds: Any = USER_KINDS) -> dict[str, Any] | None:
        ids = self.ids(store, list(kinds))
        return store.get_raw(ids[pick % len(ids)]) if ids else None

    def value(self, store: Store, kind: str, info: FieldInfo, rng: random.Random) -> Any:
        """A new valid value of a field, as a person would type it."""
        if info.refs:
            ids = self.ids(store, info.refs)
            # A reference may point at a record this device has not received yet (§2).
            return rng.choice(ids) if ids and rng.random() < 0.9 else new_id()
        if info.choices:
            return rng.choice(info.choices)
        self.counter += 1
        if info.value_type == "int":
            low, high = INT_RANGES.get((kind, info.name), (0, 10**6))
            return low + self.counter % (high - low + 1)
        if info.value_type == "number":
            return self.counter + 0.5
        if info.value_type == "bool":
            return rng.random() < 0.5
        if info.value_type == "date":
            return (date(2026, 1, 1) + timedelta(days=self.counter)).isoformat()
        if info.value_type == "datetime":
            return format_timestamp(BASE_TIME + timedelta(minutes=self.counter))
        return f"v{self.counter}"

    def wrote(self, store: Store, record_id: str, names: Any) -> None:
        """Remember the values this device now shows in `names` as typed by a person.

        A device's later value of a field replaces its own earlier ones (a chain of one
        device's edits counts as one edit, SPEC §5.14: a conflict holds the chain's last)."""
        record = store.get_raw(record_id) or {}
        info = kind_info(record["kind"]).fields
        number = self.devices.index(store)
        for name in names:
            value = record.get(name)
            if name in info and info[name].is_set:
                continue  # set elements are remembered one by one, as added
            chain = self.chains.setdefault((number, record_id, name), set())
            self.overwritten.update((record_id, name, earlier) for earlier in chain)
            if value is not None:
                self.written.add((record_id, name, _dumps(value)))
                chain.add(_dumps(value))

    def replaced(self, record: dict[str, Any], name: str) -> None:
        """The value this device showed in `name` is replaced by an informed edit."""
        value = record.get(name)
        if value is not None and not isinstance(value, list):
            self.overwritten.add((record["id"], name, _dumps(value)))

    @staticmethod
    def note(what: str) -> None:
        """Count what a step did (`--hypothesis-show-statistics` lists it)."""
        if currently_in_test_context():
            event(what)

    def run(self, action: tuple[Any, ...]) -> None:
        what, device, *args = action
        number = self.number(device)
        try:
            with device_clock(self.offsets.get(number, 0)):
                getattr(self, f"step_{what}")(number, *args)
        except DeviceCrash:
            self.note("device crashed")
            self.restart(number)

    def restart(self, number: int) -> None:
        """The device's process died: its store reopens from the file."""
        with contextlib.suppress(Exception):
            self.devices[number].close()
        self.devices[number] = Store.open(self.paths[number])

    # ------------------------------------------------------------ steps

    def step_create(self, number: int, kind: str, choice: int) -> None:
        store = self.devices[number]
        rng = random.Random(choice)
        values: dict[str, Any] = {}
        for name, info in kind_info(kind).fields.items():
            if info.is_set:
                if rng.random() < 0.5:
                    count = rng.randint(1, 2)
                    values[name] = [self.element(store, info, rng) for _ in range(count)]
            elif info.required or name in DERIVED.get(kind, ()) or rng.random() < 0.6:
                values[name] = self.value(store, kind, info, rng)
        if kind == "kpi_value":
            values["period"] = rng.choice(PERIODS)
        if kind in ("ladder_step", "cadence"):
            values["role"] = rng.choice(ROLES)
        record_id = self.derived_id(kind, values)
        try:
            if record_id is None:
                record = store.create(kind, values).to_json()
                existing = None
            else:
                existing = store.get_raw(record_id)
                record = put_record(store, kind, record_id, values).to_json()
        except FieldrmError:
            return
        self.note(f"create {kind}" if existing is None else f"create {kind} again (derived id)")
        if existing is not None:
            for name in values:
                if existing.get(name) != record.get(name):
                    self.replaced(existing, name)
        self.wrote(store, record["id"], values)
        for name, items in values.items():
            if kind_info(kind).fields[name].is_set:
                for item in items:
                    self.written.add((record["id"], name, _dumps(item)))

    @staticmethod
    def derived_id(kind: str, values: dict[str, Any]) -> str | None:
        if kind == "kpi_value":
            return kpi_value_id(values["kpi_id"], values["period"])
        if kind == "ladder_step":
            return ladder_step_id(values["vendor_id"], values.get("program_id"), values["level"])
        if kind == "cadence":
            return cadence_id(values["role"], values.get("site_id"))
        return None

    def element(self, store: Store, info: FieldInfo, rng: random.Random) -> str:
        if info.refs:
            return str(self.value(store, "", info, rng))
        return self.token()

    def step_edit(self, number: int, kind: str | None, pick: int, field: int, choice: int) -> None:
        """Change one field of a record (of `kind`, when the device has one)."""
        store = self.devices[number]
        record = None if kind is None else self.pick(store, pick, [kind])
        record = record or self.pick(store, pick)
        if record is not None:
            self.edit(store, record, field, choice)

    def step_clash(
        self, number: int, other: int, pick: int, field: int, choice: int, keep: str | None
    ) -> None:
        """Two devices change one field of a record both have (or one deletes it), each
        from what it showed, then both sync: a conflict, unless one had seen the other's.
        With `keep`, the second device resolves a conflict it has at once."""
        other = self.number(other)
        if other == number:
            other = (number + 1) % len(self.devices)
        record = self.pick(self.devices[number], pick)
        theirs = None if record is None else self.devices[other].get_raw(record["id"])
        if record is None or theirs is None:
            return
        self.edit(self.devices[number], record, field, choice)
        if choice % 4 == 0:
            self.step_delete(other, -1, record["id"])
        else:
            self.edit(self.devices[other], theirs, field, choice + 1)
        self.step_sync(number, [])
        self.step_sync(other, [])
        if keep is not None:
            self.step_resolve(other, 0, keep, choice)

    def edit(self, store: Store, record: dict[str, Any], field: int, choice: int) -> None:
        kind = record["kind"]
        rng = random.Random(choice)
        fields = [
            info
            for name, info in kind_info(kind).fields.items()
            if not info.is_set and name not in DERIVED.get(kind, ())
        ]
        info = fields[field % len(fields)]
        clear = not info.required and name_may_clear(kind, info.name) and rng.random() < 0.15
        value = None if clear else self.value(store, kind, info, rng)
        try:
            store.update(record["id"], set={info.name: value})
        except FieldrmError:
            return
        what = "a reference" if info.refs else "a choice" if info.choices else info.value_type
        self.note(f"edit {what}{' (clear)' if clear else ''}")
        self.replaced(record, info.name)
        self.wrote(store, record["id"], [info.name])

    def set_field(
        self, store: Store, pick: int, rng: random.Random
    ) -> tuple[dict[str, Any], FieldInfo] | None:
        """A record with set fields, and one of its set fields."""
        kinds = [kind for kind in USER_KINDS if kind_info(kind).set_fields]
        record = self.pick(store, pick, kinds)
        if record is None:
            return None
        info = kind_info(record["kind"])
        return record, info.fields[rng.choice(info.set_fields)]

    def step_add(self, number: int, pick: int, choice: int) -> None:
        self.change_set(number, pick, choice, adding=True)

    def step_remove(self, number: int, pick: int, choice: int) -> None:
        self.change_set(number, pick, choice, adding=False)

    def change_set(self, number: int, pick: int, choice: int, *, adding: bool) -> None:
        """Add a new element to a set field, or remove one the device shows."""
        store = self.devices[number]
        rng = random.Random(choice)
        found = self.set_field(store, pick, rng)
        if found is None:
            return
        record, info = found
        members = record.get(info.name) or []
        if not adding and not members:
            return
        item = self.element(store, info, rng) if adding else rng.choice(members)
        change = {info.name: [item]}
        try:
            store.update(
                record["id"], add=change if adding else None, remove=None if adding else change
            )
        except FieldrmError:
            return
        self.note(f"{'add to' if adding else 'remove from'} {record['kind']}.{info.name}")
        (self.written if adding else self.overwritten).add((record["id"], info.name, _dumps(item)))

    def step_delete(self, number: int, pick: int, record_id: str | None = None) -> None:
        store = self.devices[number]
        record = self.pick(store, pick) if record_id is None else store.get_raw(record_id)
        if record is None:
            return
        with contextlib.suppress(FieldrmError):
            store.update(record["id"], deleted=not record["deleted"])
            self.note("restore" if record["deleted"] else "delete")

    def step_resolve(self, number: int, pick: int, keep: str, choice: int) -> None:
        """The device, or failing that the next one with an open conflict, resolves one."""
        count = len(self.devices)
        for store in [self.devices[(number + step) % count] for step in range(count)]:
            conflicts = open_conflicts(store)
            if conflicts:
                break
        else:
            return
        conflict = conflicts[pick % len(conflicts)].to_json()
        target = store.get_raw(conflict["record_id"])
        if target is None:
            return
        name = conflict["field"]
        info = kind_info(target["kind"]).fields.get(name)
        value = None
        if keep == "value":
            if info is None or info.is_set:
                return
            value = self.value(store, target["kind"], info, random.Random(choice))
        try:
            resolve_conflict(store, conflict["id"], keep, value)
        except FieldrmError:
            return
        self.note(f"resolve {'a delete' if name == 'deleted' else 'a field'}: keep {keep}")
        if info is not None and not info.is_set:
            self.replaced(target, name)
            self.wrote(store, target["id"], [name])
            # The resolver saw both values: the one not kept is an informed overwrite (the
            # conflict may later hold the chain's newer value instead, SPEC §5.14).
            chosen = (store.get_raw(target["id"]) or {}).get(name)
            for side in ("current", "other"):
                if conflict[side].get("value") not in (None, chosen):
                    self.replaced({"id": target["id"], name: conflict[side]["value"]}, name)

    def step_refused(self, number: int, pick: int, choice: int) -> None:
        """A write the server refuses, on purpose: a device with a bad value (an older or
        broken fieldrm that skipped the check), or a conflict edited other than by a
        resolution.  The device writes it as such a device would; the server must report
        it in `rejections`, acknowledge it and apply everything else."""
        store = self.devices[number]
        rng = random.Random(choice)
        conflicts = self.ids(store, ["conflict"])
        if conflicts and rng.random() < 0.3:
            conflict_id = conflicts[pick % len(conflicts)]
            store.update(conflict_id, set={"record_kind": f"bogus{self.token()}"})
            self.refused[number].append(conflict_id)
            self.note("refused: a conflict edited")
            return
        record = self.pick(store, pick)
        if record is None:
            return
        kind = record["kind"]
        # Only fields the server holds a value of, of records it has: a refusal answers
        # with the server's registers of the field, which put the device back (see the
        # xfail tests in test_model.py for a field or a record the server never had).
        fields = [
            info
            for name, info in kind_info(kind).fields.items()
            if not info.is_set and record.get(name) is not None and not info.refs
        ]
        if not fields:
            return
        info = rng.choice(fields)
        queued = store.pending_count()
        write_unchecked(store, record["id"], {info.name: bad_value(info)})
        if store.pending_count() > queued:  # the same bad value again changes nothing
            self.refused[number].append(record["id"])
            self.note("refused: a bad value")
            self.replaced(record, info.name)  # what it showed: its chain's next edit replaces

    def step_sync(self, number: int, faults: list[str]) -> None:
        store = self.devices[number]
        self.transport.plan = list(faults)
        self.transport.arm = lambda committed: arm_crash(store, committed)
        try:
            with contextlib.suppress(sync_client.Offline):  # all stays queued for later
                if sync_client.sync_once(store, client=self.client).conflicts:
                    self.note("conflict made")
        except sync_client.Refused as refused:
            if refused.code != "clock_skew":
                raise
            self.note("refused: a clock ahead")  # it stays queued; heals once it is right
        finally:
            self.transport.plan = []
            self.transport.arm = lambda _committed: None

    # ------------------------------------------------------------ disasters

    def step_image(self, number: int) -> None:
        """A disk image of the device (a consistent copy of its file, as a backup tool's)."""
        store = self.devices[number]
        images = self.images.setdefault(number, [])
        path = self.home / f"image{number}-{len(images)}.db"
        with store.lock:
            copy_sqlite(store.conn, path)
        images.append((path, list(self.refused[number])))
        self.note("device image taken")

    def step_restore(self, number: int, pick: int) -> None:
        """The device's disk is lost; it comes back from one of its images (same device id,
        older numbering).  What was typed on the lost disk and never sent is gone with it.
        A device without images: the next one with some."""
        count = len(self.devices)
        numbers = [(number + step) % count for step in range(count)]
        number = next((one for one in numbers if self.images.get(one)), number)
        images = self.images.get(number)
        if not images:
            return
        image, refused = images[pick % len(images)]
        self.forget_unsent(self.devices[number])
        held = self.held()
        self.devices[number].close()
        path = self.paths[number]
        for stale in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
            stale.unlink(missing_ok=True)
        shutil.copyfile(image, path)
        self.devices[number] = Store.open(path)
        self.refused[number] = list(refused)
        self.forget_unheld(held)
        self.note("device restored from an image")

    def forget_unsent(self, store: Store) -> None:
        """Values typed on a lost disk and never sent are not the model's to find."""
        for _seq, record_id, op, _nonce in store.outbox(0, 10**9):
            change = jsonio.loads(op)
            for name, value in (change.get("set") or {}).items():
                self.written.discard((record_id, name, _dumps(value)))
            for name, items in (change.get("add") or {}).items():
                for item in items:
                    self.written.discard((record_id, name, _dumps(item)))

    def held(self) -> set[tuple[str, str, str]]:
        """Every value some device or the server holds (a conflict's sides too)."""
        held = kept_values(
            {record["id"]: record for record in self.storage.records(self.workspace)}
        )
        for store in self.devices:
            held |= kept_values({record["id"]: record for record in store.export_all()})
        return held

    def forget_unheld(self, before: set[tuple[str, str, str]]) -> None:
        """A disaster took the last copy of these values (say, a device restored from an
        image older than its create, after the server lost that create in a restore of its
        own): nobody holds them any more, so nothing can bring them back."""
        self.written -= before - self.held()

    def step_clone(self, number: int) -> None:
        """A new device made from a copy of this one's disk (same device id and token)."""
        store = self.devices[number]
        if len(self.devices) >= MAX_DEVICES:
            return
        path = self.home / f"device{len(self.devices)}.db"
        with store.lock:
            copy_sqlite(store.conn, path)
        self.paths.append(path)
        self.devices.append(Store.open(path))
        self.refused.append(list(self.refused[number]))
        self.note("device cloned")

    def step_clock(self, number: int, offset: int) -> None:
        """The device's wall clock is `offset` seconds off from now on (0: right again)."""
        self.offsets[number] = offset
        self.note(f"clock {offset // 3600:+d} h")

    def step_backup(self, _number: int) -> None:
        """The operator's `server backup` while the server runs."""
        assert self.server_file is not None
        path = self.home / f"server-backup{len(self.backups)}.db"
        backup_database(self.server_file, path)
        self.backups.append(path)
        self.note("server backup")

    def step_rewind(self, _number: int, pick: int) -> None:
        """The server is restored from one of the backups taken (everything after is gone)."""
        backups = self.backups
        if not backups:
            return
        backend = self.storage.backend
        assert isinstance(backend, SqliteBackend)
        held = self.held()
        backup = sqlite3.connect(backups[pick % len(backups)])
        with contextlib.closing(backup), backend.lock:
            backup.backup(backend.conn)
        self.forget_unheld(held)
        self.note("server restored from a backup")

    def settle(self) -> None:
        self.offsets.clear()  # every clock is right at the end
        for _round in range(2):
            for store in self.devices:
                sync_client.sync_once(store, client=self.client)

    def check(self) -> None:
        server = {record["id"]: record for record in self.storage.records(self.workspace)}
        for number, store in enumerate(self.devices):
            check_device_equals_server(store, server)
            check_nothing_pending(store, self.refused[number])
        check_nothing_typed_is_lost(server, self.written, self.overwritten)
        check_one_conflict_per_competing_device(server)


# Device files live in memory where the system offers it (a crash test needs files, not
# the disk's flushes: thousands of stores open and close in one run).
RAM = "/dev/shm" if os.path.isdir("/dev/shm") else None


@functools.cache
def empty_store() -> Path:
    """A new device's database file, made once: copies skip the migrations (each copy
    makes its own device id on opening)."""
    home = tempfile.mkdtemp(prefix="fieldrm-model-template-", dir=RAM)
    atexit.register(shutil.rmtree, home, True)
    path = Path(home) / "empty.db"
    with Store.open(path) as store:
        store.conn.execute("DELETE FROM state WHERE key = 'device_id'")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def sqlite_file(storage: Storage) -> str | None:
    """The server's SQLite database file, or None (PostgreSQL, or in memory)."""
    backend = storage.backend
    if not isinstance(backend, SqliteBackend):
        return None
    with backend.lock:
        name = backend.conn.execute("PRAGMA database_list").fetchone()[2]
    return name or None


@contextlib.contextmanager
def device_clock(offset: int) -> Iterator[None]:
    """This process's wall clock `offset` seconds off (clock.now_ms reads the variable)."""
    before = os.environ.pop("FIELDRM_CLOCK_OFFSET", None)
    if offset:
        os.environ["FIELDRM_CLOCK_OFFSET"] = str(offset)
    try:
        yield
    finally:
        os.environ.pop("FIELDRM_CLOCK_OFFSET", None)
        if before is not None:
            os.environ["FIELDRM_CLOCK_OFFSET"] = before


def name_may_clear(kind: str, name: str) -> bool:
    return name not in NEVER_CLEARED.get(kind, ())


def bad_value(info: FieldInfo) -> Any:
    """A value of the field the server refuses."""
    if info.choices:
        return "bogus"
    if info.value_type in ("int", "number"):
        return "lots"
    if info.value_type in ("date", "datetime", "bool"):
        return "someday"
    return "x" * (MAX_TEXT + 1)


def write_unchecked(store: Store, record_id: str, values: dict[str, Any]) -> None:
    """Write `values` and queue the op as a device that skips the value check would (an
    older or broken fieldrm; the store's own write path refuses such values)."""
    with store.transaction():
        row = store._row(record_id)
        assert row is not None
        before = json.loads(row["data"])
        after = {**before, **values, "updated_at": format_timestamp(datetime.now(UTC))}
        store._commit(before, after, json.loads(row["meta"]), rowid=row["rowid"])


def create_unchecked(store: Store, kind: str, values: dict[str, Any]) -> str:
    """Create a record as a device that skips the value check would; returns its id."""
    now = format_timestamp(datetime.now(UTC))
    data = {"id": new_id(), "kind": kind, "created_at": now, "updated_at": now}
    data.update(created_by=store.user, deleted=False, **values)
    with store.transaction():
        store._commit(None, data, {})
    return data["id"]


def arm_crash(store: Store, committed: bool) -> None:
    """The device's process dies at its next transaction: before it commits, or just after
    (`committed`).  A nested transaction is part of the outer one."""
    real = store.transaction

    @contextlib.contextmanager
    def dying(*args: Any, **kwargs: Any) -> Iterator[Any]:
        outer = not store.conn.in_transaction
        with real(*args, **kwargs) as conn:
            yield conn
            if not committed:
                raise DeviceCrash("the device died while applying the answer")
        if outer:
            raise DeviceCrash("the device died after a commit")

    store.transaction = dying  # type: ignore[method-assign]


# ---------------------------------------------------------------- end checks


def _normal(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value not in (None, [])}


def check_device_equals_server(store: Store, server: dict[str, dict[str, Any]]) -> None:
    """The device holds exactly the server's records, with the same values."""
    local = {record["id"]: record for record in store.export_all()}
    assert set(local) == set(server), set(local) ^ set(server)
    for record_id, record in server.items():
        mine, theirs = _normal(local[record_id]), _normal(record)
        assert mine == theirs, (record_id, _differences(mine, theirs))


def _differences(mine: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Field -> (device's value, server's value) where they differ, each cut short."""
    return {
        name: (repr(mine.get(name))[:80], repr(theirs.get(name))[:80])
        for name in sorted(set(mine) | set(theirs))
        if mine.get(name) != theirs.get(name)
    }


def check_nothing_pending(store: Store, refused: list[str]) -> None:
    """Nothing queued; refused exactly the writes made to be refused, each reported once."""
    assert store.pending_count() == 0
    reported = rejections(store)
    assert len(reported) == len(refused), (reported, refused)
    for reason, record_id in zip(reported, refused, strict=True):
        assert record_id in reason, (reason, record_id)


def kept_values(server: dict[str, dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(record, field, value as JSON) of every value the server holds or keeps in a
    conflict (a deleted record's values count: a restore brings them back)."""
    kept: set[tuple[str, str, str]] = set()
    for record in server.values():
        if record["kind"] == "conflict":
            for side in ("current", "other"):
                value = record[side]["value"]
                values = value if isinstance(value, dict) else {record["field"]: value}
                for name, item in values.items():
                    for one in item if isinstance(item, list) else [item]:
                        kept.add((record["record_id"], name, _dumps(one)))
            continue
        for name, info in kind_info(record["kind"]).fields.items():
            value = record.get(name)
            for one in value if info.is_set and isinstance(value, list) else [value]:
                if one is not None:
                    kept.add((record["id"], name, _dumps(one)))
    return kept


def check_nothing_typed_is_lost(
    server: dict[str, dict[str, Any]],
    written: set[tuple[str, str, str]],
    overwritten: set[tuple[str, str, str]],
) -> None:
    kept = kept_values(server)
    lost = sorted(item for item in written - overwritten if item not in kept)
    assert not lost, lost


def check_one_conflict_per_competing_device(server: dict[str, dict[str, Any]]) -> None:
    """A chain of one device's edits counts as one edit (SPEC §5.14): at most one open
    conflict per record, field and competing (losing) device."""
    competing = [
        (record["record_id"], record["field"], record["other"]["device"])
        for record in server.values()
        if record["kind"] == "conflict" and record["status"] == "open"
    ]
    assert len(competing) == len(set(competing)), competing
