"""How times read on screen and on the command line: `5 min ago`, `14:05`, `2026-11-23`.

Plain functions with no Textual, so the screens and the CLI show times the same way.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fieldrm.models import now_utc, parse_timestamp


def ago(moment: str | None, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', '12 days ago', or 'never'."""
    if not moment:
        return "never"
    try:
        then = parse_timestamp(moment)
    except ValueError:
        return str(moment)
    seconds = ((now or now_utc()) - then).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def _local(moment: Any, pattern: str) -> str:
    """A timestamp in local time as `pattern`; a date as ISO text; anything else as is."""
    if moment is None:
        return ""
    if isinstance(moment, date) and not isinstance(moment, datetime):
        return moment.isoformat()
    try:
        return parse_timestamp(moment).astimezone().strftime(pattern)
    except ValueError:
        return str(moment)


def short_time(moment: Any) -> str:
    """HH:MM in local time for a timestamp, or the text itself for a date."""
    return _local(moment, "%H:%M")


def short_date(moment: Any) -> str:
    """YYYY-MM-DD in local time for a timestamp, or the date itself."""
    return _local(moment, "%Y-%m-%d")
