"""A full disk (SPEC §8): one line that says so, nothing half-written, and reads keep working.

The disk is filled for real, for the command's process only: its file-size limit
(RLIMIT_FSIZE) makes every write past the limit fail in the kernel, as a full disk does.
With 4 KiB SQLite cannot even make its shared-memory file (opening failed with "disk I/O
error" before); with 60 kB it opens, and the write itself runs out of room."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys

import pytest

from tests.test_cli import everything, fieldrm, home, ok, refused, seeded  # noqa: F401

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file-size limits")


def on_a_full_disk(home, *args: str, room: int) -> subprocess.CompletedProcess:  # noqa: F811
    def fill_the_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))

    return fieldrm(home, *args, preexec_fn=fill_the_disk)


def shown(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize("room", [4096, 60_000], ids=["cannot-open", "cannot-write"])
def test_a_full_disk_is_said_in_one_line_and_reads_keep_working(home, seeded, room):  # noqa: F811
    before = everything(home)
    big = "x" * 90_000  # more than the room left
    adding = on_a_full_disk(home, "add", "vendor", "--name", "Big", "--notes", big, room=room)
    line = refused(adding)
    assert "disk is full" in line
    assert "disk I/O error" not in line
    assert everything(home) == before

    assert "Acme Contact Solutions" in shown(on_a_full_disk(home, "list", "vendor", room=room))
    assert "Kolkata One" in shown(on_a_full_disk(home, "show", seeded["site"], room=room))
    assert "Priya Nair" in shown(on_a_full_disk(home, "search", "Priya", room=room))
    assert "not yet synced" in shown(on_a_full_disk(home, "today", room=room))
    assert "Acme" in shown(on_a_full_disk(home, "export", "all", room=room))

    # Room again: the device works as before, the store intact.
    ok(home, "add", "vendor", "--name", "After")
    assert "After" in ok(home, "list", "vendor")
