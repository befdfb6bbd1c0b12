"""The sync and server commands of the command line (login, sync, status, conflicts,
resolve, server run, server add-user); registered on the main Typer app by cli.py."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the sync and server commands to `app` (filled in by the sync work)."""
