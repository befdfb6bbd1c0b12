"""`fieldrm ladder set|show`, `escalate`, `escalations` (SPEC §11): escalation ladders."""

from __future__ import annotations

from typing import Annotated

import typer

from fieldrm.cli.options import JsonFlag
from fieldrm.cli.output import open_store, print_json, print_written
from fieldrm.errors import InvalidInput

ladder_app = typer.Typer(help="Escalation ladders: who to escalate to, level by level.")


@ladder_app.command("set")
def ladder_set(
    vendor: Annotated[str, typer.Option("--vendor", help="Vendor name or id prefix.")],
    level: Annotated[str, typer.Option("--level", help="1 (first) to 5 (top).")],
    within: Annotated[str, typer.Option("--within", help="Response target: 4h, 2d.")],
    program: Annotated[str | None, typer.Option("--program", help="Only this program.")] = None,
    contact: Annotated[str | None, typer.Option("--contact", help="A contact.")] = None,
    role: Annotated[str | None, typer.Option("--role", help="Or a role.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Set one level of a vendor's ladder (again: changes it); prints its id."""
    from fieldrm.relationships import parse_hours, set_ladder_step

    if not level.strip().isdigit():
        raise InvalidInput(f"--level must be 1 to 5, not {level!r}")
    hours = parse_hours(within)
    with open_store() as store:
        record = set_ladder_step(
            store,
            store.resolve(vendor, ["vendor"]).id,
            int(level),
            hours,
            program_id=store.resolve(program, ["program"]).id if program else None,
            contact_id=store.resolve(contact, ["contact"]).id if contact else None,
            role=role,
        )
    print_written(record, as_json)


@ladder_app.command("show")
def ladder_show(
    vendor: Annotated[str, typer.Option("--vendor", help="Vendor name or id prefix.")],
    program: Annotated[
        str | None, typer.Option("--program", help="As this program sees it.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The vendor's ladder, level by level."""
    from fieldrm.store.relationships import ladder_steps, step_name

    with open_store() as store:
        vendor_id = store.resolve(vendor, ["vendor"]).id
        program_id = store.resolve(program, ["program"]).id if program else None
        steps = ladder_steps(store, vendor_id, program_id)
        rows = [
            {
                "id": step.id,
                "level": step.level,
                "contact_id": step.contact_id,
                "role": step.role,
                "to": step_name(store, step),
                "respond_within_hours": step.respond_within_hours,
                "program_id": step.program_id,
            }
            for step in steps
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        print("no ladder (set one: fieldrm ladder set --vendor V --level 1 --role … --within 4h)")
    for row in rows:
        print(f"{row['level']}  {row['to']}  within {row['respond_within_hours']:g}h")


def escalate(
    question: Annotated[str, typer.Argument(help="Question id prefix.")],
    note: Annotated[str | None, typer.Option("--note", help="Why, for the record.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Escalate a question one level up its vendor's ladder; prints its id."""
    from fieldrm.relationships import escalate_up

    with open_store() as store:
        record = escalate_up(store, store.resolve(question, ["question"]).id, note)
    print_written(record, as_json)


def escalations(
    overdue: Annotated[bool, typer.Option("--overdue", help="Only those past due.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Open escalations: level, to whom, when, due, overdue, who is next."""
    from fieldrm.store.relationships import escalations as find

    with open_store() as store:
        rows = [item.to_json() for item in find(store, overdue_only=overdue)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        print("no open escalations")
    for row in rows:
        late = "  OVERDUE" if row["overdue"] else ""
        print(
            f"L{row['level'] or '-'} {row['text']}  to {row['to'] or '-'}  "
            f"due {row['due_at'] or '-'}{late}  {row['question_id'][:8]}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(ladder_app, name="ladder")
    app.command()(escalate)
    app.command()(escalations)
