"""The sync server's API: tokens, versions, limits, exactly-once pushes, pulls, snapshots."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest

from fieldrm.clock import now_ms, pack
from fieldrm.models import new_id
from fieldrm.sync.merge import op_registers
from fieldrm.sync.protocol import MAX_BODY_BYTES, PROTOCOL_HEADER, PROTOCOL_VERSION

URL = "http://testserver"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", PROTOCOL_HEADER: str(PROTOCOL_VERSION)}


def create_op(record_id: str | None = None, **fields: Any) -> dict[str, Any]:
    values = {"text": "Team 4 TLs not doing side-by-sides", **fields}
    return {
        "id": record_id or new_id(),
        "kind": "observation",
        "new": True,
        "hlc": pack(now_ms(), 0),
        "by": "alice",
        "set": values,
    }


def push(
    http: httpx.Client, token: str, ops: list[dict[str, Any]], device: str = "dev1", first: int = 1
) -> httpx.Response:
    body = {"device": device, "ops": [[first + n, op] for n, op in enumerate(ops)]}
    return http.post(f"{URL}/v1/push", json=body, headers=auth(token))


def pull(http: httpx.Client, token: str, device: str = "other", cursor: int = 0, **params: Any):
    return http.get(
        f"{URL}/v1/pull",
        params={"device": device, "cursor": cursor, **params},
        headers=auth(token),
    )


def test_health_needs_no_token_and_names_the_protocol(http):
    response = http.get(f"{URL}/v1/health")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "protocol": PROTOCOL_VERSION}
    assert response.headers[PROTOCOL_HEADER] == str(PROTOCOL_VERSION)


@pytest.mark.parametrize("path", ["/v1/me", "/v1/pull", "/v1/snapshot"])
def test_every_other_endpoint_needs_a_valid_token(http, new_workspace, path):
    new_workspace()
    assert http.get(f"{URL}{path}").status_code == 401
    response = http.get(f"{URL}{path}", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid or revoked token"
    assert http.post(f"{URL}/v1/push", json={"device": "d", "ops": []}).status_code == 401


def test_tokens_are_stored_hashed(storage, new_workspace):
    token = new_workspace("alice", "acme")
    with storage.backend.transaction(write=False) as tx:
        rows = tx.query("SELECT token_hash, name FROM users")
    assert rows and all(token not in row[0] for row in rows)
    assert storage.authenticate(token).user == "alice"


def test_me_names_the_user_and_workspace(http, new_workspace):
    token = new_workspace("alice", "acme")
    assert http.get(f"{URL}/v1/me", headers=auth(token)).json() == {
        "user": "alice",
        "workspace": "acme",
    }


def test_another_protocol_version_is_refused_clearly(http, new_workspace):
    token = new_workspace()
    response = http.get(
        f"{URL}/v1/pull", headers={**auth(token), PROTOCOL_HEADER: str(PROTOCOL_VERSION + 1)}
    )
    assert response.status_code == 426
    assert "protocol" in response.json()["detail"]


def test_the_openapi_document_lists_the_endpoints(http, new_workspace):
    assert http.get(f"{URL}/openapi.json").status_code == 401
    paths = http.get(f"{URL}/openapi.json", headers=auth(new_workspace())).json()["paths"]
    assert {"/v1/push", "/v1/pull", "/v1/snapshot", "/v1/health", "/v1/me"} <= set(paths)


def test_bad_bodies_get_422_with_the_reason(http, new_workspace):
    token = new_workspace()
    bad_json = http.post(f"{URL}/v1/push", content=b"{not json", headers=auth(token))
    assert bad_json.status_code == 422
    assert "not JSON" in bad_json.json()["detail"]
    no_device = http.post(f"{URL}/v1/push", json={"ops": []}, headers=auth(token))
    assert no_device.status_code == 422
    assert "device" in no_device.json()["detail"]
    bad_cursor = http.get(f"{URL}/v1/pull", params={"cursor": "x"}, headers=auth(token))
    assert bad_cursor.status_code == 422
    assert "cursor" in bad_cursor.json()["detail"]


def test_oversized_bodies_get_413(http, new_workspace):
    token = new_workspace()
    big = create_op(text="x" * (MAX_BODY_BYTES + 10))
    assert push(http, token, [big]).status_code == 413
    too_many = [create_op() for _ in range(501)]
    response = push(http, token, too_many)
    assert response.status_code == 413
    assert "500" in response.json()["detail"]
    # Compressed bodies are measured after inflating.
    raw = json.dumps({"device": "d", "ops": [[1, big]]}).encode()
    packed = http.post(
        f"{URL}/v1/push",
        content=gzip.compress(raw),
        headers={**auth(token), "Content-Encoding": "gzip"},
    )
    assert packed.status_code == 413


def test_gzip_request_bodies_are_accepted_and_responses_compressed(http, new_workspace):
    token = new_workspace()
    ops = [create_op() for _ in range(20)]
    raw = json.dumps({"device": "d", "ops": [[n + 1, op] for n, op in enumerate(ops)]})
    response = http.post(
        f"{URL}/v1/push",
        content=gzip.compress(raw.encode()),
        headers={**auth(token), "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["applied"] * 20
    pulled = pull(http, token)
    assert pulled.headers["content-encoding"] == "gzip"
    assert len(pulled.json()["changes"]) == 20


def test_a_replayed_push_is_acknowledged_once(http, new_workspace, storage):
    token = new_workspace("alice", "acme")
    ops = [create_op(), create_op()]
    first = push(http, token, ops).json()["results"]
    again = push(http, token, ops).json()["results"]
    assert [r["status"] for r in first] == ["applied", "applied"]
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    # What the first answer implied: the op's registers at version v, and those it named
    # (the authorship the server set).
    implied = [
        {**op_registers(op, r["v"]), **r.get("r", {})} for op, r in zip(ops, first, strict=True)
    ]
    assert [r["r"] for r in again] == implied
    assert len(list(storage.records("acme"))) == 2
    assert len(pull(http, token).json()["changes"]) == 2


def test_a_gap_in_the_device_numbering_is_409_with_the_expected_seq(http, new_workspace):
    token = new_workspace()
    push(http, token, [create_op()])
    response = push(http, token, [create_op()], first=5)
    assert response.status_code == 409
    assert response.json()["expected"] == 2


def test_a_clock_too_far_ahead_is_refused_naming_device_and_offset(http, new_workspace, storage):
    token = new_workspace("alice", "acme")
    ahead = create_op()
    ahead["hlc"] = pack(now_ms() + 86_400_000, 0)
    response = push(http, token, [create_op(), ahead], device="laptop-7")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "laptop-7" in detail and "1.0 days" in detail
    assert response.json()["offset_ms"] >= 86_400_000 - 60_000
    assert list(storage.records("acme")) == []  # the whole batch, nothing applied
    assert storage.high_water("acme") == 0
    # Four minutes ahead is within the tolerance.
    near = create_op()
    near["hlc"] = pack(now_ms() + 240_000, 0)
    assert push(http, token, [near], device="laptop-7").status_code == 200


def test_a_refused_change_is_reported_and_does_not_block_the_rest(http, new_workspace):
    token = new_workspace()
    good, bad, unknown = create_op(), create_op(severity="apocalyptic"), create_op()
    unknown["kind"] = "hologram"
    results = push(http, token, [bad, good, unknown]).json()["results"]
    assert [r["status"] for r in results] == ["rejected", "applied", "rejected"]
    assert results[0]["reason"].startswith(f"record {bad['id']}: ")
    assert "severity" in results[0]["reason"]
    assert "unknown kind" in results[2]["reason"]
    # The refusal is acknowledged: the next push continues after it, and a replay of the
    # refused op gives the same reason again.
    assert push(http, token, [create_op()], first=4).status_code == 200
    replay = push(http, token, [bad]).json()["results"]
    assert replay[0]["status"] == "rejected" and "severity" in replay[0]["reason"]


def test_a_workspace_sees_nothing_of_another(http, new_workspace):
    ours = new_workspace("alice", "acme")
    theirs = new_workspace("mallory", "globex")
    record = create_op()
    push(http, ours, [record])
    assert pull(http, theirs).json()["changes"] == []
    snapshot = http.get(f"{URL}/v1/snapshot", headers=auth(theirs)).json()
    assert snapshot["records"] == [] and snapshot["seq"] == 0
    # Editing another workspace's record id only ever touches one's own workspace.
    edit = {"id": record["id"], "kind": "observation", "hlc": pack(now_ms(), 0), "by": "m"}
    edit["set"] = {"severity": "critical"}
    result = push(http, theirs, [edit], device="m1").json()["results"][0]
    assert result["status"] == "rejected"  # no such record there: the text is missing
    assert pull(http, ours, cursor=0).json()["changes"][0]["r"].get("severity") is None


def test_pull_pages_skip_the_devices_own_changes(http, new_workspace):
    token = new_workspace()
    push(http, token, [create_op() for _ in range(5)], device="mine")
    push(http, token, [create_op() for _ in range(3)], device="theirs")
    page = pull(http, token, device="mine", limit=2).json()
    assert len(page["changes"]) == 2 and page["has_more"]
    page = pull(http, token, device="mine", cursor=page["next_cursor"], limit=2).json()
    assert len(page["changes"]) == 1 and not page["has_more"]
    assert page["next_cursor"] == 8
    assert pull(http, token, device="mine", cursor=8).json() == {
        "changes": [],
        "next_cursor": 8,
        "has_more": False,
        "mark": page["mark"],  # the change at the cursor, named the same way each time
    }
    assert len(page["mark"]) == 12


def test_snapshot_pages_hold_current_records_and_the_seq_to_pull_from(http, new_workspace):
    token = new_workspace()
    push(http, token, [create_op() for _ in range(5)])
    first = http.get(f"{URL}/v1/snapshot", params={"limit": 3}, headers=auth(token)).json()
    assert len(first["records"]) == 3 and first["next"] and first["seq"] == 5
    rest = http.get(
        f"{URL}/v1/snapshot",
        params={"limit": 3, "after": first["next"], "seq": first["seq"]},
        headers=auth(token),
    ).json()
    assert len(rest["records"]) == 2 and rest["next"] is None and rest["seq"] == 5
    ids = [r["id"] for r in first["records"] + rest["records"]]
    assert ids == sorted(ids) and len(set(ids)) == 5


def test_a_device_new_to_this_server_may_start_at_any_seq(http, new_workspace):
    token = new_workspace()
    # Its first 56 changes went to another server before it logged in here.
    first = push(http, token, [create_op()], device="moved", first=57)
    assert first.json()["results"][0]["status"] == "applied"
    assert push(http, token, [create_op()], device="moved", first=60).status_code == 409
