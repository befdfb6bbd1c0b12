"""`fieldrm` with no arguments: a database it cannot use is a one-line reason, not a
traceback and not a half-drawn screen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_corrupt_database_gives_a_one_line_reason(_isolated_home):
    (_isolated_home / "fieldrm.db").write_bytes(b"this is not a database at all" * 100)
    result = subprocess.run(
        [sys.executable, "-m", "fieldrm"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "fieldrm.db" in lines[0]
