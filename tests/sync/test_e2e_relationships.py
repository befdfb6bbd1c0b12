"""End to end for §11's derived ids: a real `fieldrm server run` process and two devices,
each its own FIELDRM_HOME, driven through the command line.  The same KPI period entered
on both is one record with a conflict; the same review series planned on both is created
once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import ROOT, ServerProcess, add_user

pytestmark = pytest.mark.slow


def fieldrm(home: Path, *args: str) -> str:
    env = {**os.environ, "FIELDRM_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("FIELDRM_NOW", None)
    done = subprocess.run(
        [sys.executable, "-m", "fieldrm", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"fieldrm {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_same_kpi_period_and_same_series_on_two_devices(tmp_path: Path) -> None:
    db = str(tmp_path / "server.db")
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    with ServerProcess(db, tmp_path / "server") as server:
        for home, name in ((alice, "alice"), (bob, "bob")):
            home.mkdir()
            token = add_user(db, name, "acme", tmp_path / "server")
            fieldrm(home, "login", "--server", server.url, "--token", token)
        fieldrm(alice, "add", "vendor", "--name", "Acme BPO")
        fieldrm(alice, "add", "site", "--vendor", "Acme BPO", "--name", "Kolkata One")
        fieldrm(alice, "add", "program", "--site", "Kolkata One", "--name", "Card services")
        kpi = fieldrm(
            alice,
            "kpi",
            "add",
            "--program",
            "Card services",
            "--name",
            "AHT",
            "--direction",
            "lower_better",
            "--target",
            "300",
        ).strip()
        fieldrm(alice, "sync")
        fieldrm(bob, "sync")

        # Both, offline: the same period with different values, the same series.
        fieldrm(alice, "kpi", "record", kpi, "--period", "2026-10", "--value", "342")
        fieldrm(bob, "kpi", "record", kpi, "--period", "2026-10", "--value", "338")
        plan = (
            "visit",
            "plan",
            "--site",
            "Kolkata One",
            "--at",
            "2026-12-07T10:00",
            "--type",
            "review_meeting",
            "--review",
            "monthly_performance",
            "--every",
            "1m",
            "--count",
            "3",
            "--json",
        )
        planned_a = [v["id"] for v in json.loads(fieldrm(alice, *plan))]
        planned_b = [v["id"] for v in json.loads(fieldrm(bob, *plan))]
        assert planned_a == planned_b
        fieldrm(alice, "sync")
        fieldrm(bob, "sync")
        fieldrm(alice, "sync")

        for home in (alice, bob):
            values = json.loads(fieldrm(home, "list", "kpi_value", "--json"))
            assert len(values) == 1, home
            visits = json.loads(fieldrm(home, "list", "visit", "--json"))
            assert sorted(v["id"] for v in visits) == sorted(planned_a)
            conflicts = json.loads(fieldrm(home, "conflicts", "--json"))
            assert [(c["record_kind"], c["field"]) for c in conflicts] == [("kpi_value", "value")]
            pair = {conflicts[0]["current"]["value"], conflicts[0]["other"]["value"]}
            assert pair == {342.0, 338.0}
        winner_a = json.loads(fieldrm(alice, "list", "kpi_value", "--json"))[0]["value"]
        winner_b = json.loads(fieldrm(bob, "list", "kpi_value", "--json"))[0]["value"]
        assert winner_a == winner_b
