"""How times read on screen and on the command line: `5 min ago`, `14:05`, `2026-11-23`.

Plain functions with no Textual, so the screens and the CLI show times the same way.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fieldrm.models import now_utc, parse_timestamp

# Stored text may hold terminal control characters (ESC, OSC, BEL …), typed or synced in.
# Written raw they would drive the terminal; shown as Unicode control pictures (`\x1b` as
# `␛`) a person still sees they are there.  Newlines and tabs stay what they are.  The CLI's
# output and the app's widgets both show text through `visible`.
_VISIBLE: dict[int, int | str] = {
    code: 0x2400 + code for code in range(0x20) if code not in (0x09, 0x0A)
}
_VISIBLE[0x7F] = 0x2421
_VISIBLE.update({code: f"\\x{code:02x}" for code in range(0x80, 0xA0)})


def visible(text: str) -> str:
    """`text` with every terminal control character shown as a visible sign."""
    return text.translate(_VISIBLE)


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


def local_time(moment: Any) -> str:
    """`2026-11-23 14:05` in local time for a timestamp, or the date itself."""
    return _local(moment, "%Y-%m-%d %H:%M")


def reference_ids(record: Any) -> list[str]:
    """The ids a record refers to (its reference fields), so their names can be looked up."""
    from fieldrm.models import kind_info

    found: list[str] = []
    for name, info in kind_info(record.kind).fields.items():
        if not info.refs:
            continue
        value = getattr(record, name, None)
        found += [v for v in value if v] if isinstance(value, list) else [value] if value else []
    return found


def readable_fields(record: Any, names: dict[str, str]) -> list[tuple[str, str]]:
    """A record's fields as a person reads them: labels, names for references (never ids),
    local times (never ISO stamps); empty fields left out."""
    from fieldrm.models import kind_info, label

    info = kind_info(record.kind).fields
    shown: list[tuple[str, str]] = []
    for name, field_info in info.items():
        value = getattr(record, name, None)
        if value in (None, [], ""):
            continue
        title = label(name.removesuffix("_id").removesuffix("_ids"))
        if field_info.refs:
            items = value if isinstance(value, list) else [value]
            text = ", ".join(names.get(item, "(not on this device yet)") for item in items)
        elif field_info.value_type in ("datetime", "date"):
            text = local_time(value)
        elif isinstance(value, list):
            text = ", ".join(label(item) if field_info.choices else str(item) for item in value)
        elif field_info.choices:
            text = label(getattr(value, "value", value))
        else:
            text = " ".join(str(value).split())
        shown.append((title, text))
    for name in ("created_at", "updated_at"):
        shown.append((label(name.removesuffix("_at")), local_time(getattr(record, name, None))))
    return shown
