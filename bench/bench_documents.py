"""Benchmark of SPEC §12's documents and interchange: run by hand, prints a table; not a test.

    .venv/bin/python bench/bench_documents.py [--cards 1000] [--contacts 5000]

- the PDF library's import (fpdf2 and the font package), in a fresh interpreter;
- the PDF of one visit with 40 entries (observations, questions, actions): time and size;
- a three-month client pack (13 weekly visits of 20 entries each): time and size;
- the same pack with §11's parts: 12 KPIs with 12 months of values (table and trend) and
  3 monthly reviews whose 15 actions are still open (carried over): time and size;
- `import contacts` of 1,000 vCards against 5,000 contacts (dry run, then apply): time.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fieldrm.store import Store  # noqa: E402

TODAY = date(2026, 11, 30)
WORDS = [
    "agents",
    "coaching",
    "roster",
    "headsets",
    "queue",
    "callbacks",
    "calibration",
    "attrition",
    "night",
    "shift",
    "escalation",
    "refund",
    "waiver",
    "KB",
    "article",
    "handle",
    "time",
    "hold",
    "transfer",
    "QA",
    "scorecard",
    "side-by-side",
    "huddle",
    "floor",
    "supervisor",
    "fraud",
    "dispute",
    "retention",
]
FIRST = [
    "Priya",
    "Ravi",
    "José",
    "María",
    "Ана",
    "Grace",
    "Usman",
    "Ayesha",
    "Carlo",
    "Sneha",
    "Dmitri",
    "Liza",
    "Andrés",
    "Hina",
    "Mark",
    "Jasmine",
    "Tom",
    "Helen",
    "Rashid",
    "Paolo",
]
LAST = [
    "Nair",
    "Kumar",
    "Muñoz",
    "Gómez",
    "Иванова",
    "Lim",
    "Tariq",
    "Malik",
    "Mendoza",
    "Banerjee",
    "Santos",
    "Aquino",
    "Rodríguez",
    "Farooq",
    "Villanueva",
    "Tan",
    "Becker",
    "Walsh",
    "Ali",
    "Garcia",
    "Reyes",
    "Cruz",
    "Das",
    "Iyer",
    "Sharma",
]


def sentence(rng: random.Random, words: int = 12) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize()


def timed(work) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def add_visit(
    store: Store, rng: random.Random, site_id: str, contacts: list, start: datetime, entries: int
) -> str:
    visit = store.create(
        "visit",
        {
            "site_id": site_id,
            "visit_type": "site_visit",
            "purpose": sentence(rng, 8),
            "started_at": start,
            "ended_at": start + timedelta(hours=3),
            "attendees": [c.id for c in rng.sample(contacts, 5)],
            "summary": sentence(rng, 30),
        },
    )
    categories = ["quality", "kpi", "staffing", "training", "process", "facility", "morale"]
    for index in range(entries):
        kind = ("observation", "observation", "question", "action")[index % 4]
        values = {"visit_id": visit.id, "text": sentence(rng, rng.randint(8, 30))}
        if kind == "observation":
            values |= {
                "category": rng.choice(categories),
                "contact_id": rng.choice(contacts).id,
                "severity": rng.choice(["positive", "info", "concern", "critical"]),
            }
        elif kind == "question":
            values |= {
                "asked_by": f"team {rng.randint(1, 9)}",
                "status": "escalated",
                "escalated_to": rng.choice(contacts).id,
            }
        else:
            values |= {
                "owner_id": rng.choice(contacts).id,
                "due": (start + timedelta(days=rng.randint(-5, 20))).date().isoformat(),
            }
        store.create(kind, values)
    return visit.id


def add_kpis_and_reviews(
    store: Store, rng: random.Random, vendor_id: str, site_id: str, contacts: list, start: datetime
) -> None:
    """§11 for the pack: 3 programs of 4 KPIs with a year of monthly values, and three
    monthly review meetings each leaving 5 actions open (carried over)."""
    from fieldrm.relationships import record_kpi_value

    names = ["AHT", "FCR", "QA score", "Abandon rate"]
    for number in range(3):
        program = store.create("program", {"site_id": site_id, "name": f"Program {number + 1}"})
        for name in names:
            lower = name in ("AHT", "Abandon rate")
            kpi = store.create(
                "kpi",
                {
                    "program_id": program.id,
                    "name": name,
                    "unit": "seconds" if name == "AHT" else "percent",
                    "direction": "lower_better" if lower else "higher_better",
                    "target": 300 if name == "AHT" else (5 if lower else 80),
                    "red": 340 if name == "AHT" else None,
                },
            )
            base = 300 if name == "AHT" else (5 if lower else 80)
            for month in range(1, 13):
                value = round(base * rng.uniform(0.85, 1.2), 1)
                record_kpi_value(store, kpi.id, f"2026-{month:02}", value)
    for month in range(3):
        review = store.create(
            "visit",
            {
                "site_id": site_id,
                "visit_type": "review_meeting",
                "review": "monthly_performance",
                "vendor_id": vendor_id,
                "started_at": start + timedelta(days=30 * month, hours=2),
                "ended_at": start + timedelta(days=30 * month, hours=3),
            },
        )
        for index in range(5):
            owner = rng.choice(contacts).id if index % 2 else None  # theirs and ours
            store.create(
                "action",
                {"visit_id": review.id, "text": sentence(rng, 10), "owner_id": owner,
                 "due": (start + timedelta(days=30 * month + 14)).date().isoformat()},
            )  # fmt: skip


def vcards(rng: random.Random, count: int, existing: list) -> bytes:
    """`count` cards: a third match an existing contact by a phone written another way."""
    cards = []
    for index in range(count):
        if index % 3 == 0:
            contact = existing[index]
            phone = contact.phones[0].replace("+91", "(+91) ").replace(" ", "-")
            name = contact.name
        else:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {index}"
            phone = f"+63 917 {index:07d}"
        cards.append(
            f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nTEL;TYPE=CELL:{phone}\r\n"
            f"EMAIL:card{index}@example.com\r\nTITLE:Team Leader\r\nEND:VCARD\r\n"
        )
    return "".join(cards).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=5000)
    args = parser.parse_args()
    rng = random.Random(12)
    rows: list[tuple[str, str]] = []

    code = (
        "import time; t = time.perf_counter(); import fieldrm.pdf; print(time.perf_counter() - t)"
    )
    spent = float(
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
    )
    rows.append(("import fieldrm.pdf (fpdf2, font) in a fresh interpreter", f"{spent:.2f} s"))

    from fieldrm.contacts_io import import_contacts
    from fieldrm.pdf import pack_pdf, visit_pdf

    with Store.memory() as store:
        vendor = store.create("vendor", {"name": "Northwind Contact Solutions"})
        site = store.create(
            "site",
            {"vendor_id": vendor.id, "name": "Bogotá Calle 26", "timezone": "America/Bogota"},
        )
        store.create("program", {"site_id": site.id, "name": "Cards", "client": "Meridian Bank"})
        with store.transaction():
            contacts = [
                store.create(
                    "contact",
                    {
                        "name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {n}",
                        "vendor_id": vendor.id,
                        "role": "team_leader",
                        "phones": [f"+91 98{n:08d}"],
                        "emails": [f"person{n}@northwind.example"],
                    },
                )
                for n in range(args.contacts)
            ]
        start = datetime(2026, 9, 1, 14, tzinfo=UTC)
        with store.transaction():
            visit = add_visit(store, rng, site.id, contacts, start, 40)
            for week in range(13):
                add_visit(store, rng, site.id, contacts, start + timedelta(weeks=week, days=1), 20)

        def pdf_row(name: str, make) -> None:
            spent, data = timed(make)
            pages = data.count(b"/Type /Page\n")
            rows.append((name, f"{spent:.2f} s, {len(data) / 1024:.0f} KiB, {pages} pages"))

        def pack() -> bytes:
            period = {"start": date(2026, 9, 1), "end": date(2026, 11, 30)}
            return pack_pdf(store, vendor.id, **period, today=TODAY)

        pdf_row("PDF, one visit of 40 entries", lambda: visit_pdf(store, visit, today=TODAY))
        pdf_row("PDF, 3-month pack (14 visits, 300 entries)", pack)
        with store.transaction():
            add_kpis_and_reviews(store, rng, vendor.id, site.id, contacts, start)
        pdf_row("PDF, that pack + 3 reviews, 12 KPIs, 15 carried over", pack)

        cards = vcards(rng, args.cards, contacts)
        spent, summary = timed(lambda: import_contacts(store, cards, "vcf", dry_run=True))
        rows.append(
            (
                f"import contacts --dry-run, {args.cards:,} vCards vs {args.contacts:,}",
                f"{spent:.2f} s ({summary['new']} new, {summary['matched']} matched)",
            )
        )
        spent, summary = timed(lambda: import_contacts(store, cards, "vcf"))
        rows.append(
            (
                f"import contacts, {args.cards:,} vCards vs {args.contacts:,}",
                f"{spent:.2f} s ({summary['new']} new, {summary['updated']} updated)",
            )
        )
        spent, summary = timed(lambda: import_contacts(store, cards, "vcf"))
        rows.append(
            (
                "the same file again (changes nothing)",
                f"{spent:.2f} s ({summary['new']} new, {summary['updated']} updated)",
            )
        )

    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
