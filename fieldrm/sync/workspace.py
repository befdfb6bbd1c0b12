"""Whose data a device holds, and what a login may do about it (SPEC §5.13): the one
decision `fieldrm login` and the app's login form share, through `client.login`.

A device's records and queued changes belong to the workspace it last logged in to, and its
queued changes to the user who made them.  So a login to another workspace is refused while
the device holds anything, and a login as another user of the same workspace while that
user's changes still wait; the person either syncs first or asks for a fresh start, which
copies the database to a dated backup beside it and starts empty under a new device id.
Logging in again to the same workspace as the same user keeps everything.  A device id
belongs to one user of one workspace: a new user or workspace gets a new one.
"""

from __future__ import annotations

import re
from datetime import date
from enum import Enum
from pathlib import Path

from fieldrm.errors import FieldrmError
from fieldrm.store import Store
from fieldrm.sync import replica

WORKSPACE = "workspace"  # state: the workspace of the last login (set by client.login)
FRESH_HINT = "log in with --fresh (this device's data is backed up beside it, then it starts empty)"


class WorkspaceSwitchRefused(FieldrmError):
    """The login would mix two workspaces' records, or send one user's changes as another's."""

    exit_code = 4


class Plan(Enum):
    KEEP = "keep"  # the same workspace and user (or a first login): everything stays
    NEW_USER = "new user"  # another user of the workspace, nothing queued: a new device id
    NEW_WORKSPACE = "new workspace"  # another workspace, nothing held: new id, pull afresh
    FRESH = "fresh"  # asked for: back up, start empty


def plan_login(store: Store, workspace: str, user: str, *, fresh: bool = False) -> Plan:
    """What logging in as `user` of `workspace` does to this device; refuses a mix."""
    if fresh:
        return Plan.FRESH
    held = store.get_state(WORKSPACE)
    if held is None:
        return Plan.KEEP  # never logged in: what was made here goes to this workspace
    queued = store.pending_count()
    if held != workspace:
        records = store.record_count()
        if records or queued:
            waiting = f"sync it first to send the {queued} waiting, then " if queued else ""
            raise WorkspaceSwitchRefused(
                f"this device holds workspace {held}'s records ({records} records, {queued} "
                f"changes not yet synced) and must not mix them with workspace {workspace}: "
                f"{waiting}{FRESH_HINT}"
            )
        return Plan.NEW_WORKSPACE
    before = store.get_state(replica.USER)
    if before is not None and before != user:
        if queued:
            raise WorkspaceSwitchRefused(
                f"{queued} changes made here by {before} in workspace {held} are still queued "
                f"and would go up as {user}'s: run `fieldrm sync` first, or {FRESH_HINT}"
            )
        return Plan.NEW_USER
    return Plan.KEEP


def start_fresh(store: Store) -> Path | None:
    """Copy the database to a dated backup beside it (when it holds anything), then empty
    it under a new device id; the backup's path."""
    backup = None
    anything = store.record_count() or store.pending_count() or store.get_state(WORKSPACE)
    if store.path is not None and anything:
        backup = backup_path(store.path, store.get_state(WORKSPACE))
        store.backup_to(backup)
    store.start_empty()
    return backup


def backup_path(database: Path, workspace: str | None) -> Path:
    """`fieldrm-<workspace>-<date>.db` beside the database, numbered if that is taken."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", workspace or "no-workspace").strip("._") or "_"
    stem = f"{database.stem}-{name}-{date.today().isoformat()}"
    candidate = database.with_name(f"{stem}{database.suffix}")
    number = 1
    while candidate.exists():
        number += 1
        candidate = database.with_name(f"{stem}-{number}{database.suffix}")
    return candidate
