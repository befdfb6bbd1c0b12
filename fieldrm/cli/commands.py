"""The commands of `fieldrm` (SPEC §4) as one Typer app; sync and server: sync.py.

`fieldrm.cli.main` runs them.  The options of `add KIND` are built from
`models.kind_info`, so a field declared in models.py is an option here without restating
it.  Every error, from the store, the models or the option parser, reaches the user as one
line on stderr from `main` (the one place they are caught), with a non-zero exit.

Imports stay lazy: a command imports the store, capture, report or app only when it runs.
The two commands an RM runs all day, `fieldrm` alone and `fieldrm capture`, have their
bodies in hot.py; `main` runs them without importing this module when their command line
has the plain shape (SPEC §10: a capture in ≤ 0.3 s).
"""

from __future__ import annotations

import inspect
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fieldrm.cli.hot import capture_command, open_app
from fieldrm.cli.output import (
    dumps,
    one_line,
    open_store,
    print_record,
    print_records,
    print_written,
    record_line,
)
from fieldrm.errors import FieldrmError, InvalidInput
from fieldrm.models import VisitType

if TYPE_CHECKING:
    from fieldrm.models import FieldInfo
    from fieldrm.store import Store

app = typer.Typer(
    name="fieldrm",
    help="Offline-first field notebook for relationship managers. No command: open the app.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
add_app = typer.Typer(help="Create a record of one kind (see `fieldrm add KIND --help`).")
visit_app = typer.Typer(help="Start or end a visit (floor walk, site visit, review, audit).")
export_app = typer.Typer(help="Export a visit report or every record.")
app.add_typer(add_app, name="add")
app.add_typer(visit_app, name="visit")
app.add_typer(export_app, name="export")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (fields as in SPEC §2).")]


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context) -> None:
    """Offline-first field notebook for relationship managers. No command: open the app."""
    if ctx.invoked_subcommand is None:
        open_app()


# ---------------------------------------------------------------- value conversion


def _field_value(store: Store, field: FieldInfo, text: str) -> Any:
    """What the user typed for one field, as the model takes it (names become ids)."""
    from fieldrm.models import local_today, parse_due

    text = text.strip()
    if text == "":
        return None
    if field.refs:
        return store.resolve(text, field.refs).id
    if field.value_type == "date":
        try:
            return parse_due(text, local_today())
        except ValueError as error:
            raise InvalidInput(f"{field.name}: {error}") from None
    return text


def _field_named(kind: str, name: str) -> FieldInfo:
    """A kind's field by its name (`owner_id`) or its option (`owner`, `reports-to`)."""
    from fieldrm.models import kind_info

    info = kind_info(kind)
    wanted = name.strip().lstrip("-")
    for field in info.fields.values():
        if wanted in (field.name, field.option, field.option.replace("-", "_")):
            return field
    known = ", ".join(field.option for field in info.fields.values())
    raise InvalidInput(f"{kind} has no field {wanted!r} (fields: {known})")


def _pairs(items: list[str] | None, option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"{option} takes field=value, not {item!r}")
        pairs.append((name.strip(), value))
    return pairs


def _kind(kind: str) -> str:
    from fieldrm.models import KINDS, USER_KINDS

    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r} (one of {', '.join(USER_KINDS)})")
    return kind


# ---------------------------------------------------------------- add KIND


def _option_help(field: FieldInfo) -> str:
    from fieldrm.models import label

    parts = []
    if field.refs:
        parts.append(f"name or id prefix: {' or '.join(field.refs)}")
    if field.choices:
        parts.append("one of: " + ", ".join(field.choices))
    if field.value_type == "date":
        parts.append("date: 2026-12-01, fri, +3d, tomorrow")
    elif field.value_type == "datetime":
        parts.append("ISO 8601 date and time")
    elif field.value_type == "int":
        parts.append("a whole number")
    if field.is_set:
        parts.append("repeat for several")
    return "; ".join(parts) or label(field.name)


def _metavar(field: FieldInfo) -> str:
    if field.refs:
        return "NAME"
    if field.choices:
        return "CHOICE"
    return {"date": "DATE", "datetime": "TIME", "int": "N"}.get(field.value_type, "TEXT")


def _add_command(kind: str) -> Any:
    """A Typer command for `add KIND` whose options are the kind's fields."""
    from fieldrm.models import kind_info

    fields = kind_info(kind).fields
    parameters = []
    for name, field in fields.items():
        option = typer.Option(
            f"--{field.option}",
            help=_option_help(field),
            show_default=False,
            metavar=_metavar(field),
        )
        annotation = Annotated[list[str] | None if field.is_set else str | None, option]
        default = ... if field.required else None
        parameters.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )
    parameters.append(
        inspect.Parameter(
            "as_json", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonFlag
        )
    )

    def add_kind(**typed: Any) -> None:
        as_json = typed.pop("as_json")
        with open_store() as store:
            values: dict[str, Any] = {}
            for name, raw in typed.items():
                if raw is None:
                    continue
                field = fields[name]
                if field.is_set:
                    values[name] = [_field_value(store, field, item) for item in raw]
                else:
                    values[name] = _field_value(store, field, raw)
            record = store.create(kind, values)
        print_written(record, as_json)

    add_kind.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    add_kind.__annotations__ = {p.name: p.annotation for p in parameters}
    add_kind.__name__ = f"add_{kind}"
    article = "an" if kind[0] in "aeiou" else "a"
    add_kind.__doc__ = f"Create {article} {kind}; print its id (or the record with --json)."
    return add_kind


def _register_add_commands() -> None:
    from fieldrm.models import USER_KINDS

    for kind in USER_KINDS:
        add_app.command(kind)(_add_command(kind))


# ---------------------------------------------------------------- commands


@app.command()
def demo() -> None:
    """Load a realistic demo data set (idempotent: running it again adds nothing)."""
    from fieldrm.demo import load_demo

    with open_store() as store:
        created = load_demo(store)
    print(f"demo data: {created} records created" if created else "demo data already loaded")


@app.command()
def capture(
    text: Annotated[
        str,
        typer.Argument(
            help="One line: #category/#tag !severity @contact ^due, '? ' question, '> ' action."
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Quick capture (SPEC §3): one line becomes an observation, question or action."""
    capture_command(text, as_json)


@visit_app.command("start")
def visit_start(
    site: Annotated[str, typer.Option("--site", help="Name or id prefix of the site.")],
    visit_type: Annotated[
        str | None,
        typer.Option("--type", help=f"One of: {', '.join(VisitType)}."),
    ] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="Why you are there.")] = None,
    attendee: Annotated[
        list[str] | None,
        typer.Option("--attendee", help="Name or id prefix of a contact; repeat for several."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Start a visit; captures made while it is open are filed under it."""
    from fieldrm.models import kind_info
    from fieldrm.notebook import start_visit

    fields = kind_info("visit").fields
    with open_store() as store:
        record = start_visit(
            store,
            _field_value(store, fields["site_id"], site),
            visit_type=visit_type,
            purpose=purpose,
            attendees=[_field_value(store, fields["attendees"], a) for a in attendee or []],
        )
    print_written(record, as_json)


@visit_app.command("end")
def visit_end(
    summary: Annotated[str | None, typer.Option("--summary", help="How it went.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """End the open visit."""
    from fieldrm.notebook import end_visit

    with open_store() as store:
        record = end_visit(store, summary=summary)
    print_written(record, as_json)


@app.command("list")
def list_records(
    kind: Annotated[
        str,
        typer.Argument(
            help="vendor, site, program, contact, visit, observation, question, action or conflict."
        ),
    ],
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="field=value (names work for references); repeat."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N.")] = None,
    deleted: Annotated[bool, typer.Option("--deleted", help="Include deleted.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List the records of one kind, most recently changed first."""
    kind = _kind(kind)
    with open_store() as store:
        conditions: dict[str, Any] = {}
        for name, raw in _pairs(where, "--where"):
            if name in ("id", "created_by"):
                conditions[name] = raw
                continue
            field = _field_named(kind, name)
            value = _field_value(store, field, raw)
            if field.value_type == "int" and value is not None:
                value = _as_int(field.name, value)
            conditions[field.name] = value.isoformat() if isinstance(value, date) else value
        records = store.list(kind, where=conditions, limit=limit, include_deleted=deleted)
    print_records(records, as_json)


def _as_int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{name}: not a whole number: {text!r}") from None


@app.command()
def show(
    record: Annotated[str, typer.Argument(help="Id, unique id prefix or exact name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one record."""
    with open_store() as store:
        found = store.resolve(record)
        print_record(found, as_json, store)


@app.command()
def edit(
    record: Annotated[str, typer.Argument(help="Id, unique id prefix or exact name.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="field=value (empty clears); repeat.")
    ] = None,
    add: Annotated[
        list[str] | None, typer.Option("--add", help="set field=element to add; repeat.")
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="set field=element to remove; repeat.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change fields of a record (sets: --add/--remove one element at a time)."""
    if not (set_ or add or remove):
        raise InvalidInput("nothing to change: give --set, --add or --remove")
    with open_store() as store, store.transaction():
        target = store.resolve(record)
        kind = target.kind
        values: dict[str, Any] = {}
        for name, raw in _pairs(set_, "--set"):
            field = _field_named(kind, name)
            if field.is_set:
                raise InvalidInput(f"{field.name} is a set: use --add/--remove")
            values[field.name] = _field_value(store, field, raw)
        changes: dict[str, dict[str, list[Any]]] = {"--add": {}, "--remove": {}}
        for option, items in (("--add", add), ("--remove", remove)):
            for name, raw in _pairs(items, option):
                field = _field_named(kind, name)
                if not field.is_set:
                    raise InvalidInput(f"{field.name} is not a set: use --set")
                if raw.strip() == "":
                    raise InvalidInput(f"{option} {field.name}= needs an element")
                element = _set_element(store, target, field, raw, option)
                changes[option].setdefault(field.name, []).append(element)
        updated = store.update(
            target.id, set=values, add=changes["--add"], remove=changes["--remove"]
        )
    print_written(updated, as_json)


def _set_element(store: Store, target: Any, field: FieldInfo, raw: str, option: str) -> str:
    """An element to add or remove; a reference is resolved, or matched among current ids."""
    if not field.refs:
        return raw.strip()
    if option == "--remove":
        # Removing an id that no longer resolves (a record this device never received).
        current = getattr(target, field.name, []) or []
        matches = [item for item in current if item.startswith(raw.strip().lower())]
        if len(matches) == 1 and len(raw.strip()) >= 4:
            return matches[0]
    return _field_value(store, field, raw)


@app.command()
def delete(
    record: Annotated[str, typer.Argument(help="Id, unique id prefix or exact name.")],
    as_json: JsonFlag = False,
) -> None:
    """Delete a record (a tombstone that syncs); prints its id."""
    from fieldrm.notebook import delete_entry

    with open_store() as store, store.transaction():
        deleted = delete_entry(store, store.resolve(record).id)
    print_written(deleted, as_json)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words; the last may be a prefix.")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most N.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Full-text search over every kind."""
    with open_store() as store:
        records = store.search(query, limit=limit)
    print_records(records, as_json)


@export_app.command("visit")
def export_visit(
    visit: Annotated[str, typer.Argument(help="Visit id or unique id prefix.")],
    fmt: Annotated[str, typer.Option("--format", help="md, json, csv or pdf.")] = "md",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE.")] = None,
) -> None:
    """A visit report: attendees, observations, questions, actions."""
    from fieldrm.report import visit_report

    if fmt == "pdf":
        from fieldrm.cli.documents import export_visit_pdf

        export_visit_pdf(visit, output)
        return
    if fmt not in ("md", "json", "csv"):
        raise InvalidInput(f"unknown format {fmt!r} (md, json, csv or pdf)")
    with open_store() as store:
        found = store.resolve(visit, ["visit"])
        text = visit_report(store, found.id, fmt)
    _emit(text, output)


@export_app.command("all")
def export_all(
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE.")] = None,
) -> None:
    """Every record, deleted ones too, as JSON lines (a full backup; `fieldrm import` reads it)."""
    with open_store() as store:
        lines = [dumps(record, indent=None) for record in store.export_all()]
    _emit("".join(line + "\n" for line in lines), output)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise FieldrmError(f"cannot write {output}: {error.strerror or error}") from None


@app.command("import")
def import_records(
    file: Annotated[str, typer.Argument(help="JSON lines or a JSON array; - reads stdin.")],
    contacts_file: Annotated[
        str | None, typer.Argument(help="With `contacts`: a .vcf or .csv file.", show_default=False)
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Contacts: report, write nothing.")
    ] = False,
    as_json: JsonFlag = False,
    region: Annotated[
        str | None, typer.Option("--region", help="Contacts: phones' default country (IN, PH).")
    ] = None,
) -> None:
    """Import records (creates new ids, updates existing ones); all or nothing.
    `fieldrm import contacts FILE.vcf|FILE.csv` imports contacts (SPEC §12)."""
    if file == "contacts" and contacts_file is not None:
        from fieldrm.cli.documents import import_contacts_command

        import_contacts_command(contacts_file, dry_run=dry_run, as_json=as_json, region=region)
        return
    if contacts_file is not None:
        raise InvalidInput(
            f"unexpected argument {contacts_file!r} (import FILE, or import contacts FILE)"
        )
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FieldrmError(
            f"cannot read {file}: {getattr(error, 'strerror', None) or error}"
        ) from None
    records = parse_records(text)
    from fieldrm.cli.progress import progress_bar

    with open_store() as store, progress_bar(as_json=as_json) as bar:
        created, updated = store.import_records(
            records, progress=lambda done, total: bar("import", done, total)
        )
    total = created + updated
    print(
        f"imported {total} record{'' if total == 1 else 's'}: {created} created, {updated} updated"
    )


def parse_records(text: str) -> list[Any]:
    """Records from a JSON array (`list --json`) or JSON lines (`export all`)."""
    import json

    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInput(f"not a JSON array: {error.msg} (line {error.lineno})") from None
        if not isinstance(records, list):
            raise InvalidInput("expected a JSON array of records")
        return records
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise InvalidInput(
                f"line {number} is not JSON: {error.msg}; nothing imported"
            ) from None
    return records


@app.command()
def today() -> None:
    """Today's work: the open or next visit, open questions, actions due, recent notes."""
    with open_store() as store:
        print(today_text(store))


def today_text(store: Store) -> str:
    """Today's work as plain text: the same summary the app's Today screen shows."""
    from fieldrm.models import format_timestamp, local_today, now_utc
    from fieldrm.notebook import visit_title
    from fieldrm.store.queries import today_summary

    summary = today_summary(store)
    lines: list[str] = []
    visit = summary.visit
    if visit is None:
        lines.append("No visit open or planned (start one: fieldrm visit start --site SITE)")
    else:
        state = "Open visit" if visit.started_at <= now_utc() else "Next visit"
        lines.append(f"{state}: {visit_title(store, visit)}  {visit.id}")

    def section(title: str, records: list[Any], total: int | None = None) -> None:
        count = len(records) if total is None else total
        lines.extend(["", f"{title} ({count})"])
        lines.extend("  " + record_line(record) for record in records)
        if not records:
            lines.append("  none")
        elif count > len(records):
            lines.append(f"  … and {count - len(records)} more (fieldrm list {records[0].kind})")

    today = local_today()
    overdue = [action for action in summary.actions_due if action.due < today]
    due_soon = [action for action in summary.actions_due if action.due >= today]
    section("Overdue actions", overdue)
    section("Actions due soon", due_soon)
    section("Open and escalated questions", summary.open_questions, summary.open_question_count)
    lines.extend(["", f"Not met for a while ({len(summary.contacts_not_met)})"])
    for contact, last in summary.contacts_not_met:
        lines.append(f"  {contact.label}  last met {str(last)[:10] if last else 'never'}")
    if not summary.contacts_not_met:
        lines.append("  none")
    section("Recent observations", summary.recent_observations)
    lines += _relationship_lines(store)
    pending = store.pending_count()
    lines.extend(["", f"As of {format_timestamp(now_utc())}; {pending} changes not yet synced."])
    return "\n".join(lines)


def _relationship_lines(store: Store) -> list[str]:
    """Today's §11 panels, as the app's Today shows them: KPIs off target in their latest
    period (red first) and escalations past their response time."""
    from fieldrm.models import parse_timestamp
    from fieldrm.store.relationships import relationship_today

    summary = relationship_today(store)
    lines = ["", f"KPIs off target ({len(summary.kpis_off_target)})"]
    for item in summary.kpis_off_target:
        latest = item.latest or {}
        lines.append(
            f"  {item.status:<6} {item.kpi.name}  {latest.get('value', 0):g} in "
            f"{latest.get('period', '-')}, target {item.kpi.target:g}  {item.program}".rstrip()
        )
    if not summary.kpis_off_target:
        lines.append("  every KPI on target")
    lines += ["", f"Escalations overdue ({len(summary.overdue_escalations)})"]
    for escalation in summary.overdue_escalations:
        due = escalation.due_at
        when = parse_timestamp(due).astimezone().strftime("%Y-%m-%d %H:%M") if due else "-"
        lines.append(
            f"  L{escalation.level or '-'}  {one_line(escalation.question.text)}  to "
            f"{escalation.to or '-'}, due {when}"
            + (f"  next: {escalation.next}" if escalation.next else "")
        )
    if not summary.overdue_escalations:
        lines.append("  none past its response time")
    return lines


# ---------------------------------------------------------------- the app, built per run


_registered: set[str] = set()


def build_app(args: list[str]) -> typer.Typer:
    """The app with every command; the eight `add KIND` commands are built from the models
    only when `add` runs (building them costs every other command ~20 ms of start-up)."""
    if "sync" not in _registered:
        from fieldrm.cli import sync

        sync.register(app)
        _registered.add("sync")
    if "documents" not in _registered:  # SPEC §12: PDF, contacts in and out, merge, ICS
        from fieldrm.cli import documents

        documents.register(app, export_app)
        _registered.add("documents")
    if "relationships" not in _registered:  # SPEC §11
        from fieldrm.cli import coverage, kpi, ladder, reviews

        kpi.register(app)
        reviews.register(app, visit_app)
        ladder.register(app)
        coverage.register(app)
        _registered.add("relationships")
    if args[:1] == ["add"] and "add" not in _registered:
        _register_add_commands()
        _registered.add("add")
    return app
