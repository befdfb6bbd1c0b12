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
