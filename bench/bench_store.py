"""Benchmark of the device store (SPEC §10): run by hand, prints a table; not a test.

    .venv/bin/python bench/bench_store.py [--observations 100000] [--contacts 5000]

Fills a store with observations and contacts (a bulk path: one transaction, the same
record JSON, search text and change-log op a normal write makes), then measures on the
full store:

- one write through the real path (`Store.create`, then `Store.update`): record, search
  row and outbox op in one transaction, p50/p95;
- `fieldrm capture "…"` as a whole process (interpreter start, imports, open, write), a
  plain line and one naming a contact (`@name` looks the name up among the 5,000), run
  as the installed program runs: with its bytecode cached (PYTHONDONTWRITEBYTECODE,
  which some shells and CI set, is dropped for these runs; the first run writes it);
- full-text search p95 over typical queries;
- the database's size on disk, and the change log's (outbox) share of it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fieldrm.models import KINDS, new_id, now_utc  # noqa: E402
from fieldrm.store import Store  # noqa: E402
from fieldrm.store.changelog import build_op  # noqa: E402
from fieldrm.store.db import _dumps  # noqa: E402
from fieldrm.store.text import search_body  # noqa: E402

TARGETS = {
    "write": 1.0,
    "search": 15.0,
    "capture": 200.0,
    "relationships": 50.0,
}  # milliseconds (SPEC §10)

FIRST = ["Priya", "Ravi", "Anita", "Maria", "Jose", "Nadia", "Imran", "Liza", "Paolo", "Camila"]
LAST = ["Nair", "Kumar", "Santos", "Aquino", "Aslam", "Gomez", "Reyes", "Khan", "Das", "Cruz"]
ROLES = ["team_leader", "supervisor", "quality_manager", "program_manager", "trainer"]
SUBJECTS = [
    "Team 4 TLs",
    "Agents on the cards queue",
    "Night shift",
    "The QA team",
    "New hires",
    "Retention agents",
    "The WFM analyst",
    "Chat team B",
    "Floor support",
    "Trainers",
]
VERBS = [
    "are not doing",
    "keep skipping",
    "asked about",
    "improved",
    "struggle with",
    "escalated",
    "missed",
    "rushed through",
    "celebrated",
    "need help with",
]
OBJECTS = [
    "side-by-side coaching",
    "the fee waiver script",
    "hold-time targets",
    "calibration sessions",
    "the knowledge base",
    "after-call work",
    "badge access",
    "the attendance bonus",
    "fraud verification steps",
    "the wallboard",
]
TAILS = [
    "since Monday",
    "on every call we heard",
    "during the huddle",
    "twice this week",
    "per the latest AHT report",
    "while we sat in",
    "before the audit",
    "",
]
CATEGORIES = ["quality", "kpi", "staffing", "training", "process", "facility", "morale"]
SEVERITIES = ["positive", "info", "concern", "critical"]
QUERIES = [
    "coaching",
    "fee waiver",
    "calib",
    "wallboard",
    "night shift",
    "priya",
    "kumar",
    "attendance bonus",
    "badge",
    "hold time",
    "audit",
    "fraud verif",
    "huddle",
    "qa",
]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def observation_text(rng: random.Random) -> str:
    parts = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(TAILS)]
    return " ".join(part for part in parts if part) + f" (seat {rng.randint(1, 400)})"


def fill(store: Store, observations: int, contacts: int, rng: random.Random) -> float:
    """Bulk-load records as normal writes would store them; returns seconds taken."""
    started = time.perf_counter()
    clock = store.clock()
    user = store.user
    now = now_utc()
    contact_ids: list[str] = []
    rows: list[tuple] = []

    def add(kind: str, values: dict) -> None:
        record = (
            KINDS[kind]
            .model_validate(
                {"kind": kind, "created_at": now, "updated_at": now, "created_by": user, **values}
            )
            .to_json()
        )
        op = build_op(None, record, {}, hlc=clock.tick(), user=user)
        rows.append((record, op))

    for number in range(contacts):
        contact_id = new_id()
        contact_ids.append(contact_id)
        add(
            "contact",
            {
                "id": contact_id,
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {number}",
                "role": rng.choice(ROLES[:4]),
                "tags": rng.sample(["vip", "night-shift", "new", "escalation"], 2),
                "emails": [f"person{number}@vendor.example"],
            },
        )
    for _ in range(observations):
        add(
            "observation",
            {
                "text": observation_text(rng),
                "category": rng.choice(CATEGORIES),
                "severity": rng.choice(SEVERITIES),
                "contact_id": rng.choice(contact_ids),
                "tags": rng.sample(["cards", "retention", "chat", "fraud", "nights"], 1),
            },
        )
    insert(store, rows)
    store.set_state("hlc", clock.last)
    return time.perf_counter() - started


def insert(store: Store, rows: list[tuple[dict, dict]]) -> None:
    """Write (record, op) pairs as the store's write path stores them, in one transaction."""
    with store.transaction() as conn:
        for record, op in rows:
            cursor = conn.execute(
                "INSERT INTO records(id, kind, data, meta, updated_at, deleted) "
                "VALUES (?, ?, ?, '{}', ?, 0)",
                [record["id"], record["kind"], _dumps(record), record["updated_at"]],
            )
            conn.execute(
                "INSERT INTO search(rowid, body) VALUES (?, ?)",
                [cursor.lastrowid, search_body(record)],
            )
            conn.execute(
                "INSERT INTO outbox(record_id, op) VALUES (?, ?)", [record["id"], _dumps(op)]
            )


def fill_relationships(store: Store, rng: random.Random, programs: int = 50) -> str:
    """§11's records: vendors and sites, `programs` programs of 10 KPIs with 24 months of
    values each, ladders, cadences, review meetings with open actions, escalated questions
    and visits attended by the store's contacts.  Returns a vendor id to build an agenda for."""
    from fieldrm.models import kpi_value_id

    clock, user, now = store.clock(), store.user, now_utc()
    rows: list[tuple[dict, dict]] = []

    def add(kind: str, values: dict) -> str:
        base = {"kind": kind, "created_at": now, "updated_at": now, "created_by": user}
        record = KINDS[kind].model_validate({**base, **values}).to_json()
        rows.append((record, build_op(None, record, {}, hlc=clock.tick(), user=user)))
        return record["id"]

    contacts = [
        row[0]
        for row in store.conn.execute("SELECT id FROM records WHERE kind = 'contact' LIMIT 2000")
    ]
    vendors = [add("vendor", {"name": f"Vendor {n}"}) for n in range(5)]
    sites = [add("site", {"vendor_id": vendors[n % 5], "name": f"Site {n}"}) for n in range(10)]
    months = [f"{2025 + m // 12}-{m % 12 + 1:02d}" for m in range(24)]
    for number in range(programs):
        program = add("program", {"site_id": sites[number % 10], "name": f"Program {number}"})
        for k in range(10):
            kpi = add("kpi", {"program_id": program, "name": f"KPI {k}", "target": 100,
                              "red": 120, "direction": "lower_better"})  # fmt: skip
            for period in months:
                add("kpi_value", {"id": kpi_value_id(kpi, period), "kpi_id": kpi,
                                  "period": period, "value": rng.uniform(80, 130)})  # fmt: skip
    for vendor in vendors:
        for level in (1, 2, 3):
            add("ladder_step", {"vendor_id": vendor, "level": level, "role": ROLES[level],
                                "respond_within_hours": 4 * level})  # fmt: skip
    for role in ROLES[:4]:
        add("cadence", {"role": role, "every_days": 30, "required": True})
    for number in range(600):
        started = now.replace(microsecond=0) - timedelta(days=rng.randint(1, 400))
        review = number % 3 == 0
        visit = add("visit", {
            "site_id": sites[number % 10], "started_at": started, "ended_at": started,
            "visit_type": "review_meeting" if review else "floor_walk",
            "vendor_id": vendors[number % 5] if review else None,
            "attendees": rng.sample(contacts, 5) if contacts else [],
        })  # fmt: skip
        if review:
            for _ in range(3):
                add("action", {"text": "follow up", "visit_id": visit, "status": "open"})
        question = {"text": "can we?", "visit_id": visit, "status": "escalated",
                    "escalation_level": 1, "escalated_at": started}  # fmt: skip
        add("question", question if number % 4 == 0 else {"text": "may we?", "visit_id": visit})
    insert(store, rows)
    store.set_state("hlc", clock.last)
    return vendors[0]


def measure_relationships(store: Store, vendor_id: str, rounds: int = 15) -> dict[str, Timings]:
    from fieldrm.store.relationships import agenda, coverage

    timings = {"agenda": Timings(), "coverage": Timings()}
    for _ in range(rounds):
        timings["agenda"].time(lambda: agenda(store, vendor_id=vendor_id))
        timings["coverage"].time(lambda: coverage(store))
    return timings


class Timings:
    """Wall-clock and this thread's CPU milliseconds of repeated calls.

    On a shared machine the wall-clock tail is mostly the scheduler (another process had
    the core); CPU time shows what the work itself costs."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def time(self, call: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        result = call()
        self.cpu.append((time.thread_time() - cpu) * 1000)
        self.wall.append((time.perf_counter() - wall) * 1000)
        return result


def measure_writes(store: Store, count: int, rng: random.Random) -> tuple[Timings, Timings]:
    creates, updates = Timings(), Timings()
    ids = []
    for _ in range(count):
        values = {"text": observation_text(rng), "category": rng.choice(CATEGORIES)}
        ids.append(creates.time(lambda values=values: store.create("observation", values)).id)
    for record_id in ids:
        change = {"severity": rng.choice(SEVERITIES)}
        updates.time(
            lambda record_id=record_id, change=change: store.update(
                record_id, set=change, add={"tags": ["x"]}
            )
        )
    return creates, updates


def measure_search(store: Store, rounds: int) -> Timings:
    timings = Timings()
    for _ in range(rounds):
        for query in QUERIES:
            timings.time(lambda query=query: store.search(query, limit=50))
    return timings


CAPTURE_LINES = {
    "plain": "Team 4 TLs skip coaching #training",
    "@name": "Team 4 TLs skip coaching #training @Priya",
}


def measure_capture(home: Path, runs: int) -> dict[str, tuple[list[float], list[float]]]:
    """Wall-clock and CPU milliseconds of `fieldrm capture` runs per line (CPU is steadier
    when other work shares the machine's cores); the lines take turns."""
    env = {**os.environ, "FIELDRM_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    commands = {
        name: [sys.executable, "-m", "fieldrm", "capture", line]
        for name, line in CAPTURE_LINES.items()
    }
    for command in commands.values():  # warm the OS cache and write the bytecode
        subprocess.run(command, env=env, check=True, capture_output=True)
    figures: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            wall, cpu = figures[name]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            wall.append((time.perf_counter() - started) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            cpu.append(used * 1000)
    return figures


def sizes(path: Path) -> tuple[int, int]:
    """Bytes of the database file and of the outbox table with its index."""
    with Store.open(path) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = store.conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    pages = dict(rows)
    outbox = sum(size for name, size in pages.items() if name.startswith("outbox"))
    return path.stat().st_size, outbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=5_000)
    parser.add_argument("--writes", type=int, default=1_000)
    parser.add_argument("--programs", type=int, default=50, help="x 10 KPIs x 24 months")
    parser.add_argument("--captures", type=int, default=20, help="runs of each capture line")
    args = parser.parse_args()
    rng = random.Random(7)
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="fieldrm-bench-") as tmp:
        home = Path(tmp)
        path = home / "fieldrm.db"
        with Store.open(path) as store:
            fill_seconds = fill(store, args.observations, args.contacts, rng)
            creates, updates = measure_writes(store, args.writes, rng)
            searches = measure_search(store, 15)
            hits = {query: len(store.search(query, limit=50)) for query in QUERIES[:4]}
            vendor_id = fill_relationships(store, rng, args.programs)
            relationships = measure_relationships(store, vendor_id)
        captures = measure_capture(home, args.captures)
        total, outbox = sizes(path)

    print(
        f"store: {args.observations:,} observations + {args.contacts:,} contacts "
        f"(bulk fill {fill_seconds:.1f} s); sample hits {json.dumps(hits)}"
    )
    cores = os.cpu_count()
    print(f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {cores} cores")
    table = [
        ("one write: create (record+outbox)", creates.wall, creates.cpu, "write"),
        ("one write: edit + set add", updates.wall, updates.cpu, "write"),
        ("FTS search, limit 50", searches.wall, searches.cpu, "search"),
    ]
    for name, timing in relationships.items():
        table.append((f"{name} (§11)", timing.wall, timing.cpu, "relationships"))
    for name, (wall, cpu) in captures.items():
        table.append((f"`fieldrm capture` process, {name}", wall, cpu, "capture"))
    print(f"{'measure':<36}{'wall p50':>10}{'wall p95':>10}{'cpu p50':>10}{'cpu p95':>10}"
          f"{'target':>10}  ok (wall / cpu)")  # fmt: skip
    for label, wall, cpu, target in table:
        limit = TARGETS[target]
        figures = [statistics.median(wall), percentile(wall, 95)]
        figures += [statistics.median(cpu), percentile(cpu, 95)]
        marks = ["yes" if percentile(t, 95) <= limit else "NO" for t in (wall, cpu)]
        shown = "".join(f"{figure:>8.2f}ms" for figure in figures)
        print(f"{label:<36}{shown}{'<= ' + format(limit, 'g'):>8}ms  {' / '.join(marks)}")
    share = outbox / total * 100
    print(
        f"database size {total / 1e6:.1f} MB; change log (outbox) {outbox / 1e6:.1f} MB "
        f"= {share:.0f}% of the file (every record still unsynced; sync empties it)"
    )


if __name__ == "__main__":
    main()
