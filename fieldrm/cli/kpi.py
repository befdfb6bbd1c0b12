"""`fieldrm kpi add|record|import|show` (SPEC §11): a program's KPIs and their values."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from fieldrm.cli.options import JsonFlag
from fieldrm.cli.output import open_store, print_json, print_written
from fieldrm.errors import FieldrmError

kpi_app = typer.Typer(help="KPIs with targets: add, record values, import CSV, show status.")


@kpi_app.command("add")
def kpi_add(
    program: Annotated[str, typer.Option("--program", help="Program name or id prefix.")],
    name: Annotated[str, typer.Option("--name", help="The KPI's name (AHT, FCR, CSAT …).")],
    direction: Annotated[str, typer.Option("--direction", help="higher_better or lower_better.")],
    target: Annotated[str, typer.Option("--target", help="The target value.")],
    unit: Annotated[
        str | None, typer.Option("--unit", help="percent, seconds, count, ratio or currency.")
    ] = None,
    red: Annotated[str | None, typer.Option("--red", help="At or beyond this: red.")] = None,
    sla: Annotated[bool, typer.Option("--sla", help="A contractual SLA.")] = False,
    notes: Annotated[str | None, typer.Option("--notes", help="Notes.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a KPI to a program; prints its id."""
    with open_store() as store:
        values = {
            "program_id": store.resolve(program, ["program"]).id,
            "name": name,
            "direction": direction,
            "target": target,
            "unit": unit,
            "red": red,
            "sla": sla,
            "notes": notes,
        }
        record = store.create("kpi", {k: v for k, v in values.items() if v is not None})
    print_written(record, as_json)


@kpi_app.command("record")
def kpi_record(
    kpi: Annotated[str, typer.Argument(help="KPI id prefix or exact name.")],
    period: Annotated[str, typer.Option("--period", help="2026-10, 2026-W48 or a date.")],
    value: Annotated[str, typer.Option("--value", help="The value for the period.")],
    source: Annotated[str | None, typer.Option("--source", help="Where it came from.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="A note.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record a KPI's value for a period (again: changes it); prints its id."""
    from fieldrm.relationships import record_kpi_value

    with open_store() as store:
        found = store.resolve(kpi, ["kpi"])
        record = record_kpi_value(store, found.id, period, value, source=source, note=note)
    print_written(record, as_json)


@kpi_app.command("import")
def kpi_import(
    file: Annotated[str, typer.Argument(help="CSV: program,kpi,period,value[,source]; - stdin.")],
) -> None:
    """Import KPI values from CSV; all or nothing, and importing again changes nothing."""
    from fieldrm.relationships import import_kpi_csv

    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FieldrmError(
            f"cannot read {file}: {getattr(error, 'strerror', None) or error}"
        ) from None
    with open_store() as store:
        created, updated, unchanged = import_kpi_csv(store, text)
    print(f"kpi values: {created} created, {updated} updated, {unchanged} unchanged")


@kpi_app.command("show")
def kpi_show(
    program: Annotated[str | None, typer.Option("--program", help="Only this program.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Each KPI with its latest value, status (green/amber/red) and 6-period trend."""
    from fieldrm.store.relationships import kpi_statuses

    with open_store() as store:
        programs = [store.resolve(program, ["program"]).id] if program else None
        items = [item.to_json() for item in kpi_statuses(store, programs)]
    if as_json:
        print_json(items)
        return
    if not items:
        print("no KPIs (add one: fieldrm kpi add --program P --name AHT …)")
    for item in items:
        latest = item["latest"]
        now = f"{latest['value']:g} ({latest['period']})" if latest else "no value"
        trend = " ".join(f"{point['value']:g}" for point in item["trend"])
        print(
            f"{item['program']:<20} {item['name']:<12} {item['status'] or '-':<6} {now:<20} "
            f"target {item['target']:g}  trend {trend}  {item['id'][:8]}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(kpi_app, name="kpi")
