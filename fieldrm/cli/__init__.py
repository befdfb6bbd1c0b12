"""The `fieldrm` command line (SPEC §4): its entry point, `main`, and the fast path.

The commands are one Typer app (commands.py; sync and server in sync.py; what they print
in output.py), and Typer parses every command line, with one exception made for speed.
Importing Typer and building the commands' parameters costs 40-65 ms of CPU, a fifth of
the 0.3 s a whole `fieldrm capture` may take (SPEC §10).  So the two commands an RM runs
all day are run here without Typer when their command line has the plain shape:
`fieldrm` alone (open the app) and `fieldrm capture TEXT [--json]`.  Their bodies live in
hot.py and the Typer commands call the same functions, so both routes do the same thing;
anything else, even `capture --help`, a missing or extra argument or an option-like TEXT,
goes to Typer, so help and usage errors come from one parser.

Every error, from the store, the models or the option parser, reaches the user as one
line on stderr from `main` (the one place they are caught), with a non-zero exit.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from functools import partial

from fieldrm.cli.hot import capture_command, open_app
from fieldrm.cli.output import CommandFailed, error_line, terminal_safe

# Set when a shell asks Typer for completions; Typer then answers instead of running.
_COMPLETION_VARIABLE = "_FIELDRM_COMPLETE"


# ---------------------------------------------------------------- the fast path


def hot_command(args: list[str]) -> Callable[[], None] | None:
    """The hot command `args` names in its plain shape, ready to run; None: ask Typer.

    Only shapes Typer would read in exactly one way are taken: TEXT must not look like an
    option (Typer would refuse it), and `--json` may stand before or after it.
    """
    if _COMPLETION_VARIABLE in os.environ:
        return None
    if not args:
        return open_app
    if args[0] != "capture" or len(args) > 3:
        return None
    rest = args[1:]
    as_json = "--json" in rest
    if as_json:
        rest.remove("--json")
    if len(rest) != 1 or rest[0].startswith("-"):
        return None
    return partial(capture_command, rest[0], as_json)


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the command line; every error ends here as one stderr line (SPEC §4).

    `argv` None means this process is the `fieldrm` program itself (not a caller's)."""
    args = sys.argv[1:] if argv is None else list(argv)
    command = hot_command(args)
    as_program_capturing = argv is None and command is not None and args[:1] == ["capture"]
    if as_program_capturing:
        gc.disable()  # before pydantic loads: see _end_short_process
    try:
        return _run(command, args)
    finally:
        if as_program_capturing:
            _end_short_process()


def _run(command: Callable[[], None] | None, args: list[str]) -> int:
    import sqlite3

    # Imported here, after main's gc.disable: importing FieldrmError imports pydantic.
    from fieldrm.errors import FieldrmError

    try:
        if command is None:
            return _run_typer(args)
        return _run_hot(command)
    except CommandFailed as error:
        print(error_line(error), file=sys.stderr)
        return error.exit_code
    except FieldrmError as error:
        print(error_line(error), file=sys.stderr)
        return error.exit_code
    except sqlite3.DatabaseError as error:
        print(error_line(f"the database cannot be used: {error}"), file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


def _end_short_process() -> None:
    """Leave the objects of a capture to the exit, not to the cyclic garbage collector.

    A capture lives a fifth of a second and makes little garbage, yet the collector costs
    it ~25 ms of CPU (SPEC §10): a dozen passes over pydantic's objects while they load
    (main disables it for that) and a full pass when the interpreter exits, which only
    frees memory the system takes back anyway.  Frozen objects are skipped by that pass.
    Only for the program itself: a caller of `main` keeps a normal collector.
    """
    gc.freeze()


def _run_typer(args: list[str]) -> int:
    """Parse and run `args` with the Typer app; its own refusals become one stderr line."""
    # Typer vendors Click; its exceptions live in typer._click.
    from typer import Abort
    from typer._click import ClickException
    from typer.main import get_command

    from fieldrm.cli.commands import build_app

    command = get_command(build_app(args))
    try:
        with terminal_safe():
            result = command.main(args=args, prog_name="fieldrm", standalone_mode=False)
    except ClickException as error:
        print(error_line(error.format_message()), file=sys.stderr)
        return error.exit_code or 2
    except Abort:
        print(error_line("aborted"), file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


def _run_hot(command: Callable[[], None]) -> int:
    """Run a hot command as Typer would run it: the same exit codes for end of input,
    Ctrl-C and a closed stdout."""
    try:
        command()
    except EOFError:
        print(file=sys.stderr)
        print(error_line("aborted"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # As Click does: nothing more reaches the closed pipe, not even at exit's flush.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
