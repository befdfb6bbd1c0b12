"""A realistic demo data set (`fieldrm demo`): one client's programs at three vendors.

The RM looks after Meridian Bank's outsourced customer service: Northwind Contact
Solutions in Kolkata and Bogotá, Bayanihan CX in Manila and Cebu, and Indus Customer
Care in Lahore.  The people, visits, observations, agent questions and follow-up
actions are the kind an RM's notebook holds after a month of visits.

Loading is idempotent: every record has a fixed id derived from a name (a UUIDv7-shaped
hash, see `demo_id`), so a second load finds each one and creates nothing.  Records are
made through `Store.create`, so they sync like anything typed.  Dates are relative to
`today`: some actions are overdue, some due soon, some done; every visit has ended.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from fieldrm.models import format_timestamp, local_today, uuid7_from

if TYPE_CHECKING:
    from fieldrm.store import Store

__all__ = ["demo_id", "load_demo"]

# The timestamp part of a demo id is a moment in 2020-2025 taken from the hash, so ids
# differ in their first characters and short id prefixes stay unique.
_DEMO_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
_DEMO_SPAN_MS = 6 * 365 * 24 * 3600 * 1000


def demo_id(key: str) -> str:
    """A UUIDv7-shaped id derived from `key`: the same key gives the same id everywhere."""
    digest = int.from_bytes(hashlib.sha256(f"fieldrm-demo:{key}".encode()).digest()[:16], "big")
    return uuid7_from(_DEMO_EPOCH_MS + (digest >> 80) % _DEMO_SPAN_MS, digest)


# ---------------------------------------------------------------- the data

# Fixed UTC offsets (none of these places observes daylight saving), so the demo needs
# no time-zone database.
_OFFSETS = {
    "Asia/Kolkata": timedelta(hours=5, minutes=30),
    "Asia/Manila": timedelta(hours=8),
    "Asia/Karachi": timedelta(hours=5),
    "America/Bogota": timedelta(hours=-5),
}

VENDORS = [
    ("northwind", "Northwind Contact Solutions", "India", "https://northwind-cs.example"),
    ("bayanihan", "Bayanihan CX", "Philippines", "https://bayanihan-cx.example"),
    ("indus", "Indus Customer Care", "Pakistan", "https://induscare.example"),
]

# key, vendor, name, city, country, timezone, seats
SITES = [
    ("kolkata", "northwind", "Kolkata Salt Lake", "Kolkata", "India", "Asia/Kolkata", 850),
    ("bogota", "northwind", "Bogotá Calle 26", "Bogotá", "Colombia", "America/Bogota", 240),
    ("manila", "bayanihan", "Manila Ortigas", "Manila", "Philippines", "Asia/Manila", 1200),
    ("cebu", "bayanihan", "Cebu IT Park", "Cebu", "Philippines", "Asia/Manila", 600),
    ("lahore", "indus", "Lahore Gulberg", "Lahore", "Pakistan", "Asia/Karachi", 500),
]

# key, site, name, line of business, seats
PROGRAMS = [
    ("kol-cards", "kolkata", "Meridian Cards Inbound", "Card servicing (inbound voice)", 220),
    ("kol-collect", "kolkata", "Meridian Early Collections", "Collections, days 1-30", 120),
    ("bog-cards", "bogota", "Meridian Cards Spanish", "Card servicing (Spanish voice)", 80),
    ("mnl-fraud", "manila", "Meridian Fraud & Disputes", "Fraud and disputes", 180),
    ("mnl-chat", "manila", "Meridian Digital Chat", "Digital banking chat", 90),
    ("ceb-mortgage", "cebu", "Meridian Mortgages Care", "Mortgage servicing", 70),
    ("lhr-backoffice", "lahore", "Meridian Cards Back Office", "Disputes back office", 100),
    ("lhr-retention", "lahore", "Meridian Retention", "Card retention (outbound)", 60),
]

# key, name, role, title, site (or None for the client's own people), reports_to,
# programs, tags
CONTACTS = [
    # Northwind, Kolkata
    ("anirban", "Anirban Chatterjee", "facility_operations_manager", "Head of Operations, Kolkata",
     "kolkata", None, [], ["decision-maker"]),
    ("kavita", "Kavita Sharma", "client_services_manager", "Client Services Manager, Meridian",
     "kolkata", "anirban", ["kol-cards", "kol-collect"], ["weekly-call"]),
    ("priya", "Priya Nair", "program_manager", "Program Manager, Meridian Cards",
     "kolkata", "anirban", ["kol-cards"], []),
    ("ravi", "Ravi Kumar", "operations_manager", "Operations Manager, Inbound Servicing",
     "kolkata", "priya", ["kol-cards"], ["escalations"]),
    ("sneha", "Sneha Banerjee", "supervisor", "Floor Supervisor, Cards (day shift)",
     "kolkata", "ravi", ["kol-cards"], []),
    ("arjun", "Arjun Das", "team_leader", "Team Leader, Team 4",
     "kolkata", "sneha", ["kol-cards"], []),
    ("moumita", "Moumita Ghosh", "team_leader", "Team Leader, Team 7",
     "kolkata", "sneha", ["kol-cards"], ["night-shift"]),
    ("farhan", "Farhan Ahmed", "quality_manager", "Quality Lead",
     "kolkata", "anirban", ["kol-cards", "kol-collect"], ["calibration"]),
    ("deepa", "Deepa Iyer", "workforce_manager", "Workforce Planning Lead",
     "kolkata", "anirban", ["kol-cards", "kol-collect"], []),
    ("sourav", "Sourav Mukherjee", "training_manager", "Training Manager",
     "kolkata", "priya", ["kol-cards"], []),
    # Northwind, Bogotá
    ("camila", "Camila Rodríguez", "operations_manager", "Site Manager, Bogotá",
     "bogota", "anirban", ["bog-cards"], []),
    ("andres", "Andrés Gómez", "team_leader", "Team Leader, Spanish Cards",
     "bogota", "camila", ["bog-cards"], []),
    # Bayanihan CX, Manila and Cebu
    ("maria", "Maria Santos", "facility_operations_manager", "Site Director, Ortigas",
     "manila", None, [], ["decision-maker"]),
    ("jose", "Jose Reyes", "client_services_manager", "Account Director, Meridian",
     "manila", "maria", ["mnl-fraud", "mnl-chat", "ceb-mortgage"], ["weekly-call"]),
    ("angelica", "Angelica Cruz", "program_manager", "Program Manager, Fraud & Disputes",
     "manila", "maria", ["mnl-fraud"], []),
    ("mark", "Mark Villanueva", "operations_manager", "Operations Manager, Fraud",
     "manila", "angelica", ["mnl-fraud"], []),
    ("kristine", "Kristine Dela Cruz", "supervisor", "Supervisor, Disputes",
     "manila", "mark", ["mnl-fraud"], []),
    ("paolo", "Paolo Garcia", "team_leader", "Team Leader, Disputes A",
     "manila", "kristine", ["mnl-fraud"], []),
    ("jasmine", "Jasmine Tan", "team_leader", "Team Leader, Chat",
     "manila", "kristine", ["mnl-chat"], ["night-shift"]),
    ("rowena", "Rowena Bautista", "quality_manager", "QA Manager",
     "manila", "maria", ["mnl-fraud", "mnl-chat"], ["calibration"]),
    ("carlo", "Carlo Mendoza", "workforce_manager", "WFM Manager",
     "manila", "maria", ["mnl-fraud", "mnl-chat"], []),
    ("liza", "Liza Aquino", "training_manager", "Training Lead",
     "manila", "angelica", ["mnl-fraud"], []),
    ("ramon", "Ramon Flores", "operations_manager", "Site Lead, Cebu",
     "cebu", "maria", ["ceb-mortgage"], []),
    ("grace", "Grace Lim", "team_leader", "Team Leader, Mortgages",
     "cebu", "ramon", ["ceb-mortgage"], []),
    # Indus Customer Care, Lahore
    ("imran", "Imran Qureshi", "facility_operations_manager", "General Manager, Lahore",
     "lahore", None, [], ["decision-maker"]),
    ("ayesha", "Ayesha Malik", "client_services_manager", "Client Services Manager",
     "lahore", "imran", ["lhr-backoffice", "lhr-retention"], ["weekly-call"]),
    ("rashid", "Rashid Ali", "operations_manager", "Operations Manager, Meridian",
     "lahore", "imran", ["lhr-backoffice", "lhr-retention"], []),
    ("sana", "Sana Javed", "supervisor", "Supervisor, Retention",
     "lahore", "rashid", ["lhr-retention"], []),
    ("bilal", "Bilal Hussain", "team_leader", "Team Leader, Retention B",
     "lahore", "sana", ["lhr-retention"], []),
    ("hina", "Hina Farooq", "quality_manager", "Quality Manager",
     "lahore", "imran", ["lhr-backoffice", "lhr-retention"], []),
    ("usman", "Usman Tariq", "it_manager", "IT Manager",
     "lahore", "imran", [], []),
    ("nadia", "Nadia Aslam", "hr_manager", "HR Business Partner",
     "lahore", "imran", [], []),
    # The client's own people, to whom policy questions are escalated
    ("helen", "Helen Walsh", "other", "Head of Customer Operations, Meridian Bank",
     None, None, [], ["client"]),
    ("tom", "Tom Becker", "other", "Card Policy Owner, Meridian Bank",
     None, None, [], ["client", "policy"]),
]  # fmt: skip

_COUNTRY_PHONE = {
    "kolkata": "+91 33 5550 ",
    "bogota": "+57 601 555 ",
    "manila": "+63 2 5550 ",
    "cebu": "+63 32 555 ",
    "lahore": "+92 42 3555 ",
    None: "+44 20 7946 ",
}

# key, site, type, days ago, local start hour, hours long, purpose, attendees, summary
VISITS = [
    ("kol-review", "kolkata", "review_meeting", 16, 10, 2,
     "Monthly performance review: Meridian Cards, October",
     ["anirban", "kavita", "priya", "farhan", "deepa"],
     "AHT up 9% month on month after the card-replacement campaign; FCR steady at 78%. "
     "Northwind to rebalance the night shift and re-run QA calibration."),
    ("kol-floor", "kolkata", "floor_walk", 15, 14, 3,
     "Floor walk after the AHT spike: sit in on cards calls, Teams 4 and 7",
     ["priya", "ravi", "sneha", "arjun", "moumita"],
     "Agents well briefed on the replacement campaign; side-by-side coaching has lapsed "
     "in Team 4. Two policy questions escalated to the client."),
    ("ceb-floor", "cebu", "floor_walk", 24, 9, 2,
     "First floor walk at Cebu since the mortgage program went live",
     ["ramon", "grace"],
     "Small, well-run team; knowledge base gaps on escrow questions."),
    ("mnl-site", "manila", "site_visit", 9, 9, 7,
     "Quarterly site visit: fraud & disputes and digital chat",
     ["maria", "jose", "angelica", "mark", "rowena", "carlo"],
     "Strong disputes quality; chat concurrency too high at peak. Badge access to the "
     "fraud bay needs tightening before the audit."),
    ("mnl-floor", "manila", "floor_walk", 8, 20, 2,
     "Night-shift floor walk, chat team",
     ["kristine", "jasmine"],
     "Night shift short by six agents; morale good despite the overtime."),
    ("lhr-review", "lahore", "review_meeting", 4, 11, 1,
     "Weekly ops review: retention and back office",
     ["imran", "ayesha", "rashid", "hina"],
     "Retention save rate recovered to 31%. Back-office backlog at 2.5 days; "
     "plan agreed to clear it in two weeks."),
    ("lhr-floor", "lahore", "floor_walk", 3, 15, 2,
     "Floor walk, retention team B",
     ["rashid", "sana", "bilal"],
     "Good energy on the floor; scripts out of date after the fee change."),
]  # fmt: skip

# key, visit, minutes into it, text, category, severity, program, contact, tags
OBSERVATIONS = [
    ("obs-aht", "kol-review", 20,
     "AHT 412s against a 370s target; driven by card-replacement calls", "kpi", "concern",
     "kol-cards", "priya", ["aht"]),
    ("obs-nightshift", "kol-review", 45,
     "Night shift running at 82% of forecast headcount for three weeks", "staffing", "concern",
     "kol-cards", "deepa", ["night-shift"]),
    ("obs-fcr", "kol-review", 60, "FCR steady at 78%, above the 75% target", "kpi", "positive",
     "kol-cards", None, []),
    ("obs-sbs", "kol-floor", 25,
     "Team 4 TLs not doing side-by-sides; last logged coaching three weeks ago", "training",
     "concern", "kol-cards", "arjun", []),
    ("obs-brief", "kol-floor", 40,
     "Agents confident on the replacement campaign; the briefing card is on every desk",
     "training", "positive", "kol-cards", "sourav", []),
    ("obs-pii", "kol-floor", 70,
     "Two agents writing card numbers on notepads during verification", "compliance",
     "critical", "kol-cards", "sneha", ["pci"]),
    ("obs-hold", "kol-floor", 95,
     "Long holds while agents look up the replacement fee; the KB article is buried",
     "process", "concern", "kol-cards", "ravi", ["knowledge-base"]),
    ("obs-headsets", "kol-floor", 120,
     "Several headsets in Team 7 with faulty mute buttons", "technology", "info",
     "kol-cards", "moumita", []),
    ("obs-escrow", "ceb-floor", 30,
     "Agents unsure how to explain escrow shortages; no KB article", "process", "concern",
     "ceb-mortgage", "grace", ["knowledge-base"]),
    ("obs-cebu-quality", "ceb-floor", 70,
     "Calls warm and unhurried; customers thanked agents by name", "quality", "positive",
     "ceb-mortgage", None, []),
    ("obs-disputes-qa", "mnl-site", 60,
     "Disputes QA at 94% with tight calibration between vendor and client scores",
     "quality", "positive", "mnl-fraud", "rowena", ["calibration"]),
    ("obs-chat-conc", "mnl-site", 150,
     "Chat agents handling four concurrent chats at peak; CSAT drops past three",
     "kpi", "concern", "mnl-chat", "carlo", ["csat"]),
    ("obs-badge", "mnl-site", 240,
     "Fraud bay door propped open; badge access not enforced", "compliance", "critical",
     "mnl-fraud", "maria", ["audit"]),
    ("obs-aircon", "mnl-site", 300,
     "Air conditioning weak on the 12th floor in the afternoon", "facility", "info",
     None, "maria", []),
    ("obs-short", "mnl-floor", 15,
     "Night shift short by six agents; overtime covering the gap", "staffing", "concern",
     "mnl-chat", "jasmine", ["night-shift"]),
    ("obs-morale", "mnl-floor", 60,
     "Morale good: team huddle and recognition board kept up to date", "morale", "positive",
     "mnl-chat", "kristine", []),
    ("obs-save", "lhr-review", 15, "Retention save rate back to 31% (target 30%)", "kpi",
     "positive", "lhr-retention", "rashid", []),
    ("obs-backlog", "lhr-review", 35,
     "Disputes back-office backlog at 2.5 days against a 1-day standard", "process",
     "concern", "lhr-backoffice", "ayesha", ["backlog"]),
    ("obs-scripts", "lhr-floor", 30,
     "Retention scripts still quote the old annual fee", "process", "critical",
     "lhr-retention", "sana", ["fee-change"]),
    ("obs-lhr-energy", "lhr-floor", 60,
     "Good energy; team B celebrating a record saves day", "morale", "positive",
     "lhr-retention", "bilal", []),
    ("obs-power", "lhr-floor", 90,
     "Brief power cut; UPS held and no calls dropped", "facility", "info", None, "usman", []),
]  # fmt: skip

# key, visit, minutes, text, asked_by, status, answer, escalated_to, program
QUESTIONS = [
    ("q-fee", "kol-floor", 30,
     "Can we waive the card replacement fee for customers who report fraud?",
     "Team 4", "escalated", None, "tom", "kol-cards"),
    ("q-limit", "kol-floor", 55,
     "Can we offer a temporary credit-limit increase over the phone?",
     "Team 7 agents", "escalated", None, "helen", "kol-cards"),
    ("q-callback", "kol-floor", 80,
     "Are callbacks allowed after 9 pm for customers who ask for one?",
     "Team 4 TL", "answered", "Yes, if the customer asked for that time; note it on the case.",
     None, "kol-cards"),
    ("q-escrow", "ceb-floor", 40, "Who can approve an escrow shortage payment plan?",
     "Mortgage agents", "answered",
     "Tier 2 can approve up to 12 months; longer goes to Meridian's mortgage desk.", None,
     "ceb-mortgage"),
    ("q-chat-transfer", "mnl-site", 120,
     "Can chat agents transfer straight to the fraud queue without a case number?",
     "Chat team", "escalated", None, "angelica", "mnl-chat"),
    ("q-overtime", "mnl-floor", 30, "Will overtime this month count toward the attendance bonus?",
     "Night shift agents", "open", None, None, "mnl-chat"),
    ("q-fee-script", "lhr-floor", 20,
     "Which annual fee do we quote until the new scripts arrive?",
     "Retention team B", "answered", "Quote the new fee (PKR 4,500) and apologise for the "
     "old script; the waiver rules are unchanged.", None, "lhr-retention"),
    ("q-retention-offer", "lhr-floor", 50,
     "Can we match a competitor's cashback offer on the call?",
     "Retention team B", "open", None, None, "lhr-retention"),
]  # fmt: skip

# key, visit, text, owner, due (days from today), priority, status, source
ACTIONS = [
    ("a-calibration", "kol-review", "Re-run QA calibration with Meridian QA", "farhan", -5,
     "high", "in_progress", "obs-aht"),
    ("a-nightshift", "kol-review", "Share a night-shift hiring and rebalancing plan", "deepa",
     -2, "high", "open", "obs-nightshift"),
    ("a-sbs", "kol-floor", "Restart weekly side-by-side coaching in Team 4 and log it", "arjun",
     3, "normal", "open", "obs-sbs"),
    ("a-pci", "kol-floor", "Clean-desk check on every shift; remove notepads from the floor",
     "sneha", -10, "high", "done", "obs-pii"),
    ("a-kb-fee", "kol-floor", "Move the replacement-fee answer to the top of the KB article",
     "sourav", 1, "normal", "open", "obs-hold"),
    ("a-fee-answer", "kol-floor", "Chase Meridian card policy for the fee-waiver answer", None, 0,
     "normal", "open", "q-fee"),
    ("a-escrow-kb", "ceb-floor", "Write an escrow shortage KB article", "ramon", -8, "normal",
     "done", "obs-escrow"),
    ("a-badge", "mnl-site", "Enforce badge access on the fraud bay door before the audit",
     "maria", 2, "high", "open", "obs-badge"),
    ("a-chat-cap", "mnl-site", "Cap chat concurrency at three during peak", "carlo", 7,
     "normal", "in_progress", "obs-chat-conc"),
    ("a-nightshift-mnl", "mnl-floor", "Agree a night-shift hiring plan for chat", "jose", 10,
     "normal", "open", "obs-short"),
    ("a-backlog", "lhr-review", "Clear the back-office backlog to under one day", "rashid", 10,
     "high", "in_progress", "obs-backlog"),
    ("a-scripts", "lhr-floor", "Update retention scripts with the new annual fee", "ayesha", -1,
     "high", "open", "obs-scripts"),
    ("a-cashback", "lhr-floor", "Ask Meridian whether competitor cashback can be matched", None,
     4, "low", "open", "q-retention-offer"),
    ("a-ups", "lhr-floor", "Send the UPS maintenance report", "usman", 14, "low", "cancelled",
     "obs-power"),
]  # fmt: skip


# ---------------------------------------------------------------- loading


def _stamp(moment: datetime) -> str:
    return format_timestamp(moment, "seconds")


def _email(name: str, domain: str) -> str:
    ascii_name = name.lower().replace("á", "a").replace("é", "e").replace("í", "i")
    return ".".join(ascii_name.split()) + "@" + domain


def _records(today: date) -> list[tuple[str, dict[str, Any]]]:
    """Every demo record as (kind, values), in an order where references point backwards."""
    out: list[tuple[str, dict[str, Any]]] = []
    domains = {key: website.split("//")[1] for key, _n, _c, website in VENDORS}
    for key, name, country, website in VENDORS:
        out.append(
            ("vendor", {"id": demo_id(f"vendor:{key}"), "name": name, "country": country,
                        "website": website})
        )  # fmt: skip
    site_vendor: dict[str, str] = {}
    site_tz: dict[str, str] = {}
    for key, vendor, name, city, country, tz, seats in SITES:
        site_vendor[key] = vendor
        site_tz[key] = tz
        out.append(
            ("site", {"id": demo_id(f"site:{key}"), "vendor_id": demo_id(f"vendor:{vendor}"),
                      "name": name, "city": city, "country": country, "timezone": tz,
                      "seats": seats})
        )  # fmt: skip
    for key, site, name, lob, seats in PROGRAMS:
        out.append(
            ("program", {"id": demo_id(f"program:{key}"), "site_id": demo_id(f"site:{site}"),
                         "name": name, "client": "Meridian Bank", "line_of_business": lob,
                         "seats": seats})
        )  # fmt: skip
    for number, (key, name, role, title, site, boss, programs, tags) in enumerate(CONTACTS):
        values: dict[str, Any] = {
            "id": demo_id(f"contact:{key}"),
            "name": name,
            "role": role,
            "title": title,
            "program_ids": [demo_id(f"program:{p}") for p in programs],
            "reports_to": demo_id(f"contact:{boss}") if boss else None,
            "phones": [f"{_COUNTRY_PHONE[site]}{1000 + number * 37:04d}"],
            "tags": tags,
        }
        if site is None:
            values["emails"] = [_email(name, "meridianbank.example")]
        else:
            values["site_id"] = demo_id(f"site:{site}")
            values["vendor_id"] = demo_id(f"vendor:{site_vendor[site]}")
            values["emails"] = [_email(name, domains[site_vendor[site]])]
        out.append(("contact", values))
    visit_start: dict[str, datetime] = {}
    for key, site, kind, days_ago, hour, hours, purpose, attendees, summary in VISITS:
        zone = timezone(_OFFSETS[site_tz[site]])
        start = datetime.combine(today - timedelta(days=days_ago), time(hour), zone)
        visit_start[key] = start
        out.append(
            ("visit", {"id": demo_id(f"visit:{key}"), "site_id": demo_id(f"site:{site}"),
                       "visit_type": kind, "purpose": purpose, "started_at": _stamp(start),
                       "ended_at": _stamp(start + timedelta(hours=hours)),
                       "attendees": [demo_id(f"contact:{a}") for a in attendees],
                       "summary": summary, "created_at": _stamp(start),
                       "updated_at": _stamp(start + timedelta(hours=hours)),
                       **_review_fields(kind, site_vendor[site])})
        )  # fmt: skip
    made_at: dict[str, datetime] = {}
    for key, visit, minutes, text, category, severity, program, contact, tags in OBSERVATIONS:
        moment = visit_start[visit] + timedelta(minutes=minutes)
        made_at[key] = moment
        out.append(
            ("observation", {"id": demo_id(f"observation:{key}"),
                             "visit_id": demo_id(f"visit:{visit}"), "text": text,
                             "category": category, "severity": severity,
                             "program_id": demo_id(f"program:{program}") if program else None,
                             "contact_id": demo_id(f"contact:{contact}") if contact else None,
                             "tags": tags, "created_at": _stamp(moment),
                             "updated_at": _stamp(moment)})
        )  # fmt: skip
    for key, visit, minutes, text, asked_by, status, answer, escalated, program in QUESTIONS:
        moment = visit_start[visit] + timedelta(minutes=minutes)
        made_at[key] = moment
        values = {
            "id": demo_id(f"question:{key}"),
            "visit_id": demo_id(f"visit:{visit}"),
            "program_id": demo_id(f"program:{program}"),
            "text": text,
            "asked_by": asked_by,
            "status": status,
            "answer": answer,
            "escalated_to": demo_id(f"contact:{escalated}") if escalated else None,
            "created_at": _stamp(moment),
            "updated_at": _stamp(moment),
        }
        if answer:
            values["answered_at"] = _stamp(moment + timedelta(minutes=10))
        if status == "escalated":  # §11: on the first level of the vendor's ladder
            values["escalation_level"] = 1
            values["escalated_at"] = _stamp(moment + timedelta(minutes=15))
        out.append(("question", values))
    for key, visit, text, owner, due_in, priority, status, source in ACTIONS:
        source_kind = "question" if source.startswith("q-") else "observation"
        moment = made_at[source] + timedelta(minutes=5)
        out.append(
            ("action", {"id": demo_id(f"action:{key}"), "visit_id": demo_id(f"visit:{visit}"),
                        "text": text,
                        "owner_id": demo_id(f"contact:{owner}") if owner else None,
                        "due": (today + timedelta(days=due_in)).isoformat(),
                        "priority": priority, "status": status,
                        "source_id": demo_id(f"{source_kind}:{source}"),
                        "created_at": _stamp(moment), "updated_at": _stamp(moment)})
        )  # fmt: skip
    out.extend(_relationship_records(today, site_vendor))
    return out


# ---------------------------------------------------------------- §11: KPIs, ladders, reviews

# name, unit, direction, target, red, sla, baseline; the values drift per program
KPIS = [
    ("AHT", "seconds", "lower_better", 300, 340, True, 290),
    ("FCR", "percent", "higher_better", 75, 70, True, 77),
    ("CSAT", "percent", "higher_better", 85, 80, False, 86),
    ("Abandon rate", "percent", "lower_better", 5, 8, True, 4),
]
# vendor -> (level, role, hours)
LADDER = [
    (1, "operations_manager", 4),
    (2, "client_services_manager", 24),
    (3, "facility_operations_manager", 72),
]
# role, every days, required at every site
CADENCES = [
    ("program_manager", 14, True),
    ("client_services_manager", 30, False),
    ("quality_manager", 30, True),
    ("workforce_manager", 45, False),
    ("facility_operations_manager", 60, False),
    ("team_leader", 30, False),
]
# key, days ago (negative: planned), open actions carried over: (key, text, owner, due in)
REVIEW_SERIES = [
    ("kol-review-aug", 76, [("act-aug-forecast", "Share the Q4 volume forecast with WFM",
                             None, -40)]),
    ("kol-review-sep", 46, [("act-sep-attrition", "Attrition report by tenure band",
                             "kavita", -20),
                            ("act-sep-calib", "Joint QA calibration with Meridian QA",
                             "priya", -10)]),
    ("kol-review-dec", -14, []),
]  # fmt: skip


def _review_fields(kind: str, vendor: str) -> dict[str, Any]:
    if kind != "review_meeting":
        return {}
    return {"review": "monthly_performance", "vendor_id": demo_id(f"vendor:{vendor}")}


def _months_back(today: date, count: int) -> list[str]:
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        months.append(f"{year}-{month:02d}")
    return months[::-1]


def _relationship_records(today: date, site_vendor: dict[str, str]) -> list[tuple[str, dict]]:
    """KPIs with 6 months of values, a ladder per vendor, cadences and a review series."""
    from fieldrm.models import kpi_value_id
    from fieldrm.relationships import cadence_id, ladder_step_id

    out: list[tuple[str, dict[str, Any]]] = []
    months = _months_back(today, 6)
    for index, (program, _site, *_rest) in enumerate(PROGRAMS):
        for name, unit, direction, target, red, sla, base in KPIS:
            kpi_id = demo_id(f"kpi:{program}:{name}")
            out.append(
                ("kpi", {"id": kpi_id, "program_id": demo_id(f"program:{program}"),
                         "name": name, "unit": unit, "direction": direction,
                         "target": target, "red": red, "sla": sla})
            )  # fmt: skip
            worse = 1 if direction == "lower_better" else -1
            drift = ((index + 1) % 3) * 0.04 * base  # some programs slide off target
            for step, period in enumerate(months):
                wobble = ((index * 7 + step * 3) % 5 - 2) * 0.005 * base
                value = round(base + worse * drift * step / 5 + wobble, 1)
                out.append(
                    ("kpi_value", {"id": kpi_value_id(kpi_id, period), "kpi_id": kpi_id,
                                   "period": period, "value": value, "source": "vendor MIS"})
                )  # fmt: skip
    for vendor, *_rest in VENDORS:
        for level, role, hours in LADDER:
            vendor_id = demo_id(f"vendor:{vendor}")
            out.append(
                ("ladder_step", {"id": ladder_step_id(vendor_id, None, level),
                                 "vendor_id": vendor_id, "level": level, "role": role,
                                 "respond_within_hours": hours})
            )  # fmt: skip
    for role, days, required in CADENCES:
        out.append(
            ("cadence", {"id": cadence_id(role, None), "role": role, "every_days": days,
                         "required": required})
        )  # fmt: skip
    zone = timezone(_OFFSETS["Asia/Kolkata"])
    for key, days_ago, actions in REVIEW_SERIES:
        start = datetime.combine(today - timedelta(days=days_ago), time(10), zone)
        visit: dict[str, Any] = {
            "id": demo_id(f"visit:{key}"), "site_id": demo_id("site:kolkata"),
            "visit_type": "review_meeting", "review": "monthly_performance",
            "vendor_id": demo_id(f"vendor:{site_vendor['kolkata']}"),
            "program_id": demo_id("program:kol-cards"), "series": "demo-kolkata-monthly",
            "purpose": "Monthly performance review: Meridian Cards",
            "started_at": _stamp(start),
            "attendees": [demo_id("contact:kavita"), demo_id("contact:priya")],
        }  # fmt: skip
        if days_ago > 0:
            visit.update(
                ended_at=_stamp(start + timedelta(hours=2)),
                created_at=_stamp(start),
                updated_at=_stamp(start),
                summary="KPIs reviewed; actions agreed.",
            )
        else:
            visit.update(planned=True, attendees=[])
        out.append(("visit", visit))
        for action_key, text, owner, due_in in actions:
            moment = _stamp(start + timedelta(minutes=90))
            out.append(
                ("action", {"id": demo_id(f"action:{action_key}"), "text": text,
                            "visit_id": demo_id(f"visit:{key}"),
                            "source_id": demo_id(f"visit:{key}"),
                            "owner_id": demo_id(f"contact:{owner}") if owner else None,
                            "due": (today + timedelta(days=due_in)).isoformat(),
                            "priority": "high", "created_at": moment, "updated_at": moment})
            )  # fmt: skip
    return out


def load_demo(store: Store, *, today: date | None = None) -> int:
    """Create the demo records this store lacks; returns how many were created.

    A record whose id exists (even deleted, or edited since) is left alone, so loading
    twice creates nothing and never undoes the user's changes.
    """
    if today is None:
        today = local_today()
    created = 0
    with store.transaction():  # all or nothing
        for kind, values in _records(today):
            if store.get_raw(values["id"]) is None:
                store.create(kind, values)
                created += 1
    return created
