"""SPEC §11 on one device: KPI status and trend, CSV import, review series and agendas,
escalation ladders, cadence and coverage; each rule and each command (in process, through
`fieldrm.cli.main`, with its JSON shape)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from fieldrm.cli import main
from fieldrm.models import kpi_value_id, now_utc, parse_timestamp
from fieldrm.relationships import (
    escalate_up,
    import_kpi_csv,
    plan_visits,
    record_kpi_value,
    set_cadence,
    set_ladder_step,
)
from fieldrm.store import Store
from fieldrm.store.queries import carried_over_actions, today_summary
from fieldrm.store.relationships import (
    coverage,
    escalations,
    kpi_status,
    kpi_statuses,
)


@pytest.fixture
def cli(capsys):
    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def world(tmp_path):
    store = Store.open()
    vendor = store.create("vendor", {"name": "Acme BPO"})
    site = store.create("site", {"vendor_id": vendor.id, "name": "Kolkata One"})
    program = store.create("program", {"site_id": site.id, "name": "Card services"})
    pm = store.create(
        "contact",
        {"name": "Priya Nair", "role": "program_manager", "site_id": site.id},
    )
    csm = store.create(
        "contact",
        {"name": "Raj Das", "role": "client_services_manager", "vendor_id": vendor.id},
    )
    yield {"store": store, "vendor": vendor, "site": site, "program": program, "pm": pm, "csm": csm}
    store.close()


def add_kpi(store, program, **values):
    base = {"program_id": program.id, "name": "AHT", "direction": "lower_better", "target": 300}
    return store.create("kpi", {**base, **values})


# ---------------------------------------------------------------- KPIs


@pytest.mark.parametrize(
    ("direction", "value", "status"),
    [
        ("lower_better", 300, "green"),
        ("lower_better", 299, "green"),
        ("lower_better", 320, "amber"),
        ("lower_better", 340, "red"),
        ("lower_better", 400, "red"),
        ("higher_better", 0.8, "green"),
        ("higher_better", 0.9, "green"),
        ("higher_better", 0.75, "amber"),
        ("higher_better", 0.7, "red"),
        ("higher_better", 0.5, "red"),
    ],
)
def test_status_thresholds_in_both_directions(direction, value, status):
    target, red = (300, 340) if direction == "lower_better" else (0.8, 0.7)
    assert kpi_status(direction, target, red, value) == status


def test_without_red_every_miss_is_amber():
    assert kpi_status("lower_better", 300, None, 10_000) == "amber"
    assert kpi_status("higher_better", 90, None, 0) == "amber"


def test_latest_is_the_latest_period_and_trend_is_six_oldest_first(world):
    store = world["store"]
    kpi = add_kpi(store, world["program"], red=340)
    entered = ["2026-11", "2026-03", "2026-07", "2026-05", "2026-09", "2026-04", "2026-10"]
    for period in entered:
        record_kpi_value(store, kpi.id, period, 280 + int(period[-2:]) * 6)
    record_kpi_value(store, kpi.id, "2026-08", 200)  # entered last, not latest
    (status,) = kpi_statuses(store)
    assert status.latest == {"period": "2026-11", "value": 346.0}
    assert status.status == "red"
    assert [p["period"] for p in status.trend] == [
        "2026-05",
        "2026-07",
        "2026-08",
        "2026-09",
        "2026-10",
        "2026-11",
    ]


def test_the_same_period_is_one_record_and_again_changes_it(world):
    store = world["store"]
    kpi = add_kpi(store, world["program"])
    first = record_kpi_value(store, kpi.id, "2026-w48", 310)
    second = record_kpi_value(store, kpi.id, "2026-W48", 290, source="vendor MIS")
    assert first.id == second.id == kpi_value_id(kpi.id, "2026-W48")
    assert store.count("kpi_value") == 1
    assert store.get(first.id).value == 290


def test_csv_import_is_idempotent_and_all_or_nothing(world):
    store = world["store"]
    add_kpi(store, world["program"])
    text = "program,kpi,period,value,source\nCard services,AHT,2026-10,342,MIS\n"
    text += "Card services,aht,2026-11,301,MIS\n"
    assert import_kpi_csv(store, text) == (2, 0, 0)
    pending = store.pending_count()
    assert import_kpi_csv(store, text) == (0, 0, 2)
    assert store.pending_count() == pending  # nothing written the second time
    bad = text.replace("301", "3O1") + "Card services,AHT,2026-12,300\n"
    from fieldrm.errors import InvalidInput

    with pytest.raises(InvalidInput, match="line 3"):
        import_kpi_csv(store, bad.replace("2026-10,342", "2026-09,1"))
    assert store.count("kpi_value") == 2  # the good first line was rolled back


def test_kpi_commands_and_show_json_shape(world, cli, tmp_path):
    code, out, _ = cli(
        "kpi",
        "add",
        "--program",
        "Card services",
        "--name",
        "FCR",
        "--unit",
        "percent",
        "--direction",
        "higher_better",
        "--target",
        "80",
        "--red",
        "70",
        "--sla",
    )
    assert code == 0
    kpi_id = out.strip()
    assert cli("kpi", "record", kpi_id[:8], "--period", "2026-10", "--value", "72")[0] == 0
    csv_file = tmp_path / "kpi.csv"
    csv_file.write_text("program,kpi,period,value\nCard services,FCR,2026-11,75\n")
    code, out, _ = cli("kpi", "import", str(csv_file))
    assert (code, out.strip()) == (0, "kpi values: 1 created, 0 updated, 0 unchanged")
    code, out, _ = cli("kpi", "show", "--program", "Card services", "--json")
    (shown,) = json.loads(out)
    assert set(shown) == {
        "id",
        "program",
        "name",
        "unit",
        "direction",
        "target",
        "latest",
        "status",
        "trend",
    }
    assert shown["latest"] == {"period": "2026-11", "value": 75.0}
    assert shown["status"] == "amber" and shown["program"] == "Card services"
    assert [p["value"] for p in shown["trend"]] == [72.0, 75.0]


@pytest.mark.parametrize(
    "args",
    [
        (
            "kpi",
            "add",
            "--program",
            "Card services",
            "--name",
            "X",
            "--direction",
            "sideways",
            "--target",
            "1",
        ),
        (
            "kpi",
            "add",
            "--program",
            "Card services",
            "--name",
            "X",
            "--direction",
            "lower_better",
            "--target",
            "fast",
        ),
        ("kpi", "record", "AHT", "--period", "2026-10", "--value", "lots"),
        ("kpi", "record", "AHT", "--period", "October", "--value", "3"),
        ("kpi", "record", "AHT", "--period", "2026-13", "--value", "3"),
        ("escalate", "01234567"),
        ("cadence", "set", "--role", "program_manager", "--every", "0d"),
        ("cadence", "set", "--role", "astronaut", "--every", "7d"),
        (
            "ladder",
            "set",
            "--vendor",
            "Acme BPO",
            "--level",
            "0",
            "--role",
            "other",
            "--within",
            "4h",
        ),
        (
            "ladder",
            "set",
            "--vendor",
            "Acme BPO",
            "--level",
            "6",
            "--role",
            "other",
            "--within",
            "4h",
        ),
        (
            "ladder",
            "set",
            "--vendor",
            "Acme BPO",
            "--level",
            "1",
            "--role",
            "other",
            "--within",
            "soon",
        ),
        (
            "visit",
            "plan",
            "--site",
            "Kolkata One",
            "--at",
            "2026-12-07T10:00",
            "--every",
            "1y",
            "--count",
            "2",
        ),
    ],
)
def test_bad_input_is_one_line_non_zero_and_writes_nothing(world, cli, args):
    store = world["store"]
    add_kpi(store, world["program"])
    before = store.pending_count()
    code, out, err = cli(*args)
    assert code != 0
    assert err.startswith("fieldrm: ") and err.count("\n") == 1, err
    assert store.pending_count() == before


# ---------------------------------------------------------------- reviews


def test_a_recurring_series_is_planned_once_and_never_the_open_visit(world, cli):
    store = world["store"]
    args = (
        "visit",
        "plan",
        "--site",
        "Kolkata One",
        "--at",
        "2026-12-07T10:00",
        "--type",
        "review_meeting",
        "--review",
        "monthly_performance",
        "--every",
        "1m",
        "--count",
        "3",
        "--json",
    )
    code, out, _ = cli(*args)
    assert code == 0
    planned = json.loads(out)
    assert [v["started_at"][:7] for v in planned] == ["2026-12", "2027-01", "2027-02"]
    assert all(v["vendor_id"] == world["vendor"].id and v["planned"] for v in planned)
    assert cli(*args)[0] == 0
    assert store.count("visit") == 3  # planning again makes no second meeting
    assert store.open_visit() is None
    assert store.open_visit() is None and len({v["series"] for v in planned}) == 1


def test_agenda_carries_over_open_actions_ours_and_theirs_with_age(world, cli, monkeypatch):
    store, vendor, pm = world["store"], world["vendor"], world["pm"]
    monkeypatch.setenv("FIELDRM_NOW", "2026-10-01T09:00:00Z")
    (past,) = plan_visits(
        store, world["site"].id, "2026-10-01T10:00:00Z", review="monthly_performance"
    )
    theirs = store.create(
        "action",
        {"text": "send the QA deck", "owner_id": pm.id, "visit_id": past.id, "due": "2026-10-15"},
    )
    ours = store.create("action", {"text": "share the forecast", "visit_id": past.id})
    done = store.create("action", {"text": "done already", "visit_id": past.id, "status": "done"})
    elsewhere = store.create("action", {"text": "floor walk follow-up"})
    monkeypatch.setenv("FIELDRM_NOW", "2026-11-01T09:00:00Z")
    carried = carried_over_actions(store, vendor.id)
    assert [a.id for a in carried] == [theirs.id, ours.id]
    assert done.id not in {a.id for a in carried} and elsewhere.id not in {a.id for a in carried}
    kpi = add_kpi(store, world["program"], red=340)
    record_kpi_value(store, kpi.id, "2026-10", 350)
    store.create("question", {"text": "can we waive fees?", "program_id": world["program"].id})
    set_cadence(store, "program_manager", 14)
    code, out, _ = cli("agenda", "--vendor", "Acme BPO", "--json")
    assert code == 0
    built = json.loads(out)
    assert set(built) == {
        "carried_over",
        "escalations",
        "kpis_off_target",
        "people_overdue",
        "open_questions",
    }
    first, second = built["carried_over"]
    assert set(first) == {"id", "text", "owner", "due", "age_days", "raised_at"}
    assert (first["owner"], first["age_days"], first["due"]) == ("Priya Nair", 31, "2026-10-15")
    assert second["owner"] is None  # ours: no owner means me
    assert built["kpis_off_target"] == [
        {"kpi": "AHT", "period": "2026-10", "value": 350.0, "target": 300.0, "status": "red"}
    ]
    assert [p["contact"] for p in built["people_overdue"]] == ["Priya Nair"]
    assert [q["text"] for q in built["open_questions"]] == ["can we waive fees?"]
    assert cli("agenda")[0] != 0


# ---------------------------------------------------------------- ladders


def test_escalation_moves_up_the_ladder_and_goes_overdue_by_the_clock(world, cli, monkeypatch):
    store, vendor = world["store"], world["vendor"]
    monkeypatch.setenv("FIELDRM_NOW", "2026-11-02T08:00:00Z")
    set_ladder_step(store, vendor.id, 1, 4, role="program_manager")
    set_ladder_step(store, vendor.id, 2, 24, contact_id=world["csm"].id)
    set_ladder_step(store, vendor.id, 2, 48, contact_id=world["csm"].id)  # changes level 2
    assert store.count("ladder_step") == 2
    question = store.create("question", {"text": "fee waiver?", "program_id": world["program"].id})
    first = escalate_up(store, question.id, "agents waiting")
    assert (first.escalation_level, first.escalated_to, first.status) == (
        1,
        world["pm"].id,
        "escalated",
    )
    assert first.escalated_at == parse_timestamp("2026-11-02T08:00:00Z")
    code, out, _ = cli("escalations", "--json")
    (row,) = json.loads(out)
    assert set(row) == {
        "question_id",
        "text",
        "level",
        "to",
        "escalated_at",
        "due_at",
        "overdue",
        "next",
    }
    assert (row["level"], row["to"], row["next"], row["overdue"]) == (
        1,
        "Priya Nair",
        "Raj Das",
        False,
    )
    assert row["due_at"] == "2026-11-02T12:00:00.000Z"
    monkeypatch.setenv("FIELDRM_NOW", "2026-11-02T12:00:01Z")
    assert [e.overdue for e in escalations(store)] == [True]
    assert json.loads(cli("escalations", "--overdue", "--json")[1])[0]["question_id"] == (
        question.id
    )
    assert cli("escalate", question.id[:12])[0] == 0
    second = store.get(question.id)
    assert (second.escalation_level, second.escalated_to) == (2, world["csm"].id)
    assert escalations(store)[0].overdue is False  # 48 h from the new escalation
    code, _out, err = cli("escalate", question.id[:12])
    assert code != 0 and "top of the ladder" in err
    store.update(question.id, set={"status": "answered", "answer": "yes"})
    code, _out, err = cli("escalate", question.id[:12])
    assert code != 0 and "already answered" in err
    assert store.get(question.id).escalation_level == 2


def test_ladder_show_lists_levels_with_program_steps_overriding(world, cli):
    store, vendor = world["store"], world["vendor"]
    set_ladder_step(store, vendor.id, 1, 4, role="program_manager")
    set_ladder_step(store, vendor.id, 1, 2, role="supervisor", program_id=world["program"].id)
    code, out, _ = cli("ladder", "show", "--vendor", "Acme BPO", "--json")
    assert [(r["level"], r["to"]) for r in json.loads(out)] == [(1, "Priya Nair")]
    code, out, _ = cli(
        "ladder", "show", "--vendor", "Acme BPO", "--program", "Card services", "--json"
    )
    assert [(r["level"], r["role"]) for r in json.loads(out)] == [(1, "supervisor")]


# ---------------------------------------------------------------- coverage


def test_cadence_is_reset_by_a_visit_the_contact_attends(world, cli, monkeypatch):
    store, pm, site = world["store"], world["pm"], world["site"]
    assert cli("cadence", "set", "--role", "program_manager", "--every", "14d")[0] == 0
    assert cli("cadence", "set", "--role", "quality_manager", "--every", "2w", "--required")[0] == 0
    report = json.loads(cli("coverage", "--json")[1])
    assert report["missing_roles"] == [{"site": "Kolkata One", "role": "quality_manager"}]
    assert [(o["contact"], o["last_met"]) for o in report["overdue"]] == [("Priya Nair", None)]
    met = now_utc() - timedelta(days=3)
    store.create(
        "visit", {"site_id": site.id, "started_at": met, "ended_at": met, "attendees": [pm.id]}
    )
    assert json.loads(cli("coverage", "--json")[1])["overdue"] == []
    # a planned (future) meeting is not a meeting held
    later = now_utc() + timedelta(days=20)
    monkeypatch.setenv("FIELDRM_NOW", (now_utc() + timedelta(days=12)).isoformat())
    plan_visits(store, site.id, later, visit_type="site_visit")
    store.update(store.list("visit", where={"planned": True})[0].id, add={"attendees": [pm.id]})
    (row,) = json.loads(cli("coverage", "--json")[1])["overdue"]
    assert row["contact"] == "Priya Nair" and row["last_met"] == met.isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")
    # Today: Priya by her role's 14 days; Raj (no cadence for his role) never met at all
    assert [c.name for c, _met in today_summary(store).contacts_not_met] == [
        "Priya Nair",
        "Raj Das",
    ]
    report = coverage(store, site.id)
    assert report["missing_roles"][0]["role"] == "quality_manager"


def test_a_site_cadence_overrides_the_general_one(world):
    store, site = world["store"], world["site"]
    set_cadence(store, "program_manager", 90)
    set_cadence(store, "program_manager", 90)  # again: the same record
    assert store.count("cadence") == 1
    assert coverage(store)["overdue"][0]["contact"] == "Priya Nair"  # never met
    met = now_utc() - timedelta(days=30)
    store.create(
        "visit",
        {"site_id": site.id, "started_at": met, "attendees": [world["pm"].id], "ended_at": met},
    )
    assert coverage(store)["overdue"] == []
    set_cadence(store, "program_manager", 7, site_id=site.id)
    assert [o["contact"] for o in coverage(store)["overdue"]] == ["Priya Nair"]


def test_search_finds_the_new_kinds(world):
    store = world["store"]
    add_kpi(store, world["program"], name="Abandon rate", notes="measured by WFM")
    assert [r.kind for r in store.search("abandon")] == ["kpi"]


def test_export_and_import_carry_the_new_kinds(world, cli, tmp_path):
    store = world["store"]
    kpi = add_kpi(store, world["program"])
    record_kpi_value(store, kpi.id, "2026-10", 320)
    set_cadence(store, "team_leader", 30)
    set_ladder_step(store, world["vendor"].id, 1, 4, role="program_manager")
    out_file = tmp_path / "all.jsonl"
    assert cli("export", "all", "-o", str(out_file))[0] == 0
    other_home = tmp_path / "other"
    other_home.mkdir()
    import os

    os.environ["FIELDRM_HOME"] = str(other_home)
    assert cli("import", str(out_file))[0] == 0
    with Store.open() as other:
        for kind in ("kpi", "kpi_value", "cadence", "ladder_step"):
            assert other.count(kind) == 1
        assert other.get(kpi_value_id(kpi.id, "2026-10")).value == 320


def test_a_review_report_has_a_carried_over_section(world, monkeypatch):
    from fieldrm.report import visit_report

    store, pm = world["store"], world["pm"]
    monkeypatch.setenv("FIELDRM_NOW", "2026-10-01T09:00:00Z")
    (earlier,) = plan_visits(store, world["site"].id, "2026-10-01T10:00:00Z", review="qbr")
    store.create("action", {"text": "send the QA deck", "owner_id": pm.id, "visit_id": earlier.id})
    monkeypatch.setenv("FIELDRM_NOW", "2026-11-01T09:00:00Z")
    (review,) = plan_visits(store, world["site"].id, "2026-11-01T10:00:00Z", review="qbr")
    report = visit_report(store, review.id, "md")
    section = report.split("## Carried over", 1)[1]
    assert "send the QA deck | Priya Nair |" in section
    assert "Nothing carried over from earlier reviews." in visit_report(store, earlier.id, "md")


def test_a_review_meeting_started_now_reviews_the_sites_vendor(world, cli):
    code, out, _ = cli("visit", "start", "--site", "Kolkata One", "--type", "review_meeting",
                       "--json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["vendor_id"] == world["vendor"].id
    assert cli("agenda", "--vendor", "Acme BPO")[0] == 0


def test_today_in_the_cli_shows_kpis_off_target_and_overdue_escalations(world, cli, monkeypatch):
    store, vendor = world["store"], world["vendor"]
    code, out, _ = cli("today")
    assert code == 0
    assert "KPIs off target (0)\n  every KPI on target" in out
    assert "Escalations overdue (0)\n  none past its response time" in out
    monkeypatch.setenv("FIELDRM_NOW", "2026-11-02T08:00:00Z")
    aht = add_kpi(store, world["program"], red=340, unit="seconds")
    record_kpi_value(store, aht.id, "2026-10", 350)
    fcr = add_kpi(store, world["program"], name="FCR", direction="higher_better", target=80)
    record_kpi_value(store, fcr.id, "2026-10", 76)
    green = add_kpi(store, world["program"], name="QA score", target=90,
                    direction="higher_better")  # fmt: skip
    record_kpi_value(store, green.id, "2026-10", 95)
    set_ladder_step(store, vendor.id, 1, 4, role="program_manager")
    set_ladder_step(store, vendor.id, 2, 24, contact_id=world["csm"].id)
    question = store.create("question", {"text": "fee waiver?", "program_id": world["program"].id})
    escalate_up(store, question.id)
    code, out, _ = cli("today")
    assert "Escalations overdue (0)" in out  # four hours to answer
    monkeypatch.setenv("FIELDRM_NOW", "2026-11-02T12:00:01Z")
    code, out, _ = cli("today")
    assert code == 0
    kpis = out.split("KPIs off target (2)\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert kpis == [
        "  red    AHT  350 in 2026-10, target 300  Card services",
        "  amber  FCR  76 in 2026-10, target 80  Card services",
    ]
    escalated = out.split("Escalations overdue (1)\n", 1)[1].split("\n\n", 1)[0].splitlines()
    due = parse_timestamp("2026-11-02T12:00:00Z").astimezone().strftime("%Y-%m-%d %H:%M")
    assert escalated == [f"  L1  fee waiver?  to Priya Nair, due {due}  next: Raj Das"]
