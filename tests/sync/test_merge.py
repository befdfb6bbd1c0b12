"""The merge rules: examples of each rule, then the laws as hypothesis properties.

The laws run through the server storage (the merge as the server applies it, with
acknowledgement by device seq): the same concurrent changes delivered in any order, any
number of times, give the same records; and no device's last value of a field is lost.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldrm.clock import now_ms, pack
from fieldrm.models import Conflict, new_id
from fieldrm.sync.merge import RecordState, merge_op, op_registers, record_data
from fieldrm.sync.server.storage import Account, Storage

PROFILE = (
    "fieldrm-sync-slow"
    if os.environ.get("FIELDRM_HYPOTHESIS_PROFILE") == "slow"
    else ("fieldrm-sync")
)


def stamp(ms: int, counter: int = 0) -> str:
    return pack(1_700_000_000_000 + ms, counter)


def op(**parts: Any) -> dict[str, Any]:
    base = {"id": "r", "kind": "contact", "hlc": stamp(0), "by": "u"}
    base.update(parts)
    return base


def created() -> RecordState:
    state = RecordState("contact")
    merge_op(
        state,
        op(
            new=True,
            set={"name": "Priya", "title": "TL", "created_at": "2025-01-01T00:00:00.000Z"},
            add={"tags": ["a"]},
            hlc=stamp(1),
        ),
        "D0",
        1,
    )
    return state


# ---------------------------------------------------------------- examples


def test_edits_of_different_fields_both_apply_without_conflict():
    state = created()
    one = merge_op(state, op(set={"title": "Ops"}, base={"title": 1}, hlc=stamp(5)), "D1", 2)
    two = merge_op(state, op(set={"notes": "n"}, hlc=stamp(4)), "D2", 3)
    assert one.conflicts == two.conflicts == []
    data = record_data("r", "contact", state.vals)
    assert (data["title"], data["notes"]) == ("Ops", "n")


def test_same_field_concurrent_keeps_the_loser_in_a_conflict():
    state = created()
    merge_op(state, op(set={"title": "A"}, base={"title": 1}, hlc=stamp(5), by="a"), "D1", 2)
    outcome = merge_op(
        state, op(set={"title": "B"}, base={"title": 1}, hlc=stamp(3), by="b"), "D2", 3
    )
    assert state.vals["title"] == ["A", 2]  # the later stamp wins
    [conflict] = outcome.conflicts
    assert conflict.field == "title"
    assert (conflict.current["value"], conflict.current["by"]) == ("A", "a")
    assert (conflict.other["value"], conflict.other["by"], conflict.other["device"]) == (
        "B",
        "b",
        "D2",
    )


def test_the_server_makes_conflict_records_as_the_conflict_model_writes_them(storage: Storage):
    account = Account("tester", "conflict-shape")
    storage.add_user("tester", "conflict-shape")
    record_id = new_id()
    first = op(id=record_id, new=True, set={"name": "P", "title": "TL"}, hlc=stamp(1))
    storage.push(account, "D0", [(1, first)])
    for device, title, at in (("D1", "A", 5), ("D2", "B", 3)):
        edit = op(id=record_id, set={"title": title}, base={"title": 1}, hlc=stamp(at))
        storage.push(account, device, [(1, edit)])
    [conflict] = [r for r in storage.records("conflict-shape") if r["kind"] == "conflict"]
    written = Conflict.model_validate(conflict).to_json()
    assert conflict == {name: value for name, value in written.items() if value is not None}
    assert (conflict["record_id"], conflict["field"], conflict["status"]) == (
        record_id,
        "title",
        "open",
    )
    assert (conflict["current"]["value"], conflict["other"]["value"]) == ("A", "B")


def test_informed_overwrite_is_not_a_conflict_even_with_an_older_stamp():
    state = created()
    merge_op(state, op(set={"title": "A"}, base={"title": 1}, hlc=stamp(9)), "D1", 2)
    outcome = merge_op(state, op(set={"title": "B"}, base={"title": 2}, hlc=stamp(3)), "D2", 3)
    assert outcome.conflicts == []
    assert state.vals["title"] == ["B", 3]


def test_a_devices_own_chain_never_conflicts():
    state = created()
    merge_op(state, op(set={"title": "A"}, base={"title": 1}, hlc=stamp(5)), "D1", 2)
    outcome = merge_op(state, op(set={"title": "A2"}, base={"title": 1}, hlc=stamp(6)), "D1", 3)
    assert outcome.conflicts == []
    assert state.vals["title"][0] == "A2"


def test_set_additions_both_survive_and_removal_only_removes_what_was_seen():
    state = created()
    merge_op(state, op(add={"tags": ["b"]}, hlc=stamp(5)), "D1", 2)
    merge_op(state, op(add={"tags": ["c"]}, hlc=stamp(6)), "D2", 3)
    # D3 saw only "a" (version 1): it removes "a" and, not knowing "b", cannot remove it.
    merge_op(state, op(rem={"tags": [["a", 1], ["b", 0]]}, hlc=stamp(7)), "D3", 4)
    assert record_data("r", "contact", state.vals)["tags"] == ["b", "c"]


def test_delete_against_an_earlier_concurrent_edit_stays_deleted_with_a_conflict():
    state = created()
    merge_op(state, op(set={"title": "Edited"}, base={"title": 1}, hlc=stamp(5)), "D1", 2)
    outcome = merge_op(state, op(**{"del": True}, seen=1, hlc=stamp(6), by="del"), "D2", 3)
    assert state.deleted
    [conflict] = outcome.conflicts
    assert conflict.field == "deleted"
    assert conflict.current["value"] is True
    assert conflict.other["value"] == {"title": "Edited"}


def test_edit_arriving_after_a_concurrent_delete_is_kept_in_a_conflict():
    state = created()
    merge_op(state, op(**{"del": True}, seen=1, hlc=stamp(6)), "D2", 2)
    outcome = merge_op(
        state, op(set={"notes": "late"}, add={"tags": ["x"]}, seen=1, hlc=stamp(5)), "D1", 3
    )
    assert state.deleted
    [conflict] = outcome.conflicts
    assert conflict.other["value"] == {"notes": "late", "tags": ["x"]}


def test_delete_after_seeing_the_edits_raises_no_conflict():
    state = created()
    merge_op(state, op(set={"title": "Edited"}, base={"title": 1}, hlc=stamp(5)), "D1", 2)
    outcome = merge_op(state, op(**{"del": True}, seen=2, hlc=stamp(6)), "D2", 3)
    assert state.deleted and outcome.conflicts == []


def test_conflict_records_merge_silently():
    state = RecordState("conflict")
    merge_op(state, op(kind="conflict", set={"status": "open"}), "server", 1)
    merge_op(state, op(kind="conflict", set={"status": "resolved"}, hlc=stamp(5)), "D1", 2)
    outcome = merge_op(state, op(kind="conflict", set={"status": "x"}, hlc=stamp(4)), "D2", 3)
    assert outcome.conflicts == []
    assert state.vals["status"][0] == "resolved"


def test_updated_at_is_the_latest_and_created_at_the_first():
    state = created()
    merge_op(state, op(set={"updated_at": "2026-01-02T00:00:00.000Z"}), "D1", 2)
    merge_op(state, op(set={"updated_at": "2026-01-01T00:00:00.000Z"}), "D2", 3)
    merge_op(state, op(set={"created_at": "2020-01-01T00:00:00.000Z"}), "D2", 4)
    assert state.vals["updated_at"][0] == "2026-01-02T00:00:00.000Z"
    assert state.vals["created_at"] == ["2025-01-01T00:00:00.000Z", 1]


# ---------------------------------------------------------------- the laws

FIELDS = ("title", "notes")
ELEMENTS = ("a", "b", "c")

device_step = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(FIELDS)),
    st.tuples(st.just("add"), st.sampled_from(ELEMENTS)),
    st.tuples(st.just("rem"), st.sampled_from(ELEMENTS)),
    st.tuples(st.just("del"), st.booleans()),
)


def chains_from(
    steps: list[list[tuple[str, Any]]], record_id: str, clocks: list[list[int]]
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Each device's ops against the same starting record (all concurrent across devices).

    Returns the chains and, per device, the last value it wrote to each field.
    """
    chains = []
    last_values = []
    for device, device_steps in enumerate(steps):
        tags = {"a"}
        chain = []
        last: dict[str, Any] = {}
        for index, (what, arg) in enumerate(device_steps):
            item: dict[str, Any] = {
                "id": record_id,
                "kind": "contact",
                "hlc": stamp(clocks[device][index], device),
                "by": f"user{device}",
                "seen": 1,
            }
            if what == "set":
                value = f"d{device}-{index}"
                item["set"] = {arg: value}
                item["base"] = {arg: 1} if arg == "title" else {}
                last[arg] = value
            elif what == "add":
                if arg in tags:
                    continue
                tags.add(arg)
                item["add"] = {"tags": [arg]}
            elif what == "rem":
                if arg not in tags:
                    continue
                tags.discard(arg)
                item["rem"] = {"tags": [[arg, 1 if arg == "a" else 0]]}
            else:
                item["del"] = arg
            chain.append(item)
        chains.append(chain)
        last_values.append(last)
    return chains, last_values


def deliver(
    storage: Storage,
    workspace: str,
    record_id: str,
    chains: list[list[dict[str, Any]]],
    rng: random.Random,
) -> dict[str, Any]:
    """Push the chains in a random interleaving with random replays; the final state."""
    account = Account("tester", workspace)
    storage.add_user("tester", workspace)
    storage.push(
        account,
        "origin",
        [
            (
                1,
                {
                    "id": record_id,
                    "kind": "contact",
                    "new": True,
                    "hlc": stamp(0),
                    "by": "origin",
                    "set": {"name": "P", "title": "TL"},
                    "add": {"tags": ["a"]},
                },
            )
        ],
    )
    positions = [0] * len(chains)
    while any(positions[d] < len(chain) for d, chain in enumerate(chains)):
        device = rng.choice([d for d, chain in enumerate(chains) if positions[d] < len(chain)])
        upto = rng.randint(positions[device] + 1, len(chains[device]))
        start = rng.randint(0, positions[device])  # a replay of acknowledged ops, or none
        batch = [(n + 1, chains[device][n]) for n in range(start, upto)]
        storage.push(account, f"device{device}", batch)
        positions[device] = upto
    [record] = [r for r in storage.records(workspace) if r["id"] == record_id]
    conflicts = [r for r in storage.records(workspace) if r["kind"] == "conflict"]
    return {"record": record, "conflicts": conflicts}


@settings(settings.get_profile(PROFILE))
@given(
    steps=st.lists(st.lists(device_step, max_size=6), min_size=2, max_size=4),
    clock_seed=st.integers(0, 2**32),
    orders=st.tuples(st.integers(0, 2**32), st.integers(0, 2**32)),
)
def test_any_order_any_number_of_times_gives_the_same_state(
    storage: Storage, steps, clock_seed, orders
):
    clock_rng = random.Random(clock_seed)
    clocks = []
    for device_steps in steps:
        moments = sorted(clock_rng.sample(range(1, 50), len(device_steps)))
        clocks.append(moments)
    record_id = new_id()
    chains, last_values = chains_from(steps, record_id, clocks)
    outcomes = [
        deliver(storage, f"law-{new_id()}", record_id, chains, random.Random(seed))
        for seed in orders
    ]
    first, second = (outcome["record"] for outcome in outcomes)
    assert first == second
    for outcome in outcomes:
        kept = set()
        for conflict in outcome["conflicts"]:
            for side in ("current", "other"):
                value = conflict[side]["value"]
                kept.update(
                    json.dumps(item)
                    for item in (value.values() if isinstance(value, dict) else [value])
                )
        for last in last_values:
            for name, value in last.items():
                assert value == outcome["record"].get(name) or json.dumps(value) in kept, name


@pytest.mark.parametrize("replays", [1, 3])
def test_replayed_batches_change_nothing(storage: Storage, replays: int):
    account = Account("tester", "replay")
    storage.add_user("tester", "replay")
    record_id = new_id()
    ops = [
        (1, op(id=record_id, new=True, set={"name": "P"}, hlc=stamp(1))),
        (2, op(id=record_id, set={"title": "T"}, add={"tags": ["x"]}, hlc=stamp(2))),
    ]
    first = storage.push(account, "D1", ops)
    before = list(storage.records("replay"))
    high = storage.high_water("replay")
    for _ in range(replays):
        again = storage.push(account, "D1", ops)
        assert [r["status"] for r in again] == ["duplicate", "duplicate"]
        # A replay answers with the register states, which the first answer implied: the
        # op's own values at version v, except those it named.
        for (_seq, sent), answer, replayed in zip(ops, first, again, strict=True):
            assert replayed["r"] == {**op_registers(sent, answer["v"]), **answer.get("r", {})}
    assert list(storage.records("replay")) == before
    assert storage.high_water("replay") == high


# ---------------------------------------------------------------- a chain counts as one edit


class Team:
    """Devices pushing edits of one record to a server storage, each numbering its own ops."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.workspace = f"chain-{new_id()}"
        self.account = Account("tester", self.workspace)
        storage.add_user("tester", self.workspace)
        self.record_id = new_id()
        self.numbers: dict[str, int] = {}
        self.push("origin", op(new=True, set={"name": "P", "title": "TL"}, hlc=stamp(1)))

    def push(self, device: str, *ops: dict[str, Any]) -> list[dict[str, Any]]:
        batch = []
        for item in ops:
            self.numbers[device] = self.numbers.get(device, 0) + 1
            record_id = self.record_id if item["id"] == "r" else item["id"]
            batch.append((self.numbers[device], {**item, "id": record_id}))
        return self.storage.push(self.account, device, batch)

    def edits(self, device: str, values: list[str], at: int, name: str = "title") -> None:
        """An offline chain: every edit based on the version first synced (1)."""
        chain = [
            op(set={name: value}, base={name: 1}, seen=1, hlc=stamp(at + n), by=device)
            for n, value in enumerate(values)
        ]
        self.push(device, *chain)

    def conflicts(self, status: str = "open") -> list[dict[str, Any]]:
        return [
            record
            for record in self.storage.records(self.workspace)
            if record["kind"] == "conflict" and record["status"] == status
        ]

    def record(self) -> dict[str, Any]:
        [record] = [r for r in self.storage.records(self.workspace) if r["id"] == self.record_id]
        return record

    def resolve(self, device: str, conflict: dict[str, Any]) -> None:
        resolution = op(
            id=conflict["id"],
            kind="conflict",
            set={"status": "resolved", "resolution": "current"},
            seen=10**6,
            hlc=pack(now_ms() + 1000, 0),  # after the server's stamp on the conflict
        )
        [result] = self.push(device, resolution)
        assert result["status"] == "applied", result


def sides(conflict: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    return (
        conflict["current"]["value"],
        conflict["current"]["device"],
        conflict["other"]["value"],
        conflict["other"]["device"],
    )


CHAIN = [f"A{n}" for n in range(1, 7)]


@pytest.mark.parametrize("one_batch", [True, False])
def test_a_losing_chain_of_six_edits_is_one_conflict_with_its_last_value(storage, one_batch):
    team = Team(storage)
    team.edits("B", ["B"], at=50)
    if one_batch:
        team.edits("A", CHAIN, at=10)
    else:
        for n, value in enumerate(CHAIN):
            team.edits("A", [value], at=10 + n)
    assert team.record()["title"] == "B"
    [conflict] = team.conflicts()
    assert sides(conflict) == ("B", "B", "A6", "A")


def test_a_chain_that_wins_first_then_loses_keeps_one_conflict_per_device(storage):
    team = Team(storage)
    team.edits("A", ["A1"], at=5)
    team.edits("B", ["B"], at=3)  # loses to A1
    team.edits("A", ["A2"], at=7)  # A's chain goes on winning: the conflict shows A2
    [conflict] = team.conflicts()
    assert sides(conflict) == ("A2", "A", "B", "B")
    team.edits("C", ["C"], at=9)  # beats A2
    team.edits("A", ["A3", "A4"], at=8)  # A's chain now loses to C, twice
    assert team.record()["title"] == "C"
    by_loser = {conflict["other"]["device"]: sides(conflict) for conflict in team.conflicts()}
    assert by_loser == {"B": ("C", "C", "B", "B"), "A": ("C", "C", "A4", "A")}


def test_a_chain_that_loses_first_then_wins_turns_its_conflict_around(storage):
    team = Team(storage)
    team.edits("A", ["A1"], at=3)
    team.edits("B", ["B"], at=5)  # beats A1
    team.edits("A", ["A2", "A3"], at=7)  # A's chain now beats B
    assert team.record()["title"] == "A3"
    [conflict] = team.conflicts()
    assert sides(conflict) == ("A3", "A", "B", "B")


def test_three_devices_each_losing_chain_is_one_conflict(storage):
    team = Team(storage)
    team.edits("B", ["B"], at=50)
    team.edits("A", CHAIN[:3], at=10)
    team.edits("C", ["C1", "C2"], at=20)
    team.edits("A", CHAIN[3:], at=13)
    by_loser = {conflict["other"]["device"]: sides(conflict) for conflict in team.conflicts()}
    assert len(team.conflicts()) == 2
    assert by_loser == {"A": ("B", "B", "A6", "A"), "C": ("B", "B", "C2", "C")}


def test_a_clash_after_the_conflict_was_resolved_is_a_new_conflict(storage):
    team = Team(storage)
    team.edits("B", ["B"], at=50)
    team.edits("A", CHAIN[:3], at=10)
    [first] = team.conflicts()
    team.resolve("D", first)
    team.edits("A", CHAIN[3:], at=13)
    [resolved] = team.conflicts("resolved")
    assert resolved["id"] == first["id"] and sides(resolved) == ("B", "B", "A3", "A")
    [second] = team.conflicts()
    assert second["id"] != first["id"] and sides(second) == ("B", "B", "A6", "A")


def test_a_chain_of_edits_against_a_delete_is_one_conflict_with_its_last_values(storage):
    team = Team(storage)
    team.push("B", op(**{"del": True}, seen=1, hlc=stamp(50)))
    team.edits("A", ["A1", "A2"], at=10)
    team.edits("A", ["n1", "n2"], at=12, name="notes")
    assert team.record()["deleted"] is True
    [conflict] = team.conflicts()
    assert conflict["field"] == "deleted"
    assert conflict["other"]["value"] == {"title": "A2", "notes": "n2"}
    assert conflict["current"]["device"] == "B"


chain_step = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(FIELDS)),
    st.tuples(st.just("del"), st.booleans()),
)


# The rule is the merge's; the examples above run it on PostgreSQL too (the same storage
# code finds the conflicts there), so the 500 interleavings run on SQLite only.
@pytest.mark.parametrize("server_db_url", ["sqlite"], indirect=True)
@settings(settings.get_profile(PROFILE))
@given(
    steps=st.lists(st.lists(chain_step, max_size=6), min_size=2, max_size=4),
    clock_seed=st.integers(0, 2**32),
    orders=st.tuples(st.integers(0, 2**32), st.integers(0, 2**32)),
)
def test_a_chain_counts_as_one_edit_whatever_the_interleaving(
    storage: Storage, steps, clock_seed, orders
):
    """Chains of edits from several devices, pushed in random interleavings and replays: at
    most one open conflict per field and competing device, each chain's last value current
    or in an open conflict, and the record the same whatever the order."""
    clock_rng = random.Random(clock_seed)
    clocks = [sorted(clock_rng.sample(range(1, 50), len(device_steps))) for device_steps in steps]
    record_id = new_id()
    chains, last_values = chains_from(steps, record_id, clocks)
    outcomes = [
        deliver(storage, f"chain-{new_id()}", record_id, chains, random.Random(seed))
        for seed in orders
    ]
    assert outcomes[0]["record"] == outcomes[1]["record"]
    for outcome in outcomes:
        record = outcome["record"]
        open_ones = [c for c in outcome["conflicts"] if c["status"] == "open"]
        competing = [(c["record_id"], c["field"], c["other"]["device"]) for c in open_ones]
        assert len(competing) == len(set(competing)), competing
        kept = {(record_id, name): record.get(name) for name in FIELDS}
        kept_values = {json.dumps(value) for value in kept.values()}
        for conflict in open_ones:
            for side in ("current", "other"):
                value = conflict[side]["value"]
                values = value.values() if isinstance(value, dict) else [value]
                kept_values.update(json.dumps(item) for item in values)
            # An open conflict on a field shows the field's current value.
            if conflict["field"] in FIELDS:
                assert conflict["current"]["value"] == record[conflict["field"]]
        for last in last_values:
            for name, value in last.items():
                assert json.dumps(value) in kept_values, (name, value)


def test_a_resolution_that_had_not_seen_the_chains_later_value_keeps_it_open(storage):
    team = Team(storage)
    team.edits("B", ["B"], at=50)  # the register's version 2
    team.edits("A", CHAIN[:3], at=10)
    [conflict] = team.conflicts()
    seen = storage.high_water(team.workspace)  # what the resolver's device had pulled
    team.edits("A", CHAIN[3:], at=13)  # the conflict now holds A6, unseen by the resolver
    now = now_ms() + 1000
    take_other = op(set={"title": "A3"}, base={"title": 2}, seen=seen, hlc=pack(now, 0))
    closing = op(
        id=conflict["id"],
        kind="conflict",
        set={"status": "resolved", "resolution": "other"},
        seen=seen,
        hlc=pack(now, 1),
    )
    team.push("D", take_other, closing)
    assert team.record()["title"] == "A3"
    [still] = team.conflicts()
    assert sides(still) == ("A3", "D", "A6", "A")


def test_the_losers_informed_edits_turn_its_open_conflict_around(storage):
    team = Team(storage)
    team.edits("B", ["B"], at=50)  # version 2
    team.edits("A", CHAIN[:3], at=10)  # lose: the conflict keeps A3
    # A pulled B's value (version 2) and edits on from it, the conflict still open.
    informed = [
        op(set={"title": value}, base={"title": 2}, seen=10, hlc=stamp(60 + n))
        for n, value in enumerate(CHAIN[3:])
    ]
    team.push("A", *informed)
    assert team.record()["title"] == "A6"
    [conflict] = team.conflicts()
    assert sides(conflict) == ("A6", "A", "B", "B")


# ---------------------------------------------------------------- re-sends after a restore


@settings(settings.get_profile(PROFILE))
@given(
    lost=st.lists(st.integers(2, 40), min_size=1, max_size=5, unique=True),
    order=st.randoms(use_true_random=False),
    edit_at=st.none() | st.integers(0, 5),
)
def test_resends_of_a_lost_history_keep_its_newest_value_whatever_the_order(lost, order, edit_at):
    """Devices re-send, after a server restore (back to version 1), the values a register had
    in the lost history, each at its lost version, stamped afresh in any order: the newest
    lost value wins with no conflict.  An edit made since the restore (at `edit_at`, before
    that many re-sends) still clashes with it: one conflict keeps both."""
    state = created()
    sends = [
        op(set={"title": f"v{v}"}, base={"title": 1}, seen=1, was={"title": v}, by=f"u{v}")
        for v in lost
    ]
    order.shuffle(sends)
    if edit_at is not None:
        edit = op(set={"title": "since"}, base={"title": 1}, seen=1, by="e")
        sends.insert(min(edit_at, len(sends)), edit)
    conflicts = []
    for seq, send in enumerate(sends, start=2):
        send["hlc"] = stamp(seq * 10)
        device = "E" if send["by"] == "e" else f"D{send['by']}"
        conflicts += merge_op(state, send, device, seq).conflicts
    newest = f"v{max(lost)}"
    if edit_at is None:
        assert state.vals["title"][0] == newest
        assert conflicts == []
    else:
        values = {state.vals["title"][0]}
        for note in conflicts:
            values |= {note.current["value"], note.other["value"]}
        assert {"since", newest} <= values
        assert state.vals["title"][0] in {"since", newest}  # never a stale re-send
