"""The sync status the app's status line shows (the app's sync scheduler takes it over).

The read queries that lived here are in `fieldrm.store.queries`; the time formatting in
`fieldrm.display`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SyncStatus:
    """What the status line shows."""

    connection: str = "no server"  # "online", "offline", "no server", "syncing"
    last_sync: str | None = None  # ISO timestamp of the last successful sync
    pending: int = 0
    conflicts: int = 0
    error: str | None = None  # the last failure's readable reason
    server: str | None = None
    history: tuple[str, ...] = field(default=(), compare=False)
