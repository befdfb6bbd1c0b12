"""The hybrid logical clock (HLC) that stamps every change.

A stamp is 16 hex digits: 12 of wall-clock milliseconds and 4 of a counter, so stamps
sort as text.  The clock only decides which of two truly concurrent values wins; whether
two edits are concurrent is decided from the versions they were based on (see merge).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

COUNTER_MAX = 0xFFFF


def pack(wall_ms: int, counter: int) -> str:
    return f"{wall_ms:012x}{counter:04x}"


def unpack(stamp: str) -> tuple[int, int]:
    return int(stamp[:12], 16), int(stamp[12:16], 16)


def wall_ms(stamp: str) -> int:
    return int(stamp[:12], 16)


def now_ms() -> int:
    """Wall-clock milliseconds; FIELDRM_CLOCK_OFFSET (seconds) fakes a wrong clock in tests."""
    offset = os.environ.get("FIELDRM_CLOCK_OFFSET")
    skew = int(float(offset) * 1000) if offset else 0
    return int(time.time() * 1000) + skew


def wall_time(ms: int) -> datetime:
    """Milliseconds since the epoch (`now_ms()`, a stamp's `wall_ms`) as a UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


class HybridClock:
    """One device's clock; `last` is persisted by its owner after every tick."""

    def __init__(self, last: str | None = None) -> None:
        self.last = last or pack(0, 0)

    def tick(self, physical_ms: int | None = None) -> str:
        """A new stamp for a local change, later than every stamp seen so far."""
        physical = now_ms() if physical_ms is None else physical_ms
        last_wall, last_counter = unpack(self.last)
        if physical > last_wall:
            self.last = pack(physical, 0)
        elif last_counter < COUNTER_MAX:
            self.last = pack(last_wall, last_counter + 1)
        else:
            self.last = pack(last_wall + 1, 0)
        return self.last

    def observe(self, remote: str, physical_ms: int | None = None) -> None:
        """Move past a stamp received from elsewhere, so later local stamps sort after it.

        A remote stamp far in the future is not followed (the server refuses those);
        the caller decides by passing only stamps it has accepted.
        """
        physical = now_ms() if physical_ms is None else physical_ms
        last_wall, last_counter = unpack(self.last)
        remote_wall, remote_counter = unpack(remote)
        wall = max(physical, last_wall, remote_wall)
        if wall == last_wall == remote_wall:
            counter = max(last_counter, remote_counter) + 1
        elif wall == last_wall:
            counter = last_counter + 1
        elif wall == remote_wall:
            counter = remote_counter + 1
        else:
            counter = 0
        if counter > COUNTER_MAX:
            wall, counter = wall + 1, 0
        self.last = pack(wall, counter)
