"""`fieldrm visit plan` and `fieldrm agenda` (SPEC §11): review meetings and their agenda."""

from __future__ import annotations

from typing import Annotated

import typer

from fieldrm.cli.options import JsonFlag
from fieldrm.cli.output import open_store, print_json
from fieldrm.errors import InvalidInput


def visit_plan(
    site: Annotated[str, typer.Option("--site", help="Site name or id prefix.")],
    at: Annotated[str, typer.Option("--at", help="When: 2026-12-07T10:00 (local time).")],
    visit_type: Annotated[
        str | None, typer.Option("--type", help="floor_walk, site_visit, review_meeting, audit.")
    ] = None,
    review: Annotated[
        str | None, typer.Option("--review", help="weekly_ops, monthly_performance or qbr.")
    ] = None,
    vendor: Annotated[str | None, typer.Option("--vendor", help="The vendor reviewed.")] = None,
    program: Annotated[str | None, typer.Option("--program", help="The program reviewed.")] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="What it is for.")] = None,
    every: Annotated[str | None, typer.Option("--every", help="Repeat: 1w, 2w, 1m or 3m.")] = None,
    count: Annotated[str, typer.Option("--count", help="How many meetings of the series.")] = "1",
    as_json: JsonFlag = False,
) -> None:
    """Plan a visit, or a recurring series of review meetings; prints their ids."""
    from fieldrm.relationships import plan_visits

    if not count.strip().isdigit():
        raise InvalidInput(f"--count takes a whole number, not {count!r}")
    with open_store() as store:
        planned = plan_visits(
            store,
            store.resolve(site, ["site"]).id,
            at,
            visit_type=visit_type,
            review=review,
            vendor_id=store.resolve(vendor, ["vendor"]).id if vendor else None,
            program_id=store.resolve(program, ["program"]).id if program else None,
            purpose=purpose,
            every=every,
            count=int(count),
        )
    if as_json:
        print_json([record.to_json() for record in planned])
    else:
        for record in planned:
            print(record.id)


def agenda(
    vendor: Annotated[str | None, typer.Option("--vendor", help="Vendor name or id.")] = None,
    program: Annotated[str | None, typer.Option("--program", help="Program name or id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """A review's agenda, built from the records: carried-over actions, escalations, KPIs
    off target, people overdue a meeting, open questions."""
    from fieldrm.store.relationships import agenda as build_agenda

    if bool(vendor) == bool(program):
        raise InvalidInput("give --vendor or --program")
    with open_store() as store:
        program_id = store.resolve(program, ["program"]).id if program else None
        if program_id:
            site_id = (store.get_raw(program_id) or {}).get("site_id")
            vendor_id = (store.get_raw(site_id) or {}).get("vendor_id") if site_id else None
            if not vendor_id:
                raise InvalidInput("that program's site has no vendor")
        else:
            vendor_id = store.resolve(vendor, ["vendor"]).id
        items = build_agenda(store, vendor_id=vendor_id, program_id=program_id)
    if as_json:
        print_json(items)
        return
    print(agenda_text(items))


def agenda_text(items: dict) -> str:
    """The agenda as plain text, in the order a review goes through it."""
    lines: list[str] = []

    def section(title: str, rows: list[str]) -> None:
        lines.extend([f"{title} ({len(rows)})", *(f"  {row}" for row in rows or ["none"]), ""])

    carried = items["carried_over"]
    section(
        "Carried over: theirs",
        [
            f"{a['text']}  owner {a['owner']}  due {a['due'] or '-'}  {a['age_days']} days old"
            for a in carried
            if a["owner"]
        ],
    )
    section(
        "Carried over: ours",
        [
            f"{a['text']}  due {a['due'] or '-'}  {a['age_days']} days old"
            for a in carried
            if not a["owner"]
        ],
    )
    section(
        "Escalations",
        [
            f"{e['text']}  level {e['level']} to {e['to'] or '-'}"
            + ("  OVERDUE" if e["overdue"] else "")
            for e in items["escalations"]
        ],
    )
    section(
        "KPIs off target",
        [
            f"{k['kpi']} {k['value']:g} in {k['period']} (target {k['target']:g}) {k['status']}"
            for k in items["kpis_off_target"]
        ],
    )
    section(
        "People overdue a meeting",
        [
            f"{p['contact']} ({p['role'] or '-'}, {p['site'] or '-'})  last met "
            f"{(p['last_met'] or 'never')[:10]}"
            for p in items["people_overdue"]
        ],
    )
    section("Open questions", [q["text"] for q in items["open_questions"]])
    return "\n".join(lines).rstrip()


def register(app: typer.Typer, visit_app: typer.Typer) -> None:
    visit_app.command("plan")(visit_plan)
    app.command()(agenda)
