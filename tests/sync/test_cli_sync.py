"""The sync commands in process (`fieldrm.cli.main`), against the in-process server."""

from __future__ import annotations

import json

import httpx
import pytest

from fieldrm.cli import main
from fieldrm.store import Store
from fieldrm.sync import client as sync_client
from fieldrm.sync.client import sync_once

URL = "http://testserver"


class Shared(httpx.BaseTransport):
    """The test's transport, left open when a command closes its client."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)


@pytest.fixture
def cli(capsys, monkeypatch, transport):
    """Run `fieldrm ARGS` on this test's device; the commands reach the in-process server."""
    shared = Shared(transport)
    monkeypatch.setattr(sync_client, "make_client", lambda: httpx.Client(transport=shared))

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_status_json_has_exactly_the_spec_fields(cli):
    code, out, _err = cli("status", "--json")
    assert code == 0
    status = json.loads(out)
    assert set(status) == {
        "device_id",
        "server",
        "last_sync",
        "pending_changes",
        "open_conflicts",
    }
    assert status["server"] is None and status["last_sync"] is None


def test_sync_before_login_is_one_clear_line(cli):
    code, out, err = cli("sync")
    assert code != 0 and out == ""
    assert err.strip() == (
        "fieldrm: no sync server yet: run `fieldrm login --server URL --token TOKEN` first"
    )


def test_login_sync_conflicts_and_resolve_with_a_new_value(cli, storage, transport, tmp_path):
    token = storage.add_user("alice", "acme")
    code, out, _err = cli("login", "--server", URL, "--token", token)
    assert code == 0 and "as alice (workspace acme)" in out
    code, out, _err = cli("add", "contact", "--name", "Priya Nair")
    record_id = out.strip()
    code, out, _err = cli("sync", "--json")
    assert json.loads(out) == {"pushed": 1, "pulled": 0, "conflicts": 0, "rejected": 0}

    # Another device edits the same field meanwhile.
    other = Store.open(tmp_path / "other.db")
    http = httpx.Client(transport=transport)
    sync_client.login(other, URL, storage.add_user("bob", "acme"), client=http)
    sync_once(other, client=http)
    other.update(record_id, set={"title": "Site director"})
    cli("edit", record_id, "--set", "title=Ops lead")
    sync_once(other, client=http)
    code, out, _err = cli("sync", "--json")
    assert json.loads(out)["conflicts"] == 1

    code, out, _err = cli("conflicts", "--json")
    [conflict] = json.loads(out)
    assert set(conflict) == {"id", "record_id", "record_kind", "field", "current", "other"}
    assert set(conflict["current"]) == {"value", "by", "device", "at"}
    code, _out, err = cli("resolve", conflict["id"], "--keep", "both", "--value", "x")
    assert code == 2 and "exactly one" in err
    code, out, _err = cli("resolve", conflict["id"][:13], "--value", "Operations lead")
    assert code == 0 and out.strip() == conflict["id"]
    code, out, _err = cli("show", record_id, "--json")
    assert json.loads(out)["title"] == "Operations lead"
    code, out, _err = cli("conflicts", "--json")
    assert json.loads(out) == []
    code, out, _err = cli("sync", "--json")
    assert json.loads(out)["pushed"] == 2
    sync_once(other, client=http)
    assert other.get(record_id).title == "Operations lead"  # type: ignore[attr-defined]
    closed = other.get(conflict["id"]).to_json()
    assert (closed["status"], closed["resolution"], closed["resolved_by"]) == (
        "resolved",
        "value: Operations lead",
        "alice",
    )
    other.close()


def test_server_add_user_prints_a_token_that_works(cli, tmp_path):
    db = str(tmp_path / "team.db")
    code, out, _err = cli("server", "add-user", "alice", "--workspace", "acme", "--db", db)
    token = out.strip()
    assert code == 0 and len(token) >= 32
    from fieldrm.sync.server import open_storage

    storage = open_storage(db)
    try:
        assert storage.authenticate(token).workspace == "acme"
    finally:
        storage.close()
