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

from fieldrm.clock import pack
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
