"""The bodies of the two commands an RM runs all day: `fieldrm` (open the app) and
`fieldrm capture TEXT`.  `main`'s fast path runs them without Typer; the Typer commands
call the same functions, so both routes do the same thing.  Imports stay light: nothing
here may load Typer or pydantic before a capture has decided to run.
"""

from __future__ import annotations

from fieldrm.cli.output import open_store, print_written, warn


def open_app() -> None:
    """`fieldrm` with no command: the terminal app."""
    from fieldrm.app import run_app

    run_app()


def capture_command(text: str, as_json: bool) -> None:
    """`fieldrm capture TEXT`: one line becomes an observation, question or action."""
    from fieldrm.notebook import capture as capture_line

    with open_store() as store:
        record, captured = capture_line(store, text)
    for message in captured.warnings:
        warn(message)
    print_written(record, as_json)
