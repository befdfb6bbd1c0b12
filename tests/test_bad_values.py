"""Values no device may write (SPEC §5.14, §8): refused in one line before they are written,
and a poison record that arrived anyway (from an older server) never breaks a command."""

from __future__ import annotations

import json

import pytest

from tests.test_cli import everything, fieldrm, home, ok, refused, seeded  # noqa: F401

HUGE = "1" + "0" * 400


def nested(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = {"x": value}
    return value


BAD_VALUES = {
    "a 400-digit number": (
        ["add", "site", "--vendor", "{vendor}", "--name", "M", "--seats", HUGE],
        "64 bits",
    ),
    "a number over 64 bits": (
        ["add", "site", "--vendor", "{vendor}", "--name", "M", "--seats", "123456789012345678901"],
        "64 bits",
    ),
    "a number over 64 bits (edit)": (["edit", "{site}", "--set", f"seats={HUGE}"], "64 bits"),
    "a due date past the calendar": (
        ["add", "action", "--text", "x", "--due", "+99999999d"],
        "date",
    ),
    "a huge number in --where": (["list", "site", "--where", f"seats={HUGE}"], "seats"),
    "text over the limit": (["add", "vendor", "--name", "x" * 100_001], "longer than"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_a_value_the_server_would_refuse_is_refused_before_it_is_written(home, seeded, case):  # noqa: F811
    args, mention = BAD_VALUES[case]
    args = [arg.format(**seeded) for arg in args]
    before = everything(home)
    line = refused(fieldrm(home, *args))
    assert mention.lower() in line.lower()
    assert everything(home) == before


def test_an_import_of_a_value_nested_too_deep_is_refused_whole(home, seeded, tmp_path):  # noqa: F811
    lines = [
        {"kind": "vendor", "name": "Good Vendor"},
        {"kind": "vendor", "name": "Deep Vendor", "extra": nested(300)},
    ]
    source = tmp_path / "deep.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    before = everything(home)
    line = refused(fieldrm(home, "import", str(source)))
    assert "deep" in line.lower()
    assert everything(home) == before


# ---------------------------------------------------------------- terminal safety

ESCAPES = "Team 4\x1b[2J\x1b]0;pwned\x07 ok\x9b31m"


def test_stored_control_characters_never_reach_the_terminal(home, seeded):  # noqa: F811
    record_id = ok(home, "add", "observation", "--text", ESCAPES).strip()
    for args in (["list", "observation"], ["show", record_id], ["search", "Team"]):
        shown = ok(home, *args)
        assert "Team 4␛[2J␛]0;pwned␇ ok" in shown, args
        assert not any(ch in shown for ch in "\x1b\x07\x9b"), args
    as_json = ok(home, "show", record_id, "--json")
    assert "\x1b" not in as_json and "\x9b" not in as_json
    assert json.loads(as_json)["text"] == ESCAPES
    line = refused(fieldrm(home, "show", "\x1b[2Jnobody"))
    assert "\x1b" not in line and "2Jnobody" in line


# ---------------------------------------------------------------- a poison record already stored


def _poison(home) -> str:  # noqa: F811
    """An observation whose unknown field is nested 300 deep, written straight into the file
    (as one that arrived before validation existed would be)."""
    import sqlite3

    from fieldrm.store import Store

    with Store.open(home / "fieldrm.db") as store:
        record_id = store.create("observation", {"text": "Poisoned floor note"}).id
    connection = sqlite3.connect(home / "fieldrm.db")
    with connection:
        (data,) = connection.execute(
            "SELECT data FROM records WHERE id = ?", [record_id]
        ).fetchone()
        record = json.loads(data)
        record["extra"] = nested(300)
        connection.execute(
            "UPDATE records SET data = ? WHERE id = ?", [json.dumps(record), record_id]
        )
    connection.close()
    return record_id


def _stored(home, record_id: str) -> dict:  # noqa: F811
    import sqlite3

    connection = sqlite3.connect(home / "fieldrm.db")
    (data,) = connection.execute("SELECT data FROM records WHERE id = ?", [record_id]).fetchone()
    connection.close()
    return json.loads(data)


POISON_COMMANDS = {
    "list": ["list", "observation"],
    "list --json": ["list", "observation", "--json"],
    "search": ["search", "Poisoned"],
    "search --json": ["search", "Poisoned", "--json"],
    "show": ["show", "{id}"],
    "show --json": ["show", "{id}", "--json"],
    "today": ["today"],
}


@pytest.mark.parametrize("case", list(POISON_COMMANDS))
def test_a_poison_record_already_stored_breaks_no_command(home, seeded, case):  # noqa: F811
    record_id = _poison(home)
    args = [arg.format(id=record_id) for arg in POISON_COMMANDS[case]]
    shown = ok(home, *args)
    if case.endswith("--json"):
        json.loads(shown)  # still one valid JSON document
    if case != "today":
        assert "Poisoned floor note" in shown
    if case in ("show", "show --json"):
        assert "extra" in shown  # the field is named, its value bounded
    assert "bottom" not in shown


def test_a_poison_record_can_be_deleted_and_keeps_its_unknown_field(home, seeded):  # noqa: F811
    record_id = _poison(home)
    ok(home, "delete", record_id)
    stored = _stored(home, record_id)
    assert stored["deleted"] is True
    assert stored["extra"] == nested(300)  # kept for a round trip, as stored
    assert "Poisoned" not in ok(home, "list", "observation")
