"""Quick capture (SPEC §3): every rule of the grammar, and properties over arbitrary text."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldrm.capture import LINE_FIELDS, Capture, format_capture, parse_capture
from fieldrm.errors import InvalidInput
from fieldrm.models import KINDS, Record, new_id
from fieldrm.notebook import capture
from fieldrm.store import Store

TODAY = date(2026, 11, 23)  # a Monday
NAMES = [
    "Ravi Kumar",
    "Rashid Ali",
    "Priya Nair",
    "Ravindra Singh",
    "Maria Santos",
    "Ali",
    "J. Smith",
    "Mary-Jane O'Neil",
]
CONTACTS = [KINDS["contact"](id=new_id(), name=name) for name in NAMES]
BY_NAME = {contact.name: contact for contact in CONTACTS}


def find_contacts(prefix: str) -> list[Record]:
    """What Store.contacts_matching does: a prefix of the name or of a word of it."""
    wanted = prefix.lower()
    return [
        c
        for c in sorted(CONTACTS, key=lambda c: c.name)
        if c.name.lower().startswith(wanted) or f" {wanted}" in f" {c.name.lower()}"
    ]


def parse(line: str, **kwargs) -> Capture:
    return parse_capture(line, find_contacts=find_contacts, today=TODAY, **kwargs)


# ---------------------------------------------------------------- kinds


def test_spec_observation_example():
    result = parse("Team 4 TLs not doing side-by-sides #training !concern @Ravi")
    assert result.kind == "observation"
    assert result.values == {
        "text": "Team 4 TLs not doing side-by-sides Ravi",
        "category": "training",
        "severity": "concern",
        "contact_id": BY_NAME["Ravi Kumar"].id,
    }
    assert result.warnings == []
    assert [c.name for c in result.contacts] == ["Ravi Kumar"]


def test_spec_question_example():
    result = parse("? can we waive the fee for 2 months  (asked_by: team 7)")
    assert result.kind == "question"
    assert result.values == {"text": "can we waive the fee for 2 months", "asked_by": "team 7"}


def test_spec_action_example():
    result = parse("> send QA calibration deck to @Priya ^fri")
    assert result.kind == "action"
    assert result.values == {
        "text": "send QA calibration deck to Priya",
        "owner_id": BY_NAME["Priya Nair"].id,
        "due": "2026-11-27",
    }


def test_prefix_without_space_and_surrounding_spaces():
    assert parse("   ?why is the queue long").kind == "question"
    assert parse(">call the vendor").values["text"] == "call the vendor"
    assert parse("queue > target today").kind == "observation"
    assert parse("is it ok?").kind == "observation"


@pytest.mark.parametrize("line", ["", "   ", "?", ">", "? ", "#training !concern", "> @Priya ^fri"])
def test_empty_or_only_markup_is_invalid(line):
    with pytest.raises(InvalidInput, match="nothing to save"):
        parse(line)


def test_question_with_only_asked_by_is_invalid():
    with pytest.raises(InvalidInput):
        parse("? (asked_by: team 7)")


# ---------------------------------------------------------------- categories and tags


def test_category_is_case_insensitive_and_unknown_words_are_tags():
    result = parse("Aux codes misused #KPI #Night-Shift #vip")
    assert result.values["category"] == "kpi"
    assert result.values["tags"] == ["night-shift", "vip"]
    assert result.values["text"] == "Aux codes misused"


def test_second_category_becomes_a_tag_with_warning():
    result = parse("calibration missed #quality #training")
    assert result.values["category"] == "quality"
    assert result.values["tags"] == ["training"]
    assert any("category is already quality" in w for w in result.warnings)


def test_hash_with_digit_is_plain_text():
    result = parse("team #4 is short-staffed #staffing")
    assert result.values["text"] == "team #4 is short-staffed"
    assert "tags" not in result.values


def test_hash_on_question_or_action_stays_with_warning():
    result = parse("? may we share #quality scores")
    assert result.values["text"] == "may we share #quality scores"
    assert "category" not in result.values
    assert result.warnings == ["#quality: a question has no category or tags: kept as text"]
    action = parse("> review #quality scores")
    assert action.values["text"] == "review #quality scores"
    assert "an action has no category" in action.warnings[0]


def test_punctuation_after_removed_markup_stays():
    result = parse("broken chairs #facility, flickering lights #facility.")
    assert result.values["text"] == "broken chairs, flickering lights."
    assert result.values["category"] == "facility"


# ---------------------------------------------------------------- severity and priority


@pytest.mark.parametrize("word", ["positive", "info", "concern", "Critical"])
def test_severities(word):
    assert parse(f"seen on the floor !{word}").values["severity"] == word.lower()


def test_unknown_severity_stays_with_warning():
    result = parse("agents chatting !high")
    assert result.values == {"text": "agents chatting !high"}
    assert "!high is not a severity" in result.warnings[0]


def test_second_severity_stays_with_warning():
    result = parse("mixed picture !positive !concern")
    assert result.values["severity"] == "positive"
    assert result.values["text"] == "mixed picture !concern"
    assert result.warnings


@pytest.mark.parametrize(
    ("word", "priority"),
    [
        ("low", "low"),
        ("normal", "normal"),
        ("HIGH", "high"),
        ("urgent", "high"),
        ("critical", "high"),
    ],
)
def test_action_priorities(word, priority):
    result = parse(f"> fix the headsets !{word}")
    assert result.values["priority"] == priority
    assert result.values["text"] == "fix the headsets"


def test_action_severity_word_that_is_no_priority_stays():
    result = parse("> thank the team !positive")
    assert "priority" not in result.values
    assert result.values["text"] == "thank the team !positive"
    assert "not a priority" in result.warnings[0]


def test_bang_on_question_stays():
    result = parse("? fee waiver !urgent")
    assert result.values == {"text": "fee waiver !urgent"}
    assert result.warnings


def test_exclamations_that_are_not_markup():
    result = parse("great job! wow !! ! !42")
    assert result.values == {"text": "great job! wow !! ! !42"}
    assert result.warnings == []


# ---------------------------------------------------------------- contacts


def test_contact_prefix_expands_to_full_name():
    result = parse("> share roster with @mari")
    assert result.values["owner_id"] == BY_NAME["Maria Santos"].id
    assert result.values["text"] == "share roster with Maria Santos"


def test_contact_prefix_of_a_later_word():
    result = parse("good coaching by @sant")
    assert result.values["contact_id"] == BY_NAME["Maria Santos"].id


def test_ambiguous_contact_is_kept_and_reported():
    result = parse("escalate to @ra now")
    assert result.values == {"text": "escalate to @ra now"}
    assert result.contacts == []
    assert result.warnings == [
        "@ra matches 3 contacts (Rashid Ali, Ravi Kumar, Ravindra Singh): kept as text"
    ]


def test_unknown_contact_is_kept_and_reported():
    result = parse("> call @Zed ^tomorrow")
    assert result.values["text"] == "call @Zed"
    assert "owner_id" not in result.values
    assert result.values["due"] == "2026-11-24"
    assert result.warnings == ["@Zed matches no contact: kept as text"]


def test_whole_word_beats_longer_prefixes():
    # "Ravi" is a prefix of Ravindra too, but it is the whole first name of one contact only.
    result = parse("spoke to @ravi")
    assert result.values["contact_id"] == BY_NAME["Ravi Kumar"].id
    assert result.values["text"] == "spoke to Ravi"


def test_exact_full_name_beats_prefixes():
    # "Ali" is both a contact's whole name and Rashid Ali's surname: the full name wins.
    result = parse("met @Ali")
    assert result.values["contact_id"] == BY_NAME["Ali"].id


@pytest.mark.parametrize("token", ["@priya.nair", "@Priya_Nair", "@PRIYA.NAIR"])
def test_full_name_spellings(token):
    result = parse(f"> send deck to {token}")
    assert result.values["owner_id"] == BY_NAME["Priya Nair"].id
    assert result.values["text"] == "send deck to Priya Nair"


def test_names_with_dots_hyphens_and_apostrophes():
    # The floor-walk screen completes a name as `@` + its words joined by `_`.
    result = parse("> call @J._Smith and @Mary-Jane_O'Neil")
    assert result.values["owner_id"] == BY_NAME["J. Smith"].id
    assert result.values["text"] == "call J. Smith and Mary-Jane O'Neil"
    assert [c.name for c in result.contacts] == ["J. Smith", "Mary-Jane O'Neil"]


def test_punctuation_and_possessive_after_a_name():
    result = parse("@Ravi's team is late, ask @Priya.")
    assert result.values["text"] == "Ravi's team is late, ask Priya."
    assert result.values["contact_id"] == BY_NAME["Ravi Kumar"].id
    assert [c.name for c in result.contacts] == ["Ravi Kumar", "Priya Nair"]
    assert any("only one contact" in w for w in result.warnings)


def test_question_naming_a_contact_is_escalated_to_them():
    result = parse("? can agents offer a fee waiver @Ravi (asked_by: team 7)")
    assert result.values == {
        "text": "can agents offer a fee waiver Ravi",
        "asked_by": "team 7",
        "escalated_to": BY_NAME["Ravi Kumar"].id,
        "status": "escalated",
    }


def test_at_a_time_is_not_a_mention():
    result = parse("> meet the TLs @10am ^tomorrow")
    assert result.values["text"] == "meet the TLs @10am"
    assert result.warnings == []


def test_email_addresses_are_not_mentions():
    calls = []

    def spy(prefix):
        calls.append(prefix)
        return []

    result = parse_capture("mail ravi@vendor.example today", find_contacts=spy, today=TODAY)
    assert result.values["text"] == "mail ravi@vendor.example today"
    assert calls == []


def test_failing_lookup_keeps_text():
    def broken(prefix):
        raise RuntimeError("database is locked")

    result = parse_capture("ask @Ravi", find_contacts=broken, today=TODAY)
    assert result.values == {"text": "ask @Ravi"}
    assert "could not be looked up" in result.warnings[0]


# ---------------------------------------------------------------- due dates


@pytest.mark.parametrize(
    ("word", "due"),
    [
        ("2026-12-01", "2026-12-01"),
        ("fri", "2026-11-27"),
        ("monday", "2026-11-30"),  # today is a Monday: the next one
        ("+3d", "2026-11-26"),
        ("+2w", "2026-12-07"),
        ("tomorrow", "2026-11-24"),
        ("today", "2026-11-23"),
    ],
)
def test_due_dates(word, due):
    result = parse(f"> chase the roster ^{word}")
    assert result.values["due"] == due
    assert result.values["text"] == "chase the roster"


@pytest.mark.parametrize("word", ["someday", "2026-13-45", "+99999999999d"])
def test_bad_due_date_stays_with_warning(word):
    result = parse(f"> chase the roster ^{word}")
    assert "due" not in result.values
    assert result.values["text"] == f"chase the roster ^{word}"
    assert result.warnings == [
        f"^{word} is not a date (use 2026-12-01, fri, +3d, today or tomorrow): kept as text"
    ]


def test_second_due_date_and_due_on_observation_stay():
    result = parse("> chase ^fri ^mon")
    assert result.values["due"] == "2026-11-27"
    assert result.values["text"] == "chase ^mon"
    observation = parse("deadline ^fri")
    assert observation.values == {"text": "deadline ^fri"}
    assert "only actions have a due date" in observation.warnings[0]


# ---------------------------------------------------------------- asked_by and visit


def test_asked_by_variants():
    assert parse("? overtime rules (Asked By: night shift TLs)").values["asked_by"] == (
        "night shift TLs"
    )
    # Anywhere in the line, and no parser mark is left in the text.
    mid = parse("? (asked_by: team 7) overtime rules")
    assert mid.values["asked_by"] == "team 7"
    assert mid.values["text"] == "overtime rules"
    inner = parse("? can we (asked_by: team 7) waive the fee")
    assert inner.values["asked_by"] == "team 7"
    assert inner.values["text"] == "can we waive the fee"
    # On an observation it is text.
    assert "asked_by" not in parse("noisy floor (asked_by: team 7)").values


def test_visit_id_fills_every_kind():
    visit = new_id()
    for line in ("note", "? ask", "> do"):
        assert parse(line, visit_id=visit).values["visit_id"] == visit
    assert "visit_id" not in parse("note").values


# ---------------------------------------------------------------- with a store


def test_capture_saves_through_the_store_with_open_visit():
    with Store.memory() as store:
        priya = store.create("contact", {"name": "Priya Nair"})
        vendor = store.create("vendor", {"name": "Northwind"})
        site = store.create("site", {"vendor_id": vendor.id, "name": "Kolkata"})
        visit = store.create("visit", {"site_id": site.id})
        pending = store.pending_count()
        record, parsed = capture(store, "> send QA calibration deck to @Priya ^fri", today=TODAY)
        assert record.kind == "action"
        assert store.get(record.id).owner_id == priya.id
        assert record.visit_id == visit.id
        assert str(record.due) == "2026-11-27"
        assert parsed.contacts[0].id == priya.id
        assert store.pending_count() == pending + 1


@pytest.mark.parametrize(
    "prefix", ["ra", "RAVI", "kumar", "ali", "j. sm", "o'n", "mary-j", "priya nair", "zz", "a"]
)
def test_the_store_finds_contacts_as_the_parser_tests_assume(prefix):
    """Store.contacts_matching keeps to `find_contacts` above: live contacts only, a
    prefix of the name or of a word of it, in name order, at most `limit`."""
    with Store.memory() as store:
        for name in reversed(NAMES):
            store.create("contact", {"name": name})
        store.delete(store.create("contact", {"name": "Ravi Gone"}).id)
        store.create("vendor", {"name": "Ravi Vendors"})
        expected = [contact.name for contact in find_contacts(prefix)]
        assert [c.name for c in store.contacts_matching(prefix)] == expected
        assert [c.name for c in store.contacts_matching(prefix, limit=2)] == expected[:2]


def test_capture_without_open_visit_and_invalid_line_writes_nothing():
    with Store.memory() as store:
        record, _ = capture(store, "queue at 40 calls #kpi !critical")
        assert record.visit_id is None
        assert record.severity == "critical"
        before = store.pending_count()
        with pytest.raises(InvalidInput):
            capture(store, "#kpi !critical")
        assert store.pending_count() == before


# ---------------------------------------------------------------- properties

_PLAIN_WORD = st.text(
    alphabet=st.characters(
        blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs"),
        blacklist_characters="#!@^?>()",
    ),
    min_size=1,
    max_size=8,
).filter(lambda w: w.strip() and not w.isspace() and len(w.split()) == 1)
_MARKUP = st.sampled_from(
    ["#training", "#night-shift", "!concern", "!high", "@Ravi", "@ra", "@zz", "^fri", "^soon"]
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.sampled_from(["", "? ", "> "]))
def test_parse_never_raises_except_invalid_input_and_values_validate(line, prefix):
    try:
        result = parse(prefix + line)
    except InvalidInput:
        return
    assert result.kind in ("observation", "question", "action")
    # Whatever parses must be a valid record of its kind.
    KINDS[result.kind].model_validate({"kind": result.kind, **result.values})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(_PLAIN_WORD, _MARKUP), min_size=1, max_size=12),
    st.sampled_from(["", "? ", "> "]),
)
def test_every_unrecognized_word_survives_in_order(words, prefix):
    line = prefix + " ".join(words)
    plain = [w for w in words if w[0] not in "#!@^"]
    try:
        result = parse(line)
    except InvalidInput:
        assert not plain  # only markup may be refused
        return
    text = result.values["text"]
    position = 0
    for word in plain:
        found = text.find(word, position)
        assert found >= 0, (word, text)
        position = found + len(word)
    # Markup that was not understood stays as typed, and is reported.
    for word in words:
        if word in ("@ra", "@zz", "^soon"):
            assert word in text
            assert any(w.startswith(word) for w in result.warnings)


# ---------------------------------------------------------------- the inverse: format_capture

_TAGS = st.sampled_from(["night-shift", "vip", "aht", "team4"])


@st.composite
def _entries(draw):
    """An observation, question or action as a capture leaves it: plain words, a contact's
    name in the text where a contact is referenced, and the fields a line can set."""
    kind = draw(st.sampled_from(["observation", "question", "action"]))
    words = draw(st.lists(_PLAIN_WORD, min_size=1, max_size=8))
    values: dict = {}
    contact = draw(st.one_of(st.none(), st.sampled_from(CONTACTS)))
    if contact is not None:
        field = {"observation": "contact_id", "question": "escalated_to", "action": "owner_id"}
        values[field[kind]] = contact.id
        words.insert(draw(st.integers(0, len(words))), contact.name)
    if kind == "observation":
        values["category"] = draw(st.one_of(st.none(), st.sampled_from(["training", "kpi"])))
        values["severity"] = draw(st.one_of(st.none(), st.sampled_from(["info", "concern"])))
        values["tags"] = draw(st.lists(_TAGS, unique=True, max_size=3))
    elif kind == "action":
        values["priority"] = draw(st.one_of(st.none(), st.sampled_from(["low", "high"])))
        values["due"] = draw(st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2027, 12, 31))))
    else:
        asked_by = draw(st.one_of(st.none(), st.lists(_PLAIN_WORD, min_size=1, max_size=3)))
        values["asked_by"] = " ".join(asked_by) if asked_by else None
    return KINDS[kind](text=" ".join(words), **values)


@settings(max_examples=300, deadline=None)
@given(_entries())
def test_parsing_a_formatted_entry_gives_back_its_fields(entry):
    names = {contact.id: contact.name for contact in CONTACTS}
    result = parse(format_capture(entry, names))
    wanted = entry.to_json()
    assert result.kind == entry.kind
    assert result.values["text"] == entry.text
    for name in LINE_FIELDS[entry.kind]:
        assert result.values.get(name) == wanted.get(name), name
    assert sorted(result.values.get("tags", [])) == sorted(wanted.get("tags") or [])
    assert result.warnings == []


def test_format_names_a_contact_in_place_or_at_the_end():
    ravi = BY_NAME["Ravi Kumar"]
    names = {ravi.id: ravi.name}
    told = KINDS["action"](text="tell Ravi Kumar about it", owner_id=ravi.id, due=TODAY)
    assert format_capture(told, names) == "> tell @Ravi_Kumar about it ^2026-11-23"
    partly = KINDS["observation"](text="Ravi late again", contact_id=ravi.id, tags=["b", "a"])
    assert format_capture(partly, names) == "@Ravi_Kumar late again #a #b"
    absent = KINDS["question"](text="fee waiver?", escalated_to=ravi.id, asked_by="team 7")
    assert format_capture(absent, names) == "? fee waiver? @Ravi_Kumar (asked_by: team 7)"
    assert format_capture(absent, {}) == "? fee waiver? (asked_by: team 7)"
