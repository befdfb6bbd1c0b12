"""Naming a record on the command line (issue 11, defect 11): an ambiguous prefix says so,
a typo gets a suggestion, and a first name works as `@Priya` does in capture."""

from __future__ import annotations

import pytest

from fieldrm.demo import load_demo
from fieldrm.errors import Ambiguous, NotFound
from fieldrm.store import Store


@pytest.fixture(scope="module")
def store():
    with Store.memory() as memory:
        load_demo(memory)
        yield memory


def test_a_unique_first_name_names_the_contact(store):
    assert store.resolve("Priya").name == "Priya Nair"
    assert store.resolve("priya", ["contact"]).name == "Priya Nair"


def test_a_name_matching_several_records_is_ambiguous_and_lists_them(store):
    with pytest.raises(Ambiguous, match="Ramon Flores") as raised:
        store.resolve("Ra", ["contact"])
    assert "Ravi Kumar" in str(raised.value)


def test_an_ambiguous_short_id_prefix_says_ambiguous_not_missing(store):
    prefix = store.list("contact", limit=1)[0].id[:2]
    with pytest.raises(Ambiguous, match="more than one"):
        store.resolve(prefix)


def test_a_typo_gets_a_suggestion(store):
    with pytest.raises(NotFound, match="did you mean 'Priya Nair'"):
        store.resolve("Priya Nar")


def test_cli_show_by_first_name(capsys):
    from fieldrm.cli import main

    assert main(["demo"]) == 0
    capsys.readouterr()
    assert main(["show", "Priya"]) == 0
    assert "Priya Nair" in capsys.readouterr().out
    assert main(["show", "Prya Nair"]) != 0
    assert "did you mean 'Priya Nair'" in capsys.readouterr().err
