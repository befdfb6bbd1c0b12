"""The CLI's progress bar (SPEC §10): on stderr, once a sync or import passes a second,
never with --json or when stdout is not a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from fieldrm.cli import progress
from fieldrm.store import Store
from fieldrm.store import db as store_db


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def test_a_long_step_shows_a_bar_with_done_of_total():
    console, out = terminal()
    bar = progress.ProgressBar(enabled=True, delay=0.0, console=console)
    bar("push", 10, 25)
    bar("push", 25, 25)
    bar.close()
    shown = out.getvalue()
    assert "Pushing" in shown
    assert "25/25" in shown


def test_a_short_step_shows_nothing():
    console, out = terminal()
    bar = progress.ProgressBar(enabled=True, delay=60.0, console=console)
    bar("pull", 10, None)
    bar.close()
    assert out.getvalue() == ""


def test_no_bar_with_json_or_when_stdout_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    with progress.progress_bar(as_json=True) as bar:
        assert not bar.enabled
    with progress.progress_bar(as_json=False) as bar:
        assert bar.enabled
    monkeypatch.setattr("sys.stdout.isatty", lambda: False, raising=False)
    with progress.progress_bar(as_json=False) as bar:
        assert not bar.enabled


def test_import_reports_its_progress(tmp_path, monkeypatch):
    calls: list[tuple[int, int]] = []
    records = [{"kind": "observation", "text": f"note {n}"} for n in range(5)]
    monkeypatch.setattr(store_db, "IMPORT_PROGRESS_EVERY", 2)
    with Store.open(tmp_path / "device.db") as store:
        store.import_records(records, progress=lambda done, total: calls.append((done, total)))
        assert len(store.search("note", limit=10)) == 5
    assert calls == [(2, 5), (4, 5), (5, 5)]
