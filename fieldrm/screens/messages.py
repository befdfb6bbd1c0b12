"""Messages the app's workers post: past-tense events, handled on the UI thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class SyncStarted(Message):
    """A sync with the server began."""


@dataclass
class SyncProgress(Message):
    """How far a long sync has got, as the status line says it ("pulled 1,500")."""

    line: str


@dataclass
class SyncCompleted(Message):
    """A sync finished: what went up, what came down, what was refused."""

    pushed: int
    pulled: int
    conflicts: int
    rejected: int
    rejections: list[Any]
    at: str


@dataclass
class SyncFailed(Message):
    """A sync could not finish; `reason` is one readable line."""

    reason: str
    offline: bool
    title: str


@dataclass
class SyncSkipped(Message):
    """No server is configured for this device."""


@dataclass
class CountsRead(Message):
    """Fresh figures for the status line."""

    pending: int
    conflicts: int
    last_sync: str | None
    server: str | None

    def can_replace(self, message: Message) -> bool:
        # Only the newest figures matter; older ones still in the queue can go.
        return isinstance(message, CountsRead)


@dataclass
class RecordSaved(Message):
    """A worker wrote a record; `note` is what to tell the user (or empty); `line` the
    capture line it was typed as (or empty)."""

    record: Any
    note: str = ""
    line: str = ""


@dataclass
class VisitStarted(Message):
    """A worker opened a visit at this site (a review meeting names the vendor reviewed)."""

    site_name: str
    vendor_id: str | None = None
    program_id: str | None = None


@dataclass
class VisitAlreadyOpen(Message):
    """ctrl+n found my visit open: it is said, and nothing is ended behind the RM's back."""

    title: str


@dataclass
class VisitNotOpen(Message):
    """ctrl+n found no visit of mine open: the site can be chosen."""


@dataclass
class OutsideWrite(Message):
    """The database's data_version, read to notice writes by another process (the CLI)."""

    version: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, OutsideWrite)
