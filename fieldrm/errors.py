"""Errors a person can act on: each carries a one-line reason for stderr or a notification."""

from __future__ import annotations

from pydantic import ValidationError


class FieldrmError(Exception):
    """A problem with the user's input or environment; `str()` is the one-line reason."""

    exit_code = 1


class NotFound(FieldrmError):
    pass


class Ambiguous(FieldrmError):
    pass


class InvalidInput(FieldrmError):
    exit_code = 2


class StoreError(FieldrmError):
    """The database file cannot be used (corrupt, newer version, disk full)."""

    exit_code = 3


def describe_validation_error(error: ValidationError, kind: str | None = None) -> str:
    """A pydantic error as one line: `observation: severity: Input should be …`."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "record"
        message = item["msg"]
        if item["type"] == "missing":
            message = "is required"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        parts.append(f"{where}: {message}")
    prefix = f"{kind}: " if kind else ""
    return prefix + "; ".join(parts)
