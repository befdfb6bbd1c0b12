"""'Keep both' on a text conflict joins the two texts as a person would, never with a
stray `---` between them (issue 11)."""

from __future__ import annotations

from fieldrm.sync.conflicts import joined_text


def test_one_line_texts_are_joined_on_one_line():
    assert joined_text("Ops lead", "Site director") == "Ops lead / Site director"


def test_texts_of_several_lines_are_joined_as_paragraphs():
    assert joined_text("Met on the floor.\nPrefers mornings.", "Call first.") == (
        "Met on the floor.\nPrefers mornings.\n\nCall first."
    )


def test_no_separator_mark_is_left_in_either_join():
    for current, other in (("A", "B"), ("A\nA2", "B")):
        assert "---" not in joined_text(current, other)
