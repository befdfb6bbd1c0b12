"""The app in a real terminal: tmux runs `fieldrm` on a fresh device with the demo, an
observation is typed into the floor-walk screen, ctrl+q quits, and the command line
finds the observation.  Readiness is polled from the pane, never slept for."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT = "Team 9 headsets crackling on the left bank"


def fieldrm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldrm", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


class Tmux:
    """One private tmux server (its own socket), so tests never touch anyone else's."""

    def __init__(self, socket_name: str) -> None:
        # No user configuration: a known terminal size and default keys.
        self.base = ["tmux", "-L", socket_name, "-f", "/dev/null"]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # COLUMNS/LINES (pytest may set them) would override the pane's real size.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        return subprocess.run(
            [*self.base, *args], capture_output=True, text=True, check=check, timeout=30, env=env
        )

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "app").stdout

    def alive(self) -> bool:
        return self("has-session", "-t", "app", check=False).returncode == 0

    def wait_for(self, condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
        # Polls the pane; the limit only turns a hang into a failure with the pane shown.
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)  # wait-ok: the poll interval of a deadline-bounded wait
        raise AssertionError(f"timed out waiting until {what}; the pane shows:\n{self.screen()}")


def test_type_an_observation_in_the_app_and_find_it_with_the_cli(_isolated_home, tmp_path):
    home = _isolated_home
    fieldrm("demo")
    tmux = Tmux(f"fieldrm-smoke-{os.getpid()}-{tmp_path.name}")
    command = f"cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m fieldrm"
    try:
        tmux(
            "new-session", "-d", "-s", "app", "-x", "120", "-y", "36",
            "-e", f"FIELDRM_HOME={home}", "-e", "TERM=xterm-256color", command,
        )  # fmt: skip
        tmux.wait_for(lambda: "F3 Floor walk" in tmux.screen(), "the app draws")
        tmux.wait_for(lambda: "Open questions" in tmux.screen(), "Today shows its data")
        tmux("send-keys", "-t", "app", "F3")
        tmux.wait_for(lambda: "Type what you see" in tmux.screen(), "the floor walk opens")
        tmux("send-keys", "-t", "app", "-l", f"{TEXT} #facility !concern")
        tmux.wait_for(lambda: "severity concern" in tmux.screen(), "the line is parsed")
        tmux("send-keys", "-t", "app", "Enter")
        # The log's text column may be narrower than the text (it ends in "…"), and the
        # parsed-line preview may still show part of it: wait for the log's own row (its
        # kind and marks, with the text's start) and the empty line's placeholder, each in
        # one capture of the pane.  The command line checks the exact text below.
        tmux.wait_for(
            lambda: (
                any(
                    "observation" in line and "facility concern" in line and TEXT[:15] in line
                    for line in tmux.screen().splitlines()
                )
                and "Type what you see" in tmux.screen()
            ),
            "the entry is in the log and the line is empty again",
        )
        tmux("send-keys", "-t", "app", "C-q")
        tmux.wait_for(lambda: not tmux.alive(), "the app quits")
    finally:
        tmux("kill-server", check=False)

    observations = json.loads(fieldrm("list", "observation", "--json").stdout)
    mine = [o for o in observations if o["text"] == TEXT]
    assert len(mine) == 1
    assert (mine[0]["category"], mine[0]["severity"]) == ("facility", "concern")


def test_double_ctrl_r_and_a_hung_server_then_the_app_recovers_by_itself(_isolated_home, tmp_path):
    """A real server process is stopped (SIGSTOP) while the app syncs; ctrl+r twice and a
    captured line; the hang is reported as offline within the deadline; after SIGCONT the
    app syncs again without a key, and quits with exit code 0 and no traceback."""
    import signal

    from tests.support.servers import ServerProcess, add_user

    home = _isolated_home
    db = f"sqlite:///{tmp_path / 'server.db'}"
    token = add_user(db, "anna", "northwind", tmp_path / "srv")
    exit_file = tmp_path / "exit-code"
    with ServerProcess(db, tmp_path / "srv") as server:
        fieldrm("demo")
        fieldrm("login", "--server", server.url, "--token", token)
        fieldrm("sync")
        tmux = Tmux(f"fieldrm-hung-{os.getpid()}-{tmp_path.name}")
        command = (
            f"cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m fieldrm; "
            f"echo $? > {shlex.quote(str(exit_file))}; sleep 60"
        )
        try:
            tmux(
                "new-session", "-d", "-s", "app", "-x", "120", "-y", "36",
                "-e", f"FIELDRM_HOME={home}", "-e", "TERM=xterm-256color", command,
            )  # fmt: skip
            tmux.wait_for(lambda: "● online" in tmux.screen(), "the first sync")
            os.kill(server.process.pid, signal.SIGSTOP)
            try:
                tmux("send-keys", "-t", "app", "C-r")
                tmux.wait_for(lambda: "syncing" in tmux.screen(), "a sync hangs")
                tmux("send-keys", "-t", "app", "C-r")
                tmux("send-keys", "-t", "app", "C-r")
                tmux("send-keys", "-t", "app", "F3")
                tmux.wait_for(lambda: "Type what you see" in tmux.screen(), "the floor walk")
                tmux("send-keys", "-t", "app", "-l", "Lift out of order on level 4")
                tmux("send-keys", "-t", "app", "Enter")
                tmux.wait_for(lambda: "○ offline" in tmux.screen(), "the hang is reported", 40)
            finally:
                os.kill(server.process.pid, signal.SIGCONT)
            tmux.wait_for(
                lambda: "● online" in tmux.screen() and "0 pending changes" in tmux.screen(),
                "the app syncs again by itself",
                60,
            )
            tmux("send-keys", "-t", "app", "C-q")
            tmux.wait_for(lambda: exit_file.exists(), "the app quits")
            # The shell keeps the pane open: whatever the app printed on leaving is here.
            assert "Traceback" not in tmux.screen()
        finally:
            tmux("kill-server", check=False)
    assert exit_file.read_text().strip() == "0"
