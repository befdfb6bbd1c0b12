"""The command line end to end: `python -m fieldrm …` as a subprocess, as a user runs it.

Each test gets its own FIELDRM_HOME.  Data a test needs before the command under test is
written in-process through the Store (cheaper than a subprocess per record); what the
command did is checked through its output and, for refusals, by reading the database back.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fieldrm.models import USER_KINDS, kind_info
from fieldrm.store import Store

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["id", "kind", "created_at", "updated_at", "created_by", "deleted"]


def fieldrm(
    home: Path, *args: str, stdin: str | None = None, preexec_fn=None
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "FIELDRM_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "100",
        "NO_COLOR": "1",
    }
    env.pop("FIELDRM_NOW", None)
    return subprocess.run(
        [sys.executable, "-m", "fieldrm", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
        cwd=home,
        preexec_fn=preexec_fn,
    )


def ok(home: Path, *args: str, stdin: str | None = None) -> str:
    result = fieldrm(home, *args, stdin=stdin)
    assert result.returncode == 0, (args, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess) -> str:
    """The error line of a refused command, after checking it is exactly one line."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fieldrm: ")
    return lines[0]


def spec_keys(kind: str) -> list[str]:
    return [*COMMON, *kind_info(kind).fields]


def everything(home: Path) -> tuple[list[dict], int]:
    """What `export all` would print, plus the change log's length."""
    with Store.open(home / "fieldrm.db") as store:
        return list(store.export_all()), store.pending_count()


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "device"
    path.mkdir()
    return path


@pytest.fixture
def seeded(home) -> dict[str, str]:
    """A small store: a vendor, a site, contacts (two with one name), an action."""
    with Store.open(home / "fieldrm.db") as store:
        vendor = store.create("vendor", {"name": "Acme Contact Solutions"})
        site = store.create("site", {"vendor_id": vendor.id, "name": "Kolkata One"})
        priya = store.create("contact", {"name": "Priya Nair", "site_id": site.id})
        for _ in range(2):
            store.create("contact", {"name": "Ravi Kumar"})
        action = store.create("action", {"text": "Send the QA deck", "owner_id": priya.id})
    return {"vendor": vendor.id, "site": site.id, "priya": priya.id, "action": action.id}


# ---------------------------------------------------------------- help


def test_help_lists_commands_and_add_options_derived_from_the_models(home):
    top = ok(home, "--help")
    for command in ("demo", "add", "capture", "visit", "list", "show", "edit", "delete"):
        assert command in top
    for command in ("search", "export", "import", "today"):
        assert command in top
    contact_help = ok(home, "add", "contact", "--help")
    for field in kind_info("contact").fields.values():
        assert f"--{field.option} " in contact_help
    assert "--vendor " in contact_help and "--reports-to " in contact_help
    assert "--vendor-id" not in contact_help
    assert "team_leader" in contact_help  # enum choices are listed
    assert not (home / "fieldrm.db").exists()  # help opens no database


# ---------------------------------------------------------------- a working session


def test_a_session_from_first_record_to_backup(home, tmp_path):
    vendor_id = ok(home, "add", "vendor", "--name", "Acme Contact Solutions").strip()
    site = json.loads(
        ok(home, "add", "site", "--vendor", "acme contact solutions", "--name", "Kolkata One",
           "--city", "Kolkata", "--seats", "420", "--json")
    )  # fmt: skip
    assert list(site) == spec_keys("site")
    assert site["vendor_id"] == vendor_id and site["seats"] == 420
    priya = json.loads(
        ok(home, "add", "contact", "--name", "Priya Nair", "--role", "program_manager",
           "--site", site["id"][:13], "--tags", "vip", "--tags", "night-shift", "--json")
    )  # fmt: skip
    assert priya["site_id"] == site["id"] and priya["tags"] == ["night-shift", "vip"]
    ravi_id = ok(
        home, "add", "contact", "--name", "Ravi Kumar", "--role", "team_leader",
        "--reports-to", "Priya Nair", "--emails", "ravi@acme.example",
    ).strip()  # fmt: skip
    ok(home, "add", "contact", "--name", "Ravindra Singh")

    # A visit: captures made while it is open are filed under it.
    visit_id = ok(
        home, "visit", "start", "--site", "Kolkata One", "--type", "floor_walk",
        "--purpose", "Monthly floor walk", "--attendee", "Priya Nair",
    ).strip()  # fmt: skip
    again = refused(fieldrm(home, "visit", "start", "--site", "Kolkata One"))
    assert "already open" in again and visit_id in again

    result = fieldrm(home, "capture", "Team 4 TLs skip side-by-sides #training !concern @Ravi")
    assert result.returncode == 0 and result.stderr == ""
    observation = ok(home, "show", result.stdout.strip(), "--json")
    observation = json.loads(observation)
    assert observation["contact_id"] == ravi_id and observation["visit_id"] == visit_id
    assert observation["category"] == "training" and observation["severity"] == "concern"

    action = json.loads(ok(home, "capture", "> send QA calibration deck to @Priya ^+3d", "--json"))
    assert list(action) == spec_keys("action")
    assert action["owner_id"] == priya["id"] and action["due"] is not None
    ambiguous = fieldrm(home, "capture", "? can we waive the fee for @Rav (asked_by: team 7)")
    assert ambiguous.returncode == 0
    assert ambiguous.stderr.startswith("fieldrm: warning:") and "@Rav" in ambiguous.stderr

    listed = json.loads(ok(home, "list", "action", "--json", "--where", "owner=Priya Nair"))
    assert [a["id"] for a in listed] == [action["id"]]
    assert json.loads(ok(home, "list", "action", "--json", "--where", "status=done")) == []
    contacts = json.loads(ok(home, "list", "contact", "--json"))
    assert len(contacts) == 3 and all(list(c) == spec_keys("contact") for c in contacts)
    assert len(ok(home, "list", "contact", "--limit", "2").splitlines()) == 2

    shown = ok(home, "show", "priya nair")
    assert "Priya Nair" in shown and "Kolkata One" in shown  # references shown by name

    # Edits: scalar fields, set elements, references by name, clearing with an empty value.
    edited = json.loads(
        ok(home, "edit", priya["id"][:13], "--set", "title=Program lead",
           "--add", "tags=escalation", "--remove", "tags=vip",
           "--set", "vendor=Acme Contact Solutions", "--json")
    )  # fmt: skip
    assert edited["title"] == "Program lead" and edited["vendor_id"] == vendor_id
    assert edited["tags"] == ["escalation", "night-shift"]
    cleared = json.loads(ok(home, "edit", "Priya Nair", "--set", "title=", "--json"))
    assert cleared["title"] is None
    assert ok(home, "edit", action["id"], "--set", "status=done").strip() == action["id"]

    found = json.loads(ok(home, "search", "calibration", "--json"))
    assert [r["id"] for r in found] == [action["id"]]
    assert ok(home, "search", "side-by-sides").startswith(observation["id"])

    assert ok(home, "delete", observation["id"]).strip() == observation["id"]
    assert json.loads(ok(home, "search", "side", "--json")) == []
    assert json.loads(ok(home, "list", "observation", "--json")) == []
    assert ok(home, "list", "observation", "--deleted").count("deleted") == 1

    # Set references take names to add, and id prefixes of current members to remove.
    visit = json.loads(ok(home, "edit", visit_id, "--add", "attendees=Ravi Kumar", "--json"))
    assert visit["attendees"] == sorted([priya["id"], ravi_id])
    visit = json.loads(
        ok(home, "edit", visit_id, "--remove", f"attendees={priya['id'][:13]}", "--json")
    )
    assert visit["attendees"] == [ravi_id]

    ended = json.loads(ok(home, "visit", "end", "--summary", "Coaching gaps in Team 4", "--json"))
    assert ended["id"] == visit_id and ended["ended_at"] is not None
    assert "no visit is open" in refused(fieldrm(home, "visit", "end"))

    report = ok(home, "export", "visit", visit_id[:13])
    assert "Kolkata One" in report and "Priya Nair" in report

    # A backup restores on another device, tombstones included.
    backup = tmp_path / "backup.jsonl"
    ok(home, "export", "all", "-o", str(backup))
    lines = backup.read_text().splitlines()
    assert len(lines) == 9 and all(json.loads(line)["id"] for line in lines)
    other = tmp_path / "other"
    other.mkdir()
    assert "9 created" in ok(other, "import", str(backup))
    restored = [json.loads(line) for line in ok(other, "export", "all").splitlines()]
    by_id = {record["id"]: record for record in restored}
    for line in lines:
        record = json.loads(line)
        assert by_id[record["id"]]["deleted"] == record["deleted"]
        assert {**by_id[record["id"]], "updated_at": 0} == {**record, "updated_at": 0}


def test_list_json_feeds_import_and_existing_ids_update(home, seeded, tmp_path):
    contacts = json.loads(ok(home, "list", "contact", "--json"))
    contacts[0]["title"] = "Site director"
    other = tmp_path / "other"
    other.mkdir()
    assert "3 created" in ok(other, "import", "-", stdin=json.dumps(contacts))
    (tmp_path / "array.json").write_text(json.dumps(contacts))
    assert "0 created, 3 updated" in ok(home, "import", str(tmp_path / "array.json"))
    records, _ = everything(home)
    assert {r["id"]: r.get("title") for r in records}[contacts[0]["id"]] == "Site director"


def test_demo_is_idempotent_and_today_shows_the_work(home):
    assert "created" in ok(home, "demo")
    counts = {kind: len(json.loads(ok(home, "list", kind, "--json"))) for kind in ("contact",)}
    assert "already loaded" in ok(home, "demo")
    assert len(json.loads(ok(home, "list", "contact", "--json"))) == counts["contact"] >= 20
    today = ok(home, "today")
    for heading in ("Overdue actions", "Open and escalated questions", "Recent observations"):
        assert heading in today
    assert "none" not in today.split("Overdue actions")[1].split("\n\n")[0]


# ---------------------------------------------------------------- bad input


BAD_INPUT = {
    "missing required field": (["add", "contact", "--role", "supervisor"], "--name"),
    "missing required reference": (["add", "site", "--name", "Manila Two"], "--vendor"),
    "unknown kind (add)": (["add", "meeting", "--name", "x"], "meeting"),
    "unknown kind (list)": (["list", "meeting"], "unknown kind"),
    "unknown field (add)": (["add", "contact", "--name", "X", "--shoe-size", "9"], "shoe-size"),
    "unknown field (edit)": (["edit", "Priya Nair", "--set", "shoe_size=9"], "shoe_size"),
    "unknown field (where)": (["list", "contact", "--where", "shoe=9"], "shoe"),
    "bad enum value": (["add", "contact", "--name", "X", "--role", "boss"], "role"),
    "bad enum value (edit)": (["edit", "{action}", "--set", "status=later"], "status"),
    "bad date (edit)": (["edit", "{action}", "--set", "due=someday"], "not a date"),
    "bad date": (["add", "action", "--text", "x", "--due", "someday"], "not a date"),
    "bad timestamp": (["add", "visit", "--site", "Kolkata One", "--started-at", "noon"], "noon"),
    "bad number": (
        ["add", "site", "--vendor", "Acme Contact Solutions", "--name", "M", "--seats", "many"],
        "seats",
    ),  # fmt: skip
    "ambiguous name": (["add", "action", "--text", "x", "--owner", "Ravi Kumar"], "more than one"),
    "ambiguous name (show)": (["show", "ravi kumar"], "more than one"),
    "unknown name": (["add", "action", "--text", "x", "--owner", "Nobody Here"], "Nobody Here"),
    "unknown site": (["visit", "start", "--site", "Atlantis"], "Atlantis"),
    "unknown id": (["show", "01a2076e-0000-7000-8000-000000000000"], "no record"),
    "unknown id (delete)": (["delete", "01a2076e-0000-7000-8000-00000000000f"], "no record"),
    "set field with --set": (["edit", "Priya Nair", "--set", "tags=vip"], "--add"),
    "nothing to edit": (["edit", "Priya Nair"], "nothing to change"),
    "no open visit": (["visit", "end"], "no visit is open"),
    "empty capture": (["capture", "  "], "nothing to save"),
    "bad export format": (["export", "visit", "Kolkata One", "--format", "docx"], "docx"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_in_one_line_and_writes_nothing(home, seeded, case):
    args, mention = BAD_INPUT[case]
    args = [arg.format(**seeded) for arg in args]
    before = everything(home)
    line = refused(fieldrm(home, *args))
    assert mention.lower() in line.lower()
    assert everything(home) == before


def test_an_import_with_one_broken_line_imports_nothing(home, seeded, tmp_path):
    good = {"kind": "vendor", "name": "Good Vendor"}
    bad_json = tmp_path / "broken.jsonl"
    bad_json.write_text(json.dumps(good) + "\n{not json\n" + json.dumps(good) + "\n")
    bad_record = tmp_path / "invalid.jsonl"
    bad_record.write_text(json.dumps(good) + "\n" + json.dumps({"kind": "contact"}) + "\n")
    unknown_kind = tmp_path / "kind.json"
    unknown_kind.write_text(json.dumps([good, {"kind": "meeting", "name": "x"}]))
    before = everything(home)
    assert "line 2" in refused(fieldrm(home, "import", str(bad_json)))
    assert "record 2" in refused(fieldrm(home, "import", str(bad_record)))
    assert "meeting" in refused(fieldrm(home, "import", str(unknown_kind)))
    assert "missing.jsonl" in refused(fieldrm(home, "import", str(tmp_path / "missing.jsonl")))
    assert everything(home) == before


def _corrupt(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + b"\xde\xad\xbe\xef" * 1024)


def _newer(path: Path) -> None:
    with Store.open(path) as store:
        store.create("vendor", {"name": "Acme"})
    with Store.open(path) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.conn.execute("PRAGMA user_version=99")


def _not_sqlite(path: Path) -> None:
    path.write_text("this is my shopping list\n")


@pytest.mark.parametrize(
    ("make", "mention"),
    [(_corrupt, "database"), (_newer, "newer fieldrm"), (_not_sqlite, "not a fieldrm")],
)
def test_an_unusable_database_is_refused_untouched(home, make, mention):
    path = home / "fieldrm.db"
    make(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for args in (["list", "contact"], ["add", "vendor", "--name", "Beta"], ["capture", "x"]):
        line = refused(fieldrm(home, *args))
        assert mention in line
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_every_user_kind_has_an_add_command(home):
    listed = ok(home, "add", "--help")
    assert all(kind in listed for kind in USER_KINDS)


def test_capture_starts_without_the_heavy_libraries(home, seeded):
    """`fieldrm capture` must start fast (SPEC §10: ≤ 0.3 s): none of these may load."""
    heavy = ["textual", "httpx", "fastapi", "uvicorn", "starlette", "sqlite_utils", "rich", "typer"]
    script = (
        "import json, sys\n"
        "from fieldrm.cli import main\n"
        "code = main(['capture', 'Team 4 skip side-by-sides #training @Priya'])\n"
        f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))\n"
        "print(json.dumps([code, loaded]), file=sys.stderr)\n"
    )
    env = {**os.environ, "FIELDRM_HOME": str(home), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    code, loaded = json.loads(result.stderr.splitlines()[-1])
    assert code == 0 and loaded == []
    assert everything(home)[0][-1]["text"].startswith("Team 4")


def test_no_arguments_opens_the_app(monkeypatch):
    import fieldrm.app
    from fieldrm.cli import main

    opened = []
    monkeypatch.setattr(fieldrm.app, "run_app", lambda: opened.append(True))
    assert main([]) == 0
    assert opened == [True]


# ---------------------------------------------------------------- the hot path (no Typer)


def _same_everywhere(text: str, new_id: str | None) -> str:
    return text.replace(new_id, "NEW-ID") if new_id else text


def _run_and_read(home: Path, run, capsys) -> tuple[int, str, str, dict | None]:
    """Exit code, stdout, stderr and the record written (None: nothing written)."""
    count = len(everything(home)[0])
    code = run()
    out, err = capsys.readouterr()
    records = everything(home)[0]
    written = records[-1] if len(records) > count else None
    new_id = written["id"] if written else None
    if written:
        written = {k: v for k, v in written.items() if k not in ("id", "created_at", "updated_at")}
    return code, _same_everywhere(out, new_id), err, written


@pytest.mark.parametrize(
    "args",
    [
        ["capture", "Team 4 skip side-by-sides #training !concern @Priya"],
        ["capture", "--json", "? can we waive the fee for 2 months (asked_by: team 7)"],
        ["capture", "> send the QA deck to @Ravi ^+3d !urgent", "--json"],
        ["capture", "#training !concern"],
        ["capture", ""],
        ["capture", "Attrition up #kpi !bogus @Nobody"],
    ],
)
def test_a_plain_capture_skips_typer_and_does_exactly_what_typer_does(
    home, seeded, args, capsys, monkeypatch
):
    from fieldrm import cli

    monkeypatch.setenv("FIELDRM_HOME", str(home))
    monkeypatch.setenv("FIELDRM_NOW", "2026-11-23T09:00:00Z")

    def no_typer(_args):
        raise AssertionError("the plain shape went to Typer")

    with monkeypatch.context() as patched:
        patched.setattr(cli, "_run_typer", no_typer)
        hot = _run_and_read(home, lambda: cli.main(args), capsys)
    through_typer = _run_and_read(home, lambda: cli._run(None, args), capsys)
    assert hot == through_typer
    code, out, err, written = hot
    if args[1] in ("#training !concern", ""):
        assert code == 2 and written is None and "nothing to save" in err
    else:
        assert code == 0 and written is not None
        assert out.strip() == "NEW-ID" or json.loads(out)["id"] == "NEW-ID"


@pytest.mark.parametrize(
    ("args", "hot"),
    [
        ([], True),
        (["capture", "x"], True),
        (["capture", "--json", "x"], True),
        (["capture", "x", "--json"], True),
        (["capture", "- 5 agents late"], False),  # option-like: Typer decides (and refuses)
        (["capture", "--", "-5 agents late"], False),
        (["capture"], False),
        (["capture", "--help"], False),
        (["capture", "x", "-h"], False),
        (["capture", "x", "y"], False),
        (["capture", "--json", "--json"], False),
        (["capture", "x", "--jso"], False),
        (["--help"], False),
        (["list", "contact"], False),
    ],
)
def test_only_the_plain_shapes_skip_typer(args, hot, monkeypatch):
    from fieldrm.cli import hot_command

    assert (hot_command(list(args)) is not None) == hot
    monkeypatch.setenv("_FIELDRM_COMPLETE", "bash_complete")  # a shell asking Typer
    assert hot_command(list(args)) is None


def test_shapes_left_to_typer_still_work(home, seeded, capsys, monkeypatch):
    from fieldrm.cli import main

    monkeypatch.setenv("FIELDRM_HOME", str(home))
    assert main(["capture", "--", "-5 agents late today"]) == 0
    assert everything(home)[0][-1]["text"] == "-5 agents late today"
    assert main(["capture", "--help"]) == 0
    assert "Usage: fieldrm capture" in capsys.readouterr().out
    assert main(["capture", "-5 agents"]) == 2
    assert main(["capture", "x", "y"]) == 2
    option, extra = capsys.readouterr().err.splitlines()
    assert option.startswith("fieldrm: No such option: -5")
    assert extra.startswith("fieldrm: Got unexpected extra argument")


def test_only_the_program_itself_leaves_a_capture_to_the_exit(home, seeded, monkeypatch):
    """As the program, a capture turns the cyclic collector off and freezes its objects
    (they are freed by the exit); a caller of main() keeps its collector as it was."""
    import gc

    from fieldrm.cli import main

    monkeypatch.setenv("FIELDRM_HOME", str(home))
    frozen = gc.get_freeze_count()
    assert main(["capture", "in process"]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    script = (
        "import gc, json, sys, types\n"
        "sys.modules['fieldrm.app'] = types.SimpleNamespace(run_app=lambda: None)\n"
        "from fieldrm.cli import main\n"
        "sys.argv = ['fieldrm', *sys.argv[1:]]\n"
        "code = main()\n"
        "print(json.dumps([code, gc.isenabled(), gc.get_freeze_count() > 0]), file=sys.stderr)\n"
    )
    env = {**os.environ, "FIELDRM_HOME": str(home), "PYTHONPATH": str(ROOT)}
    for args, expected in (
        (["capture", "as the program"], [0, False, True]),
        (["list", "contact"], [0, True, False]),
        ([], [0, True, False]),  # the app (a stand-in here): a long life, a normal collector
    ):
        result = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env
        )
        assert json.loads(result.stderr.splitlines()[-1]) == expected, result.stderr
    assert [r["text"] for r in everything(home)[0][-2:]] == ["in process", "as the program"]
