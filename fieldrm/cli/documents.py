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

from fieldrm.cli.options import JsonFlag
from fieldrm.cli.output import open_store, print_json
from fieldrm.errors import FieldrmError, InvalidInput

OutputOption = Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE.")]


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    from fieldrm.models import local_today, parse_due

    try:
        return parse_due(text, local_today())
    except (ValueError, OverflowError):
        raise InvalidInput(f"{option}: not a date: {text!r} (use 2026-12-01)") from None


def emit(data: str | bytes, output: Path | None) -> None:
    """A document to FILE or stdout; a binary one (a PDF) never to a terminal."""
    if output is None:
        if isinstance(data, str):
            sys.stdout.write(data if data.endswith("\n") or not data else data + "\n")
            return
        if sys.stdout.isatty():
            raise InvalidInput("a PDF is not for the terminal: give -o FILE")
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        return
    try:
        if isinstance(data, str):
            output.write_text(data, encoding="utf-8")
        else:
            output.write_bytes(data)
    except OSError as error:
        raise FieldrmError(f"cannot write {output}: {error.strerror or error}") from None


def export_visit_pdf(visit: str, output: Path | None) -> None:
    """`fieldrm export visit ID --format pdf`."""
    from fieldrm.pdf import visit_pdf

    with open_store() as store:
        found = store.resolve(visit, ["visit"])
        data = visit_pdf(store, found.id)
    emit(data, output)


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
    emit(data, output)


def me(
    name: Annotated[
        str | None, typer.Option("--name", help="Your name as documents print it.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Who you are on this device: your login and the name reports and packs print."""
    from fieldrm.notebook import display_name, set_display_name

    with open_store() as store:
        if name is not None:
            if not name.strip():
                raise InvalidInput("--name needs a name")
            set_display_name(store, name)
        shown = {"user": store.user, "display_name": display_name(store)}
    if as_json:
        print_json(shown)
    else:
        print(f"{shown['display_name'] or '(no display name: fieldrm me --name …)'}"
              f"  ({shown['user']})")  # fmt: skip


def import_contacts_command(file: str, *, dry_run: bool, as_json: bool, region: str | None) -> None:
    """`fieldrm import contacts FILE.vcf|FILE.csv [--dry-run] [--json]`."""
    from fieldrm.contacts_io import import_contacts, read_file

    data, fmt = read_file(file)
    if region is not None:
        import phonenumbers

        if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidInput(f"--region {region!r} is not a country code (IN, PH, PK, CO …)")
        region = region.upper()
    with open_store() as store:
        summary = import_contacts(store, data, fmt, dry_run=dry_run, region=region, source=file)
    if as_json:
        print_json(summary)
        return
    verb = "would import" if dry_run else "imported"
    print(f"{verb}: {summary['new']} new, {summary['matched']} matched, "
          f"{summary['updated']} updated, {len(summary['skipped'])} skipped")  # fmt: skip
    for match in summary["matches"]:
        if match["by"] == "id" and not match["updates"]:
            continue  # the contact itself, unchanged: nothing to tell
        print(f"  line {match['line']}: {match['name']} = {match['contact']} ({match['by']})")
    for skipped in summary["skipped"]:
        print(f"  line {skipped['line']}: skipped, {skipped['reason']}")


def export_contacts_command(
    fmt: Annotated[str, typer.Option("--format", help="vcf or csv.")] = "vcf",
    output: OutputOption = None,
) -> None:
    """Every contact as vCards or CSV (both import again with `fieldrm import contacts`)."""
    from fieldrm.contacts_io import export_contacts

    if fmt not in ("vcf", "csv"):
        raise InvalidInput(f"unknown format {fmt!r} (vcf or csv)")
    with open_store() as store:
        text = export_contacts(store, fmt)
    emit(text, output)


def merge(
    contact: Annotated[str, typer.Argument(help="The contact to merge away: name or id prefix.")],
    keep: Annotated[str, typer.Argument(help="The contact to keep: name or id prefix.")],
    as_json: JsonFlag = False,
) -> None:
    """Merge CONTACT into KEEP: every reference moves to KEEP, CONTACT is deleted; it syncs."""
    from fieldrm.cli.output import print_written
    from fieldrm.notebook import merge_contacts

    with open_store() as store:
        kept = merge_contacts(store, contact, keep)
    print_written(kept, as_json)


def export_ics(output: OutputOption = None) -> None:
    """Visits (planned and held) and open actions with due dates as an iCalendar file;
    UIDs are stable, so importing it again updates the events."""
    from fieldrm.calendar_io import calendar_ics

    with open_store() as store:
        text = calendar_ics(store)
    emit(text, output)


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add the §12 commands to `app` and its `export` group."""
    export_app.command("pack")(export_pack)
    export_app.command("contacts")(export_contacts_command)
    export_app.command("ics")(export_ics)
    app.command()(me)
    app.command()(merge)
