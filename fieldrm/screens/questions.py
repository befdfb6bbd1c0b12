"""Questions from the floor: filter them, answer one, escalate one to a contact."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from fieldrm.display import short_date
from fieldrm.models import OPEN_QUESTION_STATUSES, QuestionStatus, Record
from fieldrm.notebook import answer_question, escalate_question, set_status
from fieldrm.screens.pick_contact import PickContactScreen, PickedContact
from fieldrm.screens.prompt import PromptScreen
from fieldrm.screens.record_list import Names, RecordListScreen


class QuestionsScreen(RecordListScreen):
    """Open, escalated and answered questions."""

    MODE = "questions"
    KIND = "question"
    BINDING_GROUP_TITLE = "Questions"
    COLUMNS = (("Asked", 10), ("Status", 9), ("Asked by", 14), ("Question", 56), ("With", 18))
    PRESETS = (
        ("open & escalated", OPEN_QUESTION_STATUSES),
        *(
            (status.value, (status.value,))
            for status in (QuestionStatus.open, QuestionStatus.escalated, QuestionStatus.answered)
        ),
        ("all", ()),
    )
    REFERENCES = ("escalated_to",)
    RECORD_ACTIONS = frozenset({"answer", "escalate", "reopen", "raise_action", "escalate_up"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "a",
            "answer",
            "Answer",
            tooltip="Write the answer; the question is marked answered.",
            id="answer-question",
        ),
        Binding(
            "e",
            "escalate",
            "Escalate",
            tooltip="Send the question to a contact who can answer it.",
            id="escalate-question",
        ),
        Binding(
            "u",
            "escalate_up",
            "Up the ladder",
            tooltip="Escalate one level up the vendor's escalation ladder.",
            id="escalate-question-up",
        ),
        Binding(
            "n",
            "raise_action",
            "Action",
            tooltip="Raise a follow-up action from this question (@owner ^due work).",
            id="raise-action-from-question",
        ),
        Binding(
            "o",
            "reopen",
            "Reopen",
            tooltip="Mark the question open again.",
            show=False,
            id="reopen-question",
        ),
    ]

    def cells(self, record: Record, names: Names) -> Sequence[Any]:
        return (
            short_date(record.created_at),
            record.status,
            record.asked_by or "",
            " ".join(record.text.split()),
            names.of(record.escalated_to),
        )

    def detail(self, record: Record, names: Names) -> Text:
        text = Text()
        text.append("? ", style="bold")
        text.append(record.text)
        if record.asked_by:
            text.append(f"  (asked by {record.asked_by})", style="dim")
        if record.escalated_to:
            text.append(f"\nescalated to {names.of(record.escalated_to, '?')}", style="italic")
        if record.answer:
            text.append("\nanswer: ", style="bold")
            text.append(record.answer)
        return text

    def can(self, action: str, record: Record) -> bool | None:
        if action == "reopen":
            return record.status != QuestionStatus.open
        if action == "escalate_up":
            return record.status != QuestionStatus.answered
        return True

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [
            ("question: Answer", "Answer the highlighted question", self.action_answer),
            ("question: Escalate", "Escalate it to a contact", self.action_escalate),
            (
                "question: Up the ladder",
                "One level up the escalation ladder",
                self.action_escalate_up,
            ),
            ("question: Reopen", "Mark it open again", self.action_reopen),
            ("question: Raise an action", "A follow-up action from it", self.action_raise_action),
            (
                "question: Cycle status filter",
                "open, escalated, answered, all",
                self.action_next_preset,
            ),
        ]

    def action_answer(self) -> None:
        question = self.selected
        if question is None:
            return

        def answered(answer: str | None) -> None:
            if answer:
                self.save("Answered.", answer_question, question.id, answer)

        self.app.push_screen(PromptScreen("Answer", question.text, question.answer or ""), answered)

    def action_escalate(self) -> None:
        question = self.selected
        if question is None:
            return

        def picked(contact: PickedContact | None) -> None:
            if contact is not None:
                self.save(
                    f"Escalated to {contact.name}.", escalate_question, question.id, contact.id
                )

        self.app.push_screen(PickContactScreen("Escalate to", question.text), picked)

    def action_escalate_up(self) -> None:
        """§11: one level up the vendor's ladder (the first escalation: level 1)."""
        from fieldrm.relationships import escalate_up

        question = self.selected
        if question is not None:
            self.save("Escalated up the ladder.", escalate_up, question.id)

    def action_raise_action(self) -> None:
        question = self.selected
        if question is None:
            return

        def typed(line: str | None) -> None:
            if line:
                self.create_action_from(question, line)

        self.app.push_screen(
            PromptScreen(
                "New action from this question (@owner ^due !priority)",
                question.text,
                f"Get an answer on: {question.text}",
            ),
            typed,
        )

    def action_reopen(self) -> None:
        question = self.selected
        if question is not None:
            self.save("Reopened.", set_status, question.id, QuestionStatus.open)
