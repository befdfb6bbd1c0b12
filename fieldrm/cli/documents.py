"""The document and interchange commands of SPEC §12: the PDF visit report and client pack,
contacts in (vCard, CSV) and out, merging two contacts, the calendar, and the RM's display
name; `commands.build_app` registers them.

Each imports its library only when it runs (fpdf2, vobject, phonenumbers, rapidfuzz), so
the rest of the command line starts as fast as before.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from fieldrm.cli.output import open_store, print_json
from fieldrm.errors import FieldrmError, InvalidInput

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
OutputOption = Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE.")]


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    from fieldrm.models import local_today, parse_due

    try:
        return parse_due(text, local_today())
    except (ValueError, OverflowError):
        raise InvalidInput(f"{option}: not a date: {text!r} (use 2026-12-01)") from None


def emit_bytes(data: bytes, output: Path | None) -> None:
    """A binary document to FILE, or to stdout when it is not a terminal."""
    if output is None:
        if sys.stdout.isatty():
            raise InvalidInput("a PDF is not for the terminal: give -o FILE")
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        return
    try:
        output.write_bytes(data)
    except OSError as error:
        raise FieldrmError(f"cannot write {output}: {error.strerror or error}") from None


def export_visit_pdf(visit: str, output: Path | None) -> None:
    """`fieldrm export visit ID --format pdf`."""
    from fieldrm.pdf import visit_pdf

    with open_store() as store:
        found = store.resolve(visit, ["visit"])
        data = visit_pdf(store, found.id)
    emit_bytes(data, output)


def export_pack(
    vendor: Annotated[str, typer.Option("--vendor", help="The vendor: name or id prefix.")],
    start: Annotated[str | None, typer.Option("--from", help="First day (2026-09-01).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (2026-11-30).")] = None,
    output: OutputOption = None,
) -> None:
    """A client pack (PDF): the vendor's visits in the period, each with its observations,
    questions and actions."""
    first, last = _date(start, "--from"), _date(end, "--to")
    if first and last and first > last:
        raise InvalidInput(f"--from {first} is after --to {last}")
    from fieldrm.pdf import pack_pdf

    with open_store() as store:
        found = store.resolve(vendor, ["vendor"])
        data = pack_pdf(store, found.id, start=first, end=last)
    emit_bytes(data, output)


def me(
    name: Annotated[
        str | None, typer.Option("--name", help="Your name as documents print it.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Who you are on this device: your login and the name reports and packs print."""
    from fieldrm.report import DISPLAY_NAME

    with open_store() as store:
        if name is not None:
            cleaned = " ".join(name.split())
            if not cleaned:
                raise InvalidInput("--name needs a name")
            store.set_state(DISPLAY_NAME, cleaned)
        shown = {"user": store.user, "display_name": store.get_state(DISPLAY_NAME)}
    if as_json:
        print_json(shown)
    else:
        print(f"{shown['display_name'] or '(no display name: fieldrm me --name …)'}"
              f"  ({shown['user']})")  # fmt: skip


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add the §12 commands to `app` and its `export` group."""
    export_app.command("pack")(export_pack)
    app.command()(me)
