"""Typer options the command modules share (Typer is loaded here, so the capture fast path
never imports this module)."""

from __future__ import annotations

from typing import Annotated

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
"""`--json`: print the result as JSON instead of text."""
