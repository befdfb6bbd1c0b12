"""Sync reports its progress (SPEC §10): per pushed batch and per pulled page, done/total."""

from __future__ import annotations

from fieldrm.sync import client as sync_client
from fieldrm.sync.client import sync_once


def test_sync_reports_each_batch_and_page_with_done_and_total(
    device, new_workspace, http, monkeypatch
):
    monkeypatch.setattr(sync_client, "MAX_BATCH_OPS", 10)
    monkeypatch.setattr(sync_client, "PULL_PAGE", 10)
    monkeypatch.setattr(sync_client, "SNAPSHOT_PAGE", 10)
    token = new_workspace("alice", "acme")
    laptop, phone = device(token), device(token)
    for number in range(25):
        laptop.create("observation", {"text": f"note {number}"})
    calls: list[tuple[str, int, int | None]] = []
    sync_once(laptop, client=http, progress=lambda *call: calls.append(call))
    assert [call for call in calls if call[0] == "push"] == [
        ("push", 10, 25),
        ("push", 20, 25),
        ("push", 25, 25),
    ]
    calls.clear()
    result = sync_once(phone, client=http, progress=lambda *call: calls.append(call))
    pulled = [done for phase, done, _total in calls if phase == "pull"]
    assert result.pulled == 25
    assert len(pulled) >= 3 and pulled == sorted(pulled) and pulled[-1] == 25
    assert not [call for call in calls if call[0] == "push"]  # nothing of its own to send
