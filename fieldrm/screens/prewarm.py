"""Build the screens not yet shown while the user reads the first one (public Textual API).

A screen's first visit costs 0.15-0.6 s (importing its module, parsing its widgets' CSS,
composing, its first query, laying it out).  Done here in idle time, the first visit costs
about what a repeat visit does.  A mode is built by making it current and the shown mode
current again inside one `batch_update`: nothing is painted in between, so the user never
sees it, and `switch_mode` does the rest (mount, style, first data load).  Once its rows
are in, the same step once more styles and lays it out with its data, and each widget is
drawn once, unseen, so that its line caches are warm when the screen is first shown.
"""

from __future__ import annotations

import asyncio
import gc
import time

from textual.app import App
from textual.geometry import Region
from textual.widget import AwaitMount

PREWARM_DELAY = 0.6
"""Seconds after the first frame before the other screens are built in the background."""
PREWARM_ORDER = ("floor", "contacts", "questions", "actions", "search", "sync", "kpis", "today")
"""Most likely next screens first."""
LOADING_GROUPS = ("load", "page")
"""Worker groups that fetch a screen's data."""


def is_built(app: App, mode: str) -> bool:
    """Whether `mode`'s screen exists (shown before, or built here)."""
    try:
        app.get_screen_stack(mode)
    except KeyError:
        return False
    return True


def _pass_through(app: App, mode: str) -> AwaitMount | None:
    """Make `mode` current and the shown mode current again, with nothing painted between.

    Nothing once the app is shutting down (None): a mode added while Textual closes every
    screen stack would end the app with "dictionary changed size during iteration"."""
    if not app.is_running:
        return None
    shown = app.current_mode
    with app.batch_update():
        await_mount = app.switch_mode(mode)
        app.switch_mode(shown)
    return await_mount


def _draw_unseen(app: App, mode: str) -> None:
    """Render the screen's widgets once, unseen, so their line caches are warm.

    Textual paints only the current screen; `render_lines` is what its compositor calls
    on each widget, here called once over each widget's laid-out region.
    """
    screen = app.get_screen_stack(mode)[0]
    for widget in screen.query("*"):
        region = widget.region  # empty when not laid out or not displayed
        if region:
            widget.render_lines(Region(0, 0, region.width, region.height))


async def loads_finished(app: App, limit: float = 3.0) -> None:
    """Wait (at most `limit` s) until no screen is loading data and its rows are in."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and any(
        worker.group in LOADING_GROUPS and not worker.is_finished for worker in app.workers
    ):
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.02)  # the loaded message is handled by the screen's own task


async def build_screens(app: App, order: tuple[str, ...] = PREWARM_ORDER) -> None:
    """Build every mode in `order` not built yet, one at a time, letting keys through."""
    for mode in order:
        if is_built(app, mode):
            continue  # already shown (or built)
        built = _pass_through(app, mode)
        if built is None:
            return  # the app is closing
        await built
        # Twice, because some screens load in two stages (a contact's card follows once the
        # first row is highlighted).
        for _stage in range(2):
            await loads_finished(app)
            if app.current_mode == mode:
                break  # the user got there first
            if _pass_through(app, mode) is None:  # lays it out with its rows in
                return
            # Drawn once the screen has handled the resume and suspend just posted to it
            # (a resume restyles it, which empties the caches drawing fills).
            await asyncio.sleep(0.05)
            if not app.is_running:
                return
            _draw_unseen(app, mode)
            await asyncio.sleep(0.15)
        # Let key presses and repaints through between screens.
        await asyncio.sleep(0.05)
    # Everything built so far lives as long as the app: move it out of the collector's
    # sight.  Otherwise each full collection walks every widget, row and record (a
    # 0.1-0.3 s pause, landing on whatever key the user pressed).
    gc.freeze()


def start_prewarm(app: App, delay: float | None = PREWARM_DELAY) -> None:
    """After `delay` s, build the other screens in a worker on the app's loop."""
    if delay is None:
        return

    def run() -> None:
        app.run_worker(build_screens(app), group="prewarm", exit_on_error=False)

    if delay > 0:
        app.set_timer(delay, run, name="prewarm")
    else:
        app.call_later(run)  # a Timer divides by its interval: zero would raise
