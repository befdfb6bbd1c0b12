"""Quick capture (SPEC §3): one typed line becomes one observation, question or action.

`parse_capture` is pure and cheap, so the terminal app can call it on every keystroke to
show what a line will become; the only outside lookup goes through `find_contacts`.
`format_capture` is its inverse: the line that would make a saved entry, to edit it.
Saving a line (against a store and its open visit) is `fieldrm.notebook.capture`.

The grammar, with the choices the SPEC leaves open:

- `? …` is a question, `> …` an action, anything else an observation.
- `#word` names a category (`#training`) or else becomes a tag (lower-cased).  Only
  observations have categories and tags; on a question or action `#word` stays in the
  text, with a warning.  A second category word becomes a tag.  `#4` (no letter first)
  is plain text, and so is `@10am`: markup words start with a letter.
- `!word` is a severity on an observation (`!concern`).  On an action it sets the
  priority: `!low`, `!normal`, `!high`, and `!urgent`/`!critical` mean high.  Questions
  have neither, so `!word` stays in their text.  Unknown words stay in the text, with a
  warning.
- `@name` names a contact by a unique prefix of their name or of a word of it;
  `@priya.nair` and `@Priya_Nair` spell a full name.  If several contacts match, one
  whose full name or a whole word of it equals what was typed is taken when it is the
  only such one (`@Ravi` is Ravi Kumar even when Ravindra Singh exists); otherwise the
  name is ambiguous.  Ambiguous and unknown names stay in the text as typed, with a
  warning, never guessed.  A known name stays readable in the text (the name as the
  contact spells it, the typed word when it was a whole word of the name).  The first
  contact named fills `contact_id` on an observation, `owner_id` on an action, and
  `escalated_to` (status escalated) on a question: naming someone on a floor question
  means it went to them.
- `^date` is a due date on an action (`models.parse_due`: `2026-12-01`, `fri`, `+3d`,
  `tomorrow`); a bad date, a second date or a date on another kind stays in the text,
  with a warning.
- A question may carry `(asked_by: team 7)` anywhere, which fills `asked_by`.
- Trailing punctuation after markup (`@Priya,`) stays in the text.

Parsing never loses text: whatever is not recognized markup stays in `text`, in order,
with runs of spaces collapsed to one.  A line with nothing but markup is `InvalidInput`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fieldrm.errors import InvalidInput
from fieldrm.models import Category, Priority, QuestionStatus, Record, Severity, label, parse_due

__all__ = ["LINE_FIELDS", "Capture", "format_capture", "mention", "parse_capture"]

LINE_FIELDS: dict[str, tuple[str, ...]] = {
    "observation": ("category", "severity", "contact_id"),
    "question": ("asked_by", "escalated_to"),
    "action": ("owner_id", "due", "priority"),
}
"""The fields (besides text and tags) a capture line sets, per kind."""


@dataclass
class Capture:
    """What a line parses to: a kind and the values to create it with."""

    kind: str  # "observation" | "question" | "action"
    values: dict[str, Any]  # ready for Store.create(kind, values)
    warnings: list[str] = field(default_factory=list)  # one line each
    contacts: list[Record] = field(default_factory=list)  # named unambiguously


# A markup token starts a whitespace-separated word; its "core" is the part the grammar
# reads, anything after it (`,` `'s` `.`) is punctuation that stays in the text.
_TOKEN = re.compile(r"\S+")
_CORES = {
    "#": re.compile(r"[^\W\d_][\w\-]*", re.UNICODE),
    "!": re.compile(r"[^\W\d_]\w*", re.UNICODE),
    "@": re.compile(r"[^\W\d_][\w.\-']*", re.UNICODE),
    "^": re.compile(r"[+\w][\w\-]*", re.UNICODE),
}
_ASKED_BY = re.compile(r"\(\s*asked[ _]by\s*:\s*([^()]*?)\s*\)", re.IGNORECASE)

_CATEGORIES = {member.value for member in Category}
_SEVERITIES = {member.value for member in Severity}
_PRIORITIES = {member.value: member.value for member in Priority} | {
    "urgent": Priority.high.value,
    "critical": Priority.high.value,
}
_DATE_HINT = "use 2026-12-01, fri, +3d, today or tomorrow"
_KIND_BY_PREFIX = {"?": "question", ">": "action"}
_A_KIND = {"observation": "an observation", "question": "a question", "action": "an action"}
_CONTACT_FIELD = {"observation": "contact_id", "action": "owner_id", "question": "escalated_to"}


def _split_core(sigil: str, word: str) -> tuple[str, str]:
    """`@Priya,` → (`Priya`, `,`): the part the grammar reads and the trailing rest."""
    match = _CORES[sigil].match(word)
    if match is None:
        return "", word
    core = match.group(0)
    # A name or date may contain `.`, `-` or `'` inside, never at its end ("@Priya." ends
    # a sentence); a possessive "'s" is punctuation, not part of the name.
    stripped = core.rstrip(".-'")
    if sigil == "@" and stripped.lower().endswith("'s"):
        stripped = stripped[:-2].rstrip(".-'")
    return stripped, word[len(stripped) :]


class _Parser:
    def __init__(
        self,
        kind: str,
        find_contacts: Callable[[str], list[Record]],
        today: date,
    ) -> None:
        self.kind = kind
        self.find_contacts = find_contacts
        self.today = today
        self.values: dict[str, Any] = {}
        self.tags: list[str] = []
        self.warnings: list[str] = []
        self.contacts: list[Record] = []
        self.words: list[str] = []  # the text being rebuilt
        self.content_words = 0  # words that are not markup (a name read from @ is markup)

    # ---------------------------------------------------------------- text

    def keep(self, word: str) -> None:
        self.words.append(word)
        self.content_words += 1

    def keep_suffix(self, suffix: str) -> None:
        """Punctuation left after removed markup joins the word before it."""
        if not suffix:
            return
        if self.words:
            self.words[-1] += suffix
        else:
            self.words.append(suffix)
        if any(ch.isalnum() for ch in suffix):
            self.content_words += 1

    # ---------------------------------------------------------------- markup

    def word(self, word: str) -> None:
        sigil = word[0]
        if sigil not in _CORES or len(word) == 1:
            self.keep(word)
            return
        core, suffix = _split_core(sigil, word[1:])
        if not core:
            self.keep(word)
            return
        handler = {"#": self.hash, "!": self.bang, "@": self.mention, "^": self.due}[sigil]
        if handler(word[: 1 + len(core)], core):
            self.keep_suffix(suffix)
        else:
            self.keep(word)

    def hash(self, token: str, core: str) -> bool:
        if self.kind != "observation":
            self.warnings.append(
                f"{token}: {_A_KIND[self.kind]} has no category or tags: kept as text"
            )
            return False
        word = core.lower()
        if word in _CATEGORIES and "category" not in self.values:
            self.values["category"] = word
            return True
        if word in _CATEGORIES:
            self.warnings.append(
                f"{token}: category is already {self.values['category']}: kept as a tag"
            )
        else:
            import difflib  # only for a word that is not a category: keeps capture's start light

            close = difflib.get_close_matches(word, list(_CATEGORIES), n=1, cutoff=0.8)
            if close:
                self.warnings.append(
                    f"{token} is not a category: did you mean #{close[0]}? kept as a tag"
                )
        if word not in self.tags:
            self.tags.append(word)
        return True

    def first(self, token: str, name: str, value: Any) -> bool:
        """Set `name` unless an earlier word did; a repeat stays in the text."""
        if name in self.values:
            self.warnings.append(
                f"{token}: {label(name)} is already {self.values[name]}: kept as text"
            )
            return False
        self.values[name] = value
        return True

    def bang(self, token: str, core: str) -> bool:
        word = core.lower()
        if self.kind == "observation":
            word = unique_prefix(word, _SEVERITIES_ORDER)
            if word in _SEVERITIES:
                return self.first(token, "severity", word)
            self.warnings.append(
                f"{token} is not a severity ({', '.join(_SEVERITIES_ORDER)}): kept as text"
            )
        elif self.kind == "action":
            word = unique_prefix(word, list(_PRIORITIES))
            if word in _PRIORITIES:
                return self.first(token, "priority", _PRIORITIES[word])
            self.warnings.append(
                f"{token} is not a priority (low, normal, high, urgent): kept as text"
            )
        else:
            self.warnings.append(f"{token}: a question has no severity or priority: kept as text")
        return False

    def due(self, token: str, core: str) -> bool:
        if self.kind != "action":
            self.warnings.append(f"{token}: only actions have a due date: kept as text")
            return False
        try:
            due = parse_due(core, self.today).isoformat()
        except (ValueError, OverflowError):  # `^+99999999d` overflows
            self.warnings.append(f"{token} is not a date ({_DATE_HINT}): kept as text")
            return False
        return self.first(token, "due", due)

    def mention(self, token: str, core: str) -> bool:
        found = self._one_contact(token, core)
        if found is None:
            return False
        contact, typed = found
        if all(known.id != contact.id for known in self.contacts):
            self.contacts.append(contact)
        field_name = _CONTACT_FIELD[self.kind]
        if field_name not in self.values:
            self.values[field_name] = contact.id
            if self.kind == "question":
                self.values["status"] = QuestionStatus.escalated.value
        elif self.values[field_name] != contact.id:
            self.warnings.append(
                f"{token}: only one contact per {self.kind}; {contact.label} is in the text"
            )
        self.words.append(_readable_name(typed, str(getattr(contact, "name", contact.label))))
        return True

    def _one_contact(self, token: str, core: str) -> tuple[Record, str] | None:
        """The one contact `core` names, with the name as typed (spaces for `.` and `_`)."""
        typed = " ".join(part for part in re.split(r"[._]+", core) if part)
        try:
            found = list(self.find_contacts(typed))
            if not found and "." in core:
                # A dot that is part of the name ("J. Smith" as `@J._Smith`).
                typed = " ".join(part for part in core.split("_") if part)
                found = list(self.find_contacts(typed))
        except Exception as error:  # a lookup failure must not lose the line
            self.warnings.append(f"{token}: contacts could not be looked up ({error})")
            return None
        if len(found) > 1:
            exact = [c for c in found if _names_equal(typed, getattr(c, "name", ""))]
            if len(exact) != 1:
                exact = [c for c in found if _is_whole_words(typed, getattr(c, "name", ""))]
            if len(exact) == 1:
                return exact[0], typed
            names = ", ".join(str(getattr(c, "name", c.label)) for c in found[:4])
            more = ", …" if len(found) > 4 else ""
            count = f"{len(found)}+" if len(found) >= 10 else str(len(found))
            self.warnings.append(f"{token} matches {count} contacts ({names}{more}): kept as text")
            return None
        if not found:
            self.warnings.append(f"{token} matches no contact: kept as text")
            return None
        return found[0], typed


_SEVERITIES_ORDER = [member.value for member in Severity]


def unique_prefix(word: str, choices: list[str]) -> str:
    """The one choice `word` starts (`con` -> `concern`), else `word` itself."""
    if word in choices:
        return word
    matches = [choice for choice in choices if choice.startswith(word)]
    return matches[0] if len(matches) == 1 else word


def _names_equal(typed: str, name: str) -> bool:
    return typed.casefold() == " ".join(name.split()).casefold()


def _is_whole_words(typed: str, name: str) -> bool:
    """`ravi` in "Ravi Kumar", `priya nair` in "Priya Nair": whole words, in order."""
    words = name.casefold().split()
    wanted = typed.casefold().split()
    return any(words[i : i + len(wanted)] == wanted for i in range(len(words)))


def _readable_name(typed: str, name: str) -> str:
    """The name as it should read in the text: a whole typed word as the contact spells it."""
    if _names_equal(typed, name):
        return name
    words = name.split()
    wanted = typed.casefold().split()
    for index in range(len(words)):
        if [w.casefold() for w in words[index : index + len(wanted)]] == wanted:
            return " ".join(words[index : index + len(wanted)])
    return name


def parse_capture(
    line: str,
    *,
    find_contacts: Callable[[str], list[Record]],
    today: date,
    visit_id: str | None = None,
) -> Capture:
    """Parse one quick-capture line (SPEC §3); raises InvalidInput when it has no text."""
    body = " ".join(line.split())
    kind = "observation"
    if body[:1] in _KIND_BY_PREFIX:
        kind = _KIND_BY_PREFIX[body[0]]
        body = body[1:].strip()
    parser = _Parser(kind, find_contacts, today)
    if kind == "question":
        match = _ASKED_BY.search(body)
        if match and match.group(1):
            parser.values["asked_by"] = match.group(1)
            body = f"{body[: match.start()].rstrip()} {body[match.end() :].lstrip()}".strip()
    for token in _TOKEN.findall(body):
        parser.word(token)
    if parser.content_words == 0:
        raise InvalidInput(f"nothing to save: {_A_KIND[kind]} needs some text besides markup")
    values: dict[str, Any] = {"text": " ".join(parser.words), **parser.values}
    if parser.tags:
        values["tags"] = parser.tags
    if visit_id:
        values["visit_id"] = visit_id
    return Capture(kind=kind, values=values, warnings=parser.warnings, contacts=parser.contacts)


def mention(name: str) -> str:
    """A contact's name as `@` markup that the grammar reads as the full name."""
    return "@" + "_".join(name.split())


def _name_in_text(name: str, text: str) -> re.Match[str] | None:
    """Where the text holds the name as a capture leaves it: the full name, else the
    longest run of its words (`Ravi` for Ravi Kumar), each as whole words."""
    words = name.split()
    runs = [words[i:j] for i in range(len(words)) for j in range(i + 1, len(words) + 1)]
    for run in sorted(runs, key=len, reverse=True):
        pattern = r"\s+".join(re.escape(word) for word in run)
        found = re.search(rf"(?<!\S){pattern}(?![\w-])", text, re.IGNORECASE)
        if found:
            return found
    return None


_PREFIX_BY_KIND = {kind: prefix + " " for prefix, kind in _KIND_BY_PREFIX.items()}


def format_capture(record: Record, names: dict[str, str]) -> str:
    """The capture line that makes `record` again: `parse_capture` of it gives back the
    record's text, tags and `LINE_FIELDS` (the inverse of the parser).

    `names` maps the ids of the contacts it references to their names.  A contact's name
    that the text already holds (as a capture leaves it) becomes the `@` mention in place;
    otherwise the mention is added at the end.  A reference with no name is left out.
    """
    values: dict[str, Any] = record.to_json()
    text = str(values.get("text") or "")
    after: list[str] = []
    if values.get("category"):
        after.append("#" + values["category"])
    after.extend("#" + tag for tag in values.get("tags") or [])
    for name in ("severity", "priority"):
        if values.get(name):
            after.append("!" + values[name])
    contact_field = _CONTACT_FIELD.get(record.kind)
    name = names.get(values.get(contact_field) or "") if contact_field else None
    if name:
        found = _name_in_text(name, text)
        if found:
            text = text[: found.start()] + mention(name) + text[found.end() :]
        else:
            after.append(mention(name))
    if values.get("due"):
        after.append("^" + values["due"])
    if values.get("asked_by"):
        after.append(f"(asked_by: {values['asked_by']})")
    return " ".join([_PREFIX_BY_KIND.get(record.kind, "") + text, *after])
