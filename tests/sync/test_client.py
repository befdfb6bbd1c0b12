"""The device's sync client and conflict handling, against the in-process server."""

from __future__ import annotations

import json

import httpx
import pytest

from fieldrm.errors import InvalidInput
from fieldrm.store import Store
from fieldrm.sync import client as sync_client
from fieldrm.sync import replica
from fieldrm.sync.client import Offline, Refused, SyncResult, sync_once, sync_status
from fieldrm.sync.conflicts import conflict_json, open_conflicts, resolve_conflict
from fieldrm.sync.protocol import PROTOCOL_HEADER

URL = "http://testserver"


class Counting(httpx.BaseTransport):
    """Counts the requests that reach the server."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return self.inner.handle_request(request)


@pytest.fixture
def team(device, new_workspace):
    """Three devices of one workspace (two people, one of them on two laptops)."""
    alice = new_workspace("alice", "acme")
    bob = new_workspace("bob", "acme")
    return device(alice), device(alice), device(bob)


def contact(store: Store, **values) -> str:
    return store.create("contact", {"name": "Priya Nair", **values}).id


def test_edits_to_different_fields_both_survive_without_conflict(team, http):
    one, two, _ = team
    record_id = contact(one)
    sync_once(one, client=http)
    sync_once(two, client=http)
    one.update(record_id, set={"title": "Program manager"})
    two.update(record_id, set={"notes": "prefers mornings"})
    for store in (one, two, one):
        sync_once(store, client=http)
    for store in (one, two):
        record = store.get(record_id)
        assert (record.title, record.notes) == ("Program manager", "prefers mornings")
        assert open_conflicts(store) == []


def test_same_field_makes_one_conflict_shown_everywhere_and_resolved_everywhere(team, http):
    one, two, three = team
    record_id = contact(one)
    for store in team:
        sync_once(store, client=http)
    one.update(record_id, set={"title": "Ops lead"})
    two.update(record_id, set={"title": "Site director"})
    results = [sync_once(store, client=http) for store in (one, two, three, one)]
    assert results[1].conflicts == 1  # the device whose push clashed hears at once
    titles = {store.get(record_id).title for store in team}
    assert len(titles) == 1
    shown = [[conflict_json(c) for c in open_conflicts(store)] for store in team]
    assert shown[0] == shown[1] == shown[2] and len(shown[0]) == 1
    [conflict] = shown[0]
    assert conflict["field"] == "title" and conflict["record_kind"] == "contact"
    assert {conflict["current"]["value"], conflict["other"]["value"]} == {
        "Ops lead",
        "Site director",
    }
    assert conflict["current"]["value"] == titles.pop()
    resolve_conflict(three, conflict["id"], "other")
    for store in (three, one, two):
        sync_once(store, client=http)
    for store in team:
        assert open_conflicts(store) == []
        assert store.get(record_id).title == conflict["other"]["value"]
        closed = store.get(conflict["id"]).to_json()
        assert (closed["status"], closed["resolution"], closed["resolved_by"]) == (
            "resolved",
            "other",
            "bob",
        )


def test_keep_both_joins_text_and_a_new_value_replaces(team, http):
    one, two, _ = team
    record_id = contact(one)
    sync_once(one, client=http)
    sync_once(two, client=http)
    one.update(record_id, set={"notes": "A"})
    two.update(record_id, set={"notes": "B"})
    for store in (one, two, one):
        sync_once(store, client=http)
    [conflict] = open_conflicts(one)
    resolve_conflict(one, conflict.id, "both")
    assert one.get(record_id).notes in ("A / B", "B / A")
    with pytest.raises(InvalidInput, match="already resolved"):
        resolve_conflict(one, conflict.id, "current")
    with pytest.raises(InvalidInput, match="keep must be"):
        resolve_conflict(one, conflict.id, "neither")


def test_a_devices_own_offline_chain_raises_no_conflict(team, http):
    one, two, _ = team
    record_id = contact(one)
    sync_once(one, client=http)
    for title in ("a", "b", "c"):
        one.update(record_id, set={"title": title})
    one.update(record_id, add={"tags": ["x"]})
    one.update(record_id, remove={"tags": ["x"]})
    result = sync_once(one, client=http)
    assert result.pushed == 5 and result.conflicts == 0
    sync_once(two, client=http)
    assert two.get(record_id).title == "c" and two.get(record_id).tags == []
    assert open_conflicts(one) == open_conflicts(two) == []


def test_tag_additions_on_two_devices_both_survive(team, http):
    one, two, _ = team
    record_id = contact(one, tags=["vip"])
    sync_once(one, client=http)
    sync_once(two, client=http)
    one.update(record_id, add={"tags": ["night-shift"]})
    two.update(record_id, add={"tags": ["escalation"]}, remove={"tags": ["vip"]})
    for store in (one, two, one):
        sync_once(store, client=http)
    assert one.get(record_id).tags == two.get(record_id).tags == ["escalation", "night-shift"]


def test_delete_against_an_edit_stays_deleted_with_a_conflict_that_restores(team, http):
    one, two, _ = team
    record_id = contact(one)
    sync_once(one, client=http)
    sync_once(two, client=http)
    one.update(record_id, set={"title": "kept"})
    two.delete(record_id)
    for store in (one, two, one):
        sync_once(store, client=http)
    for store in (one, two):
        assert store.get(record_id).deleted
        [conflict] = open_conflicts(store)
        assert conflict.field == "deleted"
        assert conflict.other["value"] == {"title": "kept"}
    resolve_conflict(two, open_conflicts(two)[0].id, "other")
    sync_once(two, client=http)
    sync_once(one, client=http)
    for store in (one, two):
        record = store.get(record_id)
        assert not record.deleted and record.title == "kept"


def test_pull_never_overwrites_a_field_with_a_pending_edit(team, http):
    one, two, _ = team
    record_id = contact(one)
    sync_once(one, client=http)
    sync_once(two, client=http)
    one.update(record_id, set={"title": "from one", "notes": "n1"})
    sync_once(one, client=http)
    two.update(record_id, set={"title": "typed on two"})
    # Pull only (as when a push failed): the pending title stays, the notes arrive.
    session = sync_client._session(two, http)
    sync_client._pull_all(two, session, SyncResult(0, 0, 0, 0))
    record = two.get(record_id)
    assert (record.title, record.notes) == ("typed on two", "n1")
    assert two.pending_count() == 1
    sync_once(two, client=http)
    sync_once(one, client=http)
    assert one.get(record_id).title == two.get(record_id).title
    assert len(open_conflicts(two)) == 1


def test_unreachable_server_is_offline_and_keeps_the_queue(team):
    one = team[0]
    contact(one)
    calls = []

    def unreachable(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("Connection refused", request=request)

    with pytest.raises(Offline, match="cannot reach the server at http://testserver"):
        sync_once(one, client=httpx.Client(transport=httpx.MockTransport(unreachable)))
    assert len(calls) == 1 + len(sync_client.BACKOFF)  # retried with backoff
    assert one.pending_count() == 1
    assert "cannot reach" in sync_status(one)["last_error"]


def test_server_errors_are_retried(team, http, transport):
    one = team[0]
    contact(one)
    failures = [500, 503]

    def flaky(request: httpx.Request) -> httpx.Response:
        if failures:
            return httpx.Response(failures.pop(0))
        return transport.handle_request(request)

    result = sync_once(one, client=httpx.Client(transport=httpx.MockTransport(flaky)))
    assert result.pushed == 1 and one.pending_count() == 0


def test_a_bad_token_is_refused_clearly_and_keeps_the_queue(team, http):
    one = team[0]
    contact(one)
    one.set_state(replica.TOKEN, "revoked")
    with pytest.raises(Refused, match="refused the token"):
        sync_once(one, client=http)
    assert one.pending_count() == 1
    assert sync_status(one)["last_error"].startswith("the server refused the token")


def test_another_protocol_version_is_refused_and_keeps_the_queue(team):
    one = team[0]
    contact(one)

    def newer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(426, json={"detail": "x"}, headers={PROTOCOL_HEADER: "2"})

    with pytest.raises(Refused, match="protocol 2"):
        sync_once(one, client=httpx.Client(transport=httpx.MockTransport(newer)))
    assert one.pending_count() == 1


def test_a_refused_change_is_kept_visible_and_the_rest_syncs(team, http):
    one, two, _ = team
    good = contact(one)
    bad = contact(one, name="Ravi")
    # A change this fieldrm would not make, as a newer or broken one might.
    one.conn.execute(
        "UPDATE outbox SET op = json_set(op, '$.set.role', 'astronaut') WHERE record_id = ?",
        [bad],
    )
    result = sync_once(one, client=http)
    assert (result.pushed, result.rejected) == (1, 1)
    assert result.rejections[0].startswith(f"record {bad}: contact: role")
    assert one.pending_count() == 0
    assert sync_status(one)["rejected"] == result.rejections
    sync_once(two, client=http)
    assert two.get_raw(good) is not None and two.get_raw(bad) is None


def test_nothing_to_do_takes_at_most_two_requests(team, transport):
    one = team[0]
    counting = Counting(transport)
    http = httpx.Client(transport=counting)
    contact(one)
    sync_once(one, client=http)
    counting.paths.clear()
    sync_once(one, client=http)
    assert counting.paths == ["/v1/pull"]


def test_pushes_go_in_batches_of_at_most_500(team, transport):
    one, two, _ = team
    with one.transaction():
        for number in range(1200):
            one.create("observation", {"text": f"note {number}"})
    counting = Counting(transport)
    result = sync_once(one, client=httpx.Client(transport=counting))
    assert result.pushed == 1200
    assert counting.paths.count("/v1/push") == 3
    assert sync_once(two, client=httpx.Client(transport=counting)).pulled == 1200
    assert two.count("observation") == 1200


def test_status_reports_the_spec_fields(team, http):
    one = team[0]
    contact(one)
    state = sync_status(one)
    assert state["server"] == URL and state["last_sync"] is None
    assert state["pending_changes"] == 1 and state["open_conflicts"] == 0
    sync_once(one, client=http)
    state = sync_status(one)
    assert state["pending_changes"] == 0 and state["last_sync"] and state["last_error"] is None
    assert json.loads(json.dumps(state))["device_id"] == one.device_id


def test_a_change_too_large_to_travel_is_refused_with_its_reason(team, http):
    one, two, _ = team
    # Every value within its limits (SPEC §5.14), the whole change over 1 MiB.
    tags = [f"{n:04d}" + "x" * 995 for n in range(1100)]
    huge = one.create("observation", {"text": "big", "tags": tags}).id
    small = one.create("observation", {"text": "fits"}).id
    result = sync_once(one, client=http)
    assert (result.pushed, result.rejected) == (1, 1)
    assert result.rejections[0].startswith(f"record {huge}: the change is too large")
    assert one.pending_count() == 0 and one.get_raw(huge) is not None
    sync_once(two, client=http)
    assert two.get_raw(small) is not None and two.get_raw(huge) is None


def test_an_answer_of_the_wrong_shape_is_refused_not_a_traceback(team):
    one = team[0]
    contact(one)

    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"hello": "from a captive portal"})

    with pytest.raises(Refused, match="not understood"):
        sync_once(one, client=httpx.Client(transport=httpx.MockTransport(proxy)))
    assert one.pending_count() == 1


def test_fields_from_a_newer_version_survive_a_round_trip(team, http, storage):
    one, two, _ = team
    record_id = contact(one)
    # A newer fieldrm on `one` writes a field this version does not know.
    one.conn.execute(
        "UPDATE outbox SET op = json_set(op, '$.set.pronouns', 'she/her') WHERE record_id = ?",
        [record_id],
    )
    sync_once(one, client=http)
    sync_once(two, client=http)
    assert two.get_raw(record_id)["pronouns"] == "she/her"
    two.update(record_id, set={"title": "Program manager"})
    sync_once(two, client=http)
    [record] = [r for r in storage.records("acme") if r["id"] == record_id]
    assert (record["pronouns"], record["title"]) == ("she/her", "Program manager")
    assert two.get_raw(record_id)["pronouns"] == "she/her"


def test_a_device_is_configured_once_it_has_logged_in(new_workspace, http):
    store = Store.memory()
    assert not sync_client.is_configured(store)
    sync_client.login(store, URL, new_workspace(), client=http)
    assert sync_client.is_configured(store)
    store.set_state(replica.TOKEN, None)
    assert not sync_client.is_configured(store)


@pytest.mark.parametrize("path", ["/v1/push", "/v1/pull"])
def test_a_fresh_start_while_an_answer_travels_keeps_none_of_it(team, http, transport, path):
    """The app's login form can start the device afresh while its background sync waits
    for an answer: that answer was meant for the old device and must not land in the empty
    one (the old workspace's records came back after a fresh start)."""
    one, other, _bob = team
    contact(other, name="Ravi Menon")
    sync_once(other, client=http)
    contact(one)
    from fieldrm.sync import workspace

    started: list[str] = []

    class FreshMidway(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = transport.handle_request(request)
            if request.url.path == path and not started:
                started.append(workspace.start_fresh(one) or "started")
            return response

    with pytest.raises(Refused, match="started afresh"):
        sync_once(one, client=httpx.Client(transport=FreshMidway()))
    assert started
    assert one.record_count() == 0 and one.pending_count() == 0
    assert one.list("contact") == []


def test_taking_the_other_side_keeps_both_sides_in_the_conflict(team, http):
    """Found by a tester: the device whose value won resolves by keeping the other; its
    edit of the field (part of the resolution) rewrote the conflict's `current` side to
    the kept value, so its own value vanished from every record and the kept one was
    credited to it."""
    alice, _alice2, bob = team
    record_id = contact(alice)
    for store in (alice, bob):
        sync_once(store, client=http)
    alice.update(record_id, set={"title": "a1"})
    bob.update(record_id, set={"title": "b1"})
    for store in (alice, bob, alice):
        sync_once(store, client=http)
    [conflict] = [conflict_json(c) for c in open_conflicts(bob)]
    sides = {conflict["current"]["value"]: conflict["current"]["by"]}
    sides[conflict["other"]["value"]] = conflict["other"]["by"]
    assert sides == {"a1": "alice", "b1": "bob"}
    winner = alice if conflict["current"]["by"] == "alice" else bob
    resolve_conflict(winner, conflict["id"], "other")
    for store in (winner, alice, bob):
        sync_once(store, client=http)
    for store in (alice, bob):
        closed = store.get(conflict["id"]).to_json()
        kept = {closed["current"]["value"]: closed["current"]["by"]}
        kept[closed["other"]["value"]] = closed["other"]["by"]
        assert kept == sides, kept
        assert (closed["status"], closed["resolution"]) == ("resolved", "other")
        assert store.get(record_id).title == conflict["other"]["value"]
