"""`fieldrm cadence set` and `fieldrm coverage` (SPEC §11): who should be met how often."""

from __future__ import annotations

from typing import Annotated

import typer

from fieldrm.cli.options import JsonFlag
from fieldrm.cli.output import open_store, print_json, print_written

cadence_app = typer.Typer(help="How often each role should be met.")


@cadence_app.command("set")
def cadence_set(
    role: Annotated[str, typer.Option("--role", help="The role (program_manager …).")],
    every: Annotated[str, typer.Option("--every", help="14d, 2w or a number of days.")],
    site: Annotated[str | None, typer.Option("--site", help="Only this site.")] = None,
    required: Annotated[
        bool, typer.Option("--required", help="A site must have someone in this role.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Set how often a role should be met (again: changes it); prints its id."""
    from fieldrm.relationships import parse_days, set_cadence

    days = parse_days(every)
    with open_store() as store:
        site_id = store.resolve(site, ["site"]).id if site else None
        record = set_cadence(store, role, days, site_id=site_id, required=required)
    print_written(record, as_json)


def coverage(
    site: Annotated[str | None, typer.Option("--site", help="Only this site.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Roles a site is missing and the people overdue a meeting by their role's cadence."""
    from fieldrm.store.relationships import coverage as build

    with open_store() as store:
        report = build(store, store.resolve(site, ["site"]).id if site else None)
    if as_json:
        print_json(report)
        return
    print(f"Missing roles ({len(report['missing_roles'])})")
    for row in report["missing_roles"] or [None]:
        print(f"  {row['site']}: {row['role']}" if row else "  none")
    print(f"Overdue a meeting ({len(report['overdue'])})")
    for row in report["overdue"] or [None]:
        if row is None:
            print("  none")
            continue
        met = (row["last_met"] or "never")[:10]
        print(
            f"  {row['contact']} ({row['role']}, {row['site'] or '-'})"
            f"  last met {met}  due {row['due']}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(cadence_app, name="cadence")
    app.command()(coverage)
