"""Contacts in and out (SPEC §12): vCard and CSV, matched against the contacts a device has.

`import_contacts` reads a file whole before it writes anything: a card or row that cannot
be read refuses the import with its line number (InvalidInput), so an import is all or
nothing.  Each entry then finds the contact it matches:

- the same id (a card this program exported: its UID), the same email, or the same phone
  in any format (phonenumbers, E.164) is the same person: the contact's empty fields are
  filled, and emails, phones and tags it lacks are added;
- otherwise a close name (rapidfuzz) among the contacts of the same vendor is reported as
  a possible match and written nowhere: never a silent merge (`fieldrm merge` joins two
  contacts when the RM decides they are one);
- otherwise the entry is a new contact.

An entry repeated within the file is skipped with the line of its first copy.  Importing
the same file again changes nothing.  Export writes vCard 3.0 or the same CSV that import
reads, so both round-trip.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fieldrm.errors import InvalidInput
from fieldrm.models import Role, label

if TYPE_CHECKING:
    from fieldrm.models import Record
    from fieldrm.store import Store

__all__ = [
    "CSV_HEADER",
    "ContactEntry",
    "ImportPlan",
    "apply_plan",
    "export_contacts",
    "import_contacts",
    "plan_import",
    "read_contacts",
    "read_file",
]

CSV_HEADER = ["name", "role", "title", "vendor", "site", "emails", "phones", "tags", "notes"]
"""The CSV columns import reads and export writes; several values in a cell join with `;`."""

NAME_MATCH_SCORE = 90  # rapidfuzz token_sort_ratio, 0-100
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_ROLES = {member.value: member.value for member in Role} | {
    label(member.value).casefold(): member.value for member in Role
}
_ROLE_FIELD = "X-FIELDRM-ROLE"  # our own exports keep the role exactly


@dataclass
class ContactEntry:
    """One card or row, read and checked, not yet written."""

    line: int
    name: str
    role: str | None = None
    title: str | None = None
    vendor_id: str | None = None
    site_id: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    uid: str | None = None

    def values(self) -> dict[str, Any]:
        """The contact fields this entry sets (empty ones left out)."""
        values = {
            "name": self.name, "role": self.role, "title": self.title,
            "vendor_id": self.vendor_id, "site_id": self.site_id, "emails": self.emails,
            "phones": self.phones, "tags": self.tags, "notes": self.notes,
        }  # fmt: skip
        return {key: value for key, value in values.items() if value not in (None, "", [])}


@dataclass
class ImportPlan:
    """What an import would do: nothing is written until `apply_plan`."""

    new: list[ContactEntry] = field(default_factory=list)
    # (entry, contact, why, the changes: {"set": {...}, "add": {...}} or {} when none)
    matched: list[tuple[ContactEntry, Record, str, dict[str, Any]]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """SPEC §12's report, plus the matches themselves (who matched whom, and why)."""
        return {
            "new": len(self.new),
            "matched": len(self.matched),
            "updated": sum(1 for *_, changes in self.matched if changes),
            "skipped": self.skipped,
            "matches": [
                {
                    "line": entry.line,
                    "name": entry.name,
                    "contact_id": contact.id,
                    "contact": str(getattr(contact, "name", "")),
                    "by": why,
                    "updates": sorted({*changes.get("set", {}), *changes.get("add", {})}),
                }
                for entry, contact, why, changes in self.matched
            ],  # fmt: skip
        }


# ---------------------------------------------------------------- reading


def read_file(path: str) -> tuple[bytes, str]:
    """A contacts file's bytes and format (`vcf` or `csv`, from its name)."""
    from pathlib import Path

    from fieldrm.errors import FieldrmError

    fmt = Path(path).suffix.lower().lstrip(".")
    fmt = {"vcard": "vcf"}.get(fmt, fmt)
    if fmt not in ("vcf", "csv"):
        raise InvalidInput(f"{path}: a contacts file is .vcf or .csv")
    try:
        return Path(path).expanduser().read_bytes(), fmt
    except OSError as error:
        raise FieldrmError(f"cannot read {path}: {error.strerror or error}") from None


def decode(data: bytes, source: str) -> str:
    """UTF-8 text (a BOM allowed); anything else is refused with the line it fails on."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InvalidInput(f"{source} line {line}: not UTF-8 text; nothing imported") from None


def read_contacts(
    store: Store, text: str, fmt: str, *, region: str | None = None
) -> list[ContactEntry]:
    """Every entry of a vCard (`vcf`) or CSV (`csv`) text; InvalidInput names the first bad
    line."""
    lookup = _Names(store)
    if fmt == "vcf":
        return _read_vcards(text, lookup, region)
    if fmt == "csv":
        return _read_csv(text, lookup, region)
    raise InvalidInput(f"unknown contacts format {fmt!r} (vcf or csv)")


class _Names:
    """Vendors and sites by name (case-insensitive), read once per import."""

    def __init__(self, store: Store) -> None:
        self.vendors = {str(r.name).casefold(): r.id for r in store.list("vendor")}
        self.sites = {str(r.name).casefold(): r for r in store.list("site")}

    def vendor(self, name: str) -> str | None:
        return self.vendors.get(" ".join(name.split()).casefold())

    def site(self, name: str) -> Record | None:
        return self.sites.get(" ".join(name.split()).casefold())


def normalise_phone(raw: str, region: str | None = None) -> str:
    """A phone as E.164 (`+919830012345`) when it parses, else its digits (and a leading +)."""
    import phonenumbers

    text = raw.strip().removeprefix("tel:").strip()
    try:
        number = phonenumbers.parse(text, region)
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    digits = re.sub(r"[^\d]", "", text)
    return ("+" if text.startswith("+") else "") + digits if digits else text


def _email(raw: str, where: str) -> str:
    email = raw.strip()
    if not _EMAIL.match(email):
        raise InvalidInput(f"{where}: not an email address: {email!r}; nothing imported")
    return email


def _role(raw: str, where: str, *, strict: bool) -> str | None:
    word = " ".join(raw.replace("_", " ").split()).casefold()
    role = _ROLES.get(word) or _ROLES.get(word.replace(" ", "_"))
    if role is None and strict:
        raise InvalidInput(
            f"{where}: unknown role {raw.strip()!r} (one of {', '.join(_ROLE_VALUES)}); "
            "nothing imported"
        )
    return role


_ROLE_VALUES = [member.value for member in Role]


def _read_vcards(text: str, names: _Names, region: str | None) -> list[ContactEntry]:
    import vobject

    entries: list[ContactEntry] = []
    lines = text.splitlines()
    start: int | None = None
    for number, line in enumerate(lines, start=1):
        word = line.strip().upper()
        if word == "BEGIN:VCARD":
            if start is not None:
                raise InvalidInput(f"line {number}: a card begins inside the card of line "
                                   f"{start}; nothing imported")  # fmt: skip
            start = number
        elif word == "END:VCARD":
            if start is None:
                raise InvalidInput(f"line {number}: END:VCARD with no card; nothing imported")
            block = "\r\n".join(lines[start - 1 : number]) + "\r\n"
            try:
                card = vobject.readOne(block)
            except Exception as error:  # vobject raises ParseError and plain exceptions
                bad = _failing_line(str(error), lines[start - 1 : number], start)
                raise InvalidInput(f"line {bad}: cannot read this vCard ({_first_line(error)}); "
                                   "nothing imported") from None  # fmt: skip
            entries.append(_vcard_entry(card, start, names, region))
            start = None
        elif start is None and word:
            raise InvalidInput(f"line {number}: not part of a vCard; nothing imported")
    if start is not None:
        raise InvalidInput(f"line {start}: a card with no END:VCARD; nothing imported")
    if not entries:
        raise InvalidInput("no vCards in the file; nothing imported")
    return entries


def _first_line(error: Exception) -> str:
    return " ".join(str(error).split())[:120] or type(error).__name__


def _failing_line(message: str, block: list[str], start: int) -> int:
    """vobject names the text of the line it failed on; find it in the card."""
    found = re.search(r"Failed to parse line: (.*)", message)
    if found:
        wanted = found.group(1).strip()
        for offset, line in enumerate(block):
            if line.strip() == wanted:
                return start + offset
    return start


def _values(card: Any, name: str) -> list[Any]:
    return [item.value for item in card.contents.get(name, [])]


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = " ".join(str(part) for part in value if part)
    return " ".join(str(value or "").split())


def _vcard_entry(card: Any, line: int, names: _Names, region: str | None) -> ContactEntry:
    where = f"line {line}"
    name = next((_text(v) for v in _values(card, "fn") if _text(v)), "")
    if not name:
        for value in _values(card, "n"):
            parts = [value.prefix, value.given, value.additional, value.family, value.suffix]
            name = _text([_text(part) for part in parts])
            if name:
                break
    if not name:
        raise InvalidInput(f"{where}: a vCard with no name (FN or N); nothing imported")
    entry = ContactEntry(line=line, name=name)
    for value in _values(card, _ROLE_FIELD.lower()):
        entry.role = _role(_text(value), where, strict=True)
    for value in _values(card, "role"):
        entry.role = entry.role or _role(_text(value), where, strict=False)
    entry.title = next((_text(v) for v in _values(card, "title") if _text(v)), None)
    for value in _values(card, "org"):
        vendor_name = _text(value[0] if isinstance(value, list) and value else value)
        entry.vendor_id = entry.vendor_id or names.vendor(vendor_name)
    for value in _values(card, "x-fieldrm-site"):
        site = names.site(_text(value))
        if site is not None:
            entry.site_id = site.id
            entry.vendor_id = entry.vendor_id or getattr(site, "vendor_id", None)
    entry.emails = _unique(_email(_text(v), where) for v in _values(card, "email") if _text(v))
    entry.phones = _unique(normalise_phone(_text(v), region) for v in _values(card, "tel")
                           if _text(v))  # fmt: skip
    tags: list[str] = []
    for value in _values(card, "categories"):
        tags.extend(value if isinstance(value, list) else str(value).split(","))
    entry.tags = _unique(" ".join(str(t).split()).lower() for t in tags if str(t).strip())
    entry.notes = "\n".join(str(v).strip() for v in _values(card, "note") if str(v).strip()) or None
    uid = next((_text(v) for v in _values(card, "uid") if _text(v)), None)
    entry.uid = uid.removeprefix("urn:uuid:") if uid else None
    return entry


def _unique(items: Any) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)


def _read_csv(text: str, names: _Names, region: str | None) -> list[ContactEntry]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [" ".join(cell.split()).casefold() for cell in next(reader)]
    except StopIteration:
        raise InvalidInput("the CSV file is empty; nothing imported") from None
    except csv.Error as error:
        raise InvalidInput(f"line 1: {error}; nothing imported") from None
    aliases = {"email": "emails", "phone": "phones", "tag": "tags", "note": "notes",
               "company": "vendor", "organization": "vendor", "full name": "name"}  # fmt: skip
    columns = [aliases.get(cell, cell) for cell in header]
    unknown = [cell for cell in columns if cell not in CSV_HEADER]
    if unknown:
        raise InvalidInput(f"line 1: unknown column {unknown[0]!r} (columns: "
                           f"{', '.join(CSV_HEADER)}); nothing imported")  # fmt: skip
    if "name" not in columns:
        raise InvalidInput("line 1: the CSV needs a name column; nothing imported")
    entries = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise InvalidInput(f"line {reader.line_num}: {error}; nothing imported") from None
        if not any(cell.strip() for cell in row):
            continue
        line = reader.line_num
        if len(row) > len(columns):
            raise InvalidInput(f"line {line}: {len(row)} cells for {len(columns)} columns; "
                               "nothing imported")  # fmt: skip
        entries.append(_csv_entry(dict(zip(columns, row, strict=False)), line, names, region))
    return entries


def _split(cell: str | None) -> list[str]:
    return [part.strip() for part in (cell or "").split(";") if part.strip()]


def _csv_entry(row: dict[str, str], line: int, names: _Names, region: str | None) -> ContactEntry:
    where = f"line {line}"
    name = " ".join((row.get("name") or "").split())
    if not name:
        raise InvalidInput(f"{where}: a contact with no name; nothing imported")
    entry = ContactEntry(line=line, name=name)
    if (row.get("role") or "").strip():
        entry.role = _role(row["role"], where, strict=True)
    entry.title = " ".join((row.get("title") or "").split()) or None
    if (row.get("vendor") or "").strip():
        entry.vendor_id = names.vendor(row["vendor"])
        if entry.vendor_id is None:
            raise InvalidInput(f"{where}: no vendor named {row['vendor'].strip()!r}; "
                               "nothing imported")  # fmt: skip
    if (row.get("site") or "").strip():
        site = names.site(row["site"])
        if site is None:
            raise InvalidInput(f"{where}: no site named {row['site'].strip()!r}; nothing imported")
        entry.site_id = site.id
        entry.vendor_id = entry.vendor_id or getattr(site, "vendor_id", None)
    entry.emails = _unique(_email(part, where) for part in _split(row.get("emails")))
    entry.phones = _unique(normalise_phone(part, region) for part in _split(row.get("phones")))
    entry.tags = _unique(part.lower() for part in _split(row.get("tags")))
    entry.notes = (row.get("notes") or "").strip() or None
    return entry


# ---------------------------------------------------------------- matching


def plan_import(
    store: Store, entries: list[ContactEntry], *, region: str | None = None
) -> ImportPlan:
    """Match every entry against the device's contacts (and earlier entries of the file)."""
    from rapidfuzz import fuzz, process

    contacts = store.list("contact", order="id")
    by_id = {contact.id: contact for contact in contacts}
    by_email: dict[str, Record] = {}
    by_phone: dict[str, Record] = {}
    by_vendor: dict[str | None, list[Record]] = {}
    for contact in contacts:
        for email in getattr(contact, "emails", None) or []:
            by_email.setdefault(email.casefold(), contact)
        for phone in getattr(contact, "phones", None) or []:
            by_phone.setdefault(normalise_phone(phone, region), contact)
        by_vendor.setdefault(getattr(contact, "vendor_id", None), []).append(contact)

    plan = ImportPlan()
    seen: dict[str, int] = {}  # a key of an earlier entry in the file -> its line
    for entry in entries:
        keys = [f"email:{e.casefold()}" for e in entry.emails] + [f"tel:{p}" for p in entry.phones]
        if not keys:  # two people of one name are told apart by their email or phone
            keys.append(f"name:{entry.vendor_id}:{entry.name.casefold()}")
        if entry.uid:
            keys.append(f"uid:{entry.uid}")
        first = next((seen[key] for key in keys if key in seen), None)
        if first is not None:
            plan.skipped.append({"line": entry.line, "reason": f"the same contact as line {first}"})
            continue
        for key in keys:
            seen[key] = entry.line
        found = _strong_match(entry, by_id, by_email, by_phone)
        if found is not None:
            contact, why = found
            plan.matched.append((entry, contact, why, _fills(contact, entry, region)))
            continue
        candidates = by_vendor.get(entry.vendor_id, [])
        best = process.extractOne(
            entry.name,
            [str(getattr(c, "name", "")) for c in candidates],
            scorer=fuzz.token_sort_ratio,
            processor=str.casefold,
            score_cutoff=NAME_MATCH_SCORE,
        )
        if best is not None:
            _name, score, index = best
            why = f"close name ({round(score)}%): not merged, check and `fieldrm merge` if one"
            plan.matched.append((entry, candidates[index], why, {}))
            continue
        plan.new.append(entry)
    return plan


def _strong_match(
    entry: ContactEntry,
    by_id: dict[str, Record],
    by_email: dict[str, Record],
    by_phone: dict[str, Record],
) -> tuple[Record, str] | None:
    if entry.uid and entry.uid in by_id:
        return by_id[entry.uid], "id"
    for email in entry.emails:
        if email.casefold() in by_email:
            return by_email[email.casefold()], f"email {email}"
    for phone in entry.phones:
        if phone in by_phone:
            return by_phone[phone], f"phone {phone}"
    return None


def _fills(contact: Record, entry: ContactEntry, region: str | None) -> dict[str, Any]:
    """The changes that fill a matched contact's empty fields; {} when there are none."""
    values = entry.values()
    changes: dict[str, Any] = {}
    for name in ("role", "title", "vendor_id", "site_id", "notes"):
        if values.get(name) and not getattr(contact, name, None):
            changes.setdefault("set", {})[name] = values[name]
    have = {
        "emails": {e.casefold() for e in getattr(contact, "emails", None) or []},
        "phones": {normalise_phone(p, region) for p in getattr(contact, "phones", None) or []},
        "tags": set(getattr(contact, "tags", None) or []),
    }
    for name, present in have.items():
        key = str.casefold if name == "emails" else (lambda value: value)
        missing = [value for value in values.get(name, []) if key(value) not in present]
        if missing:
            changes.setdefault("add", {})[name] = missing
    return changes


def apply_plan(store: Store, plan: ImportPlan) -> None:
    """Write a plan in one transaction: new contacts created, matched ones filled."""
    with store.transaction():
        for entry in plan.new:
            store.create("contact", entry.values())
        for _entry, contact, _why, changes in plan.matched:
            if changes:
                store.update(contact.id, set=changes.get("set"), add=changes.get("add"))


def import_contacts(
    store: Store, data: bytes, fmt: str, *, dry_run: bool = False, region: str | None = None,
    source: str = "the file",
) -> dict[str, Any]:  # fmt: skip
    """Read, match and (unless `dry_run`) write; the summary either way."""
    text = decode(data, source)
    entries = read_contacts(store, text, fmt, region=region)
    plan = plan_import(store, entries, region=region)
    if not dry_run:
        apply_plan(store, plan)
    return plan.summary()


# ---------------------------------------------------------------- export


def export_contacts(store: Store, fmt: str) -> str:
    """Every contact as vCard 3.0 (`vcf`) or the CSV import reads (`csv`), by name."""
    contacts = sorted(store.list("contact"), key=lambda c: (str(c.name).casefold(), c.id))
    names = {r.id: str(r.name) for kind in ("vendor", "site") for r in store.list(kind)}
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for contact in contacts:
            writer.writerow([
                contact.name, getattr(contact, "role", None) or "",
                getattr(contact, "title", None) or "",
                names.get(getattr(contact, "vendor_id", None) or "", ""),
                names.get(getattr(contact, "site_id", None) or "", ""),
                ";".join(getattr(contact, "emails", None) or []),
                ";".join(getattr(contact, "phones", None) or []),
                ";".join(getattr(contact, "tags", None) or []),
                getattr(contact, "notes", None) or "",
            ])  # fmt: skip
        return buffer.getvalue()
    if fmt == "vcf":
        return "".join(_vcard(contact, names) for contact in contacts)
    raise InvalidInput(f"unknown contacts format {fmt!r} (vcf or csv)")


def _vcard(contact: Record, names: dict[str, str]) -> str:
    import vobject

    card = vobject.vCard()
    card.add("fn").value = str(contact.name)
    words = str(contact.name).split()
    card.add("n").value = vobject.vcard.Name(family=words[-1] if len(words) > 1 else "",
                                             given=" ".join(words[:-1]) or words[0])  # fmt: skip
    card.add("uid").value = contact.id
    role = getattr(contact, "role", None)
    if role:
        card.add("role").value = label(role)
        card.add(_ROLE_FIELD.lower()).value = role
    if getattr(contact, "title", None):
        card.add("title").value = contact.title
    vendor = names.get(getattr(contact, "vendor_id", None) or "")
    if vendor:
        card.add("org").value = [vendor]
    site = names.get(getattr(contact, "site_id", None) or "")
    if site:
        card.add("x-fieldrm-site").value = site
    for email in getattr(contact, "emails", None) or []:
        card.add("email").value = email
    for phone in getattr(contact, "phones", None) or []:
        card.add("tel").value = phone
    if getattr(contact, "tags", None):
        card.add("categories").value = list(contact.tags)
    if getattr(contact, "notes", None):
        card.add("note").value = contact.notes
    return card.serialize()
