"""Device and server agree on every value (SPEC §5.14): random JSON for each field of each
kind is either written by the device and applied by the server, or refused by both — and
neither ever crashes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldrm.clock import now_ms, pack
from fieldrm.errors import InvalidInput
from fieldrm.models import KINDS, USER_KINDS, kind_info, new_id
from fieldrm.store import Store
from fieldrm.sync.server.storage import Account, Storage

BIG = 2**63

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([BIG, BIG - 1, -BIG, -BIG - 1, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        ["", " ", "floor_walk", "concern", "2026-12-01", "2026-11-30T09:15:00.123Z", "\x1b[2J"]
    ),
    st.builds(new_id),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=30,
)


def deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


values = st.one_of(json_values, st.integers(10, 40).map(deep))
fields = st.sampled_from(
    [(kind, name) for kind in USER_KINDS for name in [*kind_info(kind).fields, "extra_field"]]
)

REQUIRED = {
    "vendor": {"name": "Acme"},
    "site": {"vendor_id": new_id(), "name": "Kolkata One"},
    "program": {"site_id": new_id(), "name": "Cards"},
    "contact": {"name": "Priya Nair"},
    "visit": {"site_id": new_id()},
    "observation": {"text": "Team 4"},
    "question": {"text": "Can we waive the fee?"},
    "action": {"text": "Send the deck"},
    "kpi": {"program_id": new_id(), "name": "AHT", "direction": "lower_better", "target": 300},
    "kpi_value": {"kpi_id": new_id(), "period": "2026-11", "value": 312.5},
    "ladder_step": {
        "vendor_id": new_id(),
        "level": 1,
        "role": "operations_manager",
        "respond_within_hours": 4,
    },
    "cadence": {"role": "program_manager", "every_days": 14},
}


def test_every_kind_has_a_valid_record_to_start_from():
    # A kind added to the models needs its required fields here, or it goes untested.
    assert set(REQUIRED) == set(USER_KINDS)
    for kind, values in REQUIRED.items():
        with Store.memory() as store:
            store.create(kind, dict(values))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    from fieldrm.sync.server import open_storage

    storage = open_storage(str(tmp_path_factory.mktemp("agree") / "server.db"))
    storage.add_user("alice", "agree")
    return storage


def device_accepts(kind: str, name: str, value: Any) -> bool:
    with Store.memory() as store:
        info = kind_info(kind).fields.get(name)
        try:
            if info is not None and info.is_set:
                record = store.create(kind, dict(REQUIRED[kind]))
                items = value if isinstance(value, list) else [value]
                store.update(record.id, add={name: items})
            else:
                store.create(kind, {**REQUIRED[kind], name: value})
        except InvalidInput:
            return False
    return True


def server_accepts(storage: Storage, kind: str, name: str, value: Any, device: str) -> bool:
    info = kind_info(kind).fields.get(name)
    op: dict[str, Any] = {
        "id": new_id(),
        "kind": kind,
        "new": True,
        "hlc": pack(now_ms(), 0),
        "by": "alice",
        "set": dict(REQUIRED[kind]),
    }
    if info is not None and info.is_set:
        items = value if isinstance(value, list) else [value]
        op["add"] = {name: [str(item) for item in items]} if items else {}
    else:
        op["set"][name] = value
    [result] = storage.push(Account("alice", "agree"), device, [(1, op)])
    return result["status"] == "applied"


@settings(max_examples=300, deadline=None)
@given(field=fields, value=values)
def test_device_and_server_accept_and_refuse_the_same_values(server, field, value):
    kind, name = field
    assert kind in KINDS
    device = device_accepts(kind, name, value)
    served = server_accepts(server, kind, name, value, f"device-{new_id()}")
    assert device == served, (kind, name, value)
