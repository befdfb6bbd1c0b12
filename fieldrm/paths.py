"""Where a device keeps its data: FIELDRM_HOME when set, else platformdirs' user data dir.

The device's configuration (server, token) lives in its database, beside the records, so
one directory holds everything a device has.

Computed when asked, never at import, so tests can point FIELDRM_HOME at a temp dir.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir() -> Path:
    home = os.environ.get("FIELDRM_HOME")
    if home:
        return Path(home)
    return Path(platformdirs.user_data_dir("fieldrm", appauthor=False))


def database_path() -> Path:
    return data_dir() / "fieldrm.db"
