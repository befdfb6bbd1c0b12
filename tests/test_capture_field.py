"""Issue 11's capture rules: unique prefixes for severities and priorities, and a category
typo flagged rather than silently kept as a tag."""

from __future__ import annotations

from datetime import date

from fieldrm.capture import parse_capture


def parse(line: str):
    return parse_capture(line, find_contacts=lambda text: [], today=date(2026, 11, 23))


def test_a_unique_severity_prefix_is_the_severity():
    result = parse("Queue at 40 calls !con")
    assert result.values["severity"] == "concern"
    assert result.values["text"] == "Queue at 40 calls"
    assert parse("> call back !urg").values["priority"] == "high"  # urgent means high


def test_a_prefix_of_two_severities_stays_text_with_a_warning():
    result = parse("Queue !c")  # concern or critical
    assert "severity" not in result.values
    assert result.values["text"] == "Queue !c"
    assert any("concern" in w and "critical" in w for w in result.warnings)


def test_a_category_typo_is_flagged_with_the_category_it_resembles():
    result = parse("Nesting batch behind #trainig")
    assert "category" not in result.values
    assert any("#trainig" in w and "did you mean #training" in w for w in result.warnings)


def test_an_ordinary_tag_is_not_flagged():
    result = parse("Night shift short #nightshift")
    assert result.values["tags"] == ["nightshift"]
    assert result.warnings == []
