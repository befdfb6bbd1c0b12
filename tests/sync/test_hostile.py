"""The server trusts no device (SPEC §5.14): a real `fieldrm server run` process is sent
malformed requests, poison values and forgeries; none gets a 500, each is refused with a
reason, and authorship comes from the token."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fieldrm.clock import now_ms, pack
from fieldrm.models import new_id
from fieldrm.sync.merge import stamp_time
from fieldrm.sync.protocol import PROTOCOL_HEADER, PROTOCOL_VERSION
from tests.support.servers import ServerProcess, add_user

BIG = 2**63


class Api:
    """Raw HTTP to one real server, with one user's token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.http = httpx.Client(timeout=30)
        self.next_device = 0

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", PROTOCOL_HEADER: str(PROTOCOL_VERSION)}

    def device(self) -> str:
        self.next_device += 1
        return f"hostile-{self.next_device}"

    def raw_push(self, content: bytes | str) -> httpx.Response:
        headers = {**self.headers(), "Content-Type": "application/json"}
        return self.http.post(f"{self.url}/v1/push", content=content, headers=headers)

    def push(self, *ops: dict[str, Any], device: str | None = None) -> httpx.Response:
        body = {"device": device or self.device(), "ops": [[n + 1, op] for n, op in enumerate(ops)]}
        return self.raw_push(json.dumps(body))

    def results(self, *ops: dict[str, Any], device: str | None = None) -> list[dict[str, Any]]:
        response = self.push(*ops, device=device)
        assert response.status_code == 200, response.text
        return response.json()["results"]

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.url}{path}", params=params, headers=self.headers())

    def record(self, record_id: str) -> dict[str, Any]:
        """The record as the server holds it, from a fresh snapshot."""
        body = self.get("/v1/snapshot").json()
        for entry in body["records"]:
            if entry["id"] == record_id:
                return {name: reg[0] for name, reg in entry["r"].items()}
        raise AssertionError(f"{record_id} is not on the server")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    home = tmp_path_factory.mktemp("hostile")
    db_url = str(home / "server.db")
    running = ServerProcess(db_url, home).start()
    yield running, home
    running.stop()


@pytest.fixture(scope="module")
def api(server) -> Api:
    running, home = server
    return Api(running.url, add_user(running.db_url, "alice", "acme", home))


def hlc() -> str:
    return pack(now_ms(), 0)


def create(record_id: str | None = None, kind: str = "observation", **fields: Any) -> dict:
    values = {"text": "Team 4 TLs not doing side-by-sides"} if kind == "observation" else {}
    values.update(fields)
    return {
        "id": record_id or new_id(),
        "kind": kind,
        "new": True,
        "hlc": hlc(),
        "by": "alice",
        "set": values,
    }


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"x": value}
    return value


def edit(record_id: str, **parts: Any) -> dict[str, Any]:
    return {"id": record_id, "kind": "observation", "hlc": hlc(), "by": "alice", **parts}


# ---------------------------------------------------------------- no 500, ever


def _envelope(device: Any = "dev", ops: Any = None) -> str:
    return json.dumps({"device": device, "ops": [] if ops is None else ops})


def _deep_json(depth: int) -> str:
    return '{"device":"d","ops":[[1,' + '{"a":' * depth + "1" + "}" * depth + "]]}"


MALFORMED_PUSHES: dict[str, str | bytes] = {
    "seq 2**63": _envelope(ops=[[BIG, create()]]),
    "seq -1": _envelope(ops=[[-1, create()]]),
    "seq 0": _envelope(ops=[[0, create()]]),
    "seq true": _envelope(ops=[[True, create()]]),
    "seq a float": _envelope(ops=[[1.5, create()]]),
    "seq a huge number": '{"device":"d","ops":[[' + "9" * 400 + ',{"id":"x"}]]}',
    "device empty": _envelope(device=""),
    "device a number": _envelope(device=7),
    "device too long": _envelope(device="d" * 65),
    "ops not a list": '{"device":"d","ops":{}}',
    "ops missing": '{"device":"d"}',
    "op not a pair": _envelope(ops=[[1]]),
    "op a string": _envelope(ops=[[1, "op"]]),
    "body a list": "[]",
    "body null": "null",
    "body not JSON": "{",
    "body not UTF-8": b"\xff\xfe",
    "nesting 990 deep": _deep_json(990),
    "nesting 2000 deep": _deep_json(2000),
}


@pytest.mark.parametrize("case", list(MALFORMED_PUSHES))
def test_a_malformed_push_is_a_4xx_with_a_reason(api, case):
    response = api.raw_push(MALFORMED_PUSHES[case])
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["detail"]


def _bad_ops() -> dict[str, dict[str, Any]]:
    existing = "{existing}"
    return {
        "set a list": edit(existing, set=["text"]),
        "set null": edit(existing, set=None),
        "set a number": edit(existing, set=5),
        "add a string": edit(existing, add="tags"),
        "add items not a list": edit(existing, add={"tags": "vip"}),
        "add items not text": edit(existing, add={"tags": [{"a": 1}]}),
        "add to a scalar field": edit(existing, add={"text": ["x"]}),
        "rem a string": edit(existing, rem="tags"),
        "rem pairs of the wrong shape": edit(existing, rem={"tags": ["vip"]}),
        "rem base not a number": edit(existing, rem={"tags": [["vip", "x"]]}),
        "rem items a dict": edit(existing, rem={"tags": {"vip": 1}}),
        "base a list": edit(existing, set={"text": "y"}, base=[1]),
        "base a string": edit(existing, set={"text": "y"}, base="1"),
        "base a bad version": edit(existing, set={"text": "y"}, base={"text": "x"}),
        "seen a string": edit(existing, set={"text": "y"}, seen="x"),
        "seen huge": edit(existing, set={"text": "y"}, seen=BIG),
        "del a string": edit(existing, **{"del": "yes"}),
        "by a number": edit(existing, set={"text": "y"}, by=5),
        "id not a record id": create("not-an-id"),
        "set id": edit(existing, set={"id": new_id()}),
        "set kind": edit(existing, set={"kind": "action"}),
        "set deleted": edit(existing, set={"deleted": True}),
        "a set field as a scalar": edit(existing, set={"tags": "vip"}),
        "a register name with NUL": edit(existing, set={"a\x00b": 1}),
        "text a number": edit(existing, set={"text": 5}),
        "text empty": edit(existing, set={"text": "  "}),
        "text too long": edit(existing, set={"text": "x" * 200_001}),
        "enum unknown": edit(existing, set={"severity": "meh"}),
        "unknown field 300 deep": edit(existing, set={"extra": nested(300)}),
        "integer over 64 bits": create(kind="site", vendor_id=new_id(), name="S", seats=BIG),
        "integer negative seats": create(kind="site", vendor_id=new_id(), name="S", seats=-1),
        "unknown field integer over 64 bits": edit(existing, set={"extra": [BIG]}),
        "a bad timestamp": edit(existing, set={"updated_at": "noon"}),
        "unknown kind": create(kind="meeting"),
        "a new conflict": create(kind="conflict"),
        "an unknown op key": edit(existing, set={"text": "y"}, force=True),
        "was not an object": edit(existing, set={"text": "y"}, was=[1]),
        "was a field not set": edit(existing, set={"text": "y"}, was={"notes": 3}),
        "was a bad version": edit(existing, set={"text": "y"}, was={"text": "x"}),
        "a misspelt op key": edit(existing, sets={"text": "y"}),
        "an unknown key on a create": {**create(), "nonce": "n-1"},
    }


BAD_OPS = _bad_ops()


@pytest.fixture(scope="module")
def existing(api) -> str:
    op = create()
    op["add"] = {"tags": ["vip"]}
    assert api.results(op)[0]["status"] == "applied"
    return op["id"]


@pytest.mark.parametrize("case", list(BAD_OPS))
def test_a_bad_op_is_refused_alone_with_its_reason(api, existing, case):
    bad = json.loads(json.dumps(BAD_OPS[case]).replace("{existing}", existing))
    good = create()
    response = api.push(bad, good)
    assert response.status_code == 200, (response.status_code, response.text)
    first, second = response.json()["results"]
    assert first["status"] == "rejected", first
    assert first["reason"]
    assert second["status"] == "applied"
    held = api.record(existing)
    assert held["text"] == "Team 4 TLs not doing side-by-sides"
    assert "extra" not in held


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": BIG},
        {"cursor": -1},
        {"cursor": "x"},
        {"cursor": "9" * 400},
        {"limit": 0},
        {"limit": BIG},
        {"device": "d" * 65},
    ],
)
def test_a_malformed_pull_is_a_4xx(api, params):
    response = api.get("/v1/pull", **params)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["detail"]


@pytest.mark.parametrize("params", [{"seq": BIG}, {"seq": -1}, {"after": "x" * 65}, {"limit": 0}])
def test_a_malformed_snapshot_is_a_4xx(api, params):
    response = api.get("/v1/snapshot", **params)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)


# ---------------------------------------------------------------- authorship


def test_who_wrote_a_change_comes_from_the_token(api):
    forged = create(created_by="mallory", created_at="2099-01-01T00:00:00.000Z")
    forged["by"] = "mallory"
    [result] = api.results(forged)
    assert result["status"] == "applied"
    # A future creation time is pulled back to the op's stamp; an earlier one (a record
    # captured offline, or restored from a backup) stands.
    held = api.record(forged["id"])
    assert held["created_by"] == "alice"
    assert held["created_at"] == stamp_time(forged["hlc"])
    # The device learns the server's authorship from the acknowledgement.
    assert result["r"]["created_by"][0] == "alice"


def test_a_second_write_cannot_move_created_by_or_created_at(api):
    op = create()
    device = api.device()
    api.results(op, device=device)
    before = api.record(op["id"])
    later = edit(op["id"], set={"created_by": "mallory", "created_at": "2001-01-01T00:00:00.000Z"})
    response = api.raw_push(json.dumps({"device": device, "ops": [[2, later]]}))
    assert response.status_code == 200
    held = api.record(op["id"])
    assert (held["created_by"], held["created_at"]) == (before["created_by"], before["created_at"])


def _conflict(api: Api) -> tuple[str, dict[str, Any]]:
    """Two devices edit one field concurrently; returns the conflict's id and registers."""
    op = create()
    writer_a, writer_b = api.device(), api.device()
    api.results(op, device=writer_a)
    a = edit(op["id"], set={"text": "from a"}, base={"text": 0})
    b = edit(op["id"], set={"text": "from b"}, base={"text": 0})
    api.raw_push(json.dumps({"device": writer_a, "ops": [[2, a]]}))
    api.raw_push(json.dumps({"device": writer_b, "ops": [[1, b]]}))
    for entry in api.get("/v1/snapshot").json()["records"]:
        if entry["kind"] == "conflict" and entry["r"]["record_id"][0] == op["id"]:
            return entry["id"], {name: reg[0] for name, reg in entry["r"].items()}
    raise AssertionError("no conflict was made")


def test_a_conflict_changes_only_through_a_resolution(api):
    conflict_id, before = _conflict(api)
    for forged in (
        {"other": {"value": "erased"}},
        {"current": {"value": "erased"}},
        {"record_id": new_id()},
        {"field": "notes"},
        {"status": "open", "resolution": "x"},
    ):
        op = {"id": conflict_id, "kind": "conflict", "hlc": hlc(), "by": "alice", "set": forged}
        [result] = api.results(op)
        assert result["status"] == "rejected", (forged, result)
    assert api.record(conflict_id) == before
    resolution = {
        "id": conflict_id,
        "kind": "conflict",
        "hlc": hlc(),
        "by": "mallory",
        "set": {"status": "resolved", "resolution": "current", "resolved_by": "mallory"},
    }
    [result] = api.results(resolution)
    assert result["status"] == "applied"
    # The answer tells the device the name the server kept, so it does not keep "mallory".
    assert result["r"]["resolved_by"][0] == "alice"
    held = api.record(conflict_id)
    assert held["status"] == "resolved"
    assert held["resolved_by"] == "alice"
    assert (held["current"], held["other"]) == (before["current"], before["other"])


def test_a_resent_conflict_is_taken_only_for_an_id_the_server_never_had(api):
    conflict_id, before = _conflict(api)
    erased = {**before["other"], "value": "erased"}
    forged = {**before, "other": erased, "status": "resolved"}
    resend = {"id": conflict_id, "kind": "conflict", "hlc": hlc(), "by": "alice", "new": True}
    resend["set"] = {name: value for name, value in forged.items() if name != "deleted"}
    resend["was"] = dict.fromkeys(resend["set"], 10**6)
    [result] = api.results(resend)
    assert result["status"] == "applied"  # acknowledged, with the server's values
    held = api.record(conflict_id)
    assert (held["current"], held["other"]) == (before["current"], before["other"])
    assert held["status"] == "resolved"  # the resolution it carried, and nothing else
    reopen = {**resend, "set": {**resend["set"], "status": "open"}}
    for was in ({}, {"status": 10**6}, resend["was"]):  # found by a tester: it reopened
        [result] = api.results({**reopen, "hlc": hlc(), "was": was})  # and rewrote one
        assert result["status"] == "applied"
        assert api.record(conflict_id) == held, was
    lost = {**resend, "id": new_id(), "hlc": hlc()}
    lost["set"] = {**resend["set"], "status": "open", "created_by": "alice"}
    [result] = api.results(lost)
    assert result["status"] == "applied", result
    held = api.record(lost["id"])
    assert (held["other"], held["created_by"]) == (erased, "server")
    phantom = {**lost, "id": new_id(), "hlc": hlc()}  # about a record nobody has
    phantom["set"] = {**lost["set"], "record_id": new_id()}
    [result] = api.results(phantom)
    assert result["status"] == "rejected" and "about no record" in result["reason"], result
    unknown_field = {**lost, "id": new_id(), "hlc": hlc()}
    unknown_field["set"] = {**lost["set"], "field": "nosuch"}
    [result] = api.results(unknown_field)
    assert result["status"] == "rejected" and "no field" in result["reason"], result
    malformed = {**lost, "id": new_id(), "hlc": hlc()}
    malformed["set"] = {**lost["set"], "other": {"value": "erased"}}
    [result] = api.results(malformed)
    assert result["status"] == "rejected" and "other: must hold" in result["reason"]
    unflagged = {**lost, "id": new_id(), "hlc": hlc()}
    del unflagged["was"]
    [result] = api.results(unflagged)
    assert result["status"] == "rejected"
    assert "conflicts are made by the server" in result["reason"]


# ---------------------------------------------------------------- documents


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_the_api_documents_need_a_token(api, path):
    assert httpx.get(f"{api.url}{path}", timeout=10).status_code == 401
    assert api.http.get(f"{api.url}{path}", headers=api.headers()).status_code == 200


def test_an_operator_can_publish_the_api_documents(tmp_path):
    with ServerProcess(str(tmp_path / "server.db"), tmp_path) as running:
        assert httpx.get(f"{running.url}/openapi.json", timeout=10).status_code == 401
    published = ServerProcess(str(tmp_path / "server.db"), tmp_path / "published", "--publish-docs")
    with published as running:
        document = httpx.get(f"{running.url}/openapi.json", timeout=10)
        assert document.status_code == 200
        assert "/v1/push" in document.json()["paths"]


def test_a_client_gone_mid_request_leaves_no_traceback_in_the_log(server, api):
    """Found by a tester: a sync killed in the middle of its push left a full traceback
    (ClientDisconnect) in the operator's log."""
    running, _home = server
    url = httpx.URL(running.url)
    token = api.token
    with socket.create_connection((url.host, url.port)) as conn:
        head = (
            f"POST /v1/push HTTP/1.1\r\nHost: {url.host}\r\nAuthorization: Bearer {token}\r\n"
            f"{PROTOCOL_HEADER}: {PROTOCOL_VERSION}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000\r\n\r\n"
        )
        conn.sendall(head.encode() + b'{"device": "gone", "ops": [')
    assert api.get("/v1/health").status_code == 200  # the server goes on
    deadline = time.monotonic() + 2
    while "Traceback" not in running.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # wait-ok: a deadline-bounded wait for the log to be written
    assert "Traceback" not in running.log.read_text()
