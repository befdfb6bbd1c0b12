"""What the command line prints, shared by every command (hot.py, commands.py, sync.py).

Errors: a command raises a `fieldrm.errors` exception, or calls `fail(reason)` for a
problem of the command line itself; `main` catches both and prints `fieldrm: reason` on
stderr with a non-zero exit, so every error is one line.  Records: one record
prints as a JSON object (`--json`) or as labelled lines; several as a JSON array or one line
each.  JSON uses the field names of SPEC §2 exactly (`Record.to_json()`).

Kept light on imports: the store and models are imported only when a command uses them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from fieldrm.models import Record
    from fieldrm.store import Store

PROG = "fieldrm"


class CommandFailed(Exception):
    """Raised by `fail`; `main` turns it into one stderr line and the exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def fail(message: str, exit_code: int = 1) -> NoReturn:
    """Stop the command: `fieldrm: <message>` on stderr, exit `exit_code` (never 0)."""
    raise CommandFailed(message, exit_code or 1)


def one_line(message: object) -> str:
    """A message squeezed onto one line (errors must never span several)."""
    return " ".join(str(message).split())


def error_line(message: object) -> str:
    return f"{PROG}: {visible(one_line(message))}"


def warn(message: str) -> None:
    """A warning on stderr that does not stop the command."""
    print(f"{PROG}: warning: {visible(one_line(message))}", file=sys.stderr)


def dumps(value: Any, *, indent: int | None = 2) -> str:
    # JSON escapes C0 controls itself; DEL and C1 (which some terminals obey) are escaped
    # too, so the text is safe on a terminal and parses to exactly the stored values.
    return json.dumps(value, ensure_ascii=False, indent=indent).translate(_JSON_ESCAPES)


# ---------------------------------------------------------------- terminal safety

_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}


def visible(text: str) -> str:
    """`text` with every terminal control character shown visibly (`display.visible`)."""
    from fieldrm.display import visible as shown  # here: display loads the models

    return shown(text)


class VisibleStream:
    """A text stream that writes control characters visibly (see `visible`)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        return self.inner.write(visible(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@contextmanager
def terminal_safe() -> Iterator[None]:
    """While a command runs, nothing it prints drives the terminal (--json stays exact)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = VisibleStream(out), VisibleStream(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def print_json(value: Any) -> None:
    print(dumps(value))


@contextmanager
def open_store() -> Iterator[Store]:
    """The device's store (FIELDRM_HOME or platformdirs), closed when the command ends."""
    from fieldrm.store import Store

    store = Store.open()
    try:
        yield store
    finally:
        store.close()


# ---------------------------------------------------------------- records


def print_written(record: Record, as_json: bool) -> None:
    """After add/capture/visit/edit/delete: the id, or with --json the whole record."""
    if as_json:
        print_json(record.to_json())
    else:
        print(record.id)


def print_record(record: Record, as_json: bool, store: Store | None = None) -> None:
    if as_json:
        print_json(record.to_json())
    else:
        print(format_record(record, store))


def print_records(records: Iterable[Record], as_json: bool) -> None:
    if as_json:
        print_json([record.to_json() for record in records])
        return
    for record in records:
        print(record_line(record))


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _ref_label(store: Store | None, record_id: str) -> str:
    """`Name (id)` for a reference the store knows, else the bare id."""
    if store is None:
        return record_id
    raw = store.get_raw(record_id)
    if raw is None:
        return record_id
    label = raw.get("name") or raw.get("text") or raw.get("purpose")
    return f"{label} ({record_id})" if label else record_id


def format_record(record: Record, store: Store | None = None) -> str:
    """A record as labelled lines, references shown with their names when known."""
    from fieldrm.models import BASE_FIELDS, KINDS, kind_info

    data = record.to_json()
    kind = data.get("kind", "?")
    lines = [f"{kind} {data.get('id')}" + ("  (deleted)" if data.get("deleted") else "")]
    fields = kind_info(kind).fields if kind in KINDS else {}
    names = [*fields, *(n for n in data if n not in fields and n not in BASE_FIELDS)]
    width = max((len(name) for name in names), default=0)
    for name in names:
        value = data.get(name)
        if value in (None, "", []):
            continue
        info = fields.get(name)
        if info is not None and info.refs:
            items = value if isinstance(value, list) else [value]
            shown = ", ".join(_ref_label(store, str(item)) for item in items)
        elif isinstance(value, list):
            shown = ", ".join(_display(item) for item in value)
        elif isinstance(value, dict):
            shown = dumps(value, indent=None)
        else:
            shown = _display(value)
        lines.append(f"  {name:<{width}}  {shown}")
    lines.append(
        f"  {'created':<{width}}  {data.get('created_at')} by {data.get('created_by') or '?'}"
    )
    lines.append(f"  {'updated':<{width}}  {data.get('updated_at')}")
    return "\n".join(lines)


def record_line(record: Record) -> str:
    """One line for lists: id, label, then the record's vocabulary values and dates."""
    from fieldrm.models import KINDS, kind_info

    data = record.to_json()
    kind = data.get("kind", "?")
    label = one_line(record.label)
    if len(label) > 70:
        label = label[:69] + "…"
    extras = []
    if kind in KINDS:
        for name, info in kind_info(kind).fields.items():
            value = data.get(name)
            if value in (None, "", []):
                continue
            if info.choices:
                extras.append(str(value))
            elif info.value_type == "date":
                extras.append(f"{name} {value}")
    if data.get("deleted"):
        extras.append("deleted")
    prefix = f"{data.get('id')}  {kind:<11} {label}"
    return prefix + (f"  [{', '.join(extras)}]" if extras else "")
