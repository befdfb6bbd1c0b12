"""A progress bar on stderr for long syncs and imports (SPEC §10).

Shown once a step has run for a second, never with --json or when stdout is not a terminal
(a script reading the output sees nothing new).  Rich is imported only when a bar is drawn.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DELAY = 1.0  # seconds a step runs before its bar appears
PHASES = {"push": "Pushing", "pull": "Pulling", "import": "Importing"}


class ProgressBar:
    """A callback (phase, done, total or None) drawing one bar per phase."""

    def __init__(self, *, enabled: bool, delay: float = DELAY, console: Any = None) -> None:
        self.enabled = enabled
        self.delay = delay
        self.console = console
        self.started = time.monotonic()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int | None = None) -> None:
        if not self.enabled or time.monotonic() - self.started < self.delay:
            return
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            console = self.console or Console(stderr=True)
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
            self._progress = Progress(*columns, console=console, transient=False)
            self._progress.start()
        if phase not in self._tasks:
            self._tasks[phase] = self._progress.add_task(PHASES.get(phase, phase), total=total)
        self._progress.update(self._tasks[phase], completed=done, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextmanager
def progress_bar(*, as_json: bool) -> Iterator[ProgressBar]:
    """The bar for one command: enabled only for a person watching a terminal."""
    bar = ProgressBar(enabled=not as_json and sys.stdout.isatty())
    try:
        yield bar
    finally:
        bar.close()
