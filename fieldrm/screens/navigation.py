"""The one table of navigation: the app's modes, their keys, titles and screens.

The App builds its MODES, F-key bindings and palette commands from it, the navigation bar
draws it, Today's shortcuts and the notifications that name a screen's key read it.  A new
screen is one row here (and its module in this package).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import NamedTuple

from textual.binding import Binding
from textual.screen import Screen


class Destination(NamedTuple):
    """One mode of the app: where a key goes."""

    mode: str
    key: str
    title: str
    module: str  # under fieldrm.screens
    screen: str  # the Screen class in that module
    hint: str  # what the user does there, for tooltips that say more than "go to"


# In the order of the navigation bar and of the F-keys.
NAVIGATION: tuple[Destination, ...] = (
    Destination("today", "f2", "Today", "today", "TodayScreen", "The day at a glance."),
    Destination(
        "floor",
        "f3",
        "Floor walk",
        "floor_walk",
        "FloorWalkScreen",
        "Log what you see on the floor.",
    ),
    Destination(
        "contacts",
        "f4",
        "Contacts",
        "contacts",
        "ContactsScreen",
        "Find people and who they report to.",
    ),
    Destination(
        "questions",
        "f5",
        "Questions",
        "questions",
        "QuestionsScreen",
        "Answer or escalate open questions.",
    ),
    Destination("actions", "f6", "Actions", "actions", "ActionsScreen", "Follow up actions."),
    Destination(
        "sync", "f7", "Sync", "sync", "SyncScreen", "Review conflicts and refused changes."
    ),
    Destination(
        "search", "f8", "Search", "search", "SearchScreen", "Search every record as you type."
    ),
    Destination("kpis", "f9", "KPIs", "kpis", "KpisScreen", "KPIs per program, with status."),
)
BY_MODE: dict[str, Destination] = {destination.mode: destination for destination in NAVIGATION}


def key_of(mode: str) -> str:
    """The key that shows a mode's screen, as the user reads it (`F7`)."""
    return BY_MODE[mode].key.upper()


def screen_factory(mode: str) -> Callable[[], Screen]:
    """A mode's screen, its module imported when first shown: start-up loads only the first."""
    destination = BY_MODE[mode]

    def make() -> Screen:
        module = importlib.import_module(f"fieldrm.screens.{destination.module}")
        return getattr(module, destination.screen)()

    return make


def modes() -> dict[str, Callable[[], Screen]]:
    """The App's MODES."""
    return {destination.mode: screen_factory(destination.mode) for destination in NAVIGATION}


def go_binding(mode: str, *, shortcut_on: str | None = None) -> Binding:
    """The binding that shows a mode's screen: the App's (hidden from the key bar), or, with
    `shortcut_on` (a screen's name), that screen's shown shortcut to it."""
    destination = BY_MODE[mode]
    if shortcut_on is None:
        return Binding(
            destination.key,
            f"switch_mode('{mode}')",
            destination.title,
            tooltip=f"Go to the {destination.title} screen.",
            show=False,
            id=f"go-{mode}",
        )
    slug = "-".join(destination.title.lower().split())
    return Binding(
        destination.key,
        f"app.switch_mode('{mode}')",
        destination.title,
        tooltip=destination.hint,
        id=f"{shortcut_on}-{slug}",
    )


OPENS_IN: dict[str, str] = {"question": "questions", "action": "actions", "contact": "contacts"}
"""The screen a record opens in (from Search or Today); other kinds open as a card."""
