"""An open visit belongs to the RM who started it (SPEC §7): a colleague's open visit,
received by sync, is never "mine".  A real server process and two devices, each with its
own FIELDRM_HOME, driven through the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import ROOT, ServerProcess, add_user

pytestmark = pytest.mark.slow


def fieldrm(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldrm", *args],
        cwd=ROOT,
        env={**os.environ, "FIELDRM_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(home: Path, *args: str) -> str:
    done = fieldrm(home, *args)
    assert done.returncode == 0, f"fieldrm {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_a_colleagues_open_visit_is_never_mine(tmp_path):
    db = f"sqlite:///{tmp_path / 'server.db'}"
    alice_token = add_user(db, "alice", "northwind", tmp_path / "srv")
    bob_token = add_user(db, "bob", "northwind", tmp_path / "srv")
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    with ServerProcess(db, tmp_path / "srv") as server:
        ok(alice, "login", "--server", server.url, "--token", alice_token)
        ok(alice, "add", "vendor", "--name", "Northwind")
        ok(alice, "add", "site", "--vendor", "Northwind", "--name", "Kolkata")
        alices_visit = ok(alice, "visit", "start", "--site", "Kolkata").strip()
        ok(alice, "sync")
        ok(bob, "login", "--server", server.url, "--token", bob_token)
        ok(bob, "sync")
        assert ok(bob, "show", alices_visit, "--json")  # Bob has Alice's open visit

        # Bob's capture is not filed under Alice's visit, and Bob starts his own.
        loose = json.loads(ok(bob, "capture", "Badge readers down at gate 2", "--json"))
        assert loose.get("visit_id") is None
        bobs_visit = ok(bob, "visit", "start", "--site", "Kolkata").strip()
        assert bobs_visit != alices_visit
        filed = json.loads(ok(bob, "capture", "Gate 2 fixed #facility", "--json"))
        assert filed["visit_id"] == bobs_visit
        ok(bob, "visit", "end")
        ok(bob, "sync")

        ok(alice, "sync")
        # Alice's visit is still hers and open, with none of Bob's lines in it.
        mine = json.loads(ok(alice, "capture", "Team 4 huddle #training", "--json"))
        assert mine["visit_id"] == alices_visit
        report = ok(alice, "export", "visit", alices_visit)
        assert "Team 4 huddle" in report
        assert "Badge readers" not in report and "Gate 2 fixed" not in report
